package integration

// Read-on-write consistency over the network (PRODUCT §3.3): read-modify-write
// commands, compare-and-set (SET … IFEQ, DELEX, DIGEST) and WATCH/MULTI/EXEC
// from many concurrent go-redis clients, plus a differential comparison of the
// string and transaction commands with a real redis-server.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeebo/xxh3"
)

// consWorkers is the number of concurrent clients of the load tests.
const consWorkers = 32

// consRun runs fn(w) for w in [0, n) concurrently and fails the test with
// the first error any of them returns.
func consRun(t *testing.T, n int, fn func(w int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(w); err != nil {
				errs <- fmt.Errorf("worker %d: %w", w, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// TestConsIncrTotals: 32 clients hammer INCR, INCRBY/DECR and INCRBYFLOAT.
// The totals are exact, the INCR replies are exactly 1…N (no two clients
// ever see the same value) and each client's replies increase.
func TestConsIncrTotals(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, &redis.Options{PoolSize: consWorkers})
	const each = 40
	replies := make([][]int64, consWorkers)
	consRun(t, consWorkers, func(w int) error {
		for i := 0; i < each; i++ {
			n, err := c.Incr(ctx, "counter").Result()
			if err != nil {
				return err
			}
			replies[w] = append(replies[w], n)
			if err := c.IncrBy(ctx, "by", 3).Err(); err != nil {
				return err
			}
			if err := c.Decr(ctx, "by").Err(); err != nil {
				return err
			}
			if err := c.IncrByFloat(ctx, "float", 0.5).Err(); err != nil {
				return err
			}
		}
		return nil
	})
	const total = consWorkers * each
	var all []int64
	for w, rs := range replies {
		if !slices.IsSorted(rs) {
			t.Errorf("worker %d saw INCR replies out of order: %v", w, rs)
		}
		all = append(all, rs...)
	}
	slices.Sort(all)
	for i, n := range all {
		if n != int64(i+1) {
			t.Fatalf("INCR replies are not exactly 1…%d: position %d holds %d", total, i, n)
		}
	}
	got, err := c.MGet(ctx, "counter", "by", "float").Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := []any{strconv.Itoa(total), strconv.Itoa(2 * total), strconv.Itoa(total / 2)}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("counter, by, float = %q, want %q", got, want)
	}
}

// TestConsWatchIncrementLoops: 32 clients increment one counter with
// WATCH / GET / MULTI / SET / EXEC, retrying when EXEC answers null. No
// increment is lost, and at least some EXECs were aborted (else the test
// proved nothing about WATCH).
func TestConsWatchIncrementLoops(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, &redis.Options{PoolSize: consWorkers})
	const each = 5
	var aborted atomic.Int64
	consRun(t, consWorkers, func(w int) error {
		for i := 0; i < each; {
			err := c.Watch(ctx, func(tx *redis.Tx) error {
				n, err := tx.Get(ctx, "counter").Int()
				if err != nil && !errors.Is(err, redis.Nil) {
					return err
				}
				_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
					p.Set(ctx, "counter", n+1, 0)
					return nil
				})
				return err
			}, "counter")
			switch {
			case errors.Is(err, redis.TxFailedErr):
				aborted.Add(1)
			case err != nil:
				return err
			default:
				i++
			}
		}
		return nil
	})
	if n, err := c.Get(ctx, "counter").Int(); n != consWorkers*each || err != nil {
		t.Fatalf("counter = %d (%v), want %d", n, err, consWorkers*each)
	}
	t.Logf("%d increments, %d aborted EXECs retried", consWorkers*each, aborted.Load())
	if aborted.Load() == 0 {
		t.Errorf("no EXEC was ever aborted with %d concurrent clients: WATCH not exercised", consWorkers)
	}
}

// TestConsSetIfeqIncrementLoops: 32 clients increment one counter with
// GET then SET n+1 IFEQ n, retrying on a null reply. No increment is lost.
func TestConsSetIfeqIncrementLoops(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, &redis.Options{PoolSize: consWorkers})
	if err := c.Set(ctx, "counter", "0", 0).Err(); err != nil {
		t.Fatal(err)
	}
	const each = 5
	var conflicts atomic.Int64
	consRun(t, consWorkers, func(w int) error {
		for i := 0; i < each; {
			cur, err := c.Get(ctx, "counter").Result()
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(cur)
			if err != nil {
				return err
			}
			err = c.Do(ctx, "SET", "counter", strconv.Itoa(n+1), "IFEQ", cur).Err()
			switch {
			case errors.Is(err, redis.Nil):
				conflicts.Add(1)
			case err != nil:
				return err
			default:
				i++
			}
		}
		return nil
	})
	if n, err := c.Get(ctx, "counter").Int(); n != consWorkers*each || err != nil {
		t.Fatalf("counter = %d (%v), want %d", n, err, consWorkers*each)
	}
	t.Logf("%d increments, %d IFEQ conflicts retried", consWorkers*each, conflicts.Load())
	if conflicts.Load() == 0 {
		t.Errorf("no IFEQ ever failed with %d concurrent clients: compare-and-set not exercised", consWorkers)
	}
}

// TestConsReadModifyWriteCommands: 32 clients on the same keys with the
// other read-modify-write commands; no update is lost or applied twice.
//   - APPEND of unique tokens: the replies are distinct lengths and the
//     final string holds every token once.
//   - SETRANGE of each client's own region of one string: every region is
//     there in the end.
//   - GETSET chain: every value written is returned exactly once (by the
//     GETSET that replaced it, or as the final value).
//   - GETDEL of a token, and MSETNX on overlapping keys: exactly one
//     client wins each round.
func TestConsReadModifyWriteCommands(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, &redis.Options{PoolSize: consWorkers})
	const each, region = 8, 4
	var mu sync.Mutex
	lengths := map[int64]bool{}
	returned := map[string]int{}
	if err := c.Set(ctx, "gs", "initial", 0).Err(); err != nil {
		t.Fatal(err)
	}
	consRun(t, consWorkers, func(w int) error {
		for i := 0; i < each; i++ {
			tok := fmt.Sprintf("[%02d%02d]", w, i) // 6 bytes
			n, err := c.Append(ctx, "ap", tok).Result()
			if err != nil {
				return err
			}
			old, err := c.GetSet(ctx, "gs", tok).Result()
			if err != nil {
				return err
			}
			off := int64((w*each + i) * region)
			if err := c.SetRange(ctx, "sr", off, fmt.Sprintf("%02d%02d", w, i)).Err(); err != nil {
				return err
			}
			mu.Lock()
			if lengths[n] {
				mu.Unlock()
				return fmt.Errorf("two APPENDs answered length %d", n)
			}
			lengths[n] = true
			returned[old]++
			mu.Unlock()
		}
		return nil
	})
	ap, _ := c.Get(ctx, "ap").Result()
	sr, _ := c.Get(ctx, "sr").Result()
	final, _ := c.Get(ctx, "gs").Result()
	returned[final]++
	if want := consWorkers * each * 6; len(ap) != want {
		t.Errorf("APPEND: final length %d, want %d", len(ap), want)
	}
	if want := consWorkers * each * region; len(sr) != want {
		t.Errorf("SETRANGE: final length %d, want %d", len(sr), want)
	}
	for w := 0; w < consWorkers; w++ {
		for i := 0; i < each; i++ {
			tok := fmt.Sprintf("[%02d%02d]", w, i)
			if strings.Count(ap, tok) != 1 {
				t.Errorf("APPEND: token %s appears %d times", tok, strings.Count(ap, tok))
			}
			if returned[tok] != 1 {
				t.Errorf("GETSET: value %s returned %d times, want once", tok, returned[tok])
			}
			off := (w*each + i) * region
			if got, want := sr[off:off+region], fmt.Sprintf("%02d%02d", w, i); got != want {
				t.Errorf("SETRANGE: region %d holds %q, want %q", off, got, want)
			}
		}
	}
	if returned["initial"] != 1 {
		t.Errorf("GETSET: the initial value was returned %d times", returned["initial"])
	}

	// Exactly-once rounds on raw connections released together.
	cs := make([]*rconn, 16)
	for i := range cs {
		cs[i] = dialRaw(t, s.Addr)
	}
	race := func(cmd func(i int) []string) []string {
		start := make(chan struct{})
		replies := make([]string, len(cs))
		var wg sync.WaitGroup
		for i, rc := range cs {
			wg.Add(1)
			buf := encodeCommand(nil, cmd(i)...)
			go func() {
				defer wg.Done()
				<-start
				if _, err := rc.nc.Write(buf); err != nil {
					replies[i] = err.Error()
					return
				}
				if r, err := rc.readErr(); err != nil {
					replies[i] = err.Error()
				} else {
					replies[i] = r
				}
			}()
		}
		close(start)
		wg.Wait()
		return replies
	}
	count := func(replies []string, r string) int {
		n := 0
		for _, x := range replies {
			if x == r {
				n++
			}
		}
		return n
	}
	for round := 0; round < 10; round++ {
		tok := fmt.Sprint("token-", round)
		if err := c.Set(ctx, "gd", tok, 0).Err(); err != nil {
			t.Fatal(err)
		}
		rs := race(func(int) []string { return []string{"GETDEL", "gd"} })
		if count(rs, strconv.Quote(tok)) != 1 || count(rs, "(nil)") != len(cs)-1 {
			t.Errorf("GETDEL round %d: %v, want the token once and nil for the rest", round, rs)
		}
		// Client i claims keys i and i+1 of the round: neighbours conflict.
		rs = race(func(i int) []string {
			return []string{"MSETNX", fmt.Sprintf("ms%d:%d", round, i), fmt.Sprint(i), fmt.Sprintf("ms%d:%d", round, i+1), fmt.Sprint(i)}
		})
		won := []int{}
		for i, r := range rs {
			if r == ":1" {
				won = append(won, i)
			} else if r != ":0" {
				t.Errorf("MSETNX round %d: client %d got %s", round, i, r)
			}
		}
		for j := 1; j < len(won); j++ {
			if won[j] == won[j-1]+1 {
				t.Errorf("MSETNX round %d: clients %d and %d both claimed key %d", round, won[j-1], won[j], won[j])
			}
		}
		for _, i := range won {
			vs, _ := c.MGet(ctx, fmt.Sprintf("ms%d:%d", round, i), fmt.Sprintf("ms%d:%d", round, i+1)).Result()
			if fmt.Sprint(vs) != fmt.Sprint([]any{fmt.Sprint(i), fmt.Sprint(i)}) {
				t.Errorf("MSETNX round %d: client %d won but its keys hold %q", round, i, vs)
			}
		}
		if len(won) == 0 {
			t.Errorf("MSETNX round %d: nobody won", round)
		}
		// SET NX: a lock only one client gets.
		rs = race(func(i int) []string { return []string{"SET", fmt.Sprint("lock", round), fmt.Sprint(i), "NX"} })
		if count(rs, "+OK") != 1 || count(rs, "(nil)") != len(cs)-1 {
			t.Errorf("SET NX round %d: %v, want one +OK", round, rs)
		}
	}
}

// consDoc is the seed's revisioned document.
type consDoc struct {
	ID  string   `json:"id"`
	Rev int      `json:"rev"`
	Log []string `json:"log"` // one entry per applied update, in order
}

// consDigest is Redis 8.4's DIGEST of v, computed here independently.
func consDigest(v string) string { return fmt.Sprintf("%016x", xxh3.HashString(v)) }

// TestConsRevisionedDocuments is the seed's example over the network: 32
// clients update 4 JSON documents, each update presenting the revision it
// read — with WATCH/MULTI/EXEC, SET … IFEQ <old document> or SET … IFDEQ
// <digest of the old document>, all three on the same documents at once.
// Every successful update is in the final document exactly once (zero lost
// updates) and each document's rev is its number of successful updates.
func TestConsRevisionedDocuments(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, &redis.Options{PoolSize: consWorkers})
	const docs, each = 4, 4
	for d := 0; d < docs; d++ {
		b, _ := json.Marshal(consDoc{ID: fmt.Sprint("doc:", d), Log: []string{}})
		if err := c.Set(ctx, fmt.Sprint("doc:", d), b, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	methods := []string{"watch", "ifeq", "ifdeq"}
	var mu sync.Mutex
	applied := map[string][]string{} // doc -> tags of acknowledged updates
	var retries atomic.Int64

	// next parses the current document and builds its next revision.
	next := func(cur string, tag string) (string, error) {
		var d consDoc
		if err := json.Unmarshal([]byte(cur), &d); err != nil {
			return "", fmt.Errorf("document %q: %w", cur, err)
		}
		if d.Rev != len(d.Log) {
			return "", fmt.Errorf("document %s has rev %d but %d updates: %s", d.ID, d.Rev, len(d.Log), cur)
		}
		d.Rev++
		d.Log = append(d.Log, tag)
		b, err := json.Marshal(d)
		return string(b), err
	}

	consRun(t, consWorkers, func(w int) error {
		key := fmt.Sprint("doc:", w%docs)
		method := methods[w%len(methods)]
		for i := 0; i < each; {
			tag := fmt.Sprintf("%s-w%d-%d", method, w, i)
			var ok bool
			switch method {
			case "watch":
				err := c.Watch(ctx, func(tx *redis.Tx) error {
					cur, err := tx.Get(ctx, key).Result()
					if err != nil {
						return err
					}
					upd, err := next(cur, tag)
					if err != nil {
						return err
					}
					_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
						p.Set(ctx, key, upd, 0)
						return nil
					})
					return err
				}, key)
				if err != nil && !errors.Is(err, redis.TxFailedErr) {
					return err
				}
				ok = err == nil
			case "ifeq", "ifdeq":
				cur, err := c.Get(ctx, key).Result()
				if err != nil {
					return err
				}
				upd, err := next(cur, tag)
				if err != nil {
					return err
				}
				cond := cur
				if method == "ifdeq" {
					cond = consDigest(cur)
				}
				err = c.Do(ctx, "SET", key, upd, strings.ToUpper(method), cond).Err()
				if err != nil && !errors.Is(err, redis.Nil) {
					return err
				}
				ok = err == nil
			}
			if !ok {
				retries.Add(1)
				continue
			}
			mu.Lock()
			applied[key] = append(applied[key], tag)
			mu.Unlock()
			i++
		}
		return nil
	})

	total := 0
	for d := 0; d < docs; d++ {
		key := fmt.Sprint("doc:", d)
		cur, err := c.Get(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		var doc consDoc
		if err := json.Unmarshal([]byte(cur), &doc); err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(applied[key])
		got := slices.Clone(doc.Log)
		slices.Sort(want)
		slices.Sort(got)
		if doc.Rev != len(applied[key]) || !slices.Equal(got, want) {
			t.Errorf("%s: rev %d with %d logged updates, but %d updates were acknowledged\nlog:   %v\nacked: %v",
				key, doc.Rev, len(doc.Log), len(applied[key]), got, want)
		}
		// Each client's own updates appear in the order it made them.
		last := map[string]int{}
		for _, tag := range doc.Log {
			i := strings.LastIndexByte(tag, '-')
			n, _ := strconv.Atoi(tag[i+1:])
			if prev, seen := last[tag[:i]]; seen && n <= prev {
				t.Errorf("%s: %s logged after update %d of the same client", key, tag, prev)
			}
			last[tag[:i]] = n
		}
		if dg, err := c.Do(ctx, "DIGEST", key).Text(); err != nil || dg != consDigest(cur) {
			t.Errorf("DIGEST %s = %q (%v), want %q", key, dg, err, consDigest(cur))
		}
		total += doc.Rev
	}
	if total != consWorkers*each {
		t.Errorf("%d updates applied in total, want %d", total, consWorkers*each)
	}
	t.Logf("%d updates by %d clients (watch, ifeq, ifdeq), %d conflicts retried, 0 lost", total, consWorkers, retries.Load())
}

// TestConsConflictingIfeqInOneBatch: several SET … IFEQ on the same old
// value land in one write phase. Exactly one applies — the first in queue
// order for one connection's pipeline — whether they come from one
// connection or from many connections released together.
func TestConsConflictingIfeqInOneBatch(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	gc := s.client(t, nil)

	t.Run("one pipeline", func(t *testing.T) {
		c := dialRaw(t, s.Addr)
		const n = 8
		for round := 0; round < 5; round++ {
			key := fmt.Sprint("pipe:", round)
			if r := c.do("SET", key, "v1"); r != "+OK" {
				t.Fatalf("SET: %s", r)
			}
			before := afterwrite(t, gc)
			var buf []byte
			for i := 0; i < n; i++ {
				buf = encodeCommand(buf, "SET", key, fmt.Sprint("v2-", i), "IFEQ", "v1")
			}
			buf = encodeCommand(buf, "GET", key)
			if _, err := c.nc.Write(buf); err != nil { // one write: one pipeline
				t.Fatal(err)
			}
			var got []string
			for i := 0; i <= n; i++ {
				got = append(got, c.read())
			}
			want := []string{"+OK"}
			for i := 1; i < n; i++ {
				want = append(want, "(nil)")
			}
			want = append(want, `"v2-0"`)
			if !slices.Equal(got, want) {
				t.Errorf("round %d: replies %v, want %v", round, got, want)
			}
			t.Logf("round %d: %d conflicting IFEQ in %d batch(es)", round, n, afterwrite(t, gc)-before)
		}
	})

	for _, conns := range []int{2, 16} {
		t.Run(fmt.Sprintf("%d connections", conns), func(t *testing.T) {
			cs := make([]*rconn, conns)
			for i := range cs {
				cs[i] = dialRaw(t, s.Addr)
			}
			batches := int64(0)
			const rounds = 10
			for round := 0; round < rounds; round++ {
				key := fmt.Sprintf("conns%d:%d", conns, round)
				if err := gc.Set(ctx, key, "v1", 0).Err(); err != nil {
					t.Fatal(err)
				}
				before := afterwrite(t, gc)
				start := make(chan struct{})
				replies := make([]string, conns)
				var wg sync.WaitGroup
				for i, c := range cs {
					wg.Add(1)
					cmd := encodeCommand(nil, "SET", key, fmt.Sprint("v2-by-", i), "IFEQ", "v1")
					go func() {
						defer wg.Done()
						<-start
						if _, err := c.nc.Write(cmd); err != nil {
							replies[i] = err.Error()
							return
						}
						r, err := c.readErr()
						if err != nil {
							r = err.Error()
						}
						replies[i] = r
					}()
				}
				close(start)
				wg.Wait()
				winner := -1
				for i, r := range replies {
					switch r {
					case "+OK":
						if winner >= 0 {
							t.Errorf("round %d: both connection %d and %d got +OK", round, winner, i)
						}
						winner = i
					case "(nil)":
					default:
						t.Errorf("round %d: connection %d got %s", round, i, r)
					}
				}
				if winner < 0 {
					t.Fatalf("round %d: no IFEQ applied: %v", round, replies)
				}
				if v, _ := gc.Get(ctx, key).Result(); v != fmt.Sprint("v2-by-", winner) {
					t.Errorf("round %d: value %q, but connection %d won", round, v, winner)
				}
				batches += afterwrite(t, gc) - before
			}
			t.Logf("%d rounds of %d concurrent conflicting IFEQ: %d batches", rounds, conns, batches)
		})
	}
}

// consWriteEvents follows __mutex@<ks>__:writes and reports every
// (key, value) a batch sets.
type consWriteEvents struct {
	ps *redis.PubSub
}

func consFollowWrites(t *testing.T, c *redis.Client, ks string) *consWriteEvents {
	t.Helper()
	ps := c.Subscribe(context.Background(), "__mutex@"+ks+"__:writes")
	t.Cleanup(func() { ps.Close() })
	if _, err := ps.Receive(context.Background()); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	return &consWriteEvents{ps: ps}
}

// waitSet waits until a batch setting key to value has been evaluated.
func (e *consWriteEvents) waitSet(t *testing.T, key, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		m, err := e.ps.ReceiveMessage(ctx)
		if err != nil {
			t.Fatalf("waiting for the batch that sets %s=%s: %v", key, value, err)
		}
		var ev struct {
			Ops []struct{ Op, Key, Value string } `json:"ops"`
		}
		if err := json.Unmarshal([]byte(m.Payload), &ev); err != nil {
			t.Fatalf("writes event %q: %v", m.Payload, err)
		}
		for _, op := range ev.Ops {
			if op.Op == "set" && op.Key == key && op.Value == value {
				return
			}
		}
	}
}

// TestConsWatchAbortsOnQueuedWrite: a write to a watched key by another
// client, sent after the WATCH and already in a write batch but not yet
// acknowledged (its reply is still unread), aborts the EXEC. A write
// evaluated before the WATCH does not.
func TestConsWatchAbortsOnQueuedWrite(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ev := consFollowWrites(t, s.client(t, nil), "0")
	a, b := dialRaw(t, s.Addr), dialRaw(t, s.Addr)
	for i := 0; i < 10; i++ {
		key, val := fmt.Sprint("w:", i), fmt.Sprint("by-b-", i)
		expect(t, a, [2]any{q("WATCH", key), "+OK"})
		b.send("SET", key, val) // its reply is read only after the EXEC
		ev.waitSet(t, key, val)
		expect(t, a,
			[2]any{q("MULTI"), "+OK"},
			[2]any{q("SET", key, "by-a"), "+QUEUED"},
			[2]any{q("INCR", "execs"), "+QUEUED"},
			[2]any{q("EXEC"), "(nil-array)"},
		)
		if r := b.read(); r != "+OK" {
			t.Fatalf("B's SET: %s", r)
		}
		expect(t, a, [2]any{q("GET", key), `"` + val + `"`}, [2]any{q("GET", "execs"), "(nil)"})
	}

	// The other order: B's write is in a batch before A watches. A sees it
	// and its EXEC applies.
	for i := 0; i < 5; i++ {
		key, val := fmt.Sprint("before:", i), fmt.Sprint("by-b-", i)
		b.send("SET", key, val)
		ev.waitSet(t, key, val)
		expect(t, a,
			[2]any{q("WATCH", key), "+OK"},
			[2]any{q("GET", key), `"` + val + `"`},
			[2]any{q("MULTI"), "+OK"},
			[2]any{q("SET", key, "by-a"), "+QUEUED"},
			[2]any{q("EXEC"), "[+OK]"},
		)
		if r := b.read(); r != "+OK" {
			t.Fatalf("B's SET: %s", r)
		}
	}
}

// TestConsWatchNamedKeyspace: WATCH in one keyspace, then SELECT another
// and MULTI/EXEC there: a write to the watched key (in its keyspace)
// aborts, a write to the same key name elsewhere does not — as Redis
// does with database numbers, here with a named keyspace.
func TestConsWatchNamedKeyspace(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	a, b := dialRaw(t, s.Addr), dialRaw(t, s.Addr)
	expect(t, a,
		[2]any{q("SELECT", "tenant-w"), "+OK"},
		[2]any{q("WATCH", "k"), "+OK"},
		[2]any{q("SELECT", "0"), "+OK"},
	)
	expect(t, b, [2]any{q("SET", "k", "in 0"), "+OK"}) // same name, keyspace 0: not watched
	expect(t, a,
		[2]any{q("MULTI"), "+OK"}, [2]any{q("INCR", "n"), "+QUEUED"}, [2]any{q("EXEC"), "[:1]"},
		[2]any{q("SELECT", "tenant-w"), "+OK"}, [2]any{q("WATCH", "k"), "+OK"}, [2]any{q("SELECT", "1"), "+OK"},
	)
	expect(t, b, [2]any{q("SELECT", "tenant-w"), "+OK"}, [2]any{q("SET", "k", "in tenant-w"), "+OK"})
	expect(t, a,
		[2]any{q("MULTI"), "+OK"}, [2]any{q("INCR", "n"), "+QUEUED"}, [2]any{q("EXEC"), "(nil-array)"},
		[2]any{q("GET", "n"), "(nil)"},
		// Watches in two keyspaces at once: either one changing aborts.
		[2]any{q("SELECT", "0"), "+OK"}, [2]any{q("WATCH", "x"), "+OK"},
		[2]any{q("SELECT", "tenant-w"), "+OK"}, [2]any{q("WATCH", "y"), "+OK"},
		[2]any{q("SELECT", "2"), "+OK"},
	)
	expect(t, b, [2]any{q("SELECT", "0"), "+OK"}, [2]any{q("SET", "x", "1"), "+OK"})
	expect(t, a,
		[2]any{q("MULTI"), "+OK"}, [2]any{q("GET", "y"), "+QUEUED"},
		[2]any{q("EXEC"), "(nil-array)"},
	)
}

// TestConsExecIsOneBatch: an EXEC's writes are one batch (one writes
// event, mutations in order), and readers never see half a transaction.
func TestConsExecIsOneBatch(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	ev := consFollowWrites(t, s.client(t, nil), "0")
	a := dialRaw(t, s.Addr)
	expect(t, a,
		[2]any{q("MULTI"), "+OK"},
		[2]any{q("SET", "ta", "1"), "+QUEUED"},
		[2]any{q("INCR", "tb"), "+QUEUED"},
		[2]any{q("APPEND", "tc", "x"), "+QUEUED"},
		[2]any{q("EXEC"), "[+OK, :1, :1]"},
	)
	m, err := ev.ps.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Ops []struct{ Op, Key, Value string } `json:"ops"`
	}
	if err := json.Unmarshal([]byte(m.Payload), &e); err != nil {
		t.Fatalf("writes event %q: %v", m.Payload, err)
	}
	if got := fmt.Sprint(e.Ops); got != "[{set ta 1} {set tb 1} {set tc x}]" {
		t.Errorf("EXEC of 3 writes: first batch %s, want the 3 mutations in order", m.Payload)
	}

	// Writers move a and b together in transactions; readers (MGET, and
	// GETs in a MULTI) must never see them apart.
	c := s.client(t, &redis.Options{PoolSize: consWorkers})
	var stop atomic.Bool
	consRun(t, consWorkers, func(w int) error {
		if w%2 == 0 {
			defer stop.Store(true)
			for i := 0; i < 20; i++ {
				v := fmt.Sprint(w, "-", i)
				if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
					p.Set(ctx, "pa", v, 0)
					p.Set(ctx, "pb", v, 0)
					return nil
				}); err != nil {
					return err
				}
			}
			return nil
		}
		for i := 0; !stop.Load() || i < 5; i++ {
			vs, err := c.MGet(ctx, "pa", "pb").Result()
			if err != nil {
				return err
			}
			if vs[0] != vs[1] {
				return fmt.Errorf("MGET saw half a transaction: %q", vs)
			}
		}
		return nil
	})
}

// TestConsTransactionErrors: the transaction replies and error texts
// (the differential test compares them with redis-server when there is
// one; these are its answers, so they are checked even without it).
func TestConsTransactionErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := dialRaw(t, s.Addr)
	const execAbort = "-EXECABORT Transaction discarded because of previous errors."
	expect(t, c,
		[2]any{q("EXEC"), "-ERR EXEC without MULTI"},
		[2]any{q("DISCARD"), "-ERR DISCARD without MULTI"},
		[2]any{q("MULTI"), "+OK"},
		[2]any{q("MULTI"), "-ERR MULTI calls can not be nested"},
		[2]any{q("WATCH", "a"), "-ERR WATCH inside MULTI is not allowed"},
		[2]any{q("SET", "a", "1"), "+QUEUED"},
		[2]any{q("EXEC"), "[+OK]"}, // neither error aborts the transaction
		[2]any{q("MULTI"), "+OK"},
		[2]any{q("EXEC"), "[]"},
		// queueing errors: EXECABORT, nothing applied
		[2]any{q("MULTI"), "+OK"},
		[2]any{q("SET", "a", "2"), "+QUEUED"},
		[2]any{q("NOSUCH", "x"), "-ERR unknown command 'NOSUCH', with args beginning with: 'x' "},
		[2]any{q("EXEC"), execAbort},
		[2]any{q("MULTI"), "+OK"},
		[2]any{q("SET", "a", "3"), "+QUEUED"},
		[2]any{q("INCR", "a", "b"), "-ERR wrong number of arguments for 'incr' command"},
		[2]any{q("EXEC"), execAbort},
		[2]any{q("MULTI"), "+OK"},
		[2]any{q("EXEC", "x"), "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command"},
		[2]any{q("EXEC"), "-ERR EXEC without MULTI"},
		[2]any{q("GET", "a"), `"1"`},
		// DISCARD drops the queue
		[2]any{q("MULTI"), "+OK"},
		[2]any{q("INCR", "a"), "+QUEUED"},
		[2]any{q("DISCARD"), "+OK"},
		[2]any{q("GET", "a"), `"1"`},
		// runtime errors are replies inside EXEC's array
		[2]any{q("SET", "s", "str"), "+OK"},
		[2]any{q("MULTI"), "+OK"},
		[2]any{q("INCR", "a"), "+QUEUED"},
		[2]any{q("INCR", "s"), "+QUEUED"},
		[2]any{q("INCRBYFLOAT", "s", "1"), "+QUEUED"},
		[2]any{q("SET", "k", "v", "BAD"), "+QUEUED"},
		[2]any{q("GETDEL", "s"), "+QUEUED"},
		[2]any{q("EXEC"), `[:2, -ERR value is not an integer or out of range, -ERR value is not a valid float, -ERR syntax error, "str"]`},
		// SELECT inside MULTI is refused at queue time and aborts the
		// transaction: nothing is committed in either database
		[2]any{q("MULTI"), "+OK"},
		[2]any{q("SET", "a", "in0"), "+QUEUED"},
		[2]any{q("SELECT", "1"), "-ERR SELECT is not allowed inside MULTI: a transaction runs in one keyspace (SELECT before MULTI)"},
		[2]any{q("SET", "a", "in1"), "+QUEUED"},
		[2]any{q("EXEC"), "-EXECABORT Transaction discarded because of previous errors."},
		[2]any{q("GET", "a"), `"2"`},
		[2]any{q("SELECT", "1"), "+OK"},
		[2]any{q("GET", "a"), "(nil)"},
		[2]any{q("SELECT", "0"), "+OK"},
		[2]any{q("MULTI"), "+OK"},
		[2]any{q("SELECT", "1"), "-ERR SELECT is not allowed inside MULTI: a transaction runs in one keyspace (SELECT before MULTI)"},
		[2]any{q("DISCARD"), "+OK"},
		[2]any{q("GET", "a"), `"2"`},
	)
}

// ---- compare-and-set commands of Redis 8.4 (redis-server 7.0 has none) ----

// TestConsCompareAndSetDocumented checks SET … IFEQ/IFNE/IFDEQ/IFDNE,
// DELEX and DIGEST against Redis 8.4's documented behaviour.
func TestConsCompareAndSetDocumented(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := dialRaw(t, s.Addr)
	hello := "b6acb9d84a38ff74" // DIGEST of "Hello world", from Redis's documentation
	if d := consDigest("Hello world"); d != hello {
		t.Fatalf("xxh3 of %q = %s, want %s", "Hello world", d, hello)
	}
	other := consDigest("other")
	expect(t, c,
		// DIGEST: 16 hex digits of XXH3-64, null for a missing key.
		[2]any{q("SET", "k", "Hello world"), "+OK"},
		[2]any{q("DIGEST", "k"), `"` + hello + `"`},
		[2]any{q("DIGEST", "nokey"), "(nil)"},
		[2]any{q("SET", "e", ""), "+OK"},
		[2]any{q("DIGEST", "e"), `"` + consDigest("") + `"`},
		[2]any{q("SET", "bin", "\x00\xff"), "+OK"},
		[2]any{q("DIGEST", "bin"), `"` + consDigest("\x00\xff") + `"`},
		[2]any{q("DIGEST"), "-ERR wrong number of arguments for 'digest' command"},
		[2]any{q("DIGEST", "a", "b"), "-ERR wrong number of arguments for 'digest' command"},

		// IFEQ: only when the current value is equal; never creates a key.
		[2]any{q("SET", "k", "v2", "IFEQ", "wrong"), "(nil)"},
		[2]any{q("GET", "k"), `"Hello world"`},
		[2]any{q("SET", "k", "v2", "IFEQ", "Hello world"), "+OK"},
		[2]any{q("GET", "k"), `"v2"`},
		[2]any{q("SET", "k", "v3", "ifeq", "v2"), "+OK"},   // options are case-insensitive
		[2]any{q("SET", "k", "v4", "IFEQ", "V3"), "(nil)"}, // values are not
		[2]any{q("SET", "missing", "v", "IFEQ", "x"), "(nil)"},
		[2]any{q("SET", "missing", "v", "IFEQ", ""), "(nil)"},
		[2]any{q("EXISTS", "missing"), ":0"},
		// IFNE: only when different; creates a missing key.
		[2]any{q("SET", "k", "v4", "IFNE", "v3"), "(nil)"},
		[2]any{q("SET", "k", "v4", "IFNE", "zzz"), "+OK"},
		[2]any{q("SET", "new", "v", "IFNE", "x"), "+OK"},
		[2]any{q("GET", "new"), `"v"`},
		// IFDEQ / IFDNE: the same with the digest of the current value.
		[2]any{q("SET", "d", "Hello world"), "+OK"},
		[2]any{q("SET", "d", "x", "IFDEQ", other), "(nil)"},
		[2]any{q("SET", "d", "x", "IFDEQ", hello), "+OK"},
		[2]any{q("SET", "d", "y", "IFDNE", consDigest("x")), "(nil)"},
		[2]any{q("SET", "d", "y", "IFDNE", hello), "+OK"},
		[2]any{q("GET", "d"), `"y"`},
		[2]any{q("SET", "missing", "v", "IFDEQ", hello), "(nil)"},
		[2]any{q("EXISTS", "missing"), ":0"},
		[2]any{q("SET", "new2", "v", "IFDNE", hello), "+OK"},
		[2]any{q("EXISTS", "new2"), ":1"},
		// GET with a condition: the old value, whether or not it was set.
		[2]any{q("SET", "g", "a"), "+OK"},
		[2]any{q("SET", "g", "b", "IFEQ", "zz", "GET"), `"a"`},
		[2]any{q("GET", "g"), `"a"`},
		[2]any{q("SET", "g", "b", "IFEQ", "a", "GET"), `"a"`},
		[2]any{q("GET", "g"), `"b"`},
		[2]any{q("SET", "nog", "b", "IFNE", "a", "GET"), "(nil)"},
		[2]any{q("GET", "nog"), `"b"`},
		// Syntax: a missing operand, two conditions, a condition with NX/XX.
		[2]any{q("SET", "k", "v", "IFEQ"), "-ERR syntax error"},
		[2]any{q("SET", "k", "v", "IFEQ", "a", "IFNE", "b"), "-ERR syntax error"},
		[2]any{q("SET", "k", "v", "NX", "IFEQ", "a"), "-ERR syntax error"},
		[2]any{q("SET", "k", "v", "IFEQ", "v4", "XX"), "-ERR syntax error"},
		[2]any{q("GET", "k"), `"v4"`},

		// DELEX: 1 when deleted, 0 when missing or the condition fails.
		[2]any{q("SET", "x", "val"), "+OK"},
		[2]any{q("DELEX", "x", "IFEQ", "other"), ":0"},
		[2]any{q("DELEX", "x", "IFNE", "val"), ":0"},
		[2]any{q("DELEX", "x", "IFDEQ", other), ":0"},
		[2]any{q("DELEX", "x", "IFDNE", consDigest("val")), ":0"},
		[2]any{q("EXISTS", "x"), ":1"},
		[2]any{q("DELEX", "x", "IFEQ", "val"), ":1"},
		[2]any{q("EXISTS", "x"), ":0"},
		[2]any{q("DELEX", "x"), ":0"},
		[2]any{q("DELEX", "x", "IFNE", "zzz"), ":0"}, // missing: never deleted, not even by IFNE
		[2]any{q("SET", "x", "val"), "+OK"},
		[2]any{q("DELEX", "x", "IFNE", "zzz"), ":1"},
		[2]any{q("SET", "x", "val"), "+OK"},
		[2]any{q("DELEX", "x", "IFDEQ", consDigest("val")), ":1"},
		[2]any{q("SET", "x", "val"), "+OK"},
		[2]any{q("DELEX", "x", "IFDNE", other), ":1"},
		[2]any{q("SET", "x", "val"), "+OK"},
		[2]any{q("DELEX", "x"), ":1"},
		[2]any{q("EXISTS", "x"), ":0"},
		[2]any{q("DELEX"), "-ERR wrong number of arguments for 'delex' command"},
	)
	// Malformed conditions are errors (Redis's exact text for these
	// depends on its version), and delete nothing.
	c.do("SET", "x", "val")
	for _, args := range [][]string{
		{"DELEX", "x", "IFEQ"}, {"DELEX", "x", "FOO", "val"}, {"DELEX", "x", "IFEQ", "val", "extra"},
	} {
		if r := c.do(args...); !strings.HasPrefix(r, "-ERR") {
			t.Errorf("%q: %s, want an error", args, r)
		}
	}
	expect(t, c, [2]any{q("GET", "x"), `"val"`})

	// Inside MULTI, conditions are evaluated in order in the transaction.
	expect(t, c,
		[2]any{q("SET", "m", "1"), "+OK"},
		[2]any{q("MULTI"), "+OK"},
		[2]any{q("SET", "m", "2", "IFEQ", "1"), "+QUEUED"},
		[2]any{q("SET", "m", "3", "IFEQ", "1"), "+QUEUED"},
		[2]any{q("DELEX", "m", "IFEQ", "2"), "+QUEUED"},
		[2]any{q("SET", "m", "4", "IFNE", "2"), "+QUEUED"},
		[2]any{q("DIGEST", "m"), "+QUEUED"},
		[2]any{q("EXEC"), `[+OK, (nil), :1, +OK, "` + consDigest("4") + `"]`},
	)
	// A compare-and-set write counts as a write for WATCH; one that does
	// not apply does not.
	b := dialRaw(t, s.Addr)
	expect(t, c, [2]any{q("WATCH", "m"), "+OK"})
	expect(t, b, [2]any{q("SET", "m", "5", "IFEQ", "nope"), "(nil)"}, [2]any{q("DELEX", "m", "IFEQ", "nope"), ":0"})
	expect(t, c, [2]any{q("MULTI"), "+OK"}, [2]any{q("GET", "m"), "+QUEUED"}, [2]any{q("EXEC"), `["4"]`})
	expect(t, c, [2]any{q("WATCH", "m"), "+OK"})
	expect(t, b, [2]any{q("SET", "m", "5", "IFEQ", "4"), "+OK"})
	expect(t, c, [2]any{q("MULTI"), "+OK"}, [2]any{q("GET", "m"), "+QUEUED"}, [2]any{q("EXEC"), "(nil-array)"})
	expect(t, c, [2]any{q("WATCH", "m"), "+OK"})
	expect(t, b, [2]any{q("DELEX", "m", "IFDEQ", consDigest("5")), ":1"})
	expect(t, c, [2]any{q("MULTI"), "+OK"}, [2]any{q("GET", "m"), "+QUEUED"}, [2]any{q("EXEC"), "(nil-array)"})
}

// ---- differential tests against a real redis-server ----

// consStep is one command of a differential script, sent on connection
// conn (0 = A, 1 = B) of each server; its reply is read before the next.
type consStep struct {
	conn int
	args []string
}

func consA(args ...string) consStep { return consStep{0, args} }
func consB(args ...string) consStep { return consStep{1, args} }

// consScript runs on two fresh connections to each server, both starting
// in database 10. Databases 10–14 are flushed first (other tests use
// Redis's databases 0, 1 and 9).
type consScript struct {
	name  string
	steps []consStep
}

var consDiffScripts = []consScript{
	{"incr decr", []consStep{
		consA("SET", "n", "10"), consA("INCR", "n"), consA("INCRBY", "n", "5"), consA("INCRBY", "n", "-5"),
		consA("DECR", "n"), consA("DECRBY", "n", "3"), consA("DECRBY", "n", "-3"), consA("INCRBY", "n", "0"), consA("GET", "n"),
		consA("INCR", "nokey"), consA("DECR", "nokey2"), consA("INCRBY", "nokey3", "-7"), consA("DECRBY", "nokey4", "7"),
		consA("MGET", "nokey", "nokey2", "nokey3", "nokey4"),
		// increments that are not integers
		consA("INCRBY", "n", "+1"), consA("INCRBY", "n", "-0"), consA("INCRBY", "n", "00"), consA("INCRBY", "n", "1.0"),
		consA("INCRBY", "n", " 1"), consA("INCRBY", "n", "1 "), consA("INCRBY", "n", ""), consA("INCRBY", "n", "abc"),
		consA("INCRBY", "n", "9223372036854775808"), consA("INCRBY", "n", "-9223372036854775809"),
		consA("DECRBY", "n", "0x10"), consA("GET", "n"),
		// overflow both ways
		consA("SET", "big", "9223372036854775807"), consA("INCR", "big"), consA("INCRBY", "big", "1"),
		consA("DECRBY", "big", "-1"), consA("INCRBY", "big", "-1"), consA("GET", "big"),
		consA("SET", "small", "-9223372036854775808"), consA("DECR", "small"), consA("DECRBY", "small", "1"),
		consA("INCRBY", "small", "-1"), consA("INCR", "small"), consA("GET", "small"),
		consA("SET", "m1", "-1"), consA("DECRBY", "m1", "9223372036854775807"), consA("DECR", "m1"), consA("GET", "m1"),
		consA("DECRBY", "n", "-9223372036854775808"), consA("INCRBY", "n", "-9223372036854775808"), consA("GET", "n"),
		// values that are not integers
		consA("SET", "s", "abc"), consA("INCR", "s"), consA("DECR", "s"), consA("INCRBY", "s", "1"), consA("DECRBY", "s", "1"),
		consA("SET", "s", " 1"), consA("INCR", "s"), consA("SET", "s", "1 "), consA("INCR", "s"),
		consA("SET", "s", "-0"), consA("INCR", "s"), consA("SET", "s", "+5"), consA("INCR", "s"),
		consA("SET", "s", ""), consA("INCR", "s"), consA("SET", "s", "007"), consA("INCR", "s"),
		consA("SET", "s", "1.5"), consA("INCR", "s"), consA("SET", "s", "99999999999999999999"), consA("INCR", "s"),
		consA("SET", "s", "0"), consA("DECR", "s"), consA("GET", "s"),
		// arity
		consA("INCR"), consA("INCR", "a", "b"), consA("INCRBY", "n"), consA("INCRBY", "n", "1", "2"),
		consA("DECR"), consA("DECRBY", "n"), consA("DECRBY"),
	}},
	{"incrbyfloat", []consStep{
		consA("SET", "f", "10.50"), consA("INCRBYFLOAT", "f", "0.1"), consA("INCRBYFLOAT", "f", "-5"),
		consA("SET", "f", "5.0e3"), consA("INCRBYFLOAT", "f", "2.0e2"), consA("GET", "f"),
		consA("SET", "f", "1.5"), consA("INCRBYFLOAT", "f", ".5"), consA("INCRBYFLOAT", "f", "5."),
		consA("INCRBYFLOAT", "f", "+1"), consA("INCRBYFLOAT", "f", "1e-5"), consA("INCRBYFLOAT", "f", "-8.00001"),
		consA("INCRBYFLOAT", "nokey", "3"), consA("INCRBYFLOAT", "nokey2", "1.5e1"), consA("INCRBYFLOAT", "nokey3", "-0"),
		consA("MGET", "f", "nokey", "nokey2", "nokey3"),
		consA("SET", "i", "10"), consA("INCRBYFLOAT", "i", "1"), consA("INCR", "i"), consA("INCRBYFLOAT", "i", "0.25"), consA("INCR", "i"),
		// not valid floats
		consA("INCRBYFLOAT", "f", "abc"), consA("INCRBYFLOAT", "f", ""), consA("INCRBYFLOAT", "f", " 1"),
		consA("INCRBYFLOAT", "f", "1 "), consA("INCRBYFLOAT", "f", "1_0"), consA("INCRBYFLOAT", "f", "1,5"),
		consA("INCRBYFLOAT", "f", "inf"), consA("INCRBYFLOAT", "f", "-inf"), consA("INCRBYFLOAT", "f", "nan"),
		consA("SET", "s", "abc"), consA("INCRBYFLOAT", "s", "1"), consA("SET", "s", " 2"), consA("INCRBYFLOAT", "s", "1"),
		consA("SET", "s", "inf"), consA("INCRBYFLOAT", "s", "1"), consA("SET", "s", ""), consA("INCRBYFLOAT", "s", "1"),
		consA("SET", "s", "1e3"), consA("INCRBYFLOAT", "s", "1"),
		consA("GET", "f"),
		consA("INCRBYFLOAT", "f"), consA("INCRBYFLOAT"), consA("INCRBYFLOAT", "f", "1", "2"),
	}},
	{"append getset getdel", []consStep{
		consA("APPEND", "a", "hello"), consA("APPEND", "a", " world"), consA("GET", "a"), consA("STRLEN", "a"),
		consA("APPEND", "a", ""), consA("APPEND", "empty", ""), consA("EXISTS", "empty"), consA("STRLEN", "empty"),
		consA("APPEND", "bin", "\x00\xff"), consA("APPEND", "bin", "\r\n"), consA("GET", "bin"),
		consA("SET", "n", "1"), consA("APPEND", "n", "0"), consA("INCR", "n"),
		consA("APPEND", "a"), consA("APPEND"), consA("APPEND", "a", "b", "c"),
		consA("GETSET", "a", "new"), consA("GETSET", "nokey", "v"), consA("GET", "nokey"), consA("GET", "a"),
		consA("GETSET", "a", ""), consA("GET", "a"), consA("GETSET", "a"), consA("GETSET"), consA("GETSET", "a", "b", "c"),
		consA("SET", "d", "val"), consA("GETDEL", "d"), consA("GETDEL", "d"), consA("EXISTS", "d"),
		consA("SET", "d", ""), consA("GETDEL", "d"), consA("EXISTS", "d"),
		consA("GETDEL"), consA("GETDEL", "a", "b"),
	}},
	{"setrange", []consStep{
		consA("SET", "h", "Hello World"), consA("SETRANGE", "h", "6", "Redis"), consA("GET", "h"),
		consA("SETRANGE", "h", "11", "!"), consA("GET", "h"), consA("SETRANGE", "h", "0", "J"), consA("GET", "h"),
		consA("SETRANGE", "pad", "3", "x"), consA("GET", "pad"), consA("SETRANGE", "h", "15", "end"), consA("GET", "h"), consA("STRLEN", "h"),
		consA("SETRANGE", "h", "0", ""), consA("SETRANGE", "nk", "0", ""), consA("EXISTS", "nk"), consA("SETRANGE", "nk", "5", ""), consA("EXISTS", "nk"),
		consA("SETRANGE", "h", "-1", "x"), consA("SETRANGE", "nk", "-1", ""), consA("SETRANGE", "h", "1.5", "x"),
		consA("SETRANGE", "h", "abc", "x"), consA("SETRANGE", "h", "", "x"), consA("SETRANGE", "h", "99999999999999999999", "x"),
		consA("SETRANGE", "h", "536870912", "x"), consA("SETRANGE", "nk", "536870912", "x"), consA("SETRANGE", "nk", "536870911", "xy"),
		consA("SETRANGE", "nk", "536870912", ""), consA("SETRANGE", "h", "536870912", ""), consA("EXISTS", "nk"),
		consA("SET", "n", "12"), consA("SETRANGE", "n", "1", "5"), consA("INCR", "n"),
		consA("SETRANGE", "h", "0"), consA("SETRANGE"), consA("SETRANGE", "h", "0", "a", "b"),
	}},
	{"msetnx strlen", []consStep{
		consA("MSETNX", "m1", "1", "m2", "2"), consA("MSETNX", "m2", "x", "m3", "y"), consA("MGET", "m1", "m2", "m3"),
		consA("MSETNX", "m3", "y", "m4", "z"), consA("MGET", "m3", "m4"),
		consA("MSETNX", "m5", "1", "m5", "2"), consA("GET", "m5"),
		consA("MSETNX", "m1"), consA("MSETNX", "a", "1", "b"), consA("MSETNX"), consA("EXISTS", "a"),
		consA("STRLEN", "m1"), consA("STRLEN", "nokey"), consA("SET", "b", "\x00\x01\x02"), consA("STRLEN", "b"),
		consA("SET", "e", ""), consA("STRLEN", "e"), consA("STRLEN"), consA("STRLEN", "a", "b"),
	}},
	{"getrange substr", []consStep{
		consA("SET", "h", "Hello World"),
		consA("GETRANGE", "h", "0", "4"), consA("GETRANGE", "h", "-5", "-1"), consA("GETRANGE", "h", "-1", "-5"),
		consA("GETRANGE", "h", "5", "1"), consA("GETRANGE", "h", "3", "3"), consA("GETRANGE", "h", "0", "-1"),
		consA("GETRANGE", "h", "0", "-100"), consA("GETRANGE", "h", "-100", "-50"), consA("GETRANGE", "h", "-100", "2"),
		consA("GETRANGE", "h", "-100", "100"), consA("GETRANGE", "h", "100", "200"), consA("GETRANGE", "h", "10", "100"),
		consA("GETRANGE", "h", "11", "11"), consA("GETRANGE", "h", "-1", "0"), consA("GETRANGE", "h", "-11", "-11"),
		consA("GETRANGE", "h", "9223372036854775807", "9223372036854775807"), consA("GETRANGE", "h", "-9223372036854775808", "-1"),
		consA("GETRANGE", "h", "0", "9223372036854775807"), consA("GETRANGE", "h", "-9223372036854775808", "9223372036854775807"),
		consA("GETRANGE", "h", "0", "9223372036854775808"), consA("GETRANGE", "h", "x", "1"), consA("GETRANGE", "h", "0", "1.0"),
		consA("GETRANGE", "nokey", "0", "-1"), consA("GETRANGE", "nokey", "5", "1"),
		consA("SET", "e", ""), consA("GETRANGE", "e", "0", "-1"), consA("GETRANGE", "e", "-1", "0"), consA("GETRANGE", "e", "0", "0"),
		consA("SUBSTR", "h", "0", "4"), consA("SUBSTR", "h", "-3", "-1"), consA("SUBSTR", "h", "-1", "-3"), consA("SUBSTR", "h", "0", "-100"),
		consA("SUBSTR", "nokey", "0", "1"), consA("SUBSTR", "h", "a", "b"),
		consA("GETRANGE", "h", "0"), consA("GETRANGE"), consA("GETRANGE", "h", "0", "1", "2"), consA("SUBSTR", "h"),
	}},
	{"set nx xx get", []consStep{
		consA("SET", "k", "v", "NX", "GET"), consA("GET", "k"), consA("SET", "k", "v2", "NX", "GET"), consA("GET", "k"),
		consA("SET", "k", "v3", "XX", "GET"), consA("GET", "k"), consA("SET", "nk", "v", "XX", "GET"), consA("EXISTS", "nk"),
		consA("SET", "k", "v4", "GET"), consA("SET", "nk2", "v", "GET"), consA("GET", "nk2"),
		consA("SET", "k", "v5", "xx"), consA("SET", "k", "v6", "nx"), consA("GET", "k"),
		consA("SET", "k", "v", "NX", "XX"), consA("SET", "k", "v", "XX", "NX", "GET"), consA("SET", "k", "v", "GET", "GET"),
		consA("SET", "k", "v", "GET", "nx", "get"), consA("SET", "k", "v", "BAD"), consA("SET", "k", "v", "NX", "BAD"),
		consA("SET", "k", "v", "KEEPTTL", "GET"), consA("GET", "k"), consA("SET", "k"), consA("SET"),
		consA("SETNX", "k", "x"), consA("SETNX", "k2", "x"), consA("GET", "k2"),
	}},
	{"multi queueing", []consStep{
		consA("EXEC"), consA("DISCARD"), consA("MULTI"), consA("MULTI"), consA("SET", "a", "1"), consA("EXEC"), consA("GET", "a"),
		consA("MULTI"), consA("EXEC"),
		consA("MULTI"), consA("SET", "a", "2"), consA("NOSUCHCMD", "x"), consA("SET", "b", "2"), consA("EXEC"), consA("MGET", "a", "b"),
		consA("MULTI"), consA("SET", "a", "3"), consA("GET"), consA("EXEC"), consA("GET", "a"),
		consA("MULTI"), consA("INCR", "a", "b"), consA("EXEC"), consA("EXEC"),
		consA("MULTI"), consA("SET", "a", "4"), consA("DISCARD"), consA("GET", "a"), consA("DISCARD"), consA("EXEC"),
		consA("MULTI"), consA("WATCH", "a"), consA("SET", "a", "5"), consA("EXEC"), consA("GET", "a"),
		consA("MULTI"), consA("UNWATCH"), consA("EXEC"),
		// runtime errors are per-command replies, the rest applies
		consA("SET", "s", "str"),
		consA("MULTI"), consA("INCR", "c"), consA("INCR", "s"), consA("SET", "k", "v", "BAD"), consA("INCRBYFLOAT", "s", "1"),
		consA("APPEND", "c", "0"), consA("GETRANGE", "c", "0", "x"), consA("GETDEL", "s"), consA("GET", "c"), consA("EXEC"),
		consA("MGET", "c", "s"),
		// every new command queues and runs in a transaction
		consA("MULTI"), consA("SET", "t", "10"), consA("INCRBY", "t", "5"), consA("DECRBY", "t", "2"), consA("DECR", "t"),
		consA("INCRBYFLOAT", "t", "0.5"), consA("APPEND", "t", "x"), consA("STRLEN", "t"), consA("GETRANGE", "t", "0", "1"),
		consA("SUBSTR", "t", "-2", "-1"), consA("SETRANGE", "t", "0", "99"), consA("GETSET", "t", "1"), consA("MSETNX", "t", "2", "u", "3"),
		consA("MSETNX", "u", "3", "w", "4"), consA("GETDEL", "t"), consA("EXISTS", "t", "u", "w"), consA("EXEC"),
		// arity of the transaction commands
		consA("MULTI", "x"), consA("EXEC", "x"), consA("DISCARD", "x"), consA("WATCH"), consA("UNWATCH", "x"),
		consA("MULTI"), consA("EXEC", "x"), consA("GET", "a"), consA("EXEC"),
	}},
	{"watch", []consStep{
		consA("SET", "w", "1"), consA("WATCH", "w"), consB("SET", "w", "2"), consA("MULTI"), consA("GET", "w"), consA("EXEC"),
		// the reply is null once: the watch is gone after EXEC
		consA("MULTI"), consA("GET", "w"), consA("EXEC"),
		consA("WATCH", "w"), consB("SET", "w", "2"), consA("MULTI"), consA("EXEC"), // same value: still a write
		consA("WATCH", "w"), consA("SET", "w", "own"), consA("MULTI"), consA("GET", "w"), consA("EXEC"), // own write too
		consA("WATCH", "w"), consA("MULTI"), consA("SET", "w", "in tx"), consA("EXEC"), consA("GET", "w"),
		consA("WATCH", "w"), consA("UNWATCH"), consB("SET", "w", "3"), consA("MULTI"), consA("GET", "w"), consA("EXEC"),
		consA("WATCH", "w"), consB("GET", "w"), consB("STRLEN", "w"), consA("MULTI"), consA("GET", "w"), consA("EXEC"), // reads do not abort
		consA("WATCH", "w"), consA("MULTI"), consA("DISCARD"), consB("SET", "w", "4"), consA("MULTI"), consA("GET", "w"), consA("EXEC"),
		consA("WATCH", "w"), consA("EXEC"), consB("SET", "w", "5"), consA("MULTI"), consA("GET", "w"), consA("EXEC"), // a failed EXEC keeps the watch
		consA("WATCH", "w", "w2"), consA("WATCH", "w3"), consB("SET", "w3", "x"), consA("MULTI"), consA("EXEC"),
		// a missing key: created aborts, deleting what is not there does not
		consA("WATCH", "nokey"), consB("DEL", "nokey"), consB("GETDEL", "nokey"), consA("MULTI"), consA("PING"), consA("EXEC"),
		consA("WATCH", "nokey"), consB("SET", "nokey", "1"), consA("MULTI"), consA("PING"), consA("EXEC"),
		consA("WATCH", "nokey"), consB("DEL", "nokey"), consA("MULTI"), consA("PING"), consA("EXEC"),
		// conditional writes that do not apply are not writes
		consA("WATCH", "w"), consB("SET", "w", "x", "NX"), consB("SET", "nokey2", "x", "XX"), consB("MSETNX", "w", "y", "z", "1"),
		consA("MULTI"), consA("GET", "w"), consA("EXEC"),
		consA("WATCH", "z"), consB("DEL", "z"), consA("MULTI"), consA("PING"), consA("EXEC"),
		// every read-modify-write command is a write
		consA("WATCH", "w"), consB("APPEND", "w", "a"), consA("MULTI"), consA("EXEC"),
		consA("WATCH", "w"), consB("GETSET", "w", "9"), consA("MULTI"), consA("EXEC"),
		consA("WATCH", "w"), consB("INCR", "w"), consA("MULTI"), consA("EXEC"),
		consA("WATCH", "w"), consB("INCRBYFLOAT", "w", "1.5"), consA("MULTI"), consA("EXEC"),
		consA("WATCH", "w"), consB("SETRANGE", "w", "0", "7"), consA("MULTI"), consA("EXEC"),
		consA("WATCH", "w"), consB("SETRANGE", "w", "0", ""), consA("MULTI"), consA("EXEC"), // writes nothing
		consA("WATCH", "w"), consB("APPEND", "w", ""), consA("MULTI"), consA("EXEC"),
		consA("WATCH", "w"), consB("INCRBY", "w", "0"), consA("MULTI"), consA("EXEC"),
		consA("WATCH", "w"), consB("SET", "w", "x"), consB("INCRBYFLOAT", "w", "1"), consA("MULTI"), consA("EXEC"), // fails
		consA("WATCH", "w"), consB("INCR", "w"), consA("MULTI"), consA("GET", "w"), consA("EXEC"), // fails: not a write
		consA("WATCH", "w"), consB("MSETNX", "w9", "1", "w", "x"), consA("MULTI"), consA("EXEC"), // fails
		consA("WATCH", "w"), consB("MSETNX", "w8", "1", "w7", "x"), consA("MULTI"), consA("EXEC"),
		consA("WATCH", "w"), consB("GETDEL", "w"), consA("MULTI"), consA("EXEC"),
		consA("WATCH", "w"), consB("INCRBY", "w", "3"), consB("DECR", "w"), consA("MULTI"), consA("GET", "w"), consA("EXEC"),
		consA("WATCH", "w"), consB("FLUSHDB"), consA("MULTI"), consA("PING"), consA("EXEC"),
		// a transaction of B is a write to A's watched key, and the reverse
		consA("SET", "w", "1"), consA("WATCH", "w"), consB("MULTI"), consB("INCR", "w"), consB("EXEC"),
		consA("MULTI"), consA("INCR", "w"), consA("EXEC"), consA("GET", "w"),
		consB("WATCH", "w"), consA("MULTI"), consA("INCR", "w"), consA("EXEC"), consB("MULTI"), consB("INCR", "w"), consB("EXEC"),
		consB("GET", "w"),
	}},
	// Redis's FLUSHDB touches only the watched keys that existed: a
	// watch on a missing key survives it.
	{"watch missing key flushdb", []consStep{
		consA("SET", "other", "1"), consA("WATCH", "nokey"), consB("FLUSHDB"), consA("MULTI"), consA("PING"), consA("EXEC"),
		consA("WATCH", "nokey"), consB("FLUSHDB"), consA("MULTI"), consA("PING"), consA("EXEC"), // empty database
		consA("SET", "w", "1"), consA("WATCH", "nokey", "w"), consB("FLUSHDB"), consA("MULTI"), consA("PING"), consA("EXEC"),
	}},
	// Redis parses INCRBYFLOAT's increment and the stored value with
	// strtold, which accepts hexadecimal floats.
	{"incrbyfloat hex", []consStep{
		consA("SET", "f", "1.5"), consA("INCRBYFLOAT", "f", "0x10"), consA("SET", "g", "0x10"), consA("INCRBYFLOAT", "g", "1"),
		consA("INCRBYFLOAT", "h", "0x1p-2"),
	}},
	{"watch other database", []consStep{
		// WATCH in database 11, then SELECT 10 / MULTI / EXEC
		consA("SELECT", "11"), consA("SET", "wk", "1"), consA("WATCH", "wk"), consA("SELECT", "10"),
		consA("MULTI"), consA("SET", "x", "1"), consA("EXEC"),
		consA("SELECT", "11"), consA("WATCH", "wk"), consA("SELECT", "10"),
		consB("SELECT", "11"), consB("SET", "wk", "2"), consB("SELECT", "10"),
		consA("MULTI"), consA("SET", "x", "2"), consA("EXEC"), consA("GET", "x"),
		// the same key name in another database is another key
		consA("SELECT", "11"), consA("WATCH", "wk"), consA("SELECT", "10"), consB("SET", "wk", "in 10"),
		consA("MULTI"), consA("INCR", "x"), consA("EXEC"),
		// watches in two databases
		consA("WATCH", "a"), consA("SELECT", "11"), consA("WATCH", "b"), consA("SELECT", "12"),
		consB("SELECT", "11"), consB("SET", "b", "1"), consB("SELECT", "10"),
		consA("MULTI"), consA("PING"), consA("EXEC"),
		consA("SELECT", "10"), consA("WATCH", "a"), consA("SELECT", "11"), consA("WATCH", "b"), consA("SELECT", "12"),
		consB("SET", "a", "1"),
		consA("MULTI"), consA("PING"), consA("EXEC"),
		consA("SELECT", "10"), consA("WATCH", "a"), consA("SELECT", "11"), consA("WATCH", "b"), consA("SELECT", "12"),
		consB("SELECT", "12"), consB("SET", "a", "1"), consB("SET", "b", "1"),
		consA("MULTI"), consA("PING"), consA("EXEC"),
		// FLUSHDB of another database does not touch the watch
		consA("SELECT", "11"), consA("WATCH", "wk"), consA("SELECT", "10"), consB("SELECT", "12"), consB("FLUSHDB"),
		consA("MULTI"), consA("PING"), consA("EXEC"),
	}},
	// SELECT inside MULTI is refused (a documented difference, see
	// redis-compat.md and TestConsTransactionErrors), so no script has it.
}

// consDiffRun runs one script on mutexredis (mine) and redis-server
// (theirs) and reports every step whose raw replies differ.
func consDiffRun(t *testing.T, mineAddr, theirsAddr string, sc consScript) {
	t.Helper()
	open := func(addr string) [2]*rconn {
		ctl := dialRaw(t, addr)
		for db := 10; db <= 14; db++ {
			ctl.do("SELECT", strconv.Itoa(db))
			if r := ctl.do("FLUSHDB"); r != "+OK" {
				t.Fatalf("FLUSHDB on %s: %s", addr, r)
			}
		}
		ctl.nc.Close()
		var cs [2]*rconn
		for i := range cs {
			cs[i] = dialRaw(t, addr)
			if r := cs[i].do("SELECT", "10"); r != "+OK" {
				t.Fatalf("SELECT 10 on %s: %s", addr, r)
			}
		}
		return cs
	}
	mine, theirs := open(mineAddr), open(theirsAddr)
	for i, st := range sc.steps {
		mine[st.conn].send(st.args...)
		got, err := mine[st.conn].readErr()
		if err != nil {
			t.Fatalf("step %d %q on connection %c: mutexredis: %v", i, st.args, 'A'+st.conn, err)
		}
		want := theirs[st.conn].do(st.args...)
		if got != want {
			t.Errorf("step %d %q on connection %c:\n mutexredis: %s\n redis:      %s", i, st.args, 'A'+st.conn, got, want)
		}
	}
}

// TestConsDifferentialWithRedis runs the scripts, then the pipelines, on
// mutexredis and on a real redis-server 7.0 and requires identical raw
// replies. Everything runs in sequence: the scripts share Redis's
// databases 10–14.
func TestConsDifferentialWithRedis(t *testing.T) {
	t.Parallel()
	raddr := realRedis(t)
	s := startServer(t)
	for _, sc := range consDiffScripts {
		t.Run(sc.name, func(t *testing.T) { consDiffRun(t, s.Addr, raddr, sc) })
	}
	t.Run("pipelines", func(t *testing.T) {
		run := func(addr string, cmds [][]string) []string {
			c := dialRaw(t, addr)
			for _, db := range []string{"11", "10"} {
				c.do("SELECT", db)
				c.do("FLUSHDB")
			}
			var buf []byte
			for _, cmd := range cmds {
				buf = encodeCommand(buf, cmd...)
			}
			if _, err := c.nc.Write(buf); err != nil {
				t.Fatal(err)
			}
			out := make([]string, len(cmds))
			for i := range cmds {
				out[i] = c.read()
			}
			c.nc.Close()
			return out
		}
		for i, cmds := range consDiffPipelines {
			mine, theirs := run(s.Addr, cmds), run(raddr, cmds)
			if !slices.Equal(mine, theirs) {
				t.Errorf("pipeline %d %q:\n mutexredis: %q\n redis:      %q", i, cmds, mine, theirs)
			}
		}
	})
}

// consDiffPipelines are sent each in one write (one pipeline) on a fresh
// connection in database 10, and all replies read after: per-connection
// order must hold across queued writes, reads, WATCH and transactions.
var consDiffPipelines = [][][]string{
	{{"SET", "k", "1"}, {"WATCH", "k"}, {"MULTI"}, {"GET", "k"}, {"EXEC"}},
	{{"WATCH", "k"}, {"SET", "k", "2"}, {"MULTI"}, {"GET", "k"}, {"EXEC"}, {"GET", "k"}},
	{{"SET", "k", "1"}, {"WATCH", "k"}, {"INCR", "k"}, {"UNWATCH"}, {"MULTI"}, {"INCR", "k"}, {"EXEC"}},
	{{"WATCH", "k"}, {"MULTI"}, {"SET", "k", "3"}, {"INCR", "k"}, {"APPEND", "k", "x"}, {"EXEC"}, {"GET", "k"}},
	{{"WATCH", "k"}, {"SELECT", "11"}, {"SET", "k", "x"}, {"SELECT", "10"}, {"MULTI"}, {"PING"}, {"EXEC"}},
	{{"SELECT", "11"}, {"WATCH", "k"}, {"SET", "k", "y"}, {"SELECT", "10"}, {"MULTI"}, {"PING"}, {"EXEC"}},
	{{"MULTI"}, {"SET", "a", "v"}, {"NOSUCH"}, {"EXEC"}, {"GET", "a"}, {"MULTI"}, {"GETSET", "a", "w"}, {"EXEC"}},
	{{"SET", "c", "5"}, {"GETDEL", "c"}, {"GETDEL", "c"}, {"INCR", "c"}, {"GETSET", "c", "x"}, {"APPEND", "c", "y"}, {"GETRANGE", "c", "0", "-1"}, {"STRLEN", "c"}},
	{{"SET", "d", "v1"}, {"SET", "d", "v2", "NX", "GET"}, {"SET", "d", "v3", "XX", "GET"}, {"MSETNX", "d", "x", "e", "y"}, {"MSETNX", "e", "y", "f", "z"}, {"MGET", "d", "e", "f"}},
}

// TestConsSetrangeHugeOffset: offsets near the int64 limit. Redis 7.0
// (checked with redis-server) answers the size error, or for an empty
// value the current length, and keeps serving.
func TestConsSetrangeHugeOffset(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := dialRaw(t, s.Addr)
	const tooBig = "-ERR string exceeds maximum allowed size (proto-max-bulk-len)"
	expect(t, c,
		[2]any{q("SET", "h", "abc"), "+OK"},
		[2]any{q("SETRANGE", "h", "9223372036854775807", "x"), tooBig},
		[2]any{q("SETRANGE", "h", "9223372036854775806", "xy"), tooBig},
		[2]any{q("SETRANGE", "nk", "9223372036854775807", "x"), tooBig},
		[2]any{q("SETRANGE", "nk", "9223372036854775000", "xyz"), tooBig},
		[2]any{q("GET", "h"), `"abc"`},
		[2]any{q("EXISTS", "nk"), ":0"},
	)
	// The server must still be alive (and the harness checks for a panic).
	if err := pingOnce(s.Addr); err != nil {
		t.Fatalf("mutexredis no longer answers after SETRANGE with a huge offset: %v", err)
	}
	// An empty value writes nothing: Redis answers the length before it
	// checks the size.
	expect(t, c,
		[2]any{q("SETRANGE", "h", "9223372036854775807", ""), ":3"},
		[2]any{q("SETRANGE", "nk", "9223372036854775807", ""), ":0"},
	)
}
