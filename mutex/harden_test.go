package mutex

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// TestSubscriptionByteBound: a subscription with a byte bound is dropped
// once the events it has not released would pass it, however few they are,
// and Done gives the room back.
func TestSubscriptionByteBound(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "0")
	big := strings.Repeat("v", 4000)
	sub := k.SubscribeLimits(1000, 10000)
	put(t, k, "a", big) // writes + flushed: about 4 KB
	for range 2 {
		e := recv(t, sub.C, "event")
		sub.Done(&e)
	}
	put(t, k, "b", big) // about 4 KB pending
	put(t, k, "c", big) // about 8 KB pending
	put(t, k, "d", big) // would pass 10 KB: dropped
	n := 0
	for range sub.C {
		n++
	}
	if !errors.Is(sub.Err(), ErrSlowSubscriber) {
		t.Fatalf("Err = %v after %d events, want ErrSlowSubscriber", sub.Err(), n)
	}
	if n < 4 || n >= 6 {
		t.Fatalf("%d events delivered before the drop, want the 4 or 5 that fit 10000 bytes", n)
	}
}

// fillKeys writes n keys with 100-byte values, 50 per batch.
func fillKeys(t *testing.T, k *Keyspace, n int) {
	t.Helper()
	val := bytes.Repeat([]byte("0123456789"), 10)
	var ops []Op
	for i := 0; i < n; i++ {
		ops = append(ops, Put([]byte(fmt.Sprintf("key%08d", i)), val))
		if len(ops) == 50 || i == n-1 {
			do(t, k, ops...)
			ops = ops[:0]
		}
	}
}

// readKeys gets every tenth of n keys, twice, and returns the block cache
// hits and misses they caused.
func readKeys(t *testing.T, s *Store, k *Keyspace, n int) (hits, misses int64) {
	t.Helper()
	before := s.Metrics().BlockCache
	for round := 0; round < 2; round++ {
		for i := 0; i < n; i += 10 {
			if got := get(t, k, fmt.Sprintf("key%08d", i)); len(got) != 100 {
				t.Fatalf("key%08d = %q", i, got)
			}
		}
	}
	after := s.Metrics().BlockCache
	return after.Hits - before.Hits, after.Misses - before.Misses
}

// TestBlockCacheAfterWALReplay (issue 20): after a crash, the reopened
// store replays the WAL, and reads of the recovered keys are served from
// the block cache like any others: Pebble's memtable reservations must not
// leave the cache without room (see blockCacheCapacity).
func TestBlockCacheAfterWALReplay(t *testing.T) {
	const n = 100_000
	fs := vfs.NewCrashableMem()
	s, err := Open("db", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	fillKeys(t, keyspace(t, s, "0"), n)
	crashed := fs.CrashClone(vfs.CrashCloneCfg{}) // exactly what was synced
	closeBounded(t, s)

	s2 := openStore(t, "db", Options{FS: crashed})
	if m := s2.Metrics(); m.Levels[0].TablesFlushed == 0 {
		t.Fatalf("the reopened store flushed nothing: no WAL was replayed, the test tests nothing")
	}
	hits, misses := readKeys(t, s2, keyspace(t, s2, "0"), n)
	t.Logf("after a WAL replay: %d block cache hits, %d misses", hits, misses)
	if hits <= misses {
		t.Fatalf("after a WAL replay: %d block cache hits, %d misses; the recovered tables are not cached", hits, misses)
	}
}

// TestCloseFlushes (issue 20): a clean Close flushes the memtables, so the
// next Open has no WAL to replay, and its reads are cached.
func TestCloseFlushes(t *testing.T) {
	const n = 20_000
	fs := vfs.NewMem()
	s, err := Open("db", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	fillKeys(t, keyspace(t, s, "0"), n)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, "db", Options{FS: fs})
	if m := s2.Metrics(); m.Levels[0].TablesFlushed != 0 {
		t.Fatalf("Open flushed %d tables: Close left a WAL to replay", m.Levels[0].TablesFlushed)
	}
	if hits, misses := readKeys(t, s2, keyspace(t, s2, "0"), n); hits <= misses {
		t.Fatalf("after a clean restart: %d block cache hits, %d misses", hits, misses)
	}
}

// TestBackgroundFatalFailsStore: when Pebble reports a fatal error from a
// background goroutine (here a MANIFEST write failing during a flush), the
// process does not die: the store fails for good, Fatal reports it, writes
// get it, and Close returns it without hanging.
func TestBackgroundFatalFailsStore(t *testing.T) {
	if !isolated(t) {
		return
	}
	var on atomic.Bool
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if on.Load() && strings.Contains(filepath.Base(op.Path), "MANIFEST") && op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			return errorfs.ErrInjected
		}
		return nil
	}))
	s, err := Open(t.TempDir(), Options{FS: fs, MemTableSize: 1 << 20, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	k := keyspace(t, s, "0")
	on.Store(true)
	fatal, _ := s.Fatal()
	val := bytes.Repeat([]byte("v"), 1000)
	go func() {
		// Fill memtables until one is flushed and its MANIFEST edit fails.
		// A write may then stay stuck inside Pebble: that is why the
		// store refuses new work instead of queueing it.
		for i := 0; ; i++ {
			if k.Do(context.Background(), []Op{Put([]byte(fmt.Sprintf("k%d", i)), val)}) != nil {
				return
			}
		}
	}()
	recv(t, fatal, "the store's fatal error")
	_, ferr := s.Fatal()
	if !errors.Is(ferr, ErrFatal) || !strings.Contains(ferr.Error(), "MANIFEST") {
		t.Fatalf("Fatal() = %v, want ErrFatal about the MANIFEST", ferr)
	}
	for _, name := range []string{"0", "other"} {
		if err := doErr(keyspace(t, s, name), Put(b("after"), b("x"))); !errors.Is(err, ErrFatal) {
			t.Fatalf("write in %s after the fatal error: %v, want ErrFatal", name, err)
		}
	}
	if err := s.Close(); !errors.Is(err, ErrFatal) {
		t.Fatalf("Close = %v, want ErrFatal", err)
	}
}

// TestIdleKeyspaceHoldsNoGoroutine: a keyspace runs a goroutine only while
// it has work; used again, it goes on with its batch numbers.
func TestIdleKeyspaceHoldsNoGoroutine(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	base := runtime.NumGoroutine()
	const n = 2000
	for i := 0; i < n; i++ {
		put(t, keyspace(t, s, fmt.Sprintf("tenant-%d", i)), "k", "v")
	}
	waitUntil(t, "idle keyspaces to stop their goroutines", func() bool { return runtime.NumGoroutine() < base+n/10 })
	k := keyspace(t, s, "tenant-7")
	if got := afterWrite(t, k); got != 1 {
		t.Fatalf("AFTERWRITE of an idle keyspace = %d, want 1", got)
	}
	put(t, k, "k", "w")
	if got, last := get(t, k, "k"), k.LastBatch(); got != "w" || last != 2 {
		t.Fatalf("after re-activation: k=%q, batch %d; want w, 2", got, last)
	}
}

// TestIdleKeyspacesAreEvicted: keyspaces idle since the previous sweep
// leave memory; one with a watch or a subscription stays; an evicted one
// used through an old pointer goes on where it was.
func TestIdleKeyspacesAreEvicted(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	first := keyspace(t, s, "tenant-0")
	put(t, first, "k", "v")
	watched := keyspace(t, s, "watched")
	put(t, watched, "k", "v")
	w := watched.Watch(b("k"))
	defer w.Close()
	subscribed := keyspace(t, s, "subscribed")
	sub := subscribed.Subscribe(1 << 20)
	defer sub.Close()
	const n = 10 * minSweep
	for i := 1; i < n; i++ {
		put(t, keyspace(t, s, fmt.Sprintf("tenant-%d", i)), "k", "v")
	}
	resident := 0
	s.Resident(func(*Keyspace) { resident++ })
	if resident > n/2 {
		t.Fatalf("%d of %d idle keyspaces still resident", resident, n)
	}
	// The old pointer forwards to the live instance; numbers go on.
	put(t, first, "k", "w")
	if got, last := get(t, first, "k"), first.LastBatch(); got != "w" || last != 2 {
		t.Fatalf("evicted keyspace used again: k=%q batch %d, want w 2", got, last)
	}
	// The watch still sees writes, through any pointer.
	put(t, keyspace(t, s, "watched"), "k", "x")
	if !w.Changed() {
		t.Fatal("a write to a watched key of a keyspace that was kept resident did not mark the watch")
	}
	put(t, keyspace(t, s, "subscribed"), "k", "x")
	if e := recv(t, sub.C, "the subscribed keyspace's writes event"); e.Kind != EventWrites {
		t.Fatalf("event %v, want writes", e.Kind)
	}
}
