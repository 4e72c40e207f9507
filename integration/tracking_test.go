package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// ownRealRedis starts a redis-server of the test's own: tracking is keyed
// by key name across databases and FLUSHDB invalidates every tracking
// client, so the shared one, which other tests write to, would interleave
// their invalidations with ours.
func ownRealRedis(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skipf("no redis-server: %v", err)
	}
	for attempt := 0; attempt < 5; attempt++ {
		port := freePort(t)
		cmd := exec.Command("redis-server", "--save", "", "--appendonly", "no",
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", os.TempDir())
		var out lockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		deadline := time.Now().Add(20 * time.Second)
		for {
			select {
			case <-exited:
			default:
				if pingOnce(addr) == nil {
					t.Cleanup(func() { cmd.Process.Kill(); <-exited })
					return addr
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					<-exited
					t.Fatalf("redis-server did not start: %s", out.String())
				}
				time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
				continue
			}
			break // exited: the port was taken, try another
		}
	}
	t.Fatal("cannot start redis-server")
	return ""
}

// A tracking script: each step is run by one of three connections, c (the
// tracking client, RESP3 unless the script says otherwise), w (a writer)
// and r (a RESP2 redirect target); "sync" makes c send PING and records
// everything c receives up to the PONG: the invalidations its writes got.
type trackStep struct {
	who  string // "c", "w", "r", "sync c", "sync r"
	args []string
	n    int // replies to read (pushes included)
}

func tc(args ...string) trackStep { return trackStep{who: "c", args: args, n: 1} }
func tw(args ...string) trackStep { return trackStep{who: "w", args: args, n: 1} }
func tr(args ...string) trackStep { return trackStep{who: "r", args: args, n: 1} }

var syncC = trackStep{who: "sync c"}
var syncR = trackStep{who: "sync r"}

var trackingScripts = []struct {
	name  string
	resp2 bool // c speaks RESP2
	steps []trackStep
}{
	{"default mode", false, []trackStep{
		tc("CLIENT", "TRACKING", "ON"), tc("GET", "trk:a"), tc("MGET", "trk:b", "trk:c"),
		tw("SET", "trk:a", "1"), syncC, tw("SET", "trk:a", "2"), syncC, // forgotten once invalidated
		tw("MSET", "trk:b", "1", "trk:c", "2", "trk:d", "3"), syncC,
		tc("GET", "trk:a"), tw("DEL", "trk:a"), syncC, tw("DEL", "trk:a"), syncC,
		tc("GET", "trk:b"), tw("INCR", "trk:b"), syncC,
		tc("GET", "trk:c"), tw("FLUSHDB"), syncC, tw("SET", "trk:c", "x"), syncC,
		tc("SET", "trk:own", "v"), tc("GET", "trk:own"), tc("SET", "trk:own", "w").replies(2), syncC,
		tc("CLIENT", "TRACKING", "OFF"), tc("GET", "trk:a"), tw("SET", "trk:a", "z"), syncC,
	}},
	{"noloop", false, []trackStep{
		tc("CLIENT", "TRACKING", "ON", "NOLOOP"), tc("GET", "trk:n"), tc("SET", "trk:n", "mine"), syncC,
		tc("GET", "trk:n"), tw("SET", "trk:n", "theirs"), syncC,
	}},
	{"optin optout", false, []trackStep{
		tc("CLIENT", "TRACKING", "ON", "OPTIN"), tc("GET", "trk:i1"), tc("CLIENT", "CACHING", "YES"), tc("GET", "trk:i2"),
		tc("GET", "trk:i3"), tw("MSET", "trk:i1", "1", "trk:i2", "2", "trk:i3", "3"), syncC,
		// rueidis's DoCache: CLIENT CACHING YES, then MULTI PTTL GET EXEC.
		tc("CLIENT", "CACHING", "YES"), tc("MULTI"), tc("PTTL", "trk:i4"), tc("GET", "trk:i4"), tc("EXEC"),
		tw("SET", "trk:i4", "x"), syncC,
		tc("CLIENT", "TRACKING", "OFF"), tc("CLIENT", "TRACKING", "ON", "OPTOUT"), tc("GET", "trk:o1"),
		tc("CLIENT", "CACHING", "NO"), tc("GET", "trk:o2"), tw("MSET", "trk:o1", "1", "trk:o2", "2"), syncC,
	}},
	{"bcast", false, []trackStep{
		tc("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "trk:bc:", "PREFIX", "trk:bd:"),
		tw("SET", "trk:bc:1", "x"), syncC, tw("SET", "trk:other", "y"), syncC,
		tw("MSET", "trk:bc:2", "a", "trk:bd:3", "b", "trk:zz", "c"), syncC, tw("DEL", "trk:bc:2"), syncC,
	}},
	{"scripts and transactions", false, []trackStep{
		// A script's writes invalidate, declared keys or not.
		tc("CLIENT", "TRACKING", "ON"), tc("GET", "trk:s1"), tc("GET", "trk:s2"),
		tw("EVAL", "redis.call('set', KEYS[1], 'x') return redis.call('set', 'trk:s2', 'y')", "1", "trk:s1"), syncC,
		tw("FUNCTION", "LOAD", "REPLACE", "#!lua name=trklib\nredis.register_function('trkset', function(keys, args) return redis.call('set', keys[1], args[1]) end)"),
		tc("GET", "trk:f"), tw("FCALL", "trkset", "1", "trk:f", "v"), syncC,
		tc("GET", "trk:m"), tw("MULTI"), tw("SET", "trk:m", "1"), tw("EVAL", "return redis.call('del', 'trk:m')", "0"), tw("EXEC"), syncC,
		tc("GET", "trk:own2"), tc("EVAL", "return redis.call('set', KEYS[1], 'z')", "1", "trk:own2").replies(2), syncC,
		tc("GET", "trk:h"), tw("HSET", "trk:h", "a", "1", "b", "2"), syncC,
		tc("GET", "trk:l"), tw("RPUSH", "trk:l", "a"), tc("GET", "trk:l").replies(2), tw("LPOP", "trk:l"), syncC,
	}},
	{"resp2 redirect", true, []trackStep{
		tr("SUBSCRIBE", "__redis__:invalidate"), trackStep{who: "c redirect"},
		tc("GET", "trk:r"), tw("SET", "trk:r", "1"), syncR, tc("GET", "trk:r"), tw("FLUSHDB"), syncR,
	}},
}

func (s trackStep) replies(n int) trackStep { s.n = n; return s }

// runTracking runs a tracking script against one server and returns the
// transcript: what each connection received.
func runTracking(t *testing.T, addr string, resp2 bool, steps []trackStep) []string {
	c, w, r := dialRaw(t, addr), dialRaw(t, addr), dialRaw(t, addr)
	if !resp2 {
		c.hello3()
	}
	var out []string
	read := func(who string, x *rconn) string {
		if who == "c" && !resp2 {
			return x.read3()
		}
		return x.read()
	}
	for i, st := range steps {
		switch st.who {
		case "c", "w", "r":
			x := map[string]*rconn{"c": c, "w": w, "r": r}[st.who]
			x.send(st.args...)
			for j := 0; j < st.n; j++ {
				out = append(out, fmt.Sprintf("%d %s %q: %s", i, st.who, st.args, read(st.who, x)))
			}
		case "c redirect":
			id := r.do("CLIENT", "ID")
			c.send("CLIENT", "TRACKING", "ON", "REDIRECT", id[1:])
			out = append(out, fmt.Sprintf("%d c redirect: %s", i, read("c", c)))
		case "sync c", "sync r":
			who := st.who[5:]
			x := map[string]*rconn{"c": c, "r": r}[who]
			x.send("PING", "sync")
			for {
				got := read(who, x)
				if got == `"sync"` || got == `["pong", "sync"]` {
					break
				}
				out = append(out, fmt.Sprintf("%d %s received: %s", i, who, got))
			}
		}
	}
	return out
}

// TestTrackingCompareWithRedis runs the tracking scripts against
// mutexredis and a redis-server of its own and compares what every
// connection received, invalidation pushes and messages included.
func TestTrackingCompareWithRedis(t *testing.T) {
	t.Parallel()
	raddr := ownRealRedis(t)
	s := startServer(t)
	for _, sc := range trackingScripts {
		t.Run(sc.name, func(t *testing.T) {
			got, want := runTracking(t, s.Addr, sc.resp2, sc.steps), runTracking(t, raddr, sc.resp2, sc.steps)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("transcripts differ:\n mutexredis:\n%s\n redis:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// TestTrackingExpiry checks that a key's expiry invalidates it, as in
// Redis: the tracking client reads a key with a TTL (a longer one each
// time the key was gone before the read), then waits for the invalidation
// the expirer sends.
func TestTrackingExpiry(t *testing.T) {
	t.Parallel()
	raddr := ownRealRedis(t)
	s := startServer(t)
	run := func(addr string) string {
		c, w := dialRaw(t, addr), dialRaw(t, addr)
		c.hello3()
		if got := c.do3("CLIENT", "TRACKING", "ON"); got != "+OK" {
			t.Fatalf("CLIENT TRACKING ON: %s", got)
		}
		for ttl := 50; ; ttl *= 2 {
			w.do("SET", "trk:exp", "v", "PX", strconv.Itoa(ttl))
			c.send("GET", "trk:exp")
			got := c.read3()
			for strings.HasPrefix(got, ">") { // the SET's invalidation of the last round's read
				got = c.read3()
			}
			if got == `"v"` {
				break // tracked while it exists: its expiry must invalidate it
			}
		}
		return c.read3() // blocks until the expirer deletes it
	}
	got, want := run(s.Addr), run(raddr)
	if got != want || got != `>["invalidate", ["trk:exp"]]` {
		t.Errorf("after expiry mutexredis sent %s, redis %s", got, want)
	}
}

// TestTrackingTableBounded sets tracking-table-max-keys and checks that
// tracking more keys evicts old ones, invalidating them, so the table stays
// within the bound.
func TestTrackingTableBounded(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := dialRaw(t, s.Addr)
	c.hello3()
	if got := c.do3("CONFIG", "SET", "tracking-table-max-keys", "10"); got != "+OK" {
		t.Fatalf("CONFIG SET tracking-table-max-keys: %s", got)
	}
	c.do3("CLIENT", "TRACKING", "ON")
	evicted := 0
	for i := 0; i <= 50; i++ {
		end := "(null)"
		if i < 50 {
			c.send("GET", "bound:"+strconv.Itoa(i))
		} else {
			c.send("PING") // the last eviction's invalidation comes after the GET's reply
			end = "+PONG"
		}
		for {
			r := c.read3()
			if r == end {
				break
			}
			if !strings.HasPrefix(r, `>["invalidate", ["bound:`) {
				t.Fatalf("unexpected %s", r)
			}
			evicted++
		}
	}
	if evicted != 40 {
		t.Errorf("%d keys evicted from a table of 10 after tracking 50, want 40", evicted)
	}
}

// TestTrackingRueidis runs rueidis's client-side caching (DoCache, RESP3,
// OPTIN tracking) against concurrent writers. Each writer increments its
// counter and records every value acknowledged to it. A reader snapshots
// the acknowledged values, makes one round trip on its connection (so an
// invalidation sent before those acknowledgements has reached it), and
// then reads every counter through its cache: none may be older than its
// snapshot. The reads must also have been served from the cache at least
// once, or the test proves nothing.
func TestTrackingRueidis(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	reader, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{s.Addr}, DisableRetry: true})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()

	const writers, rounds = 4, 150
	keys := make([]string, writers)
	acked := make([]atomic.Int64, writers)
	for i := range keys {
		keys[i] = "rueidis:counter:" + strconv.Itoa(i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	done := make(chan struct{})
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			w := s.client(t, nil)
			for n := 0; n < rounds; n++ {
				v, err := w.Incr(ctx, keys[i]).Result()
				if err != nil {
					errs <- err
					return
				}
				acked[i].Store(v)
			}
		}(i)
	}
	go func() { wg.Wait(); close(done) }()

	var hits, reads int
	check := func() bool {
		snapshot := make([]int64, writers)
		for i := range acked {
			snapshot[i] = acked[i].Load()
		}
		if err := reader.Do(ctx, reader.B().Ping().Build()).Error(); err != nil {
			t.Fatalf("PING: %v", err)
		}
		for i, k := range keys {
			res := reader.DoCache(ctx, reader.B().Get().Key(k).Cache(), time.Minute)
			v, err := res.AsInt64()
			if rueidis.IsRedisNil(err) {
				v, err = 0, nil
			}
			if err != nil {
				t.Fatalf("DoCache GET %s: %v", k, err)
			}
			reads++
			if res.IsCacheHit() {
				hits++
			}
			if v < snapshot[i] {
				t.Errorf("stale read of %s: %d from the cache after %d was acknowledged", k, v, snapshot[i])
				return false
			}
		}
		return true
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		case err := <-errs:
			<-done
			t.Fatal(err)
		default:
		}
		if !check() {
			<-done // the writers use t
			return
		}
	}
	// Once the writers are done, the cache must serve the final values,
	// and serve them from memory.
	for i := 0; i < 3; i++ {
		check()
	}
	for i, k := range keys {
		v, err := reader.DoCache(ctx, reader.B().Get().Key(k).Cache(), time.Minute).AsInt64()
		if err != nil || v != rounds {
			t.Errorf("final %s: %d %v, want %d (acknowledged %d)", k, v, err, rounds, acked[i].Load())
		}
	}
	if hits == 0 {
		t.Errorf("%d cached reads, none served from the cache: tracking is not in use", reads)
	}
}

// TestTrackingRedirectBroken closes a tracking client's redirect: each
// invalidation then tells the client, and TRACKINGINFO says so, as Redis.
func TestTrackingRedirectBroken(t *testing.T) {
	t.Parallel()
	raddr := ownRealRedis(t)
	s := startServer(t)
	run := func(addr string) []string {
		r, c, w := dialRaw(t, addr), dialRaw(t, addr), dialRaw(t, addr)
		rid := r.do("CLIENT", "ID")[1:]
		c.hello3()
		out := []string{c.do3("CLIENT", "TRACKING", "ON", "REDIRECT", rid), c.do3("GET", "broken:k")}
		r.nc.Close()
		for w.do("CLIENT", "LIST", "ID", rid) != `""` { // wait until the server has seen it go
			time.Sleep(time.Millisecond) // polling interval, not synchronisation
		}
		for _, v := range []string{"1", "2"} {
			w.do("SET", "broken:k", v)
			c.send("PING")
			for {
				got := c.read3()
				out = append(out, strings.ReplaceAll(got, ":"+rid+"]", ":ID]"))
				if got == "+PONG" {
					break
				}
			}
			c.do3("GET", "broken:k")
		}
		out = append(out, strings.ReplaceAll(c.do3("CLIENT", "TRACKINGINFO"), ":"+rid+",", ":ID,"))
		return out
	}
	got, want := run(s.Addr), run(raddr)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("mutexredis:\n%s\nredis:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
