// Command mutexredis is a Redis-protocol server whose keys live in a
// durable Pebble store, each keyspace guarded by a read/write cycling mutex.
// Flags follow redis-server's directive names.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/mutexredis/mutexredis/commands"
	"github.com/mutexredis/mutexredis/mutex"
	"github.com/mutexredis/mutexredis/server"
)

func main() {
	cfg := server.DefaultConfig()
	fs := flag.NewFlagSet("mutexredis", flag.ExitOnError)
	bind := fs.String("bind", strings.Join(cfg.Bind, " "), "addresses to listen on, space separated")
	fs.IntVar(&cfg.Port, "port", cfg.Port, "TCP port")
	fs.StringVar(&cfg.Dir, "dir", cfg.Dir, "directory of the Pebble store")
	fs.StringVar(&cfg.Fsync, "fsync", cfg.Fsync, "always: fsync every write batch before acknowledging it; never: leave it to the OS")
	fs.IntVar(&cfg.Databases, "databases", cfg.Databases, "number of numbered keyspaces (SELECT 0..n-1)")
	fs.IntVar(&cfg.MaxClients, "maxclients", cfg.MaxClients, "maximum number of connected clients")
	fs.StringVar(&cfg.RequirePass, "requirepass", "", "password clients must give with AUTH or HELLO … AUTH")
	protected := fs.String("protected-mode", "yes", "yes: without a password, refuse clients that are not on loopback")
	fs.IntVar(&cfg.TLSPort, "tls-port", 0, "TLS port (0: no TLS)")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert-file", "", "server certificate (PEM)")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key-file", "", "server private key (PEM)")
	fs.StringVar(&cfg.TLSCACertFile, "tls-ca-cert-file", "", "CA certificates that client certificates must chain to (PEM)")
	fs.StringVar(&cfg.TLSAuthClients, "tls-auth-clients", cfg.TLSAuthClients, "client certificates: yes (required), optional, or no")
	fs.IntVar(&cfg.ProtoMaxBulkLen, "proto-max-bulk-len", cfg.ProtoMaxBulkLen, "largest bulk string a client may send, in bytes")
	fs.IntVar(&cfg.MaxCommandArgs, "max-command-args", cfg.MaxCommandArgs, "most arguments one command may have (Redis's multibulk limit)")
	fs.IntVar(&cfg.MaxQueuedOps, "max-queued-ops", cfg.MaxQueuedOps, "operations queued per keyspace before submitters wait")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file until shutdown (for performance work)")
	notify := fs.String("notify-keyspace-events", "", "Redis keyspace notifications classes, e.g. KEA (empty: off)")
	queryLimit := fs.String("client-query-buffer-limit", "1gb", "bytes of requests a client may have buffered (Redis memory units)")
	outLimit := fs.String("client-output-buffer-limit", "", `pub/sub output limit, as Redis: "pubsub <hard> <soft> <seconds>"`)
	feedRetention := fs.String("feed-retention", cfg.FeedRetention.String(), `change feed retention: batches, bytes and/or age, e.g. "1000000 256mb 7d"; 0 turns the feed off`)
	fs.Parse(os.Args[1:])

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if !commands.SetNotifyKeyspaceEvents(*notify) {
		fmt.Fprintln(os.Stderr, "mutexredis: --notify-keyspace-events: invalid event class character; use 'Ag$lshzxeKEtmdn'")
		os.Exit(2)
	}
	if r := cfg.Set("client-query-buffer-limit", *queryLimit); r != nil {
		fmt.Fprintln(os.Stderr, "mutexredis: --client-query-buffer-limit:", r)
		os.Exit(2)
	}
	feed, err := mutex.ParseFeedRetention(*feedRetention)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutexredis: --feed-retention:", err)
		os.Exit(2)
	}
	cfg.FeedRetention = feed
	if err := configure(cfg, *bind, *outLimit, *protected); err != nil {
		fmt.Fprintln(os.Stderr, "mutexredis:", err)
		os.Exit(2)
	}
	srv, err := server.New(cfg, log)
	if err != nil {
		log.Error("cannot open the store", "dir", cfg.Dir, "error", err)
		os.Exit(1)
	}
	if err := srv.Listen(); err != nil {
		log.Error("cannot listen", "error", err)
		os.Exit(1)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			log.Error("cannot profile", "error", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := srv.Serve(ctx); err != nil {
		log.Error("shutdown", "error", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func configure(cfg *server.Config, bind, outLimit, protected string) error {
	switch protected {
	case "yes":
		cfg.ProtectedMode = true
	case "no":
		cfg.ProtectedMode = false
	default:
		return fmt.Errorf("--protected-mode must be yes or no")
	}
	cfg.Bind = strings.Fields(bind)
	if len(cfg.Bind) == 0 {
		return fmt.Errorf("--bind needs an address")
	}
	if cfg.Fsync != "always" && cfg.Fsync != "never" {
		return fmt.Errorf("--fsync must be always or never, not %q", cfg.Fsync)
	}
	if cfg.Databases < 1 {
		return fmt.Errorf("--databases must be at least 1")
	}
	if cfg.MaxCommandArgs < 1 {
		return fmt.Errorf("--max-command-args must be positive")
	}
	if cfg.ProtoMaxBulkLen < 1 {
		return fmt.Errorf("--proto-max-bulk-len must be positive")
	}
	if cfg.MaxClients < 1 {
		return fmt.Errorf("--maxclients must be at least 1")
	}
	if outLimit != "" {
		l, err := server.ParseOutputLimit(outLimit)
		if err != nil {
			return fmt.Errorf("--client-output-buffer-limit: %v", err)
		}
		cfg.PubSubLimits = l
	}
	return nil
}
