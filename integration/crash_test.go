package integration

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ---- a server process the test manages itself ----

// ownServer is a mutexredis process started and stopped by the test itself
// rather than by the harness: it can be killed with SIGKILL (the harness
// would report the exit as unclean) and it can run with flags the harness's
// readiness probe does not handle (--port 0 with --tls-port).
type ownServer struct {
	Addr    string // plain address ("" if --port 0)
	Port    int
	Dir     string
	cmd     *exec.Cmd
	out     *lockedBuffer
	exited  chan struct{}
	waitErr error
	done    bool // stopped or killed
}

// ownStart starts the mutexredis binary with args(port) on dir and waits
// until ready(port) succeeds. args gets the chosen port so that the caller
// decides which flag it goes to. A port taken by someone else in the
// meantime is retried with another. The process is killed when the test
// ends if it is still running.
func ownStart(t testing.TB, dir string, args func(port int) []string, ready func(s *ownServer, port int) error) *ownServer {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port := freePort(t)
		s := &ownServer{Port: port, Dir: dir, out: &lockedBuffer{}, exited: make(chan struct{})}
		s.cmd = exec.Command(binPath, append([]string{"--dir", dir}, args(port)...)...)
		s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
		s.cmd.Env = append(os.Environ(), "GORACE=halt_on_error=0 exitcode=66")
		if err := s.cmd.Start(); err != nil {
			t.Fatalf("start mutexredis: %v", err)
		}
		go func() {
			s.waitErr = s.cmd.Wait()
			close(s.exited)
		}()
		t.Cleanup(func() { s.stop(t) }) // no-op once stopped or killed
		deadline := time.Now().Add(60 * time.Second)
		for {
			select {
			case <-s.exited:
				lastErr = fmt.Errorf("mutexredis exited at start (%v): %s", s.waitErr, s.out.String())
				s.done = true
			default:
				if lastErr = ready(s, port); lastErr == nil {
					return s
				}
				if time.Now().After(deadline) {
					s.cmd.Process.Kill()
					<-s.exited
					s.done = true
					t.Fatalf("mutexredis not ready within 60s: %v\n%s", lastErr, s.out.String())
				}
				time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
				continue
			}
			break
		}
		if !strings.Contains(lastErr.Error(), "address already in use") {
			break
		}
	}
	t.Fatalf("cannot start mutexredis: %v", lastErr)
	return nil
}

// ownStartPlain starts mutexredis on a plain loopback port with extra
// flags (which may include --requirepass: the readiness probe then
// authenticates).
func ownStartPlain(t testing.TB, dir string, flags ...string) *ownServer {
	t.Helper()
	pass := ""
	if i := slices.Index(flags, "--requirepass"); i >= 0 && i+1 < len(flags) {
		pass = flags[i+1]
	}
	return ownStart(t, dir, func(port int) []string {
		return append([]string{"--port", strconv.Itoa(port)}, flags...)
	}, func(s *ownServer, port int) error {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err := ownCheckDir(addr, nil, pass, s.Dir); err != nil {
			return err
		}
		s.Addr = addr
		return nil
	})
}

// ownCheckDir dials addr with dial, sends PING and
// CONFIG GET dir (after AUTH pass unless pass is ""), and checks the answers: it is our process that answers.
// A nil dial is a plain TCP dial.
func ownCheckDir(addr string, dial func(addr string) (net.Conn, error), pass, dir string) error {
	if dial == nil {
		dial = func(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, time.Second) }
	}
	nc, err := dial(addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	rd := bufio.NewReader(nc)
	if pass != "" {
		if _, err := nc.Write(encodeCommand(nil, "AUTH", pass)); err != nil {
			return err
		}
		if r, err := readReply(rd); err != nil || r != "+OK" {
			return fmt.Errorf("AUTH: %s %v", r, err)
		}
	}
	if _, err := nc.Write(append(encodeCommand(nil, "PING"), encodeCommand(nil, "CONFIG", "GET", "dir")...)); err != nil {
		return err
	}
	pong, err := readReply(rd)
	if err != nil {
		return err
	}
	if pong != "+PONG" {
		return fmt.Errorf("PING answered %s", pong)
	}
	got, err := readReply(rd)
	if err != nil {
		return err
	}
	if want := fmt.Sprintf("[%q, %q]", "dir", dir); got != want {
		return fmt.Errorf("CONFIG GET dir = %s, want %s (another process on the port?)", got, want)
	}
	return nil
}

// outputProblems lists what in the server's output shows a bug.
func (s *ownServer) outputProblems() []string {
	out := s.out.String()
	var problems []string
	for _, bad := range []string{"DATA RACE", "panic:", "fatal error:"} {
		if strings.Contains(out, bad) {
			problems = append(problems, "output contains "+strconv.Quote(bad))
		}
	}
	return problems
}

// sigkill kills the process with SIGKILL and checks its output for races
// and panics.
func (s *ownServer) sigkill(t testing.TB) {
	t.Helper()
	s.done = true
	s.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("mutexredis did not die on SIGKILL")
	}
	if p := s.outputProblems(); p != nil {
		t.Errorf("mutexredis %s:\n%s", strings.Join(p, ", "), s.out.String())
	}
}

// stop sends SIGTERM and checks for a clean exit.
func (s *ownServer) stop(t testing.TB) {
	t.Helper()
	if s.done {
		return
	}
	s.done = true
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
		}
		t.Errorf("mutexredis did not exit within 20s of SIGTERM\n%s", s.out.String())
		return
	}
	p := s.outputProblems()
	if s.waitErr != nil {
		p = append(p, "exited with "+s.waitErr.Error())
	}
	if p != nil {
		t.Errorf("mutexredis %s:\n%s", strings.Join(p, ", "), s.out.String())
	}
}

// procStatusKB reads a field of /proc/<pid>/status (VmRSS, VmSize, VmHWM,
// Threads …) in its unit (kB for the Vm ones).
func procStatusKB(t testing.TB, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read /proc/%d/status: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return n
				}
			}
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return 0
}

// ---- crash safety ----

// crashOp is one write a crash worker sent, acknowledged or not.
type crashOp struct {
	kind   byte // 's' SET, 'm' MSET group, 'x' MULTI/EXEC group
	worker int
	id     string // unique per op: <cycle>-<worker>-<n>
	value  string
	acked  bool
	incr   int64 // 'x': the counter value EXEC returned, when acked
}

func (o *crashOp) keys() []string {
	switch o.kind {
	case 's':
		return []string{"k:" + o.id}
	case 'm':
		return []string{"g:" + o.id + ":a", "g:" + o.id + ":b", "g:" + o.id + ":c"}
	default:
		return []string{"x:" + o.id + ":1", "x:" + o.id + ":2"}
	}
}

func crashCounterKey(worker int) string { return "counter:" + strconv.Itoa(worker) }

// crashWorker writes until its connection fails (the server was killed).
// Every op is recorded before it is sent, and marked acked once its reply
// came back.
func crashWorker(ctx context.Context, c *redis.Client, cycle, worker int, rng *rand.Rand, killed *atomic.Bool, ops *[]crashOp) error {
	pad := strings.Repeat(string(rune('a'+worker%26)), rng.IntN(48))
	for n := 0; ; n++ {
		op := crashOp{worker: worker, id: fmt.Sprintf("%d-%d-%d", cycle, worker, n)}
		op.value = "v:" + op.id + ":" + pad
		var err error
		switch r := rng.IntN(10); {
		case r < 5:
			op.kind = 's'
			*ops = append(*ops, op)
			err = c.Set(ctx, op.keys()[0], op.value, 0).Err()
		case r < 8:
			op.kind = 'm'
			*ops = append(*ops, op)
			k := op.keys()
			err = c.MSet(ctx, k[0], op.value, k[1], op.value, k[2], op.value).Err()
		default:
			op.kind = 'x'
			*ops = append(*ops, op)
			k := op.keys()
			var incr *redis.IntCmd
			_, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, k[0], op.value, 0)
				p.Set(ctx, k[1], op.value, 0)
				incr = p.Incr(ctx, crashCounterKey(worker))
				return nil
			})
			if err == nil {
				(*ops)[len(*ops)-1].incr = incr.Val()
			}
		}
		if err != nil {
			if !killed.Load() {
				return fmt.Errorf("op %c %s failed before the kill: %v", op.kind, op.id, err)
			}
			return nil
		}
		(*ops)[len(*ops)-1].acked = true
	}
}

// crashVerifier checks a restarted server against what was acknowledged.
type crashVerifier struct {
	t        *testing.T
	c        *redis.Client
	counters map[int]int64 // counter values verified at the previous restart
	verified int           // acknowledged ops checked, in all
	keys     int           // keys read, in all
}

// mget reads keys in pipelined chunks; nil for a missing key.
func (v *crashVerifier) mget(keys []string) []any {
	v.t.Helper()
	ctx := context.Background()
	out := make([]any, 0, len(keys))
	const chunk = 512
	for len(keys) > 0 {
		n := min(chunk, len(keys))
		vals, err := v.c.MGet(ctx, keys[:n]...).Result()
		if err != nil {
			v.t.Fatalf("MGET after restart: %v", err)
		}
		out = append(out, vals...)
		keys = keys[n:]
		v.keys += n
	}
	return out
}

// check verifies one cycle's ops (all of them, acked or not): every
// acknowledged write is there with its value, every group whole or absent,
// and each counter moved by exactly the number of its MULTI groups that
// made it. counterCheck is false for a full re-check of older cycles.
func (v *crashVerifier) check(label string, ops []crashOp, counterCheck bool) {
	v.t.Helper()
	var keys []string
	for i := range ops {
		keys = append(keys, ops[i].keys()...)
	}
	vals := v.mget(keys)
	present := map[int]int64{} // MULTI groups present, by worker
	lastIncr := map[int]int64{}
	errs := 0
	fail := func(format string, args ...any) {
		errs++
		if errs <= 20 {
			v.t.Errorf(label+": "+format, args...)
		}
	}
	for i := range ops {
		op := &ops[i]
		k := op.keys()
		got := vals[:len(k)]
		vals = vals[len(k):]
		n := 0
		for j, g := range got {
			switch g {
			case nil:
			case op.value:
				n++
			default:
				fail("%s = %q, want %q (or absent if unacknowledged)", k[j], g, op.value)
			}
		}
		if op.acked {
			v.verified++
			if n != len(k) {
				fail("acknowledged %c %s: %d of %d keys present (%v)", op.kind, op.id, n, len(k), got)
			}
		} else if n != 0 && n != len(k) {
			fail("unacknowledged %c %s is partial: %d of %d keys present (%v)", op.kind, op.id, n, len(k), got)
		}
		if op.kind == 'x' {
			if n == len(k) {
				present[op.worker]++
			}
			if op.acked {
				lastIncr[op.worker] = max(lastIncr[op.worker], op.incr)
			}
		}
	}
	if !counterCheck {
		return
	}
	workers := map[int]bool{}
	for i := range ops {
		workers[ops[i].worker] = true
	}
	for w := range workers {
		got, err := v.c.Get(context.Background(), crashCounterKey(w)).Int64()
		if errors.Is(err, redis.Nil) {
			got, err = 0, nil
		}
		if err != nil {
			v.t.Fatalf("GET %s: %v", crashCounterKey(w), err)
		}
		if got < lastIncr[w] {
			fail("%s = %d, but an acknowledged EXEC returned %d", crashCounterKey(w), got, lastIncr[w])
		}
		if got-v.counters[w] != present[w] {
			fail("%s went from %d to %d, but %d of its MULTI groups are present: EXEC not all-or-nothing",
				crashCounterKey(w), v.counters[w], got, present[w])
		}
		v.counters[w] = got
	}
}

// crashEnvInt reads a positive integer from the environment.
func crashEnvInt(t *testing.T, name string, def int64) int64 {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return n
}

// TestCrashSafety: many clients write (SET, MSET groups, MULTI/EXEC groups)
// and the server is killed with SIGKILL at a random moment, over and over on
// the same directory. After every restart every acknowledged write is there,
// every group is whole or absent, counters match the groups that made it,
// and AFTERWRITE's batch number has not gone backwards (PRODUCT §3.7, §6).
//
// MUTEXREDIS_CRASH_CYCLES sets the number of kills (default 20);
// MUTEXREDIS_CRASH_SEED replays a run's random choices (delays, mixes).
func TestCrashSafety(t *testing.T) {
	t.Parallel()
	cycles := int(crashEnvInt(t, "MUTEXREDIS_CRASH_CYCLES", 20))
	seed := uint64(crashEnvInt(t, "MUTEXREDIS_CRASH_SEED", time.Now().UnixNano()))
	t.Logf("seed %d (MUTEXREDIS_CRASH_SEED=%d replays the random choices), %d cycles", seed, seed, cycles)
	rng := rand.New(rand.NewPCG(seed, 0x6d75746578))
	dir := t.TempDir()
	ctx := context.Background()
	v := &crashVerifier{t: t, counters: map[int]int64{}}
	var all [][]crashOp // every cycle's ops, for the final full check
	var lastBatch int64 // highest AFTERWRITE seen so far
	var prev []crashOp  // the previous cycle's ops, checked after the restart
	start := time.Now()
	acked, tried := 0, 0

	for cycle := 0; cycle <= cycles; cycle++ {
		t0 := time.Now()
		s := ownStartPlain(t, dir)
		startDur := time.Since(t0)
		check := s.client(t, nil)
		v.c = check
		// The batch number survived the kill.
		if n := crashAfterwrite(t, check); n < lastBatch {
			t.Errorf("cycle %d: AFTERWRITE after restart = %d, but %d was seen before the kill", cycle, n, lastBatch)
		} else {
			lastBatch = n
		}
		if prev != nil {
			v.check(fmt.Sprintf("cycle %d, after its kill", cycle-1), prev, true)
		}
		checkDur := time.Since(t0) - startDur
		if t.Failed() {
			t.Fatalf("stopping after cycle %d (seed %d)", cycle, seed)
		}
		if cycle == cycles {
			// Last restart: everything from every cycle is still there.
			for i, ops := range all {
				v.check(fmt.Sprintf("final check, cycle %d", i), ops, false)
			}
			check.Close()
			s.stop(t)
			break
		}

		workers := 8 + rng.IntN(9) // 8–16
		delay := time.Duration(50+rng.IntN(351)) * time.Millisecond
		var killed atomic.Bool
		var wg sync.WaitGroup
		opsOf := make([][]crashOp, workers)
		errsOf := make([]error, workers)
		for w := 0; w < workers; w++ {
			c := s.client(t, &redis.Options{PoolSize: 1, MaxRetries: -1})
			wrng := rand.New(rand.NewPCG(seed, uint64(cycle)<<16|uint64(w)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				errsOf[w] = crashWorker(ctx, c, cycle, w, wrng, &killed, &opsOf[w])
			}()
		}
		// AFTERWRITE, polled while the writers run, never goes backwards.
		mon := s.client(t, &redis.Options{PoolSize: 1, MaxRetries: -1})
		monDone := make(chan struct{})
		var monErr error
		monSeen := lastBatch
		go func() {
			defer close(monDone)
			defer mon.Close()
			for {
				n, err := mon.Do(ctx, "AFTERWRITE").Int64()
				if err != nil {
					if !killed.Load() {
						monErr = err
					}
					return
				}
				if n < monSeen {
					monErr = fmt.Errorf("AFTERWRITE went from %d to %d", monSeen, n)
					return
				}
				monSeen = n
			}
		}()
		time.Sleep(delay) // the random moment of the kill: this is the test's input, not synchronisation
		killed.Store(true)
		s.sigkill(t)
		wg.Wait()
		<-monDone
		check.Close()
		if monErr != nil {
			t.Errorf("cycle %d: AFTERWRITE monitor: %v", cycle, monErr)
		}
		lastBatch = max(lastBatch, monSeen)
		prev = nil
		cycleAcked := 0
		for w := 0; w < workers; w++ {
			if errsOf[w] != nil {
				t.Errorf("cycle %d worker %d: %v", cycle, w, errsOf[w])
			}
			prev = append(prev, opsOf[w]...)
		}
		for i := range prev {
			if prev[i].acked {
				cycleAcked++
			}
		}
		acked += cycleAcked
		tried += len(prev)
		all = append(all, prev)
		t.Logf("cycle %d: restart %v, check %v; %d clients, killed after %v: %d writes sent, %d acknowledged, last batch seen %d",
			cycle, startDur.Round(time.Millisecond), checkDur.Round(time.Millisecond), workers, delay, len(prev), cycleAcked, monSeen)
	}
	t.Logf("survived %d kill -9 cycles in %v: %d writes sent, %d acknowledged; %d acknowledged-op checks passed (%d key reads); last batch %d",
		cycles, time.Since(start).Round(time.Millisecond), tried, acked, v.verified, v.keys, lastBatch)
}

// client returns a go-redis client of an ownServer, closed when the test
// ends. opt may be nil.
func (s *ownServer) client(t testing.TB, opt *redis.Options) *redis.Client {
	t.Helper()
	return newClient(t, s.Addr, opt)
}

// cli runs redis-cli -p <port> args... and returns its output.
func (s *ownServer) cli(t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "redis-cli", append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port)}, args...)...)
	cmd.Stdin = strings.NewReader("")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func crashAfterwrite(t testing.TB, c *redis.Client) int64 {
	t.Helper()
	n, err := c.Do(context.Background(), "AFTERWRITE").Int64()
	if err != nil {
		t.Fatalf("AFTERWRITE: %v", err)
	}
	return n
}
