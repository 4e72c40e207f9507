package server

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mutexredis/mutexredis/commands"
	"github.com/mutexredis/mutexredis/mutex"
)

// The server's side of CLIENT LIST/KILL/PAUSE, MONITOR, SLOWLOG, LATENCY
// and FLUSHALL.

// connByID finds a connection by client id (nil if gone).
func (s *Server) connByID(id int64) *conn {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return s.byID[id]
}

// Clients implements commands.Server.
func (s *Server) Clients(self *commands.Client) []commands.View {
	s.connMu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.connMu.Unlock()
	views := make([]commands.View, 0, len(conns))
	for _, c := range conns {
		if &c.client == self {
			v := self.View()
			v.OutputBytes = c.out.buffered()
			views = append(views, v)
		} else {
			views = append(views, c.currentView())
		}
	}
	sortViews(views)
	return views
}

func sortViews(v []commands.View) {
	for i := 1; i < len(v); i++ {
		for j := i; j > 0 && v[j].ID < v[j-1].ID; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
}

// Kill implements commands.Server.
func (s *Server) Kill(self *commands.Client, ids []int64) int {
	n := 0
	for _, id := range ids {
		if id == self.ID {
			continue
		}
		if c := s.connByID(id); c != nil {
			c.out.fail() // its goroutine sees the closed socket and cleans up
			n++
		}
	}
	return n
}

// pauseState is CLIENT PAUSE's.
type pauseState struct {
	active     atomic.Bool
	mu         sync.Mutex
	until      time.Time
	writesOnly bool
	changed    chan struct{} // closed when the pause is lifted or changed
}

// Pause implements commands.Server. A later pause replaces an earlier one
// only if it lasts longer or pauses more, as in Redis.
func (s *Server) Pause(until time.Time, writesOnly bool) {
	p := &s.pause
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.active.Load() && time.Now().Before(p.until) {
		if until.Before(p.until) {
			until = p.until
		}
		writesOnly = writesOnly && p.writesOnly
	}
	p.until, p.writesOnly = until, writesOnly
	if p.changed != nil {
		close(p.changed)
	}
	p.changed = make(chan struct{})
	p.active.Store(true)
}

// Unpause implements commands.Server.
func (s *Server) Unpause() {
	p := &s.pause
	p.mu.Lock()
	defer p.mu.Unlock()
	p.active.Store(false)
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
}

// waitPause holds a command while clients are paused: every command under
// PAUSE ALL, the ones that may change data under PAUSE WRITE. What the
// pipeline ran before it is answered first.
func (c *conn) waitPause(args [][]byte) {
	p := &c.s.pause
	flushed := false
	for {
		p.mu.Lock()
		if !p.active.Load() {
			p.mu.Unlock()
			return
		}
		left := time.Until(p.until)
		if left <= 0 {
			p.active.Store(false)
			p.mu.Unlock()
			return
		}
		if p.writesOnly {
			cmd := commands.Lookup(args[0])
			if cmd == nil || (cmd.Flags&commands.Write == 0 && cmd.Name != "publish") {
				p.mu.Unlock()
				return
			}
		}
		changed := p.changed
		p.mu.Unlock()
		if !flushed {
			c.submit()
			c.writeReplies(len(c.replies))
			flushed = true
		}
		t := time.NewTimer(left)
		select {
		case <-changed:
		case <-t.C:
		case <-c.s.shutdown:
			t.Stop()
			return
		}
		t.Stop()
	}
}

// ---- MONITOR ----

type monitors struct {
	n     atomic.Int32
	mu    sync.Mutex
	conns map[*conn]struct{}
}

// Monitor implements commands.Server: cl receives every command from now on.
func (s *Server) Monitor(cl *commands.Client, on bool) {
	c := s.connOf(cl)
	if !on {
		s.removeMonitor(c)
		return
	}
	s.monitors.mu.Lock()
	defer s.monitors.mu.Unlock()
	if s.monitors.conns == nil {
		s.monitors.conns = map[*conn]struct{}{}
	}
	if _, ok := s.monitors.conns[c]; !ok {
		s.monitors.conns[c] = struct{}{}
		s.monitors.n.Add(1)
	}
}

func (s *Server) removeMonitor(c *conn) {
	if s.monitors.n.Load() == 0 {
		return
	}
	s.monitors.mu.Lock()
	defer s.monitors.mu.Unlock()
	if _, ok := s.monitors.conns[c]; ok {
		delete(s.monitors.conns, c)
		s.monitors.n.Add(-1)
	}
}

// feedMonitors sends a command about to run to the monitors, in Redis's
// line format; EXEC first feeds the commands it runs.
func (s *Server) feedMonitors(cl *commands.Client, args [][]byte, multi *commands.Multi) {
	if s.monitors.n.Load() == 0 {
		return
	}
	if multi != nil && strings.EqualFold(string(args[0]), "exec") && !multi.Aborted {
		for _, q := range multi.Queued {
			s.feedMonitors(cl, q, nil)
		}
	}
	line := monitorLine(time.Now(), cl.Keyspace, cl.Addr, args)
	lim := s.cfg.pubsubLimits()
	s.monitors.mu.Lock()
	defer s.monitors.mu.Unlock()
	for c := range s.monitors.conns {
		c.out.message(line, lim)
	}
}

// monitorLine is one MONITOR line: +<time> [<db> <addr>] "arg" …, with
// AUTH's and HELLO … AUTH's credentials redacted as Redis does.
func monitorLine(now time.Time, db, addr string, args [][]byte) []byte {
	b := []byte{'+'}
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, '.')
	b = append(b, fmt.Sprintf("%06d", now.Nanosecond()/1000)...)
	b = append(b, " ["...)
	b = append(b, db...)
	b = append(b, ' ')
	b = append(b, addr...)
	b = append(b, ']')
	redact := map[int]bool{}
	switch {
	case strings.EqualFold(string(args[0]), "auth"):
		for i := 1; i < len(args); i++ {
			redact[i] = true
		}
	case strings.EqualFold(string(args[0]), "hello"):
		for i := 2; i < len(args); i++ {
			if strings.EqualFold(string(args[i]), "auth") && i+2 < len(args) {
				redact[i+1], redact[i+2] = true, true
				i += 2
			}
		}
	}
	for i, a := range args {
		b = append(b, ' ')
		if redact[i] {
			b = append(b, `"(redacted)"`...)
			continue
		}
		b = appendRepr(b, a)
	}
	return append(b, '\r', '\n')
}

// appendRepr quotes a as Redis's sdscatrepr does.
func appendRepr(b, a []byte) []byte {
	b = append(b, '"')
	for _, c := range a {
		switch c {
		case '\\', '"':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '\a':
			b = append(b, '\\', 'a')
		case '\b':
			b = append(b, '\\', 'b')
		default:
			if c >= 0x20 && c < 0x7f {
				b = append(b, c)
			} else {
				b = append(b, fmt.Sprintf("\\x%02x", c)...)
			}
		}
	}
	return append(b, '"')
}

// ---- SLOWLOG ----

// slowlog keeps the slowest recent commands, as Redis's SLOWLOG: at most
// slowlog-max-len entries, each with at most 32 arguments of at most 128
// bytes, so its memory is bounded.
type slowlog struct {
	cfg     *Config
	mu      sync.Mutex
	nextID  int64
	entries []slowEntry // newest last; those before start are dropped
	start   int
}

type slowEntry struct {
	id       int64
	at       int64 // unix seconds
	micros   int64
	args     []any
	addr     string
	name     string
	keyspace string
}

const (
	slowlogMaxArgs   = 32
	slowlogMaxArgLen = 128
)

// threshold is the duration from which commands are logged.
func (l *slowlog) threshold() time.Duration {
	t := l.cfg.SlowlogLogSlowerThan.Load()
	if t < 0 {
		return time.Duration(1<<63 - 1)
	}
	return time.Duration(t) * time.Microsecond
}

// record logs a command that took d, if it is slow enough.
func (l *slowlog) record(cl *commands.Client, args [][]byte, d time.Duration) {
	if d < l.threshold() {
		return
	}
	maxLen := int(l.cfg.SlowlogMaxLen.Load())
	e := slowEntry{at: time.Now().Unix(), micros: d.Microseconds(), addr: cl.Addr, name: cl.Name}
	for i, a := range args {
		if i == slowlogMaxArgs-1 && len(args) > slowlogMaxArgs {
			e.args = append(e.args, fmt.Sprintf("... (%d more arguments)", len(args)-slowlogMaxArgs+1))
			break
		}
		if len(a) > slowlogMaxArgLen {
			e.args = append(e.args, fmt.Sprintf("%s... (%d more bytes)", a[:slowlogMaxArgLen], len(a)-slowlogMaxArgLen))
		} else {
			e.args = append(e.args, string(a))
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e.id = l.nextID
	l.nextID++
	l.entries = append(l.entries, e)
	// Entries older than the newest max are dropped by moving start, and
	// removed in bulk once there are max of them: O(1) amortized per
	// record rather than a shift of the whole log.
	l.start = max(l.start, len(l.entries)-maxLen)
	if l.start >= maxLen {
		l.entries = append(l.entries[:0], l.entries[l.start:]...)
		l.start = 0
	}
}

// Slowlog implements commands.Server: SLOWLOG GET n (n < 0: all), LEN, RESET.
func (s *Server) Slowlog(op string, n int) any {
	l := &s.slowlog
	l.mu.Lock()
	defer l.mu.Unlock()
	live := l.entries[l.start:] // trimmed to slowlog-max-len at each record, as Redis does
	switch op {
	case "len":
		return int64(len(live))
	case "reset":
		l.entries, l.start = nil, 0
		return commands.OK
	}
	out := []any{}
	for i := len(live) - 1; i >= 0 && (n < 0 || len(out) < n); i-- {
		e := live[i]
		out = append(out, []any{e.id, e.at, e.micros, e.args, e.addr, e.name})
	}
	return out
}

// ---- LATENCY ----

// latency keeps LATENCY's events: the latest and the history (160 samples,
// as Redis) of each, when latency-monitor-threshold is set.
type latency struct {
	cfg    *Config
	mu     sync.Mutex
	events map[string]*latencyEvent
}

type latencyEvent struct {
	samples []latencySample // at most 160, oldest first
	max     int64
}

type latencySample struct{ at, ms int64 }

const latencyHistory = 160

// record notes that event took d, if past the threshold.
func (l *latency) record(event string, d time.Duration) {
	threshold := l.cfg.LatencyMonitorThreshold.Load()
	ms := d.Milliseconds()
	if threshold <= 0 || ms < threshold {
		return
	}
	now := time.Now().Unix()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.events == nil {
		l.events = map[string]*latencyEvent{}
	}
	e := l.events[event]
	if e == nil {
		e = &latencyEvent{}
		l.events[event] = e
	}
	if n := len(e.samples); n > 0 && e.samples[n-1].at == now { // one sample per second, the worst
		e.samples[n-1].ms = max(e.samples[n-1].ms, ms)
	} else {
		e.samples = append(e.samples, latencySample{at: now, ms: ms})
		if len(e.samples) > latencyHistory {
			e.samples = e.samples[1:]
		}
	}
	e.max = max(e.max, ms)
}

// Latency implements commands.Server: LATENCY LATEST, HISTORY event, RESET
// [event …].
func (s *Server) Latency(op string, events []string) any {
	l := &s.latency
	l.mu.Lock()
	defer l.mu.Unlock()
	switch op {
	case "latest":
		out := []any{}
		for _, name := range sortedKeys(l.events) {
			e := l.events[name]
			last := e.samples[len(e.samples)-1]
			out = append(out, []any{name, last.at, last.ms, e.max})
		}
		return out
	case "history":
		out := []any{}
		if e := l.events[events[0]]; e != nil {
			for _, sm := range e.samples {
				out = append(out, []any{sm.at, sm.ms})
			}
		}
		return out
	}
	n := 0
	if len(events) == 0 {
		n = len(l.events)
		l.events = nil
	}
	for _, name := range events {
		if _, ok := l.events[name]; ok {
			delete(l.events, name)
			n++
		}
	}
	return int64(n)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// ---- FLUSHALL ----

// FlushAll implements commands.Server: every keyspace of the store is
// cleared, each in a write phase of its own mutex (keyspaces never wait on
// each other, so the flush is atomic per keyspace, not across them).
func (s *Server) FlushAll() error {
	names, err := s.userKeyspaces()
	if err != nil {
		return err
	}
	s.store.Resident(func(k *mutex.Keyspace) {
		if !strings.HasPrefix(k.Name(), "#") {
			names = append(names, k.Name())
		}
	})
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		ks, err := s.Keyspace(name)
		if err != nil {
			return err
		}
		op := []mutex.Op{mutex.WriteOp(func(tx *mutex.Tx) (any, error) { return nil, tx.Clear() })}
		if err := ks.Do(context.Background(), op); err != nil {
			return err
		}
		if op[0].Err != nil {
			return op[0].Err
		}
	}
	return nil // each keyspace's Clear invalidated every tracking client (tracker.Written)
}

// Durable implements commands.Server: whether acknowledged writes are
// fsync'd (WAITAOF's local count).
func (s *Server) Durable() bool { return s.cfg.Fsync != "never" }

// atomicIntParam is a run-time settable integer parameter of at least min.
func atomicIntParam(name, usage string, field func(c *Config) *atomic.Int64, min int64) param {
	return param{name: name, usage: usage, mutable: true,
		get: func(c *Config) string { return strconv.FormatInt(field(c).Load(), 10) },
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("argument couldn't be parsed into an integer")
			}
			if n < min {
				return fmt.Errorf("argument must be between %d and %d inclusive", min, int64(1<<63-1))
			}
			field(c).Store(n)
			return nil
		}}
}

// introspectionParams are SLOWLOG's, LATENCY's and client-side caching's.
var introspectionParams = []param{
	atomicIntParam("slowlog-log-slower-than", "SLOWLOG records commands slower than this (µs; -1: none)",
		func(c *Config) *atomic.Int64 { return &c.SlowlogLogSlowerThan }, -1),
	atomicIntParam("slowlog-max-len", "entries SLOWLOG keeps",
		func(c *Config) *atomic.Int64 { return &c.SlowlogMaxLen }, 0),
	atomicIntParam("latency-monitor-threshold", "LATENCY records phases slower than this (ms; 0: off)",
		func(c *Config) *atomic.Int64 { return &c.LatencyMonitorThreshold }, 0),
	atomicIntParam("tracking-table-max-keys", "keys the client-side caching table tracks (0: unlimited)",
		func(c *Config) *atomic.Int64 { return &c.TrackingTableMaxKeys }, 0),
}
