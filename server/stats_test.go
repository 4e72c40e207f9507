package server

import (
	"net"
	"testing"
	"time"

	"github.com/mutexredis/mutexredis/commands"
)

func TestStatsDroppedSubscriberCounted(t *testing.T) {
	st := newStats()
	a, b := net.Pipe() // nobody reads b: the output only accumulates
	defer b.Close()
	o := &output{nc: countedConn{a, st}, dropped: &st.droppedSubscribers}
	lim := limits{hard: 100}
	o.message(make([]byte, 60), lim)
	o.message(make([]byte, 60), lim) // 120 pending > 100: dropped
	o.message(make([]byte, 60), lim) // already closed: not counted again
	if got := st.droppedSubscribers.Load(); got != 1 || !o.dead() {
		t.Errorf("dropped = %d, dead %v", got, o.dead())
	}
}

func TestStatsRates(t *testing.T) {
	st := newStats()
	at := time.Unix(1000, 0)
	st.inst.sample(st, at)
	for i := 0; i < 50; i++ {
		st.command(cmdSlot{cmd: commands.Lookup([]byte("ping"))}, commands.Status("PONG"), 0)
	}
	st.read(2048)
	st.inst.sample(st, at.Add(500*time.Millisecond))
	ops, in, out := st.inst.rates()
	if ops != 100 || in != 4 || out != 0 {
		t.Errorf("rates = %v ops/s, %v kB/s in, %v kB/s out", ops, in, out)
	}
	// Past 16 samples the oldest are forgotten.
	for i := 2; i < 40; i++ {
		st.inst.sample(st, at.Add(time.Duration(i)*500*time.Millisecond))
	}
	if ops, _, _ := st.inst.rates(); ops != 0 {
		t.Errorf("rate over idle samples = %v", ops)
	}
	if st.maxInputBuffer.Load() != 2048 {
		t.Errorf("max input buffer %d", st.maxInputBuffer.Load())
	}
}

// A client cannot create commandstats lines at will with made-up
// subcommands.
func TestStatsSubcommandLines(t *testing.T) {
	st := newStats()
	cfg := commands.Lookup([]byte("config"))
	st.command(cmdSlot{cmd: cfg, sub: []byte("GET")}, []any{}, 0)
	st.command(cmdSlot{cmd: cfg, sub: []byte("nosuch"), rejected: true}, commands.Error("ERR unknown subcommand"), 0)
	if len(st.cmds) != 2 || st.cmds["config|get"] == nil || st.cmds["config"] == nil {
		t.Errorf("lines %v", st.cmds)
	}
}

func TestStatsLatencyPercentiles(t *testing.T) {
	var h latencyHist
	if _, ok := h.percentiles(0.5); ok {
		t.Error("percentiles of nothing")
	}
	for i := 0; i < 990; i++ {
		h.observe(time.Millisecond)
	}
	for i := 0; i < 10; i++ {
		h.observe(time.Second)
	}
	p, _ := h.percentiles(0.5, 0.99, 0.999)
	// Each value is the upper bound of its bucket: at most 41% above.
	for i, want := range []float64{1000, 1000, 1e6} {
		if p[i] < want || p[i] > want*1.42 {
			t.Errorf("percentile %d = %vus, want %vus (+41%%)", i, p[i], want)
		}
	}
	for _, d := range []time.Duration{0, 1, 2, 3, 1023, 1024, time.Hour} {
		if up := latencyUpper(latencyBucket(d)); up < float64(d.Nanoseconds()) || up > 1.5*float64(max(d.Nanoseconds(), 1)) {
			t.Errorf("%v in a bucket up to %vns", d, up)
		}
	}
}
