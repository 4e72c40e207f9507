package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Blocking pops (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP) over the
// network: FIFO service, timeouts, a client that leaves while blocked,
// what a batch that empties the list again does, and the job-queue
// guarantee across kill -9.

// blockedClients reads INFO's blocked_clients.
func blockedClients(t testing.TB, c *rconn) int {
	t.Helper()
	r := c.do("INFO", "clients")
	text, err := strconv.Unquote(r)
	if err != nil {
		t.Fatalf("INFO clients answered %s", r)
	}
	for _, line := range strings.Split(text, "\r\n") {
		if v, ok := strings.CutPrefix(line, "blocked_clients:"); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("INFO: %q", line)
			}
			return n
		}
	}
	t.Fatalf("INFO clients has no blocked_clients: %q", text)
	return 0
}

// waitBlockedClients polls INFO until n clients are blocked. A client
// counts once the keyspace has registered it, so clients counted one after
// the other are served in that order.
func waitBlockedClients(t testing.TB, c *rconn, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := blockedClients(t, c)
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("blocked_clients = %d, want %d", got, n)
		}
		time.Sleep(time.Millisecond) // polling interval
	}
}

// TestBlockingFIFO: clients blocked on one list are served in the order
// they blocked, one element each, whether the elements come in one push or
// in several, and every reply is sent once the pop is durable.
func TestBlockingFIFO(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctl := dialRaw(t, s.Addr)
	const n = 5
	for _, oneBatch := range []bool{true, false} {
		waiters := make([]*rconn, n)
		for i := range waiters {
			waiters[i] = dialRaw(t, s.Addr)
			if i%2 == 0 {
				waiters[i].send("BLPOP", "q", "0")
			} else {
				waiters[i].send("BLPOP", "other", "q", "0") // several keys
			}
			waitBlockedClients(t, ctl, i+1)
		}
		if oneBatch {
			args := []string{"RPUSH", "q"}
			for i := range n {
				args = append(args, "v"+strconv.Itoa(i))
			}
			if got := ctl.do(args...); got != ":"+strconv.Itoa(n) {
				t.Fatalf("RPUSH: %s", got)
			}
		}
		for i, w := range waiters {
			if !oneBatch {
				if got := ctl.do("RPUSH", "q", "v"+strconv.Itoa(i)); got != ":1" && got != ":0" {
					t.Fatalf("RPUSH: %s", got)
				}
			}
			if got, want := w.read(), fmt.Sprintf("[%q, %q]", "q", "v"+strconv.Itoa(i)); got != want {
				t.Fatalf("one batch %v: waiter %d got %s, want %s", oneBatch, i, got, want)
			}
		}
		if got := ctl.do("LLEN", "q"); got != ":0" {
			t.Fatalf("LLEN after serving = %s", got)
		}
		waitBlockedClients(t, ctl, 0)
	}
}

// TestBlockingTimeout: a blocking command that times out answers a null
// array, leaves nothing registered, and does not take what is pushed
// afterwards. A timeout of 0 waits until served.
func TestBlockingTimeout(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctl := dialRaw(t, s.Addr)
	c := dialRaw(t, s.Addr)
	for _, args := range [][]string{
		{"BLPOP", "q", "0.05"}, {"BRPOP", "q", "x", "0.05"}, {"BLMOVE", "q", "d", "LEFT", "RIGHT", "0.05"},
		{"BRPOPLPUSH", "q", "d", "0.05"}, {"BLMPOP", "0.05", "2", "q", "x", "LEFT", "COUNT", "3"},
	} {
		if got := c.do(args...); got != "(nil-array)" {
			t.Errorf("%q timed out with %s, want (nil-array)", args, got)
		}
	}
	waitBlockedClients(t, ctl, 0)
	ctl.do("RPUSH", "q", "kept")
	if got := ctl.do("LRANGE", "q", "0", "-1"); got != `["kept"]` {
		t.Fatalf("after the timeouts the list is %s", got)
	}
	if got := ctl.do("EXISTS", "d"); got != ":0" {
		t.Fatalf("a timed out BLMOVE created its destination: %s", got)
	}
	// The connection works on after a timeout, and 0 waits as long as it takes.
	c.send("BLPOP", "z", "0")
	waitBlockedClients(t, ctl, 1)
	ctl.do("LPUSH", "z", "late")
	if got := c.read(); got != `["z", "late"]` {
		t.Fatalf("BLPOP z 0 = %s", got)
	}
}

// TestBlockingDisconnect: a client that goes away while blocked is removed,
// and the element pushed afterwards goes to the next client in line.
func TestBlockingDisconnect(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctl := dialRaw(t, s.Addr)
	gone := dialRaw(t, s.Addr)
	gone.send("BLPOP", "q", "0")
	waitBlockedClients(t, ctl, 1)
	next := dialRaw(t, s.Addr)
	next.send("BRPOPLPUSH", "q", "d", "0")
	waitBlockedClients(t, ctl, 2)
	gone.nc.Close()
	waitBlockedClients(t, ctl, 1)
	ctl.do("RPUSH", "q", "job")
	if got := next.read(); got != `"job"` {
		t.Fatalf("the next client got %s", got)
	}
	if got := ctl.do("LRANGE", "d", "0", "-1"); got != `["job"]` {
		t.Fatalf("destination = %s", got)
	}
	if got := ctl.do("EXISTS", "q"); got != ":0" {
		t.Fatalf("EXISTS q = %s", got)
	}
	waitBlockedClients(t, ctl, 0)
}

// TestBlockingServedCommands: BLMOVE, BRPOPLPUSH and BLMPOP served after
// blocking; a client blocked on several keys gets the one pushed; a client
// stays blocked while its key holds another type (Redis 7.0) and while a
// transaction pushes and pops again; the commands a blocked client
// pipelined after its pop run once it is served, in order; inside MULTI
// nothing blocks.
func TestBlockingServedCommands(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctl := dialRaw(t, s.Addr)
	c := dialRaw(t, s.Addr)

	c.send("BLMOVE", "src", "dst", "RIGHT", "LEFT", "0")
	waitBlockedClients(t, ctl, 1)
	ctl.do("RPUSH", "src", "a", "b")
	if got := c.read(); got != `"b"` {
		t.Fatalf("BLMOVE = %s", got)
	}
	if got := ctl.do("LRANGE", "dst", "0", "-1"); got != `["b"]` {
		t.Fatalf("dst = %s", got)
	}

	c.send("BLMPOP", "0", "2", "m1", "m2", "LEFT", "COUNT", "2")
	waitBlockedClients(t, ctl, 1)
	ctl.do("RPUSH", "m2", "x", "y", "z")
	if got := c.read(); got != `["m2", ["x", "y"]]` {
		t.Fatalf("BLMPOP = %s", got)
	}

	c.send("BRPOP", "k1", "k2", "k3", "0")
	waitBlockedClients(t, ctl, 1)
	ctl.do("LPUSH", "k3", "three")
	if got := c.read(); got != `["k3", "three"]` {
		t.Fatalf("BRPOP = %s", got)
	}

	// Another type, then a transaction that leaves the list empty: still
	// blocked; then an element: served, and the pipelined PING after it.
	c.nc.Write(append(encodeCommand(nil, "BLPOP", "w", "0"), encodeCommand(nil, "PING")...))
	waitBlockedClients(t, ctl, 1)
	ctl.do("SET", "w", "string")
	ctl.do("DEL", "w")
	ctl.do("MULTI")
	ctl.do("RPUSH", "w", "in-tx")
	ctl.do("LPOP", "w")
	if got := ctl.do("EXEC"); got != `[:1, "in-tx"]` {
		t.Fatalf("EXEC = %s", got)
	}
	if got := ctl.do("PING"); got != "+PONG" {
		t.Fatal(got)
	}
	if n := blockedClients(t, ctl); n != 1 {
		t.Fatalf("blocked_clients = %d after the type change and the transaction, want 1", n)
	}
	ctl.do("RPUSH", "w", "finally")
	if got := c.read(); got != `["w", "finally"]` {
		t.Fatalf("BLPOP w = %s", got)
	}
	if got := c.read(); got != "+PONG" {
		t.Fatalf("pipelined after BLPOP: %s", got)
	}

	// MULTI: BLPOP answers at once, even with a timeout of 0.
	c.do("MULTI")
	c.do("BLPOP", "empty", "0")
	c.do("BLMOVE", "empty", "x", "LEFT", "LEFT", "0")
	if got := c.do("EXEC"); got != "[(nil-array), (nil)]" {
		t.Fatalf("EXEC of blocking commands = %s", got)
	}
	waitBlockedClients(t, ctl, 0)
}

// TestBlockingManyWaiters: many clients blocked on one list,
// fed concurrently: every element is handed out exactly once.
func TestBlockingManyWaiters(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	const waiters, perWaiter = 12, 20
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, waiters+4)
	for range waiters {
		c := s.client(t, &redis.Options{PoolSize: 1, MaxRetries: -1})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perWaiter {
				r, err := c.BLPop(ctx, 0, "jobs").Result()
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				got[r[1]]++
				mu.Unlock()
			}
		}()
	}
	for p := range 4 {
		c := s.client(t, &redis.Options{PoolSize: 1})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range waiters * perWaiter / 4 {
				if err := c.RPush(ctx, "jobs", fmt.Sprintf("%d-%d", p, i)).Err(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(got) != waiters*perWaiter {
		t.Fatalf("%d distinct elements popped, want %d", len(got), waiters*perWaiter)
	}
	for e, n := range got {
		if n != 1 {
			t.Errorf("%s popped %d times", e, n)
		}
	}
	if n := s.client(t, nil).LLen(ctx, "jobs").Val(); n != 0 {
		t.Errorf("LLEN jobs = %d", n)
	}
}

// TestBlockingQueueCrash is the job-queue guarantee (PRODUCT §10): pushers
// RPUSH unique jobs and poppers take them with BLPOP while the server is
// killed with SIGKILL, again and again on the same directory. After each
// restart and at the end, every acknowledged push is either popped by
// exactly one acknowledged pop or still in the list, except jobs taken by
// pops whose replies the kill cut off (at most one per popper per kill:
// counted apart); nothing is popped twice, nothing popped is still in the
// list, and nothing appears that was never pushed.
//
// MUTEXREDIS_QUEUE_CYCLES sets the number of kills (default 3);
// MUTEXREDIS_CRASH_SEED replays the random choices.
func TestBlockingQueueCrash(t *testing.T) {
	t.Parallel()
	cycles := int(crashEnvInt(t, "MUTEXREDIS_QUEUE_CYCLES", 3))
	seed := uint64(crashEnvInt(t, "MUTEXREDIS_CRASH_SEED", time.Now().UnixNano()))
	rng := rand.New(rand.NewPCG(seed, 0x71756575))
	dir := t.TempDir()
	ctx := context.Background()

	pushed := map[string]bool{} // every job sent: acknowledged or not
	ackedPush := map[string]bool{}
	popped := map[string]int{} // acknowledged pops
	var inFlightPops int       // pops outstanding at the kills, in all
	var totalPops, unackedPushes int

	// check compares the restarted server's list with the record.
	check := func(label string, c *redis.Client) (missing int) {
		t.Helper()
		list, err := c.LRange(ctx, "jobs", 0, -1).Result()
		if err != nil {
			t.Fatalf("%s: LRANGE: %v", label, err)
		}
		inList := map[string]bool{}
		for _, j := range list {
			switch {
			case inList[j]:
				t.Errorf("%s: %s is twice in the list", label, j)
			case popped[j] > 0:
				t.Errorf("%s: %s was popped and is still in the list", label, j)
			case !pushed[j]:
				t.Errorf("%s: %s is in the list but was never pushed", label, j)
			}
			inList[j] = true
		}
		for j, n := range popped {
			if n > 1 {
				t.Errorf("%s: %s popped %d times", label, j, n)
			}
			if !pushed[j] {
				t.Errorf("%s: %s popped but never pushed", label, j)
			}
		}
		for j := range ackedPush {
			if popped[j] == 0 && !inList[j] {
				missing++
			}
		}
		if missing > inFlightPops {
			t.Errorf("%s: %d acknowledged pushes neither popped nor in the list, but only %d pops were cut off by kills",
				label, missing, inFlightPops)
		}
		return missing
	}

	for cycle := 0; cycle <= cycles; cycle++ {
		s := ownStartPlain(t, dir)
		c := s.client(t, nil)
		missing := check(fmt.Sprintf("cycle %d, after restart", cycle), c)
		if t.Failed() {
			t.Fatalf("stopping (seed %d)", seed)
		}
		if cycle == cycles {
			left := c.LLen(ctx, "jobs").Val()
			var dups int
			for _, n := range popped {
				dups += max(n-1, 0)
			}
			t.Logf("queue crash test (seed %d): %d kill cycles, %d pushes acknowledged (%d cut off), %d pops acknowledged, "+
				"%d left in the list, %d jobs taken by pops whose replies the kills cut off (of %d pops outstanding), %d duplicated",
				seed, cycles, len(ackedPush), unackedPushes, totalPops, left, missing, inFlightPops, dups)
			if len(ackedPush) == 0 || totalPops == 0 {
				t.Errorf("nothing happened: %d pushes, %d pops", len(ackedPush), totalPops)
			}
			s.stop(t)
			break
		}
		var killed atomic.Bool
		var wg sync.WaitGroup
		var mu sync.Mutex
		fail := make(chan error, 64)
		pushers, poppers := 2+rng.IntN(4), 2+rng.IntN(6)
		for p := range pushers {
			pc := s.client(t, &redis.Options{PoolSize: 1, MaxRetries: -1})
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer pc.Close()
				for i := 0; ; i++ {
					job := fmt.Sprintf("%d-%d-%d", cycle, p, i)
					mu.Lock()
					pushed[job] = true
					mu.Unlock()
					var err error
					if i%7 == 3 { // now and then two jobs in one push
						job2 := job + "b"
						mu.Lock()
						pushed[job2] = true
						mu.Unlock()
						if err = pc.RPush(ctx, "jobs", job, job2).Err(); err == nil {
							mu.Lock()
							ackedPush[job2] = true
							mu.Unlock()
						}
					} else {
						err = pc.RPush(ctx, "jobs", job).Err()
					}
					if err != nil {
						if !killed.Load() {
							fail <- fmt.Errorf("RPUSH before the kill: %v", err)
						}
						mu.Lock()
						unackedPushes++
						mu.Unlock()
						return
					}
					mu.Lock()
					ackedPush[job] = true
					mu.Unlock()
				}
			}()
		}
		for range poppers {
			qc := s.client(t, &redis.Options{PoolSize: 1, MaxRetries: -1})
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer qc.Close()
				for {
					r, err := qc.BLPop(ctx, 0, "jobs").Result()
					if err != nil {
						if !killed.Load() {
							fail <- fmt.Errorf("BLPOP before the kill: %v", err)
						}
						mu.Lock()
						inFlightPops++
						mu.Unlock()
						return
					}
					mu.Lock()
					popped[r[1]]++
					totalPops++
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond) // the moment of the kill: the test's input
		killed.Store(true)
		s.sigkill(t)
		wg.Wait()
		close(fail)
		for err := range fail {
			t.Error(err)
		}
		c.Close()
	}
}
