package integration

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

// named returns a go-redis client whose connections all select keyspace
// name (PRODUCT §2's SELECT <name>).
func named(t *testing.T, s *srv, name string, opt *redis.Options) *redis.Client {
	t.Helper()
	var o redis.Options
	if opt != nil {
		o = *opt
	}
	o.OnConnect = func(ctx context.Context, cn *redis.Conn) error {
		return cn.Do(ctx, "SELECT", name).Err()
	}
	return s.client(t, &o)
}

func TestKeyspaceIsolationNumbered(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	db0 := s.client(t, nil)
	db3 := s.client(t, &redis.Options{DB: 3})
	db15 := s.client(t, &redis.Options{DB: 15})
	for i, c := range []*redis.Client{db0, db3, db15} {
		if err := c.Set(ctx, "k", fmt.Sprint("v", i), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	db3.Set(ctx, "only3", "x", 0)
	for i, c := range []*redis.Client{db0, db3, db15} {
		if v, _ := c.Get(ctx, "k").Result(); v != fmt.Sprint("v", i) {
			t.Errorf("client %d: GET k = %q", i, v)
		}
	}
	if n, _ := db0.Exists(ctx, "only3").Result(); n != 0 {
		t.Errorf("db 0 sees db 3's key")
	}
	if n, _ := db3.DBSize(ctx).Result(); n != 2 {
		t.Errorf("db 3 DBSIZE = %d, want 2", n)
	}
	// AFTERWRITE numbers are per keyspace.
	if a0, a3 := afterwrite(t, db0), afterwrite(t, db3); a0 != 1 || a3 != 2 {
		t.Errorf("AFTERWRITE db0 %d db3 %d, want 1 and 2", a0, a3)
	}
	if err := db3.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if n, _ := db3.DBSize(ctx).Result(); n != 0 {
		t.Errorf("db 3 DBSIZE after FLUSHDB = %d", n)
	}
	for _, c := range []*redis.Client{db0, db15} {
		if n, _ := c.DBSize(ctx).Result(); n != 1 {
			t.Errorf("FLUSHDB in db 3 touched another db: DBSIZE %d", n)
		}
	}
	// PEEK never crosses keyspaces.
	if kv, err := db3.Do(ctx, "PEEKFIRST").Result(); !errors.Is(err, redis.Nil) {
		t.Errorf("PEEKFIRST on empty db 3: %v %v", kv, err)
	}
}

func TestKeyspaceIsolationNamed(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	// Names chosen so that a naive name‖key encoding would collide:
	// keyspace "t" key "1a" and keyspace "t1" key "a".
	t0 := s.client(t, nil)
	tA := named(t, s, "tenant-a", nil)
	tB := named(t, s, "tenant-b", nil)
	tt := named(t, s, "t", nil)
	tt1 := named(t, s, "t1", nil)
	t0.Set(ctx, "doc", "zero", 0)
	tA.Set(ctx, "doc", "a", 0)
	tB.Set(ctx, "doc", "b", 0)
	tt.Set(ctx, "1a", "in t", 0)
	tt1.Set(ctx, "a", "in t1", 0)
	for c, want := range map[*redis.Client]string{t0: "zero", tA: "a", tB: "b"} {
		if v, _ := c.Get(ctx, "doc").Result(); v != want {
			t.Errorf("GET doc = %q, want %q", v, want)
		}
	}
	for c, want := range map[*redis.Client]string{tt: "[1a in t]", tt1: "[a in t1]"} {
		first, _ := c.Do(ctx, "PEEKFIRST").StringSlice()
		last, _ := c.Do(ctx, "PEEKLAST").StringSlice()
		if fmt.Sprint(first) != want || fmt.Sprint(last) != want {
			t.Errorf("PEEKFIRST %v PEEKLAST %v, want %s", first, last, want)
		}
		if n, _ := c.DBSize(ctx).Result(); n != 1 {
			t.Errorf("DBSIZE %d, want 1", n)
		}
	}
	if n, _ := tt.Exists(ctx, "doc", "a").Result(); n != 0 {
		t.Errorf("keyspace t sees other keyspaces' keys")
	}
	tA.FlushDB(ctx)
	if v, _ := tB.Get(ctx, "doc").Result(); v != "b" {
		t.Errorf("FLUSHDB in tenant-a removed tenant-b's key")
	}
	if v, _ := t0.Get(ctx, "doc").Result(); v != "zero" {
		t.Errorf("FLUSHDB in tenant-a removed db 0's key")
	}
	if a, b := afterwrite(t, tA), afterwrite(t, tB); a != 2 || b != 1 {
		t.Errorf("AFTERWRITE tenant-a %d tenant-b %d, want 2 and 1", a, b)
	}
}

// TestAfterwriteNumbers: one number per committed batch, none for batches
// without mutations (PRODUCT §3.7).
func TestAfterwriteNumbers(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, nil)
	if n := afterwrite(t, c); n != 0 {
		t.Fatalf("AFTERWRITE on a new keyspace = %d, want 0", n)
	}
	steps := []struct {
		do    func() error
		delta int64
		what  string
	}{
		{func() error { return c.Set(ctx, "a", "1", 0).Err() }, 1, "SET"},
		{func() error { return c.Set(ctx, "a", "2", 0).Err() }, 1, "SET"},
		{func() error { return c.Get(ctx, "a").Err() }, 0, "GET"},
		{func() error { return c.Do(ctx, "PEEKLAST").Err() }, 0, "PEEKLAST"},
		{func() error { return c.SetNX(ctx, "a", "3", 0).Err() }, 0, "SETNX on an existing key"},
		{func() error { return c.Del(ctx, "missing").Err() }, 0, "DEL of a missing key"},
		{func() error { return c.Do(ctx, "SET", "a", "x", "IFEQ", "nope").Err() }, 0, "failed IFEQ"},
		{func() error { return c.MSet(ctx, "b", "1", "c", "2").Err() }, 1, "MSET"},
		{func() error { return c.Del(ctx, "b", "c").Err() }, 1, "DEL"},
		{func() error { return c.FlushDB(ctx).Err() }, 1, "FLUSHDB"},
		{func() error {
			_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, "x", "1", 0)
				p.Set(ctx, "y", "1", 0)
				return nil
			})
			return err
		}, 1, "MULTI/EXEC of two SETs"},
	}
	prev := afterwrite(t, c)
	for _, st := range steps {
		if err := st.do(); err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("%s: %v", st.what, err)
		}
		n := afterwrite(t, c)
		if n != prev+st.delta {
			t.Errorf("after %s AFTERWRITE = %d, want %d", st.what, n, prev+st.delta)
		}
		prev = n
	}
	// In a pipeline, AFTERWRITE reports the batch of the writes before it.
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "p", "1", 0)
		p.Do(ctx, "AFTERWRITE")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := cmds[1].(*redis.Cmd).Int64(); n != prev+1 {
		t.Errorf("pipelined SET, AFTERWRITE = %d, want %d", n, prev+1)
	}
}

// TestPipelineOfSetsIsFewBatches: 200 pipelined SETs join the same write
// phases (PRODUCT §3.5: a pipeline of 100 SETs costs one fsync).
func TestPipelineOfSetsIsFewBatches(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, nil)
	before := afterwrite(t, c)
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := 0; i < 200; i++ {
			p.Set(ctx, fmt.Sprintf("key:%03d", i), i, 0)
		}
		p.Do(ctx, "AFTERWRITE")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, cmd := range cmds[:200] {
		if cmd.(*redis.StatusCmd).Val() != "OK" {
			t.Fatalf("SET %d: %v", i, cmd.Err())
		}
	}
	in, _ := cmds[200].(*redis.Cmd).Int64()
	after := afterwrite(t, c)
	if in != after {
		t.Errorf("AFTERWRITE in the pipeline %d, after it %d", in, after)
	}
	if batches := after - before; batches < 1 || batches > 3 {
		t.Errorf("200 pipelined SETs took %d batches, want 1..3", batches)
	}
	if n, _ := c.DBSize(ctx).Result(); n != 200 {
		t.Errorf("DBSIZE = %d", n)
	}
}

// TestLargePipelineIsOneBatch: 100 SETs of 1 KiB values sent in one write
// (100 KiB, far more than a connection's read buffer) still join one or two
// write phases: the server takes in what has already arrived before it
// submits (PRODUCT §3.5: a pipeline of 100 SETs costs one fsync).
func TestLargePipelineIsOneBatch(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := dialRaw(t, s.Addr)
	before := c.do("AFTERWRITE")
	value := strings.Repeat("v", 1024)
	var pipeline []byte
	for i := 0; i < 100; i++ {
		pipeline = encodeCommand(pipeline, "SET", fmt.Sprintf("big:%03d", i), value)
	}
	if _, err := c.nc.Write(pipeline); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if r := c.read(); r != "+OK" {
			t.Fatalf("SET %d: %s", i, r)
		}
	}
	after := c.do("AFTERWRITE")
	b0, err0 := strconv.Atoi(strings.TrimPrefix(before, ":"))
	b1, err1 := strconv.Atoi(strings.TrimPrefix(after, ":"))
	if err0 != nil || err1 != nil {
		t.Fatalf("AFTERWRITE replies %q, %q", before, after)
	}
	t.Logf("100 SETs of 1 KiB in one write: %d batch(es)", b1-b0)
	if b1-b0 < 1 || b1-b0 > 2 {
		t.Errorf("100 pipelined 1 KiB SETs took %d batches (AFTERWRITE %s → %s), want 1..2", b1-b0, before, after)
	}
}

// TestPipelineOrderOnOneConnection: a read after a write on the same
// connection sees it, within one pipeline (PRODUCT §3.5).
func TestPipelineOrderOnOneConnection(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, nil)
	cmds, _ := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Get(ctx, "k")
		p.Set(ctx, "k", "1", 0)
		p.Get(ctx, "k")
		p.Set(ctx, "k", "2", 0)
		p.Do(ctx, "PEEKLAST")
		p.Del(ctx, "k")
		p.Exists(ctx, "k")
		p.Set(ctx, "k", "3", 0)
		p.Ping(ctx)
		p.Get(ctx, "k")
		return nil
	})
	var got []string
	for _, cmd := range cmds {
		switch v := cmd.(type) {
		case *redis.StringCmd:
			got = append(got, v.Val())
		case *redis.StatusCmd:
			got = append(got, v.Val())
		case *redis.IntCmd:
			got = append(got, strconv.FormatInt(v.Val(), 10))
		case *redis.Cmd:
			got = append(got, fmt.Sprint(v.Val()))
		}
	}
	if want := "[ OK 1 OK [k 2] 1 0 OK PONG 3]"; fmt.Sprint(got) != want {
		t.Errorf("pipeline replies %v, want %s", got, want)
	}
}

// TestConcurrentPipelines: 64 clients pipelining SET/GET of their own keys;
// every reply correct and in order.
func TestConcurrentPipelines(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, &redis.Options{PoolSize: 64})
	const goroutines, rounds, per = 64, 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
					for i := 0; i < per; i++ {
						k := fmt.Sprintf("g%02d:%02d", g, i)
						p.Get(ctx, k)
						p.Set(ctx, k, fmt.Sprintf("%d/%d/%d", g, r, i), 0)
						p.Get(ctx, k)
					}
					return nil
				})
				if err != nil && !errors.Is(err, redis.Nil) {
					errs <- err
					return
				}
				for i := 0; i < per; i++ {
					prev, _ := cmds[3*i].(*redis.StringCmd).Result()
					ok := cmds[3*i+1].(*redis.StatusCmd).Val()
					now := cmds[3*i+2].(*redis.StringCmd).Val()
					wantPrev := ""
					if r > 0 {
						wantPrev = fmt.Sprintf("%d/%d/%d", g, r-1, i)
					}
					if prev != wantPrev || ok != "OK" || now != fmt.Sprintf("%d/%d/%d", g, r, i) {
						errs <- fmt.Errorf("goroutine %d round %d key %d: GET %q SET %q GET %q", g, r, i, prev, ok, now)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, _ := c.DBSize(ctx).Result(); n != goroutines*per {
		t.Errorf("DBSIZE = %d, want %d", n, goroutines*per)
	}
}

// TestMsetIsAtomicForReaders: readers never see half of an MSET.
func TestMsetIsAtomicForReaders(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, &redis.Options{PoolSize: 16})
	c.MSet(ctx, "x", "0", "y", "0")
	const writes, readers = 300, 6
	done := make(chan struct{})
	var reads atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, readers+1)
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				var x, y string
				if i%2 == 0 {
					v, err := c.MGet(ctx, "x", "y").Result()
					if err != nil {
						errs <- err
						return
					}
					x, y = fmt.Sprint(v[0]), fmt.Sprint(v[1])
				} else { // a transaction reading both
					cmds, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
						p.Get(ctx, "x")
						p.Get(ctx, "y")
						return nil
					})
					if err != nil {
						errs <- err
						return
					}
					x, y = cmds[0].(*redis.StringCmd).Val(), cmds[1].(*redis.StringCmd).Val()
				}
				if x != y {
					errs <- fmt.Errorf("read x=%s y=%s: half an MSET", x, y)
					return
				}
				reads.Add(1)
			}
		}()
	}
	for i := 1; i <= writes; i++ {
		if err := c.MSet(ctx, "x", i, "y", i).Err(); err != nil {
			errs <- err
			break
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if reads.Load() == 0 {
		t.Error("no reads ran")
	}
	if v, _ := c.MGet(ctx, "x", "y").Result(); fmt.Sprint(v) != fmt.Sprintf("[%d %d]", writes, writes) {
		t.Errorf("final MGET %v", v)
	}
}

// TestSeedScenario is level-mutex's README over the network: clients
// update documents only if they hold the latest revision (read, then write
// conditionally), concurrently with readers and with appends to a log that
// PEEKLAST with an end bound and PEEKFIRST with a start bound look at.
func TestSeedScenario(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, &redis.Options{PoolSize: 32})
	// The documents and the log, in one keyspace; "zz" sorts after the log.
	if err := c.MSet(ctx, "doc:1", "rev:0", "doc:2", "rev:0", "log:0000", "start", "zz", "after the log").Err(); err != nil {
		t.Fatal(err)
	}

	const updaters, updates, appenders, appends, readers = 8, 10, 4, 25, 4
	var acked atomic.Int64 // highest log entry whose SET was acknowledged
	var wg sync.WaitGroup
	errs := make(chan error, updaters+appenders+readers)
	var applied [2]atomic.Int64

	// Updaters: GET the document, then SET … IFEQ <the revision read>.
	for u := 0; u < updaters; u++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			doc := fmt.Sprintf("doc:%d", u%2+1)
			for done := 0; done < updates; {
				rev, err := c.Get(ctx, doc).Result()
				if err != nil {
					errs <- err
					return
				}
				n, _ := strconv.Atoi(rev[len("rev:"):])
				err = c.Do(ctx, "SET", doc, fmt.Sprintf("rev:%d", n+1), "IFEQ", rev).Err()
				switch {
				case errors.Is(err, redis.Nil): // someone else bumped it: read again
				case err != nil:
					errs <- err
					return
				default:
					applied[u%2].Add(1)
					done++
				}
			}
		}()
	}
	// Appenders write log:0001 … log:0100 concurrently.
	var next atomic.Int64
	for a := 0; a < appenders; a++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < appends; i++ {
				n := next.Add(1)
				if err := c.Set(ctx, fmt.Sprintf("log:%04d", n), fmt.Sprint("entry ", n), 0).Err(); err != nil {
					errs <- err
					return
				}
				for {
					old := acked.Load()
					if n <= old || acked.CompareAndSwap(old, n) {
						break
					}
				}
			}
		}()
	}
	// Readers: the last log entry (end bound "(m" excludes "zz") is never
	// older than one already acknowledged (PRODUCT §3.6), and the first
	// entry after a start bound is the one expected.
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				min := acked.Load()
				last, err := c.Do(ctx, "PEEKLAST", "[log:", "(m").StringSlice()
				if err != nil {
					errs <- err
					return
				}
				if want := fmt.Sprintf("log:%04d", min); last[0] < want {
					errs <- fmt.Errorf("PEEKLAST [log: (m = %s after log:%04d was acknowledged", last[0], min)
					return
				}
				first, err := c.Do(ctx, "PEEKFIRST", "(log:0000", "+").StringSlice()
				if err != nil {
					errs <- err
					return
				}
				// Start bound exclusive: never log:0000; once an entry is
				// acknowledged, the first after the bound is a log entry.
				if first[0] <= "log:0000" || (min > 0 && !strings.HasPrefix(first[0], "log:")) {
					errs <- fmt.Errorf("PEEKFIRST (log:0000 + = %v after log:%04d was acknowledged", first, min)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// No lost update: each document's revision counts every applied update.
	for d := 0; d < 2; d++ {
		rev, _ := c.Get(ctx, fmt.Sprintf("doc:%d", d+1)).Result()
		if want := fmt.Sprintf("rev:%d", applied[d].Load()); rev != want {
			t.Errorf("doc:%d is %s after %d applied updates", d+1, rev, applied[d].Load())
		}
		if applied[d].Load() != updaters/2*updates {
			t.Errorf("doc:%d: %d updates applied, want %d", d+1, applied[d].Load(), updaters/2*updates)
		}
	}
	last, _ := c.Do(ctx, "PEEKLAST", "-", "(m").StringSlice()
	if want := fmt.Sprintf("[log:%04d entry %d]", appenders*appends, appenders*appends); fmt.Sprint(last) != want {
		t.Errorf("final PEEKLAST - (m = %v, want %s", last, want)
	}
	first, _ := c.Do(ctx, "PEEKFIRST", "(log:0050", "+").StringSlice()
	if fmt.Sprint(first) != "[log:0051 entry 51]" {
		t.Errorf("PEEKFIRST (log:0050 + = %v", first)
	}
	last, _ = c.Do(ctx, "PEEKLAST", "-", "+").StringSlice()
	if fmt.Sprint(last) != "[zz after the log]" {
		t.Errorf("PEEKLAST - + = %v", last)
	}
}

// TestQueuedReadsAndWritesInterleaved: many connections queue GETs and
// SETs of one key at once; each GET returns a value that some SET wrote
// (or the initial one), and each connection's own sequence is respected.
func TestQueuedReadsAndWritesInterleaved(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, &redis.Options{PoolSize: 32})
	c.Set(ctx, "shared", "init", 0)
	const conns, ops = 32, 30
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for g := 0; g < conns; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < ops; i++ {
				mine := fmt.Sprintf("w%d-%d", g, i)
				// Pipelined: GET, SET, GET. The second GET sees this SET or a
				// later one by someone else, never an older value of ours.
				cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
					p.Get(ctx, "shared")
					p.Set(ctx, "shared", mine, 0)
					p.Get(ctx, "shared")
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
				before, after := cmds[0].(*redis.StringCmd).Val(), cmds[2].(*redis.StringCmd).Val()
				if before == "" || after == "" {
					errs <- fmt.Errorf("GET returned nothing: %q %q", before, after)
					return
				}
				var ag, ai int
				if _, err := fmt.Sscanf(after, "w%d-%d", &ag, &ai); err != nil {
					errs <- fmt.Errorf("GET after SET = %q", after)
					return
				}
				if ag == g && ai != i {
					errs <- fmt.Errorf("connection %d: GET after SET %s returned its own older %s", g, mine, after)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
