// Command mutexredis is a Redis-protocol server whose keys live in a
// durable Pebble store, each keyspace guarded by a read/write cycling mutex.
//
//	mutexredis [/path/to/mutexredis.conf] [--directive value …]
//
// As redis-server: the config file has redis.conf's syntax, every directive
// is also a --flag, and flags override the file.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/mutexredis/mutexredis/commands"
	"github.com/mutexredis/mutexredis/server"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	for _, a := range args {
		switch a {
		case "-h", "--help", "-help":
			usage(os.Stdout)
			return 0
		case "-v", "--version":
			fmt.Printf("mutexredis v=%s (redis %s)\n", server.MutexredisVersion, commands.Version)
			return 0
		}
	}
	cfg, err := server.LoadConfig(args)
	if err != nil {
		var ce *server.ConfigError
		if errors.As(err, &ce) {
			fmt.Fprintln(os.Stderr, ce.Error())
		} else {
			fmt.Fprintln(os.Stderr, "mutexredis:", err)
		}
		return 2
	}
	log, closeLog, err := newLogger(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutexredis: logfile:", err)
		return 2
	}
	defer closeLog()
	if cfg.ConfigFile != "" {
		log.Info("configuration loaded", "file", cfg.ConfigFile)
	}
	if cfg.PidFile != "" {
		if err := os.WriteFile(cfg.PidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			log.Error("cannot write the pid file", "pidfile", cfg.PidFile, "error", err)
			return 1
		}
		defer os.Remove(cfg.PidFile)
	}
	log.Info("opening the store", "dir", cfg.Dir)
	opened := time.Now()
	stopProgress := progress(log, cfg.Dir, opened)
	srv, err := server.New(cfg, log)
	stopProgress()
	if err != nil {
		log.Error("cannot open the store", "dir", cfg.Dir, "error", err)
		return 1
	}
	log.Info("store opened", "dir", cfg.Dir, "took", time.Since(opened).Round(time.Millisecond))
	if err := srv.Listen(); err != nil {
		log.Error("cannot listen", "error", err)
		return 1
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			log.Error("cannot profile", "error", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := srv.Serve(ctx); err != nil {
		log.Error("shutdown", "error", err)
		return 1
	}
	return 0
}

// progress logs every few seconds while a large store opens (Pebble
// replays its write-ahead log into memtables first), until stop is called.
func progress(log *slog.Logger, dir string, since time.Time) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				log.Info("still opening the store (replaying its write-ahead log)", "dir", dir,
					"elapsed", time.Since(since).Round(time.Second))
			}
		}
	}()
	return func() { close(done) }
}

// newLogger logs with slog at loglevel (changeable with CONFIG SET) to
// logfile, as text or JSON.
func newLogger(cfg *server.Config) (*slog.Logger, func(), error) {
	var w io.Writer = os.Stderr
	closeLog := func() {}
	switch cfg.LogFile {
	case "":
	case "stdout":
		w = os.Stdout
	default:
		f, err := os.OpenFile(cfg.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, err
		}
		w, closeLog = f, func() { f.Close() }
	}
	opts := &slog.HandlerOptions{Level: &cfg.LogLevel}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h), closeLog, nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: mutexredis [/path/to/mutexredis.conf] [--directive value …]")
	fmt.Fprintln(w, "Every directive of the config file is also a flag; flags override the file.")
	fmt.Fprintln(w)
	def := server.DefaultConfig()
	for _, p := range server.Params() {
		v, _ := def.Get(p[0])
		if v == "" {
			v = `""`
		}
		fmt.Fprintf(w, "  --%s (default %s)\n      %s\n", p[0], v, p[1])
	}
}
