package server

import (
	"io"
	"math/bits"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mutexredis/mutexredis/commands"
	"github.com/prometheus/client_golang/prometheus"
)

// stats are the server's counters for INFO (stats, commandstats,
// errorstats) and /metrics. The hot path costs a few uncontended-ish
// atomic adds per command and one per socket read or write; the command
// table is looked up under a read lock.
type stats struct {
	connectionsReceived atomic.Uint64
	rejectedConnections atomic.Uint64
	netInput, netOutput atomic.Uint64
	maxInputBuffer      atomic.Int64 // largest single read since the last RESETSTAT
	commandsProcessed   atomic.Uint64
	errorReplies        atomic.Uint64
	keyspaceHits        atomic.Uint64
	keyspaceMisses      atomic.Uint64
	droppedSubscribers  atomic.Uint64 // pub/sub clients cut for passing their output limit

	mu     sync.RWMutex
	cmds   map[string]*cmdStat
	errs   map[string]*atomic.Uint64
	metric *commandMetrics // nil while --metrics-addr is off

	inst sampler
}

// cmdStat is one command's line of INFO commandstats.
type cmdStat struct {
	calls, usec, failed, rejected atomic.Uint64
	latency                       latencyHist // INFO latencystats
	// Prometheus children, resolved once (nil without metrics).
	ok, failedC, rejectedC prometheus.Counter
	latencyObs             prometheus.Observer
}

func newStats() *stats {
	return &stats{cmds: map[string]*cmdStat{}, errs: map[string]*atomic.Uint64{}}
}

// cmdSlot is what a connection remembers about one command of a pipeline
// until its reply is written: the command (nil when unknown) and whether
// it was refused before running.
type cmdSlot struct {
	cmd      *commands.Command
	sub      []byte // the subcommand, for container commands
	rejected bool
}

func slotOf(act *commands.Action, args [][]byte) cmdSlot {
	sl := cmdSlot{cmd: act.Called, rejected: act.Rejected}
	if act.Called != nil && act.Called.Subcommands != nil && len(args) > 1 {
		sl.sub = args[1]
	}
	return sl
}

// command records a command whose reply is about to be written; took is
// the time from reading the pipeline to the reply.
func (st *stats) command(sl cmdSlot, reply any, took time.Duration) {
	e, isErr := reply.(commands.Error)
	if isErr {
		st.errorReplies.Add(1)
		st.errorStat(string(e))
	}
	if sl.cmd == nil {
		return // unknown command: an error reply, no command line
	}
	if s, ok := reply.(commands.Status); ok && s == "QUEUED" {
		return // counted when EXEC runs it, as Redis does
	}
	cs := st.cmd(sl)
	switch {
	case sl.rejected:
		cs.rejected.Add(1)
		if cs.rejectedC != nil {
			cs.rejectedC.Inc()
		}
		return
	case isErr:
		cs.failed.Add(1)
		if cs.failedC != nil {
			cs.failedC.Inc()
		}
	default:
		if cs.ok != nil {
			cs.ok.Inc()
		}
		if sl.cmd.Flags&commands.Read != 0 && sl.cmd.FirstKey > 0 {
			if reply == nil {
				st.keyspaceMisses.Add(1)
			} else {
				st.keyspaceHits.Add(1)
			}
		}
	}
	st.commandsProcessed.Add(1)
	cs.calls.Add(1)
	cs.usec.Add(uint64(took.Microseconds()))
	cs.latency.observe(took)
	if cs.latencyObs != nil {
		cs.latencyObs.Observe(took.Seconds())
	}
}

func (st *stats) cmd(sl cmdSlot) *cmdStat {
	name := sl.cmd.Name
	if sl.sub != nil {
		sub := strings.ToLower(string(sl.sub))
		if slices.Contains(sl.cmd.Subcommands, sub) { // clients cannot create lines at will
			name = sl.cmd.Name + "|" + sub
		}
	}
	st.mu.RLock()
	cs := st.cmds[name]
	st.mu.RUnlock()
	if cs != nil {
		return cs
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if cs = st.cmds[name]; cs == nil {
		cs = &cmdStat{}
		if m := st.metric; m != nil {
			m.bind(name, cs)
		}
		st.cmds[name] = cs
	}
	return cs
}

// errorStat counts an error reply by its prefix (the first word), as
// Redis's errorstats; prefixes that are not upper-case words count as ERR.
func (st *stats) errorStat(msg string) {
	prefix, _, _ := strings.Cut(msg, " ")
	if prefix == "" || len(prefix) > 32 || strings.ToUpper(prefix) != prefix {
		prefix = "ERR"
	}
	st.mu.RLock()
	c := st.errs[prefix]
	st.mu.RUnlock()
	if c == nil {
		st.mu.Lock()
		if c = st.errs[prefix]; c == nil {
			if len(st.errs) >= 128 { // Redis's bound on distinct error codes
				c = st.errs["ERR"]
			}
			if c == nil {
				c = new(atomic.Uint64)
				st.errs[prefix] = c
			}
		}
		st.mu.Unlock()
	}
	c.Add(1)
}

// reset is CONFIG RESETSTAT: INFO's counters start again (Prometheus's
// counters are monotonic and keep counting).
func (st *stats) reset() {
	for _, c := range []*atomic.Uint64{&st.connectionsReceived, &st.rejectedConnections, &st.netInput, &st.netOutput,
		&st.commandsProcessed, &st.errorReplies, &st.keyspaceHits, &st.keyspaceMisses, &st.droppedSubscribers} {
		c.Store(0)
	}
	st.maxInputBuffer.Store(0)
	st.mu.Lock()
	for _, cs := range st.cmds {
		cs.calls.Store(0)
		cs.usec.Store(0)
		cs.failed.Store(0)
		cs.rejected.Store(0)
		cs.latency.reset()
	}
	for _, c := range st.errs {
		c.Store(0)
	}
	st.mu.Unlock()
}

func (st *stats) read(n int) {
	if n <= 0 {
		return
	}
	st.netInput.Add(uint64(n))
	for {
		m := st.maxInputBuffer.Load()
		if int64(n) <= m || st.maxInputBuffer.CompareAndSwap(m, int64(n)) {
			return
		}
	}
}

// sampler keeps the last 16 samples of the counters taken every 100ms, as
// Redis does for its instantaneous_* fields.
type sampler struct {
	mu      sync.Mutex
	at      [16]time.Time
	ops     [16]uint64
	in, out [16]uint64
	n       int
}

func (sp *sampler) sample(st *stats, now time.Time) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	i := sp.n % len(sp.at)
	sp.at[i], sp.ops[i], sp.in[i], sp.out[i] = now, st.commandsProcessed.Load(), st.netInput.Load(), st.netOutput.Load()
	sp.n++
}

// rates returns ops/s and input/output kB/s over the samples held.
func (sp *sampler) rates() (ops, inKbps, outKbps float64) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.n < 2 {
		return 0, 0, 0
	}
	last := (sp.n - 1) % len(sp.at)
	first := 0
	if sp.n > len(sp.at) {
		first = sp.n % len(sp.at)
	}
	secs := sp.at[last].Sub(sp.at[first]).Seconds()
	if secs <= 0 {
		return 0, 0, 0
	}
	delta := func(v *[16]uint64) float64 {
		if v[last] < v[first] { // RESETSTAT in between
			return 0
		}
		return float64(v[last] - v[first])
	}
	return delta(&sp.ops) / secs, delta(&sp.in) / secs / 1024, delta(&sp.out) / secs / 1024
}

// sampleLoop samples until done is closed.
func (st *stats) sampleLoop(done <-chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			st.inst.sample(st, now)
		}
	}
}

// countedConn counts the bytes written to a connection.
type countedConn struct {
	net.Conn
	st *stats
}

func (c countedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.st.netOutput.Add(uint64(max(n, 0)))
	return n, err
}

// countedReader counts the bytes read from a connection.
type countedReader struct {
	r  io.Reader
	st *stats
}

func (c countedReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.st.read(n)
	return n, err
}

// countReads wraps a non-blocking read (nil stays nil).
func (st *stats) countReads(read func([]byte) (int, error)) func([]byte) (int, error) {
	if read == nil {
		return nil
	}
	return func(b []byte) (int, error) {
		n, err := read(b)
		st.read(n)
		return n, err
	}
}

// drop closes a subscriber's connection for passing its output limit.
// Caller holds o.mu.
func (o *output) drop() {
	if !o.closed && o.dropped != nil {
		o.dropped.Add(1)
	}
	o.closeLocked()
}

// latencyHist is a log-linear histogram of command latencies, two buckets
// per power of two of nanoseconds (at most 41% apart): enough for the
// percentiles of INFO latencystats at one atomic add per command.
type latencyHist struct{ counts [130]atomic.Uint64 }

func latencyBucket(d time.Duration) int {
	v := uint64(max(d.Nanoseconds(), 1))
	l := bits.Len64(v) // v is in [2^(l-1), 2^l)
	if l < 2 {
		return 2
	}
	return 2*l + int(v>>(l-2))&1
}

// latencyUpper is bucket i's upper bound in nanoseconds.
func latencyUpper(i int) float64 {
	l, sub := i/2, i%2
	if l < 2 {
		return 1
	}
	lower := uint64(2+sub) << (l - 2)
	return float64(lower + 1<<(l-2))
}

func (h *latencyHist) observe(d time.Duration) { h.counts[latencyBucket(d)].Add(1) }

func (h *latencyHist) reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
}

// percentiles returns the upper bounds, in microseconds, of the buckets
// holding each quantile q (0 < q ≤ 1); ok is false with no observations.
func (h *latencyHist) percentiles(qs ...float64) (out []float64, ok bool) {
	var counts [130]uint64
	var total uint64
	for i := range counts {
		counts[i] = h.counts[i].Load()
		total += counts[i]
	}
	if total == 0 {
		return nil, false
	}
	for _, q := range qs {
		rank := uint64(q*float64(total) + 0.999999)
		var cum uint64
		for i, c := range counts {
			cum += c
			if cum >= rank {
				out = append(out, latencyUpper(i)/1000)
				break
			}
		}
	}
	return out, true
}
