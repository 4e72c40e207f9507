package mutex

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
)

// TestReadCacheCoherent checks that reads answered from the read cache are
// never stale: while a writer overwrites and deletes keys (and another
// keyspace's writes move the cache shards' epochs), every read sees the
// last batch committed before it or a later one. The value written in
// round r is r, so a read's value names the write it saw; a read must
// never see a write older than the last one acknowledged before the read
// was queued, nor an older one than the reader saw before.
func TestReadCacheCoherent(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{NoSync: true})
	k, _ := s.Keyspace("0")
	other, _ := s.Keyspace("other")
	const keys, rounds, readers = 16, 400, 4
	ctx := context.Background()
	var acked [keys]struct {
		sync.Mutex
		round   int   // the last write acknowledged (0: none)
		deletes []int // rounds that delete the key, recorded before they are queued
	}
	key := func(i int) []byte { return []byte("k" + strconv.Itoa(i)) }
	var wg sync.WaitGroup
	errs := make(chan error, readers+2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for r := 1; r <= rounds; r++ {
			i := r % keys
			op := Put(key(i), []byte(strconv.Itoa(r)))
			if r%7 == 0 {
				op = Delete(key(i))
				acked[i].Lock()
				acked[i].deletes = append(acked[i].deletes, r)
				acked[i].Unlock()
			}
			if err := k.Do(ctx, []Op{op}); err != nil {
				errs <- err
				return
			}
			acked[i].Lock()
			acked[i].round = r
			acked[i].Unlock()
		}
	}()
	go func() {
		defer wg.Done()
		for r := 0; r < rounds; r++ {
			if err := other.Do(ctx, []Op{Put(key(r%keys), []byte("x"))}); err != nil {
				errs <- err
				return
			}
		}
	}()
	for g := 0; g < readers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen := map[int]int{} // the newest write this reader saw, by key
			for n := 0; n < rounds*3; n++ {
				i := (n*7 + g) % keys
				acked[i].Lock()
				floor := max(acked[i].round, seen[i])
				acked[i].Unlock()
				ops := []Op{Get(key(i))}
				if err := k.Do(ctx, ops); err != nil {
					errs <- err
					return
				}
				b, found := ops[0].Result.([]byte)
				if found {
					got, _ := strconv.Atoi(string(b))
					if got < floor {
						errs <- fmt.Errorf("reader %d: key %d read round %d's value, after round %d", g, i, got, floor)
						return
					}
					seen[i] = got
					continue
				}
				// Absent: no write was acknowledged yet, or the read saw a
				// delete at or after floor (queued before the read returned).
				acked[i].Lock()
				ok := floor == 0 || slices.ContainsFunc(acked[i].deletes, func(d int) bool { return d >= floor })
				acked[i].Unlock()
				if !ok {
					errs <- fmt.Errorf("reader %d: key %d absent, but round %d wrote it and no delete followed", g, i, floor)
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
	// Once the writers are done, every key reads its last write.
	for i := 0; i < keys; i++ {
		ops := []Op{Get(key(i))}
		if err := k.Do(ctx, ops); err != nil {
			t.Fatal(err)
		}
		r := acked[i].round
		b, ok := ops[0].Result.([]byte)
		if deleted := r%7 == 0; deleted == ok || (ok && string(b) != strconv.Itoa(r)) {
			t.Errorf("key %d: read %q (found %v), last write round %d", i, b, ok, r)
		}
	}
	if st := s.ReadCacheStats(); st.Hits == 0 {
		t.Errorf("the reads never hit the cache (%+v): the test did not test it", st)
	}
}

// TestReadCacheFollowsEveryWrite checks the writes that are not plain SETs:
// a key read as absent and then written, a FLUSHDB's range deletion, and a
// value replaced while cached.
func TestReadCacheFollowsEveryWrite(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{NoSync: true})
	k, _ := s.Keyspace("0")
	get := func(key string) (string, bool) {
		t.Helper()
		ops := []Op{Get([]byte(key))}
		if err := k.Do(context.Background(), ops); err != nil {
			t.Fatal(err)
		}
		if ops[0].Err != nil {
			t.Fatal(ops[0].Err)
		}
		b, ok := ops[0].Result.([]byte)
		return string(b), ok
	}
	do := func(op Op) {
		t.Helper()
		if err := k.Do(context.Background(), []Op{op}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := get("a"); ok { // cached as absent
		t.Fatal("a exists before it is written")
	}
	do(Put([]byte("a"), []byte("1")))
	if v, ok := get("a"); !ok || v != "1" {
		t.Fatalf("after SET a 1: %q %v", v, ok)
	}
	do(Put([]byte("a"), []byte("2"))) // replaces the cached copy
	if v, _ := get("a"); v != "2" {
		t.Fatalf("after SET a 2: %q", v)
	}
	do(WriteOp(func(tx *Tx) (any, error) { return nil, tx.Clear() }))
	if v, ok := get("a"); ok {
		t.Fatalf("after FLUSHDB: a = %q", v)
	}
	if st := s.ReadCacheStats(); st.Hits < 2 {
		t.Errorf("expected cache hits, got %+v", st)
	}
}

// TestReadCacheBounded checks the cache's bound in bytes and that resizing
// evicts at once.
func TestReadCacheBounded(t *testing.T) {
	const limit = 256 << 10
	s := openStore(t, t.TempDir(), Options{NoSync: true, ReadCacheSize: limit})
	k, _ := s.Keyspace("0")
	value := make([]byte, 200)
	var ops []Op
	for i := 0; i < 5000; i++ { // ~1.5 MB of entries
		ops = append(ops, Put([]byte(fmt.Sprint("key", i)), value))
	}
	if err := k.Do(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
	for i := range ops {
		ops[i] = Get([]byte(fmt.Sprint("key", i)))
	}
	if err := k.Do(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
	st := s.ReadCacheStats()
	if st.Bytes > limit || st.Entries == 0 || st.Bytes < limit/2 {
		t.Errorf("cache holds %d bytes in %d entries, want at most %d and most of it used", st.Bytes, st.Entries, limit)
	}
	s.SetReadCacheSize(limit / 4)
	if st := s.ReadCacheStats(); st.Bytes > limit/4 {
		t.Errorf("after resizing to %d: %d bytes", limit/4, st.Bytes)
	}
	s.SetReadCacheSize(0)
	if err := k.Do(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
	if st := s.ReadCacheStats(); st.Entries != 0 {
		t.Errorf("a cache of size 0 holds %d entries", st.Entries)
	}
}

// TestReadCacheFillAfterWrite checks the fill protocol: a value read from
// Pebble before a write to its shard committed, or (for an element) before
// a range deletion of elements, is not cached, since it may be what the
// write replaced.
func TestReadCacheFillAfterWrite(t *testing.T) {
	c := newReadCache(1 << 20)
	for _, key := range [][]byte{{tagData, 1, '0', 'k'}, {tagElem, 1, '0', 1, 'k', 0, 0, 0, 0, 0, 0, 0, 1, 'f'}} {
		_, _, hit, ticket := c.get(key)
		if hit {
			t.Fatal("an empty cache hit")
		}
		c.written(key, []byte("new"), false) // commits while the old value is being read
		c.fill(key, []byte("old"), true, ticket)
		if v, _, hit, _ := c.get(key); hit {
			t.Fatalf("%q: a fill that raced a write was cached: %q", key, v)
		}
		_, _, _, ticket = c.get(key)
		c.fill(key, []byte("new"), true, ticket)
		if v, found, hit, _ := c.get(key); !hit || !found || string(v) != "new" {
			t.Fatalf("%q: a fill with no write since was not cached: %q %v %v", key, v, found, hit)
		}
	}
	elem := []byte{tagElem, 1, '0', 1, 'k', 0, 0, 0, 0, 0, 0, 0, 1, 'g'}
	_, _, _, ticket := c.get(elem)
	c.elemEpoch.Add(1) // a range deletion of elements commits meanwhile
	c.fill(elem, []byte("old"), true, ticket)
	if _, _, hit, _ := c.get(elem); hit {
		t.Fatal("an element read before a range deletion was cached")
	}
	c.elemEpoch.Add(1)
	if _, _, hit, _ := c.get([]byte{tagElem, 1, '0', 1, 'k', 0, 0, 0, 0, 0, 0, 0, 1, 'f'}); hit {
		t.Fatal("an element cached before a range deletion still hits")
	}
}

// TestReadCacheElements checks elements through the cache, in read phases
// and in a batch that reads elements it wrote itself, and that deleting a
// collection makes its cached elements unreachable.
func TestReadCacheElements(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{NoSync: true})
	k, _ := s.Keyspace("0")
	ctx := context.Background()
	set := []byte("s")
	write := func(fn func(tx *Tx) error) {
		t.Helper()
		ops := []Op{WriteOp(func(tx *Tx) (any, error) { return nil, fn(tx) })}
		if err := k.Do(ctx, ops); err != nil || ops[0].Err != nil {
			t.Fatal(err, ops[0].Err)
		}
	}
	// elem reads member of s, in r (a read phase's reader or a Tx).
	elem := func(r *Reader, member string) (string, error) {
		m, ok, err := r.lookup(set)
		if !ok || err != nil {
			return "<no set>", err
		}
		v, found, err := r.Elem(set, &m, []byte(member))
		if !found {
			return "<absent>", err
		}
		return string(v), err
	}
	want := func(r *Reader, member, value string) error {
		got, err := elem(r, member)
		if err == nil && got != value {
			err = fmt.Errorf("%s = %s, want %s", member, got, value)
		}
		return err
	}
	read := func(pairs ...string) {
		t.Helper()
		for round := 0; round < 2; round++ { // the second round from the cache
			ops := []Op{ReadOp(func(r *Reader) (any, error) {
				for i := 0; i < len(pairs); i += 2 {
					if err := want(r, pairs[i], pairs[i+1]); err != nil {
						return nil, err
					}
				}
				return nil, nil
			})}
			if err := k.Do(ctx, ops); err != nil || ops[0].Err != nil {
				t.Fatalf("read round %d: %v %v", round, err, ops[0].Err)
			}
		}
	}
	create := func(tx *Tx, member, value string) error {
		m := tx.NewCollection(TypeSet)
		m.Count = 1
		if err := tx.SetElem(set, &m, []byte(member), []byte(value)); err != nil {
			return err
		}
		return tx.PutMeta(set, &m)
	}
	write(func(tx *Tx) error { return create(tx, "a", "1") })
	read("a", "1", "b", "<absent>")
	write(func(tx *Tx) error { // reads what the batch wrote, not the cache
		m, _, err := tx.lookup(set)
		if err != nil {
			return err
		}
		if err := want(&tx.Reader, "a", "1"); err != nil {
			return err
		}
		if err := tx.SetElem(set, &m, []byte("b"), []byte("2")); err != nil {
			return err
		}
		if err := tx.DelElem(set, &m, []byte("a")); err != nil {
			return err
		}
		if err := errors.Join(want(&tx.Reader, "b", "2"), want(&tx.Reader, "a", "<absent>")); err != nil {
			return err
		}
		return tx.PutMeta(set, &m)
	})
	read("a", "<absent>", "b", "2")
	write(func(tx *Tx) error { // deleted and made again: a new generation
		if _, err := tx.Delete(set); err != nil {
			return err
		}
		return create(tx, "a", "3")
	})
	read("a", "3", "b", "<absent>")
	if st := s.ReadCacheStats(); st.Hits == 0 {
		t.Errorf("no cache hits (%+v): the test did not test the cache", st)
	}
}

// TestReadCacheSameAnswers runs the same random sequences of reads and
// writes (strings, hash fields, deletes, expiry, FLUSHDB, read-modify-
// writes inside batches that read what they wrote) against a store with
// the read cache and one without, and checks that every op answers the
// same: the cache may only make reads cheaper.
func TestReadCacheSameAnswers(t *testing.T) {
	ctx := context.Background()
	with := openStore(t, t.TempDir(), Options{NoSync: true, ReadCacheSize: 256 << 10})
	without := openStore(t, t.TempDir(), Options{NoSync: true, ReadCacheSize: -1})
	kw, _ := with.Keyspace("0")
	ko, _ := without.Keyspace("0")
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 400; round++ {
		var script []func() Op
		for range 1 + rng.IntN(24) {
			script = append(script, randomCacheOp(rng))
		}
		answers := [2][]string{}
		for i, k := range []*Keyspace{kw, ko} {
			ops := make([]Op, len(script))
			for j, mk := range script {
				ops[j] = mk()
			}
			if err := k.Do(ctx, ops); err != nil {
				t.Fatal(err)
			}
			for _, op := range ops {
				answers[i] = append(answers[i], fmt.Sprint(op.Result, op.Err))
			}
		}
		if !slices.Equal(answers[0], answers[1]) {
			t.Fatalf("round %d: with the cache %q, without %q", round, answers[0], answers[1])
		}
	}
	if st := with.ReadCacheStats(); st.Hits == 0 {
		t.Errorf("no cache hits (%+v): the test did not test the cache", st)
	}
}

// randomCacheOp returns a maker of one random op over a few keys and
// fields (an Op runs once: each store gets its own).
func randomCacheOp(rng *rand.Rand) func() Op {
	key := []byte("k" + strconv.Itoa(rng.IntN(6)))
	field := []byte("f" + strconv.Itoa(rng.IntN(4)))
	value := []byte("v" + strconv.Itoa(rng.IntN(100)))
	hget := func(r *Reader) (any, error) {
		m, ok, err := r.lookup(key)
		switch {
		case err != nil || !ok:
			return "nil", err
		case m.Type != TypeHash:
			return "wrongtype", nil
		}
		v, found, err := r.Elem(key, &m, field)
		return fmt.Sprint(string(v), found), err
	}
	switch rng.IntN(11) {
	case 0:
		return func() Op { return Put(key, value) }
	case 1:
		return func() Op { return Delete(key) }
	case 2, 3:
		return func() Op { return Get(key) }
	case 4:
		return func() Op { return ReadOp(hget) }
	case 5:
		return func() Op { return WriteOp(func(tx *Tx) (any, error) { return hget(&tx.Reader) }) } // reads the batch so far
	case 6: // APPEND-like: read and write the record in one op
		return func() Op {
			return WriteOp(func(tx *Tx) (any, error) {
				m, ok, err := tx.lookup(key)
				if err != nil || (ok && m.Type != TypeString) {
					return "wrongtype", err
				}
				return string(m.Value), tx.Set(key, append(m.Value, 'x'))
			})
		}
	case 7, 8: // HSET key field value
		return func() Op {
			return WriteOp(func(tx *Tx) (any, error) {
				m, ok, err := tx.lookup(key)
				switch {
				case err != nil:
					return nil, err
				case !ok:
					m = tx.NewCollection(TypeHash)
				case m.Type != TypeHash:
					return "wrongtype", nil
				}
				_, found, err := tx.Elem(key, &m, field)
				if err != nil {
					return nil, err
				}
				if !found {
					m.Count++
				}
				return found, errors.Join(tx.SetElem(key, &m, field, value), tx.PutMeta(key, &m))
			})
		}
	case 9: // HDEL key field
		return func() Op {
			return WriteOp(func(tx *Tx) (any, error) {
				m, ok, err := tx.lookup(key)
				if err != nil || !ok || m.Type != TypeHash {
					return false, err
				}
				_, found, err := tx.Elem(key, &m, field)
				if err != nil || !found {
					return false, err
				}
				m.Count--
				return true, errors.Join(tx.DelElem(key, &m, field), tx.PutMeta(key, &m))
			})
		}
	default: // expire it now, or once in a while FLUSHDB
		if rng.IntN(4) == 0 {
			return func() Op { return WriteOp(func(tx *Tx) (any, error) { return nil, tx.Clear() }) }
		}
		return func() Op {
			return WriteOp(func(tx *Tx) (any, error) { return tx.SetDeadline(key, tx.Now()-1) })
		}
	}
}
