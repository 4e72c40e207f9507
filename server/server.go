// Package server is mutexredis's network side: it accepts RESP connections,
// keeps each connection's state, hands every pipeline's commands to the
// keyspaces' mutexes together, routes pub/sub and the mutex events, and
// runs the lifecycle (start, graceful shutdown). What each command does is
// package commands'; the mutex itself is package mutex.
package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mutexredis/mutexredis/commands"
	"github.com/mutexredis/mutexredis/mutex"
	"github.com/mutexredis/mutexredis/replication"
)

func newRunID() string {
	var b [20]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Server is one mutexredis instance over one store.
type Server struct {
	cfg   *Config
	log   *slog.Logger
	store *mutex.Store
	node  *replication.Node // nil on a single node (replication.go)

	pubsub  *pubsub
	scripts *commands.Scripts

	ksMu  sync.Mutex       // guards feeds; taken after the store's lock (OnKeyspace)
	feeds map[string]*feed // event feeds running, by keyspace

	cursorsMu sync.Mutex
	cursors   map[string]*commands.ScanCursors // SCAN cursors, by keyspace (server/scan.go)

	connMu   sync.Mutex
	conns    map[*conn]struct{}
	byID     map[int64]*conn // the same connections, by client id
	lns      []net.Listener
	nextID   atomic.Int64
	connWG   sync.WaitGroup
	shutdown chan struct{} // closed when a shutdown begins
	stopOnce sync.Once
	started  time.Time

	stats       *stats // stats.go
	runID       string
	memPeak     atomic.Uint64 // info.go
	checkpoints checkpoints   // checkpoint.go
	metrics     *metricsServer
	// Introspection and client-side caching (introspection.go, tracking.go).
	tracking *tracker
	monitors monitors
	slowlog  slowlog
	latency  latency
	pause    pauseState
}

// MutexredisVersion is mutexredis's own version (INFO mutexredis_version).
const MutexredisVersion = "0.1.0"

// New opens the store in cfg.Dir.
func New(cfg *Config, log *slog.Logger) (*Server, error) {
	s := &Server{cfg: cfg, log: log}
	tracking := newTracker(s)
	node, err := s.newNode(cfg)
	if err != nil {
		return nil, err
	}
	readCache := cfg.ReadCacheSize.Load()
	if readCache == 0 {
		readCache = -1 // off, which the store spells negative
	}
	opts := mutex.Options{NoSync: cfg.Fsync == "never", MaxQueuedOps: cfg.MaxQueuedOps, Logger: log, ReadCacheSize: readCache,
		OnKeyspace: s.keyspaceCreated, OnExpire: commands.NotifyExpired, FeedRetention: cfg.FeedRetention, Tracker: tracking,
		MaxReplyBytes: cfg.maxReplyBytes}
	if node != nil {
		// The Raft log is the durable copy: Pebble need not sync (see
		// package replication's recovery argument).
		opts.Replicator, opts.NoSync = node, true
	}
	store, err := mutex.Open(cfg.Dir, opts)
	if err != nil {
		return nil, err
	}
	if node != nil {
		if err := node.Start(store); err != nil {
			store.Close()
			return nil, err
		}
	}
	*s = Server{
		cfg:      cfg,
		log:      log,
		store:    store,
		node:     node,
		feeds:    map[string]*feed{},
		conns:    map[*conn]struct{}{},
		byID:     map[int64]*conn{},
		shutdown: make(chan struct{}),
		started:  time.Now(),
		stats:    newStats(),
		runID:    newRunID(),
	}
	s.tracking = tracking
	s.slowlog.cfg, s.latency.cfg = cfg, cfg
	s.pubsub = newPubSub(cfg.pubsubLimits)
	s.checkpoints.cur.lastSave = s.started
	go s.stats.sampleLoop(s.shutdown)
	s.scripts = commands.NewScripts(cfg.busyReplyThreshold, func(level int, msg string) {
		s.log.Log(context.Background(), []slog.Level{slog.LevelDebug, slog.LevelDebug, slog.LevelInfo, slog.LevelWarn}[level], msg, "source", "script")
	})
	if err := s.scripts.Load(s); err != nil { // functions are there from the start
		s.log.Warn("function libraries not loaded", "error", err)
	}
	return s, nil
}

// Listen opens the configured listeners: plain TCP on Port (unless 0) and
// TLS on TLSPort (unless 0), on every Bind address.
func (s *Server) Listen() error {
	var tlsConf *tls.Config
	if s.cfg.TLSPort != 0 {
		var err error
		if tlsConf, err = s.cfg.tlsConfig(); err != nil {
			return err
		}
	}
	for _, host := range s.cfg.Bind {
		for _, port := range []int{s.cfg.Port, s.cfg.TLSPort} {
			if port == 0 {
				continue
			}
			ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
			if err != nil {
				s.closeListeners()
				return err
			}
			if port == s.cfg.TLSPort {
				ln = tls.NewListener(ln, tlsConf)
			}
			s.lns = append(s.lns, ln)
		}
	}
	if len(s.lns) == 0 {
		return errors.New("nothing to listen on: --port and --tls-port are both 0")
	}
	if err := s.listenMetrics(); err != nil {
		s.closeListeners()
		return fmt.Errorf("metrics-addr: %w", err)
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
	s.log.Info("mutexredis started", "addr", s.Addrs(), "dir", s.cfg.Dir, "fsync", s.cfg.Fsync)
	for _, ln := range s.lns {
		go s.accept(ln)
	}
	s.serveMetrics()
	fatal, _ := s.store.Fatal()
	var nodeFailed <-chan struct{} // nil on a single node: never ready
	if s.node != nil {
		nodeFailed, _ = s.node.Failed()
	}
	select {
	case <-ctx.Done():
	case <-s.shutdown:
	case <-fatal:
		return s.stopFatal()
	case <-nodeFailed:
		_, err := s.node.Failed()
		return errors.Join(fmt.Errorf("replication failed; restart on the same directories to catch up from the log: %w", err), s.stop())
	}
	return s.stop()
}

// stopFatal stops after the store failed for good: nothing more can be
// served or made durable (every acknowledged write already is), so the
// connections are closed at once and the error is returned for the process
// to exit non-zero; a restart on the same --dir recovers.
func (s *Server) stopFatal() error {
	_, err := s.store.Fatal()
	s.Shutdown()
	s.closeListeners()
	s.connMu.Lock()
	for c := range s.conns {
		c.out.fail()
	}
	s.connMu.Unlock()
	s.store.Close()
	return fmt.Errorf("stopping: %w", err)
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
	s.scripts.StopForShutdown()
	s.connWG.Wait()
	s.closeMetrics()
	s.checkpoints.wg.Wait()
	if s.node != nil {
		// Before the store closes: the leader hands over first.
		if err := s.node.Shutdown(); err != nil {
			s.log.Warn("raft shutdown", "error", err)
		}
	}
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
		s.stats.connectionsReceived.Add(1)
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
			s.stats.rejectedConnections.Add(1)
			refuse(nc, "ERR max number of clients reached")
			continue
		}
		if s.cfg.ProtectedMode && s.cfg.requirePass() == "" && !isLoopback(nc.RemoteAddr()) {
			s.connMu.Unlock()
			s.stats.rejectedConnections.Add(1)
			refuse(nc, errProtected)
			continue
		}
		c := newConn(s, nc)
		s.conns[c] = struct{}{}
		s.byID[c.client.ID] = c
		s.connWG.Add(1)
		s.connMu.Unlock()
		go c.serve()
	}
}

// refuse answers a connection that will not be served with one error, in
// the background: a client that does not read must not stall accept.
func refuse(nc net.Conn, msg string) {
	go func() {
		nc.SetWriteDeadline(time.Now().Add(time.Second))
		nc.Write([]byte("-" + msg + "\r\n"))
		nc.Close()
	}()
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

const errProtected = "DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. " +
	"In this mode connections are only accepted from the loopback interface. If you want to connect from external computers, " +
	"set a password with --requirepass, or disable protected mode with --protected-mode no."

func (s *Server) removeConn(c *conn) {
	s.connMu.Lock()
	delete(s.conns, c)
	delete(s.byID, c.client.ID)
	s.connMu.Unlock()
	s.connWG.Done()
}

// Keyspace opens a keyspace (commands.Server).
func (s *Server) Keyspace(name string) (*mutex.Keyspace, error) { return s.store.Keyspace(name) }

// keyspaceCreated starts the feed of a keyspace the store creates, if a
// subscription (a pattern) already wants its events, before anyone else can
// find it and write (mutex.Options.OnKeyspace).
func (s *Server) keyspaceCreated(ks *mutex.Keyspace) {
	s.ksMu.Lock()
	defer s.ksMu.Unlock()
	s.refreshFeedLocked(ks.Name(), ks)
}

// Databases implements commands.Server.
func (s *Server) Databases() int { return s.cfg.Databases }

// Publish implements commands.Server.
func (s *Server) Publish(channel string, msg []byte) int { return s.pubsub.publish(channel, msg) }

// Subscribe implements commands.Server.
func (s *Server) Subscribe(cl *commands.Client, pattern bool, names [][]byte) commands.Replies {
	c := s.connOf(cl)
	kind := "subscribe"
	if pattern {
		kind = "psubscribe"
	}
	set := subscriptionSet(cl, pattern)
	for _, n := range names {
		name := string(n)
		// The confirmation goes on the wire before any message for name.
		s.pubsub.subscribe(c, pattern, name, func(added bool) []byte {
			if added {
				set[name] = struct{}{}
			}
			c.publishView() // CLIENT LIST shows the subscription once confirmed
			confirm := []any{kind, n, int64(cl.Subscriptions())}
			if cl.RESP3() {
				return commands.AppendReplyProto(nil, commands.Push(confirm), true)
			}
			return commands.AppendReply(nil, confirm)
		})
	}
	s.refreshFeeds()
	return commands.Replies{} // written above
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

// ConfigRewrite implements commands.Server (CONFIG REWRITE).
func (s *Server) ConfigRewrite() any {
	if s.cfg.ConfigFile == "" {
		return commands.Error("ERR The server is running without a config file")
	}
	if err := s.cfg.Rewrite(); err != nil {
		s.log.Warn("CONFIG REWRITE failed", "error", err)
		return commands.Error("ERR Rewriting config file: " + oneLine(err.Error()))
	}
	s.log.Info("CONFIG REWRITE executed with success", "file", s.cfg.ConfigFile)
	return nil
}

// ConfigResetStat implements commands.Server (CONFIG RESETSTAT): INFO's
// stats, commandstats and errorstats start again.
func (s *Server) ConfigResetStat() { s.stats.reset() }

// ConfigGet implements commands.Server.
func (s *Server) ConfigGet(pattern string) []any { return s.cfg.get(pattern) }

// ConfigSet implements commands.Server.
// A change may start or stop event feeds (notify-keyspace-events) or
// resize the read cache.
func (s *Server) ConfigSet(name, value string) any {
	r := s.cfg.Set(name, value)
	if r == nil {
		s.refreshFeeds()
		s.store.SetReadCacheSize(s.cfg.ReadCacheSize.Load())
	}
	return r
}

func (s *Server) connOf(cl *commands.Client) *conn { return cl.Conn.(*conn) }

// Authenticate implements commands.Server. The comparison takes the same
// time whatever the password's contents or length.
func (s *Server) Authenticate(user, pass []byte) any {
	want := s.cfg.requirePass()
	if want == "" {
		if user == nil && pass != nil {
			return commands.Error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
		}
		if user == nil || string(user) == "default" {
			return nil // the default user has no password
		}
		return errWrongPass
	}
	if pass == nil { // asked whether a new connection is authenticated
		return errWrongPass
	}
	got, exp := sha256.Sum256(pass), sha256.Sum256([]byte(want))
	userOK := user == nil || string(user) == "default"
	if subtle.ConstantTimeCompare(got[:], exp[:]) != 1 || !userOK {
		return errWrongPass
	}
	return nil
}

var errWrongPass = commands.Error("WRONGPASS invalid username-password pair or user is disabled.")

// Scripts implements commands.Server.
func (s *Server) Scripts() *commands.Scripts { return s.scripts }

// userKeyspaces lists the store's keyspaces but the server's own: those
// whose name starts with '#' (the function libraries' "#functions"), which
// no client can SELECT.
func (s *Server) userKeyspaces() ([]string, error) {
	names, err := s.store.Keyspaces()
	return slices.DeleteFunc(names, func(n string) bool { return strings.HasPrefix(n, "#") }), err
}
