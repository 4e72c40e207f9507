package integration

// Linearizability: concurrent histories of GET / SET / SET … IFEQ / DEL /
// INCR recorded from many go-redis clients against the real server, and
// checked with porcupine (the checker etcd's robustness tests use) against
// a sequential model of a register per key — including histories that span
// kill -9 and restart, and a proof that the checker does catch violations.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/redis/go-redis/v9"
)

type linKind int

const (
	linGet linKind = iota
	linSet
	linSetIfeq
	linDel
	linIncr
)

func (k linKind) String() string {
	return [...]string{"GET", "SET", "SET IFEQ", "DEL", "INCR"}[k]
}

// linInput is one operation on one key.
type linInput struct {
	Kind   linKind
	Key    string
	Value  string // SET, SET IFEQ: the new value
	Expect string // SET IFEQ: the value it must replace
}

// linOutput is what the server answered. Unknown: the connection failed
// and the operation may or may not have taken effect.
type linOutput struct {
	Unknown bool
	Nil     bool   // GET: no key; SET IFEQ: not applied
	Value   string // GET
	Int     int64  // INCR: the new value; DEL: keys deleted
	Err     bool   // INCR: "value is not an integer"
}

// linState is one key's register: missing, or a string.
type linState struct {
	Exists bool
	Val    string
}

// linModel is the sequential specification of a key: Redis's semantics of
// the five commands on one string key. incrBy is the model's increment: 1
// for the real model, anything else for a deliberately wrong one.
func linModel(incrBy int64) porcupine.Model {
	return porcupine.Model{
		Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
			byKey := map[string][]porcupine.Operation{}
			var keys []string
			for _, op := range h {
				k := op.Input.(linInput).Key
				if _, ok := byKey[k]; !ok {
					keys = append(keys, k)
				}
				byKey[k] = append(byKey[k], op)
			}
			out := make([][]porcupine.Operation, 0, len(keys))
			for _, k := range keys {
				out = append(out, byKey[k])
			}
			return out
		},
		Init: func() any { return linState{} },
		Step: func(st, in, out any) (bool, any) {
			s, i, o := st.(linState), in.(linInput), out.(linOutput)
			switch i.Kind {
			case linGet:
				if o.Unknown {
					return true, s
				}
				if !s.Exists {
					return o.Nil, s
				}
				return !o.Nil && o.Value == s.Val, s
			case linSet:
				return true, linState{Exists: true, Val: i.Value}
			case linSetIfeq:
				applies := s.Exists && s.Val == i.Expect
				next := s
				if applies {
					next = linState{Exists: true, Val: i.Value}
				}
				return o.Unknown || o.Nil != applies, next
			case linDel:
				var want int64
				if s.Exists {
					want = 1
				}
				return o.Unknown || o.Int == want, linState{}
			case linIncr:
				var n int64
				if s.Exists {
					var err error
					if n, err = strconv.ParseInt(s.Val, 10, 64); err != nil {
						return o.Unknown || o.Err, s // not an integer: an error, nothing changes
					}
				}
				n += incrBy
				return o.Unknown || (!o.Err && o.Int == n), linState{Exists: true, Val: strconv.FormatInt(n, 10)}
			}
			return false, s
		},
		Hash: func(st any) uint64 {
			s := st.(linState)
			h := fnv.New64a()
			if s.Exists {
				h.Write([]byte{1})
			}
			h.Write([]byte(s.Val))
			return h.Sum64()
		},
		DescribeOperation: func(in, out any) string {
			i, o := in.(linInput), out.(linOutput)
			var res string
			switch {
			case o.Unknown:
				res = "?"
			case o.Err:
				res = "ERR"
			case o.Nil:
				res = "nil"
			case i.Kind == linGet:
				res = strconv.Quote(o.Value)
			case i.Kind == linIncr || i.Kind == linDel:
				res = strconv.FormatInt(o.Int, 10)
			default:
				res = "OK"
			}
			switch i.Kind {
			case linSet:
				return fmt.Sprintf("SET %s %s -> %s", i.Key, i.Value, res)
			case linSetIfeq:
				return fmt.Sprintf("SET %s %s IFEQ %s -> %s", i.Key, i.Value, i.Expect, res)
			}
			return fmt.Sprintf("%s %s -> %s", i.Kind, i.Key, res)
		},
	}
}

// linHistory collects operations from concurrent clients. Times are
// nanoseconds on the monotonic clock since the history began.
type linHistory struct {
	t0  time.Time
	mu  sync.Mutex
	ops []porcupine.Operation
}

func newLinHistory() *linHistory { return &linHistory{t0: time.Now()} }

func (h *linHistory) now() int64 { return time.Since(h.t0).Nanoseconds() }

func (h *linHistory) add(client int, in linInput, call int64, out linOutput, ret int64) {
	if out.Unknown {
		ret = math.MaxInt64 // it may take effect at any time after its call
	}
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
	h.mu.Unlock()
}

func (h *linHistory) snapshot() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]porcupine.Operation(nil), h.ops...)
}

// linExec sends one operation and interprets the reply. err is set only
// when the outcome is unknown (the connection failed, or an unexpected
// reply); redis.Nil and INCR's "not an integer" are outcomes.
func linExec(ctx context.Context, c *redis.Client, in linInput) (linOutput, error) {
	var out linOutput
	switch in.Kind {
	case linGet:
		v, err := c.Get(ctx, in.Key).Result()
		switch {
		case errors.Is(err, redis.Nil):
			out.Nil = true
		case err != nil:
			return out, err
		default:
			out.Value = v
		}
	case linSet:
		if err := c.Set(ctx, in.Key, in.Value, 0).Err(); err != nil {
			return out, err
		}
	case linSetIfeq:
		err := c.Do(ctx, "SET", in.Key, in.Value, "IFEQ", in.Expect).Err()
		switch {
		case errors.Is(err, redis.Nil):
			out.Nil = true
		case err != nil:
			return out, err
		}
	case linDel:
		n, err := c.Del(ctx, in.Key).Result()
		if err != nil {
			return out, err
		}
		out.Int = n
	case linIncr:
		n, err := c.Incr(ctx, in.Key).Result()
		switch {
		case err != nil && err.Error() == "ERR value is not an integer or out of range":
			out.Err = true
		case err != nil:
			return out, err
		default:
			out.Int = n
		}
	}
	return out, nil
}

// linNotSent reports whether err means the command never left the client
// (no connection could be made), so it certainly had no effect.
func linNotSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// linWorkload generates one client's operations. Values are unique: a
// SET's integer values are spaced 1e5 apart per (client, op), far more than
// the INCRs of a run, so no INCR ever reproduces another write's value;
// one SET in ten writes a non-integer, on which INCR fails.
type linWorkload struct {
	client int
	keys   int
	rng    *rand.Rand
	seq    int
	seen   map[string]string // the last value this client saw per key
	casKey string            // the key just read, to compare-and-set next
}

func newLinWorkload(client, keys int, seed int64) *linWorkload {
	return &linWorkload{client: client, keys: keys, rng: rand.New(rand.NewSource(seed + int64(client))), seen: map[string]string{}}
}

func (w *linWorkload) value() string {
	w.seq++
	if w.rng.Intn(10) == 0 {
		return fmt.Sprintf("s%d.%d", w.client, w.seq)
	}
	return strconv.FormatInt(int64(w.client+1)*1_000_000_000+int64(w.seq)*100_000, 10)
}

func (w *linWorkload) next() linInput {
	if k := w.casKey; k != "" { // read-then-compare-and-set, the seed's pattern
		w.casKey = ""
		if v, ok := w.seen[k]; ok {
			return linInput{Kind: linSetIfeq, Key: k, Value: w.value(), Expect: v}
		}
	}
	in := linInput{Key: fmt.Sprint("lin:", w.rng.Intn(w.keys))}
	switch r := w.rng.Intn(100); {
	case r < 12:
		in.Kind, w.casKey = linGet, in.Key
	case r < 35:
		in.Kind = linGet
	case r < 50:
		in.Kind, in.Value = linSet, w.value()
	case r < 72:
		in.Kind, in.Value = linSetIfeq, w.value()
		if v, ok := w.seen[in.Key]; ok && w.rng.Intn(5) != 0 {
			in.Expect = v
		} else {
			in.Expect = strconv.Itoa(w.rng.Intn(3)) // small numbers: what INCR after DEL makes
		}
	case r < 77:
		in.Kind = linDel
	default:
		in.Kind = linIncr
	}
	return in
}

// observe remembers what an acknowledged operation left in its key.
func (w *linWorkload) observe(in linInput, out linOutput) {
	switch {
	case out.Unknown || out.Err:
	case in.Kind == linGet && !out.Nil:
		w.seen[in.Key] = out.Value
	case in.Kind == linSet, in.Kind == linSetIfeq && !out.Nil:
		w.seen[in.Key] = in.Value
	case in.Kind == linIncr:
		w.seen[in.Key] = strconv.FormatInt(out.Int, 10)
	}
}

// linClient is a go-redis client with its own single connection, no
// retries (a retried INCR could apply twice), dialling whatever address
// addr holds now (the server moves to a new port when it restarts).
func linClient(t *testing.T, addr *atomic.Value) *redis.Client {
	var d net.Dialer
	return newClient(t, addr.Load().(string), &redis.Options{
		PoolSize:        1,
		MaxRetries:      -1,
		Protocol:        2,
		DisableIdentity: true,
		DialTimeout:     5 * time.Second,
		ReadTimeout:     20 * time.Second,
		WriteTimeout:    20 * time.Second,
		Dialer: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr.Load().(string))
		},
	})
}

// linStats counts what the clients did.
type linStats struct {
	done, unknown, notSent, unexpected atomic.Int64
}

// linRunClients runs clients × ops operations, each client on its own
// connection, and records them in h. An operation that could not be sent
// (no connection: the server is down) is not recorded and does not count;
// one whose outcome is unknown is recorded with Return = +∞, except a GET,
// which is dropped (a read that returned nothing constrains nothing).
func linRunClients(t *testing.T, h *linHistory, addr *atomic.Value, clients, ops, keys int, seed int64, st *linStats) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	for cl := 0; cl < clients; cl++ {
		c := linClient(t, addr)
		w := newLinWorkload(cl, keys, seed)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < ops; {
				in := w.next()
				call := h.now()
				out, err := linExec(ctx, c, in)
				ret := h.now()
				if err != nil {
					if linNotSent(err) {
						st.notSent.Add(1)
						time.Sleep(20 * time.Millisecond) // the server is down: wait for it
						continue
					}
					var rerr redis.Error
					if errors.As(err, &rerr) {
						st.unexpected.Add(1)
						t.Errorf("client %d: %s: unexpected reply %v", cl, in.Kind, err)
					}
					st.unknown.Add(1)
					out = linOutput{Unknown: true}
					time.Sleep(20 * time.Millisecond)
				}
				if out.Unknown && in.Kind == linGet {
					i++ // a read with no answer says nothing
					continue
				}
				h.add(cl, in, call, out, ret)
				w.observe(in, out)
				st.done.Add(1)
				i++
			}
		}()
	}
	wg.Wait()
}

// linCheck runs porcupine and returns its verdict and how long it took.
func linCheck(model porcupine.Model, ops []porcupine.Operation) (porcupine.CheckResult, time.Duration) {
	start := time.Now()
	res := porcupine.CheckOperationsTimeout(model, ops, 30*time.Second)
	return res, time.Since(start)
}

// linCount summarizes a history: operations per kind and unknown outcomes.
func linCount(ops []porcupine.Operation) string {
	var kinds [5]int
	unknown, applied, incrErr := 0, 0, 0
	for _, op := range ops {
		in, out := op.Input.(linInput), op.Output.(linOutput)
		kinds[in.Kind]++
		switch {
		case out.Unknown:
			unknown++
		case in.Kind == linSetIfeq && !out.Nil:
			applied++
		case in.Kind == linIncr && out.Err:
			incrErr++
		}
	}
	return fmt.Sprintf("%d ops (GET %d, SET %d, SET IFEQ %d [%d applied], DEL %d, INCR %d [%d not an integer]; %d with unknown outcome)",
		len(ops), kinds[linGet], kinds[linSet], kinds[linSetIfeq], applied, kinds[linDel], kinds[linIncr], incrErr, unknown)
}

// linRequireOk fails the test unless porcupine finds the history
// linearizable within its timeout.
func linRequireOk(t *testing.T, what string, ops []porcupine.Operation) {
	t.Helper()
	res, took := linCheck(linModel(1), ops)
	t.Logf("%s: %s; porcupine: %s in %v", what, linCount(ops), res, took.Round(time.Millisecond))
	switch res {
	case porcupine.Ok:
	case porcupine.Unknown:
		t.Fatalf("%s: porcupine could not decide within its timeout", what)
	default:
		res, info := porcupine.CheckOperationsVerbose(linModel(1), ops, 30*time.Second)
		path := t.TempDir() + "/history.html"
		if err := porcupine.VisualizePath(linModel(1), info, path); err == nil {
			t.Logf("visualization: %s", path)
		}
		t.Fatalf("%s: history is not linearizable (%s)", what, res)
	}
}

// TestLinearizableRegister: 16 clients, each on its own connection, run
// 300 random GET / SET / SET IFEQ / DEL / INCR on 4 keys; the recorded
// history must be linearizable.
func TestLinearizableRegister(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	var addr atomic.Value
	addr.Store(s.Addr)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	h := newLinHistory()
	var st linStats
	start := time.Now()
	linRunClients(t, h, &addr, 16, 300, 4, seed, &st)
	t.Logf("recorded in %v", time.Since(start).Round(time.Millisecond))
	if n := st.unknown.Load() + st.notSent.Load(); n != 0 {
		t.Fatalf("%d operations failed on a healthy server", n)
	}
	linRequireOk(t, "16 clients × 300 ops, 4 keys", h.snapshot())
}

// linKill9 kills the server with SIGKILL (no shutdown at all) and checks
// its output for races and panics before the kill.
func linKill9(t *testing.T, s *srv) {
	t.Helper()
	s.stopped = true // the harness's cleanup must not expect a clean exit
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("mutexredis did not die on SIGKILL")
	}
	out := s.stderr.String()
	for _, bad := range []string{"DATA RACE", "panic:", "fatal error:"} {
		if strings.Contains(out, bad) {
			t.Errorf("mutexredis output before kill -9 contains %q:\n%s", bad, out)
		}
	}
}

// TestLinearizableAcrossKill9: 12 clients run while the server is killed
// with SIGKILL three times and restarted on the same directory (--fsync always).
// Operations cut off by the kill have an unknown outcome (they may or may
// not have been applied: Return = +∞, any answer accepted); everything
// acknowledged must survive and the whole history must be linearizable.
func TestLinearizableAcrossKill9(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	dir := s.Dir
	var addr atomic.Value
	addr.Store(s.Addr)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	h := newLinHistory()
	var st linStats
	const clients, ops, kills = 12, 250, 3
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		linRunClients(t, h, &addr, clients, ops, 3, seed, &st)
	}()

	for kill := 1; kill <= kills; kill++ {
		target := int64(clients * ops * kill / (kills + 1))
		for st.done.Load() < target {
			select {
			case <-done:
				t.Fatalf("the clients finished before kill %d", kill)
			case <-time.After(2 * time.Millisecond): // polling the clients' progress
			}
		}
		at := st.done.Load()
		linKill9(t, s)
		killedAt := time.Now()
		s = startServerDir(t, dir)
		addr.Store(s.Addr)
		t.Logf("kill -9 #%d after %d ops; restarted in %v", kill, at, time.Since(killedAt).Round(time.Millisecond))
	}
	<-done
	t.Logf("recorded in %v: %d ops acknowledged, %d with unknown outcome, %d not sent while the server was down",
		time.Since(start).Round(time.Millisecond), st.done.Load()-st.unknown.Load(), st.unknown.Load(), st.notSent.Load())
	if st.unknown.Load() == 0 {
		t.Errorf("no operation was cut off by the kills: the test did not exercise them")
	}

	// A final read of every key after the last restart joins the history.
	c := linClient(t, &addr)
	for k := 0; k < 3; k++ {
		in := linInput{Kind: linGet, Key: fmt.Sprint("lin:", k)}
		call := h.now()
		out, err := linExec(context.Background(), c, in)
		if err != nil {
			t.Fatal(err)
		}
		h.add(clients, in, call, out, h.now())
	}
	linRequireOk(t, fmt.Sprintf("%d clients × %d ops across %d kill -9, 3 keys", clients, ops, kills), h.snapshot())
}

// TestLinearizabilityCheckerCatchesViolations: the checker is not
// vacuous. A real history that porcupine accepts is rejected (Illegal)
// with a model whose INCR adds 2, and again once one GET's answer is
// replaced by an older value of its key (a stale read).
func TestLinearizabilityCheckerCatchesViolations(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	var addr atomic.Value
	addr.Store(s.Addr)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	h := newLinHistory()
	var st linStats
	linRunClients(t, h, &addr, 8, 150, 2, seed, &st)
	if n := st.unknown.Load() + st.notSent.Load(); n != 0 {
		t.Fatalf("%d operations failed on a healthy server", n)
	}
	concurrent := len(h.snapshot())

	// A sequential tail on its own key makes both violations certain:
	// SET 100, INCR → 101, SET A, SET B, GET → B.
	c := linClient(t, &addr)
	for _, in := range []linInput{
		{Kind: linSet, Key: "lin:tail", Value: "100"},
		{Kind: linIncr, Key: "lin:tail"},
		{Kind: linSet, Key: "lin:tail", Value: "tail-A"},
		{Kind: linSet, Key: "lin:tail", Value: "tail-B"},
		{Kind: linGet, Key: "lin:tail"},
	} {
		call := h.now()
		out, err := linExec(context.Background(), c, in)
		if err != nil {
			t.Fatal(err)
		}
		h.add(8, in, call, out, h.now())
	}
	ops := h.snapshot()
	linRequireOk(t, "8 clients × 150 ops, 2 keys, + a 5-op tail", ops)

	// 1. A wrong model: INCR adds 2.
	res, took := linCheck(linModel(2), ops)
	t.Logf("model with INCR += 2: %s in %v", res, took.Round(time.Millisecond))
	if res != porcupine.Illegal {
		t.Errorf("a model whose INCR adds 2 accepted the history: %s, want Illegal", res)
	}
	res, took = linCheck(linModel(2), ops[:concurrent])
	t.Logf("model with INCR += 2, concurrent part only: %s in %v", res, took.Round(time.Millisecond))

	// 2. A stale read: a GET g answers the value of a plain SET w1 that a
	// later plain SET w2 overwrote before g was called (w1 ends before w2
	// starts, w2 ends before g starts). Values are unique, so nothing can
	// have written w1's value again: no linearization explains it.
	type cand struct{ g, w1, w2 int }
	var cands []cand
	for gi, g := range ops {
		gin, gout := g.Input.(linInput), g.Output.(linOutput)
		if gin.Kind != linGet || gout.Nil || gout.Unknown {
			continue
		}
		w2 := -1
		for i, op := range ops {
			in := op.Input.(linInput)
			if in.Kind == linSet && in.Key == gin.Key && op.Return < g.Call && (w2 < 0 || op.Call > ops[w2].Call) {
				w2 = i
			}
		}
		if w2 < 0 {
			continue
		}
		for i, op := range ops {
			in := op.Input.(linInput)
			if in.Kind == linSet && in.Key == gin.Key && op.Return < ops[w2].Call && in.Value != gout.Value &&
				in.Value != ops[w2].Input.(linInput).Value {
				cands = append(cands, cand{gi, i, w2})
				break
			}
		}
	}
	if len(cands) == 0 {
		t.Fatal("no GET in the history can be made stale")
	}
	// Prefer one from the concurrent part; the tail always has one.
	pick := cands[len(cands)-1]
	inConcurrent := 0
	for _, cd := range cands {
		if cd.g < concurrent {
			inConcurrent++
			pick = cd
		}
	}
	stale := append([]porcupine.Operation(nil), ops...)
	old := stale[pick.g].Output.(linOutput)
	forged := linOutput{Value: stale[pick.w1].Input.(linInput).Value}
	stale[pick.g].Output = forged
	res, took = linCheck(linModel(1), stale)
	t.Logf("stale read injected (%d candidate GETs, %d in the concurrent part): GET %s answered %q instead of %q: %s in %v",
		len(cands), inConcurrent, stale[pick.g].Input.(linInput).Key, forged.Value, old.Value, res, took.Round(time.Millisecond))
	if res != porcupine.Illegal {
		t.Errorf("a history with a stale read was accepted: %s, want Illegal", res)
	}
}
