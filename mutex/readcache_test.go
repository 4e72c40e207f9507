package mutex

import (
	"context"
	"fmt"
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

// TestReadCacheFillAfterWrite checks the fill protocol: a record read from
// Pebble before a write to its shard committed is not cached, since it may
// be the value the write replaced.
func TestReadCacheFillAfterWrite(t *testing.T) {
	c := newReadCache(1 << 20)
	key := []byte{tagData, 1, '0', 'k'}
	_, epoch, ok := c.get(key)
	if ok {
		t.Fatal("an empty cache hit")
	}
	c.written(key, []byte("new"), false) // commits while the old value is being read
	c.fill(key, []byte("old"), epoch)
	if rec, _, ok := c.get(key); ok {
		t.Fatalf("a fill that raced a write was cached: %q", rec)
	}
	_, epoch, _ = c.get(key)
	c.fill(key, []byte("new"), epoch)
	if rec, _, ok := c.get(key); !ok || string(rec) != "new" {
		t.Fatalf("a fill with no write since was not cached: %q %v", rec, ok)
	}
}
