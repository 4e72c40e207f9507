// Package server is mutexredis's network side: it accepts RESP connections,
// keeps each connection's state, hands every pipeline's commands to the
// keyspaces' mutexes together, routes pub/sub and the mutex events, and
// runs the lifecycle (start, graceful shutdown). What each command does is
// package commands'; the mutex itself is package mutex.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mutexredis/mutexredis/commands"
	"github.com/mutexredis/mutexredis/mutex"
)

// Server is one mutexredis instance over one store.
type Server struct {
	cfg   *Config
	log   *slog.Logger
	store *mutex.Store

	pubsub *pubsub

	ksMu      sync.Mutex
	keyspaces map[string]*mutex.Keyspace     // opened in this process
	feeds     map[string]*mutex.Subscription // event feeds running, by keyspace

	connMu   sync.Mutex
	conns    map[*conn]struct{}
	lns      []net.Listener
	nextID   atomic.Int64
	connWG   sync.WaitGroup
	shutdown chan struct{} // closed when a shutdown begins
	stopOnce sync.Once
	started  time.Time
}

// New opens the store in cfg.Dir.
func New(cfg *Config, log *slog.Logger) (*Server, error) {
	store, err := mutex.Open(cfg.Dir, mutex.Options{NoSync: cfg.Fsync == "never", MaxQueuedOps: cfg.MaxQueuedOps})
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		log:       log,
		store:     store,
		keyspaces: map[string]*mutex.Keyspace{},
		feeds:     map[string]*mutex.Subscription{},
		conns:     map[*conn]struct{}{},
		shutdown:  make(chan struct{}),
		started:   time.Now(),
	}
	s.pubsub = newPubSub(cfg.pubsubLimits)
	return s, nil
}

// Listen opens the configured listeners.
func (s *Server) Listen() error {
	for _, host := range s.cfg.Bind {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(s.cfg.Port)))
		if err != nil {
			s.closeListeners()
			return err
		}
		s.lns = append(s.lns, ln)
	}
	return nil
}

// Addrs returns the addresses listened on.
func (s *Server) Addrs() []string {
	var out []string
	for _, ln := range s.lns {
		out = append(out, ln.Addr().String())
	}
	return out
}

// Serve accepts connections until ctx is done or SHUTDOWN, then shuts down
// gracefully: it stops accepting, lets every connection finish the pipeline
// it is running, finishes the queued phases and closes the store.
func (s *Server) Serve(ctx context.Context) error {
	known, _ := s.store.Keyspaces()
	s.log.Info("mutexredis started", "addr", s.Addrs(), "dir", s.cfg.Dir, "fsync", s.cfg.Fsync, "keyspaces", known)
	for _, ln := range s.lns {
		go s.accept(ln)
	}
	select {
	case <-ctx.Done():
	case <-s.shutdown:
	}
	return s.stop()
}

// Shutdown begins a graceful shutdown (SHUTDOWN, signals).
func (s *Server) Shutdown() { s.stopOnce.Do(func() { close(s.shutdown) }) }

func (s *Server) stop() error {
	s.Shutdown()
	s.closeListeners()
	s.connMu.Lock()
	for c := range s.conns {
		c.closeRead()
	}
	s.connMu.Unlock()
	s.connWG.Wait()
	err := s.store.Close()
	s.log.Info("mutexredis stopped", "error", err)
	return err
}

func (s *Server) closeListeners() {
	for _, ln := range s.lns {
		ln.Close()
	}
}

func (s *Server) accept(ln net.Listener) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("accept failed", "error", err)
			time.Sleep(10 * time.Millisecond) // e.g. out of file descriptors: do not spin
			continue
		}
		s.connMu.Lock()
		select {
		case <-s.shutdown:
			s.connMu.Unlock()
			nc.Close()
			continue
		default:
		}
		if len(s.conns) >= s.cfg.MaxClients {
			s.connMu.Unlock()
			nc.Write([]byte("-ERR max number of clients reached\r\n"))
			nc.Close()
			continue
		}
		c := newConn(s, nc)
		s.conns[c] = struct{}{}
		s.connWG.Add(1)
		s.connMu.Unlock()
		go c.serve()
	}
}

func (s *Server) removeConn(c *conn) {
	s.connMu.Lock()
	delete(s.conns, c)
	s.connMu.Unlock()
	s.connWG.Done()
}

// Keyspace opens a keyspace (commands.Server).
func (s *Server) Keyspace(name string) (*mutex.Keyspace, error) {
	s.ksMu.Lock()
	ks, ok := s.keyspaces[name]
	s.ksMu.Unlock()
	if ok {
		return ks, nil
	}
	ks, err := s.store.Keyspace(name)
	if err != nil {
		return nil, err
	}
	s.ksMu.Lock()
	s.keyspaces[name] = ks
	s.ksMu.Unlock()
	s.refreshFeeds() // a pattern may already want its events
	return ks, nil
}

// Databases implements commands.Server.
func (s *Server) Databases() int { return s.cfg.Databases }

// Publish implements commands.Server.
func (s *Server) Publish(channel string, msg []byte) int { return s.pubsub.publish(channel, msg) }

// Subscribe implements commands.Server.
func (s *Server) Subscribe(cl *commands.Client, pattern bool, names [][]byte) commands.Replies {
	c := s.connOf(cl)
	replies := make(commands.Replies, 0, len(names))
	kind := "subscribe"
	if pattern {
		kind = "psubscribe"
	}
	for _, n := range names {
		name := string(n)
		set := subscriptionSet(cl, pattern)
		if s.pubsub.add(c, pattern, name) {
			set[name] = struct{}{}
		}
		replies = append(replies, []any{kind, n, int64(cl.Subscriptions())})
	}
	s.refreshFeeds()
	return replies
}

// Unsubscribe implements commands.Server; no names means all.
func (s *Server) Unsubscribe(cl *commands.Client, pattern bool, names [][]byte) commands.Replies {
	c := s.connOf(cl)
	kind := "unsubscribe"
	if pattern {
		kind = "punsubscribe"
	}
	set := subscriptionSet(cl, pattern)
	if len(names) == 0 {
		for name := range set {
			names = append(names, []byte(name))
		}
		if len(names) == 0 {
			return commands.Replies{[]any{kind, nil, int64(cl.Subscriptions())}}
		}
	}
	replies := make(commands.Replies, 0, len(names))
	for _, n := range names {
		name := string(n)
		s.pubsub.remove(c, pattern, name)
		delete(set, name)
		replies = append(replies, []any{kind, n, int64(cl.Subscriptions())})
	}
	s.refreshFeeds()
	return replies
}

func subscriptionSet(cl *commands.Client, pattern bool) map[string]struct{} {
	if pattern {
		if cl.Patterns == nil {
			cl.Patterns = map[string]struct{}{}
		}
		return cl.Patterns
	}
	if cl.Channels == nil {
		cl.Channels = map[string]struct{}{}
	}
	return cl.Channels
}

// PubSubChannels implements commands.Server.
func (s *Server) PubSubChannels(pattern []byte) []any { return s.pubsub.channelsMatching(pattern) }

// NumSub implements commands.Server.
func (s *Server) NumSub(channel string) int64 { return s.pubsub.numSub(channel) }

// NumPat implements commands.Server.
func (s *Server) NumPat() int64 { return s.pubsub.numPat() }

// Info implements commands.Server.
func (s *Server) Info(section string) string {
	s.connMu.Lock()
	clients := len(s.conns)
	s.connMu.Unlock()
	var b []byte
	add := func(name string, lines ...string) {
		if section != "" && section != "all" && section != "everything" && section != "default" && section != name {
			return
		}
		if len(b) > 0 {
			b = append(b, "\r\n"...)
		}
		b = append(b, "# "...)
		b = append(b, name[:1]...)
		b = append(b, name[1:]...)
		b = append(b, "\r\n"...)
		for _, l := range lines {
			b = append(b, l...)
			b = append(b, "\r\n"...)
		}
	}
	uptime := int64(time.Since(s.started).Seconds())
	add("server",
		"redis_version:"+commands.Version,
		"mutexredis_version:0.1.0",
		"redis_mode:standalone",
		"tcp_port:"+strconv.Itoa(s.cfg.Port),
		"uptime_in_seconds:"+strconv.FormatInt(uptime, 10),
		"executable:mutexredis")
	add("clients", "connected_clients:"+strconv.Itoa(clients), "maxclients:"+strconv.Itoa(s.cfg.MaxClients))
	failed := "ok"
	if err := s.store.Failed(); err != nil {
		failed = "err"
	}
	add("persistence", "loading:0", "aof_enabled:1", "fsync:"+s.cfg.Fsync, "store_status:"+failed)
	var ks []string
	s.ksMu.Lock()
	for name, k := range s.keyspaces {
		ks = append(ks, fmt.Sprintf("%s:last_batch=%d", name, k.LastBatch()))
	}
	s.ksMu.Unlock()
	add("keyspace", ks...)
	return string(b)
}

// ConfigGet implements commands.Server.
func (s *Server) ConfigGet(pattern string) []any { return s.cfg.get(pattern) }

// ConfigSet implements commands.Server.
func (s *Server) ConfigSet(name, value string) any { return s.cfg.set(name, value) }

func (s *Server) connOf(cl *commands.Client) *conn { return cl.Conn.(*conn) }
