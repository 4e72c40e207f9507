package integration

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const feedKey = "__mutex:feed"

// feedLong runs the long forms of the feed tests (MUTEXREDIS_FEED_LONG=1).
func feedLong() bool { return os.Getenv("MUTEXREDIS_FEED_LONG") != "" }

func feedBatchOf(id string) (int64, error) {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok || seq != "0" {
		return 0, fmt.Errorf("feed entry ID %q is not <batch>-0", id)
	}
	return strconv.ParseInt(ms, 10, 64)
}

// liveServer is the address of the server of the moment, for clients that
// outlive kill -9 and restarts.
type liveServer struct {
	mu   sync.Mutex
	addr string
	up   chan struct{} // closed once addr serves
}

func newLiveServer() *liveServer { return &liveServer{up: make(chan struct{})} }

func (l *liveServer) set(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addr = addr
	close(l.up)
}

func (l *liveServer) down() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.up = make(chan struct{})
}

// wait returns the address once a server serves, or "" when ctx ends.
func (l *liveServer) wait(ctx context.Context) string {
	l.mu.Lock()
	up, addr := l.up, l.addr
	l.mu.Unlock()
	select {
	case <-up:
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.addr
	case <-ctx.Done():
		_ = addr
		return ""
	}
}

func dialLive(l *liveServer, ctx context.Context) *redis.Client {
	addr := l.wait(ctx)
	if addr == "" {
		return nil
	}
	return redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1, ReadTimeout: 5 * time.Second})
}

// TestFeedReplayAcrossCrashes: a consumer that reconnects at random,
// keeping only the ID of the last entry it applied, rebuilds from the feed
// a model of every type (strings, hashes, sets, lists, sorted sets,
// streams, with their deadlines) that equals the keyspace at the end, while
// writers run and the server is killed with SIGKILL several times. Every
// batch arrives once, in order, whole.
func TestFeedReplayAcrossCrashes(t *testing.T) {
	t.Parallel()
	cycles, opsPerCycle := 3, 300
	if feedLong() {
		cycles, opsPerCycle = 20, 3000
	}
	dir := t.TempDir()
	live := newLiveServer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The consumer.
	model := newKsModel()
	var lastApplied atomic.Int64
	consumerErr := make(chan error, 1)
	go func() {
		rng := rand.New(rand.NewPCG(1, 2))
		last := "0-0"
		var c *redis.Client
		defer func() {
			if c != nil {
				c.Close()
			}
		}()
		for ctx.Err() == nil {
			if c == nil {
				if c = dialLive(live, ctx); c == nil {
					break
				}
			}
			res, err := c.XRead(ctx, &redis.XReadArgs{Streams: []string{feedKey, last}, Count: int64(1 + rng.IntN(20)), Block: 200 * time.Millisecond}).Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				c.Close()
				c = nil // killed or restarting: wait for the next server
				continue
			}
			for _, st := range res {
				for _, msg := range st.Messages {
					n, err := feedBatchOf(msg.ID)
					if err != nil {
						consumerErr <- err
						return
					}
					if n != lastApplied.Load()+1 {
						consumerErr <- fmt.Errorf("after batch %d the feed gave %s", lastApplied.Load(), msg.ID)
						return
					}
					ops, err := entryOps(msg)
					if err == nil {
						err = model.apply(ops)
					}
					if err != nil {
						consumerErr <- err
						return
					}
					last = msg.ID
					lastApplied.Store(n)
				}
			}
			if rng.IntN(4) == 0 { // reconnect at random, keeping only last
				c.Close()
				c = nil
			}
		}
		consumerErr <- nil
	}()

	var srv *ownServer
	for cycle := 0; cycle < cycles; cycle++ {
		srv = ownStartPlain(t, dir)
		live.set(srv.Addr)
		var wg sync.WaitGroup
		var sent atomic.Int64
		wctx, wcancel := context.WithCancel(ctx)
		for w := 0; w < 3; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(cycle), uint64(w)))
				c := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
				defer c.Close()
				for wctx.Err() == nil && sent.Add(1) <= int64(opsPerCycle) {
					modelWrite(wctx, c, rng)
				}
			}()
		}
		if cycle < cycles-1 {
			for sent.Load() < int64(opsPerCycle)/2 { // kill -9 mid-way through the writes
				if err := ctx.Err(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Millisecond) // polling a counter the writers advance
			}
			live.down()
			wcancel() // writes in flight stay in flight: the kill lands among them
			srv.sigkill(t)
		}
		wg.Wait()
		wcancel()
	}
	// The last server runs: wait for the consumer to reach its last batch.
	c := srv.client(t, nil)
	lastBatch := crashAfterwrite(t, c)
	deadline := time.Now().Add(60 * time.Second)
	for lastApplied.Load() < lastBatch {
		select {
		case err := <-consumerErr:
			t.Fatalf("consumer: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer at batch %d, server at %d", lastApplied.Load(), lastBatch)
		}
		time.Sleep(time.Millisecond) // polling the consumer's progress
	}
	// Freeze the keyspace (no write can run while the consumer catches up
	// with the expirer: compare against a snapshot read in one MULTI).
	cancel()
	if err := <-consumerErr; err != nil {
		t.Fatalf("consumer: %v", err)
	}
	compareWithModel(t, c, model)
	if n := crashAfterwrite(t, c); n != lastApplied.Load() {
		// Expiries committed after the consumer stopped: in the feed, and
		// allowed by the comparison (a key due may be absent).
		t.Logf("batches after the consumer stopped: %d → %d", lastApplied.Load(), n)
	}
	t.Logf("%d cycles, %d batches replayed", cycles, lastApplied.Load())
}

// TestFeedConsumerGroups: three consumers share the feed through a
// consumer group; one dies in the middle of its batch, its entries are
// recovered with XAUTOCLAIM, and in the end every batch has been
// acknowledged exactly once.
func TestFeedConsumerGroups(t *testing.T) {
	t.Parallel()
	batches := 300
	if feedLong() {
		batches = 5000
	}
	s := startServer(t)
	ctx := context.Background()
	admin := s.client(t, nil)
	if err := admin.Set(ctx, "seed", "0", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.XGroupCreate(ctx, feedKey, "g", "0").Err(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ { // batches for the victim's first read
		admin.Set(ctx, "early", strconv.Itoa(i), 0)
	}
	var acked sync.Map // batch → times acknowledged
	var ackCount atomic.Int64
	ack := func(c *redis.Client, ids ...string) error {
		for _, id := range ids {
			n, err := c.XAck(ctx, feedKey, "g", id).Result()
			if err != nil {
				return err
			}
			if n == 1 {
				v, _ := acked.LoadOrStore(id, new(atomic.Int64))
				v.(*atomic.Int64).Add(1)
				ackCount.Add(1)
			}
		}
		return nil
	}
	// Writers.
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := s.client(t, nil)
			for i := 0; i < batches/2; i++ {
				c.Set(ctx, "k"+strconv.Itoa(w), strconv.Itoa(i), 0)
			}
		}()
	}
	// The consumer that dies: it reads a batch and acknowledges only its
	// first half.
	victim := s.client(t, nil)
	var lost []string
	for len(lost) == 0 {
		res, err := victim.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c3", Streams: []string{feedKey, ">"}, Count: 10, Block: time.Second}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		for _, st := range res {
			half := len(st.Messages) / 2
			for i, m := range st.Messages {
				if i < half {
					if err := ack(victim, m.ID); err != nil {
						t.Fatal(err)
					}
				} else {
					lost = append(lost, m.ID)
				}
			}
		}
	}
	victim.Close() // dies mid-batch
	wg.Wait()
	last := afterwrite(t, admin)
	// Two live consumers; c1 also recovers c3's entries with XAUTOCLAIM.
	var cwg sync.WaitGroup
	errs := make(chan error, 2)
	for _, name := range []string{"c1", "c2"} {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			c := s.client(t, nil)
			if name == "c1" {
				cursor := "0-0"
				for {
					res, err := c.Do(ctx, "XAUTOCLAIM", feedKey, "g", "c1", "0", cursor, "COUNT", "3", "JUSTID").Slice()
					if err != nil {
						errs <- err
						return
					}
					for _, id := range res[1].([]any) {
						if err := ack(c, id.(string)); err != nil {
							errs <- err
							return
						}
					}
					if cursor = res[0].(string); cursor == "0-0" {
						break
					}
				}
			}
			for ackCount.Load() < last {
				res, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: name, Streams: []string{feedKey, ">"}, Count: 7, Block: 100 * time.Millisecond}).Result()
				if err != nil && !errors.Is(err, redis.Nil) {
					errs <- err
					return
				}
				for _, st := range res {
					for _, m := range st.Messages {
						if err := ack(c, m.ID); err != nil {
							errs <- err
							return
						}
					}
				}
			}
			errs <- nil
		}()
	}
	cwg.Wait()
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for b := int64(1); b <= last; b++ {
		v, ok := acked.Load(strconv.FormatInt(b, 10) + "-0")
		if !ok {
			t.Fatalf("batch %d never acknowledged", b)
		}
		if n := v.(*atomic.Int64).Load(); n != 1 {
			t.Fatalf("batch %d acknowledged %d times", b, n)
		}
	}
	if n := ackCount.Load(); n != last {
		t.Fatalf("%d acknowledgements for %d batches", n, last)
	}
	if p := admin.XPending(ctx, feedKey, "g").Val(); p.Count != 0 {
		t.Fatalf("still pending: %+v", p)
	}
	// Acknowledging took no batch numbers.
	if again := afterwrite(t, admin); again != last {
		t.Fatalf("group traffic moved the batch number from %d to %d", last, again)
	}
	t.Logf("%d batches, %d lost by the dead consumer and reclaimed", last, len(lost))
}

// TestFeedReservedKey: the feed is read-only, invisible to SCAN and KEYS,
// readable with every stream read, and a group whose position falls below
// what is retained gets an error.
func TestFeedReservedKey(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--feed-retention", "5")
	ctx := context.Background()
	c := s.client(t, nil)
	if err := c.XGroupCreateMkStream(ctx, feedKey, "early", "0").Err(); err == nil {
		t.Fatal("XGROUP CREATE MKSTREAM on the feed succeeded")
	}
	for i := 0; i < 3; i++ {
		c.Set(ctx, "k"+strconv.Itoa(i), "v", 0)
	}
	if err := c.XGroupCreate(ctx, feedKey, "g", "0").Err(); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]any{
		{"SET", feedKey, "x"}, {"DEL", feedKey}, {"XADD", feedKey, "*", "a", "1"}, {"XDEL", feedKey, "1-0"},
		{"XTRIM", feedKey, "MAXLEN", "0"}, {"XSETID", feedKey, "99-0"}, {"EXPIRE", feedKey, "10"}, {"RENAME", "k0", feedKey},
		{"MSET", "a", "1", feedKey, "2"},
	} {
		if err := c.Do(ctx, args...).Err(); err == nil || !strings.Contains(err.Error(), "read-only") {
			t.Errorf("%v: %v, want the read-only error", args, err)
		}
	}
	keys := c.Keys(ctx, "*").Val()
	scan, _ := c.Scan(ctx, 0, "*", 100).Val()
	if len(keys) != 3 || len(scan) != 3 || c.DBSize(ctx).Val() != 3 {
		t.Fatalf("KEYS %v SCAN %v DBSIZE %d", keys, scan, c.DBSize(ctx).Val())
	}
	if n := c.XLen(ctx, feedKey).Val(); n != 3 {
		t.Fatalf("XLEN %d", n)
	}
	rev := c.XRevRangeN(ctx, feedKey, "+", "-", 1).Val()
	if len(rev) != 1 || rev[0].ID != "3-0" {
		t.Fatalf("XREVRANGE %v", rev)
	}
	info := c.XInfoStream(ctx, feedKey).Val()
	if info.Length != 3 || info.LastGeneratedID != "3-0" || info.FirstEntry.ID != "1-0" || info.Groups != 1 {
		t.Fatalf("XINFO STREAM %+v", info)
	}
	// Read one entry, then let retention drop what the group has not read.
	if _, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{feedKey, ">"}, Count: 1}).Result(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		c.Set(ctx, "k0", strconv.Itoa(i), 0)
	}
	_, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{feedKey, ">"}, Count: 1}).Result()
	if err == nil || !strings.Contains(err.Error(), "no longer holds") {
		t.Fatalf("group below the retained range: %v", err)
	}
	info = c.XInfoStream(ctx, feedKey).Val()
	if info.Length != 5 || info.FirstEntry.ID != "9-0" || info.MaxDeletedEntryID != "8-0" {
		t.Fatalf("after trimming: %+v", info)
	}
	// Moving the group on makes it readable again; the pending entry stays.
	if err := c.XGroupSetID(ctx, feedKey, "g", "8-0").Err(); err != nil {
		t.Fatal(err)
	}
	res, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{feedKey, ">"}}).Result()
	if err != nil || len(res) != 1 || len(res[0].Messages) != 5 || res[0].Messages[0].ID != "9-0" {
		t.Fatalf("after SETID: %v %v", res, err)
	}
	// FLUSHDB is a batch of the feed, and leaves the feed.
	c.FlushDB(ctx)
	if rev := c.XRevRangeN(ctx, feedKey, "+", "-", 1).Val(); len(rev) != 1 || rev[0].Values["ops"] != `[{"op":"flushdb"}]` {
		t.Fatalf("after FLUSHDB: %v", rev)
	}
	// --feed-retention 0: no feed.
	off := startServer(t, "--feed-retention", "0")
	oc := off.client(t, nil)
	oc.Set(ctx, "a", "1", 0)
	if n := oc.XLen(ctx, feedKey).Val(); n != 0 {
		t.Fatalf("feed off: XLEN %d", n)
	}
}

// TestFeedBlockingRead: XREAD BLOCK on the feed with $ is woken by the
// next committed batch, whatever key it writes.
func TestFeedBlockingRead(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, nil)
	c.Set(ctx, "a", "1", 0)
	first := afterwrite(t, c)
	got := make(chan []redis.XStream, 1)
	go func() {
		r := s.client(t, nil)
		res, _ := r.XRead(ctx, &redis.XReadArgs{Streams: []string{feedKey, strconv.FormatInt(first, 10) + "-0"}, Block: 0}).Result()
		got <- res
	}()
	c.Set(ctx, "b", "2", 0)
	res := <-got
	if len(res) != 1 || len(res[0].Messages) < 1 || res[0].Messages[0].ID != strconv.FormatInt(first+1, 10)+"-0" {
		t.Fatalf("XREAD BLOCK on the feed: %v", res)
	}
}

// TestFeedDeliveryLatency measures how long after a write is acknowledged
// (its batch committed) a consumer blocked in XREAD BLOCK on the feed has
// it: p50 and p99 are logged, nothing is asserted. It runs with
// MUTEXREDIS_FEED_BENCH=1 (make bench-style, not in the normal run).
func TestFeedDeliveryLatency(t *testing.T) {
	if os.Getenv("MUTEXREDIS_FEED_BENCH") == "" {
		t.Skip("set MUTEXREDIS_FEED_BENCH=1 to measure")
	}
	s := startServer(t)
	ctx := context.Background()
	w, r := s.client(t, nil), s.client(t, nil)
	w.Set(ctx, "warm", "1", 0)
	last := strconv.FormatInt(afterwrite(t, w), 10) + "-0"
	const n = 2000
	acked, sent := make([]time.Time, n+1), make([]time.Time, n+1)
	var mu sync.Mutex
	got := make(chan map[int64]time.Time, 1)
	go func() {
		recv := map[int64]time.Time{}
		for len(recv) < n {
			res, err := r.XRead(ctx, &redis.XReadArgs{Streams: []string{feedKey, last}, Block: 0}).Result()
			if err != nil {
				break
			}
			now := time.Now()
			for _, m := range res[0].Messages {
				b, _ := feedBatchOf(m.ID)
				recv[b] = now
				last = m.ID
			}
		}
		got <- recv
	}()
	first := int64(0)
	for i := 1; i <= n; i++ {
		mu.Lock()
		sent[i] = time.Now()
		mu.Unlock()
		w.Set(ctx, "k", strconv.Itoa(i), 0)
		mu.Lock()
		acked[i] = time.Now()
		mu.Unlock()
		if i == 1 {
			first = afterwrite(t, w)
		}
	}
	recv := <-got
	var lat, fromSend []time.Duration
	for i := 1; i <= n; i++ {
		if at, ok := recv[first+int64(i)-1]; ok {
			lat = append(lat, at.Sub(acked[i]))
			fromSend = append(fromSend, at.Sub(sent[i]))
		}
	}
	slices.Sort(lat)
	slices.Sort(fromSend)
	t.Logf("XREAD BLOCK on the feed, %d batches: delivery after the writer's acknowledgement p50 %v p99 %v (negative: the consumer had it first); after the write was sent p50 %v p99 %v",
		len(lat), lat[len(lat)/2], lat[len(lat)*99/100], fromSend[len(fromSend)/2], fromSend[len(fromSend)*99/100])
}
