package mutex

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// randomWrite is a random write of every kind the Tx offers, over a few keys
// so that they collide: plain (blind) SETs when blind, SETs that read
// first, deletes, deadlines past and future, collections grown and
// emptied (by PutMeta and by DropEmptied), streams, copies, renames and
// flushes.
func randomWrite(rng *rand.Rand, blind bool) Op {
	key := []byte("k" + strconv.Itoa(rng.IntN(8)))
	other := []byte("k" + strconv.Itoa(rng.IntN(8)))
	deadline := func(tx *Tx) int64 {
		switch rng.IntN(3) {
		case 0:
			return 0
		case 1:
			return tx.Now() - 1 // already past: the next read expires it
		}
		return tx.Now() + int64(rng.IntN(100_000)) + 1000
	}
	n := rng.IntN(13)
	if n == 0 && !blind {
		n = 1
	}
	return WriteOp(func(tx *Tx) (any, error) {
		switch n {
		case 0:
			return nil, tx.SetString(key, []byte("v"), deadline(tx))
		case 1:
			if _, err := tx.Exists(key); err != nil {
				return nil, err
			}
			return nil, tx.SetString(key, []byte("v"), deadline(tx))
		case 2:
			_, err := tx.Delete(key)
			return nil, err
		case 3:
			_, err := tx.SetDeadline(key, deadline(tx))
			return nil, err
		case 4, 5: // add to a set
			m, ok, err := tx.Lookup(key)
			if err != nil {
				return nil, err
			}
			if ok && m.Type != TypeSet {
				if _, err := tx.Delete(key); err != nil {
					return nil, err
				}
				ok = false
			}
			if !ok {
				m = tx.NewCollection(TypeSet)
			}
			sub := []byte{byte(rng.IntN(4))}
			if _, found, err := tx.Elem(key, &m, sub); err != nil || found {
				return nil, err
			}
			if err := tx.SetElem(key, &m, sub, nil); err != nil {
				return nil, err
			}
			m.Count++
			return nil, tx.PutMeta(key, &m)
		case 6, 7: // remove from a set, emptying it through PutMeta or DropEmptied
			m, ok, err := tx.Lookup(key)
			if err != nil || !ok || m.Type != TypeSet {
				return nil, err
			}
			var subs [][]byte
			if err := tx.Elems(key, &m, ElemRange{}, func(sub, _ []byte) bool { subs = append(subs, append([]byte(nil), sub...)); return true }); err != nil {
				return nil, err
			}
			if n == 7 {
				for _, sub := range subs {
					if err := tx.DelElem(key, &m, sub); err != nil {
						return nil, err
					}
				}
				return nil, tx.DropEmptied(key)
			}
			if err := tx.DelElem(key, &m, subs[0]); err != nil {
				return nil, err
			}
			m.Count--
			return nil, tx.PutMeta(key, &m)
		case 8: // a stream
			if _, err := tx.Delete(key); err != nil {
				return nil, err
			}
			st := tx.CreateStream(key)
			if err := tx.StreamAppend(st, StreamID{Ms: 1}, [][]byte{[]byte("f"), []byte("v")}); err != nil {
				return nil, err
			}
			st.Deadline = deadline(tx)
			return nil, tx.SaveStream(st)
		case 9, 10: // COPY REPLACE, RENAME
			m, ok, err := tx.Lookup(key)
			if err != nil || !ok || string(key) == string(other) {
				return nil, err
			}
			if err := tx.CopyTo(tx, key, other, &m); err != nil {
				return nil, err
			}
			if n == 10 {
				_, err = tx.Delete(key)
			}
			return nil, err
		case 11: // a read in the write phase: may expire the key
			_, err := tx.Exists(key)
			return nil, err
		default:
			if rng.IntN(4) == 0 {
				return nil, tx.Clear()
			}
			return nil, nil
		}
	})
}

// checkCounts compares k's counts with a count by scan, in a read phase
// (no batch of k commits meanwhile): equal when the counts say they are
// exact, else an upper bound by at most the blind SETs. It returns the
// counts.
func checkCounts(t *testing.T, k *Keyspace, when string) keyCounts {
	t.Helper()
	var kept, scanned keyCounts
	do(t, k, ReadOp(func(r *Reader) (any, error) {
		r.stateCountsMu.Lock()
		kept = *r.stateCounts
		r.stateCountsMu.Unlock()
		var err error
		scanned, _, err = countRecords(r.r, r.prefix, r.end, 0)
		return nil, err
	}))
	if kept.exact() {
		if kept != scanned {
			t.Fatalf("%s: kept counts %+v, by scan %+v", when, kept, scanned)
		}
		return kept
	}
	if kept.keys < scanned.keys || kept.keys > scanned.keys+kept.blind ||
		kept.expires < scanned.expires || kept.expires > scanned.expires+kept.blind {
		t.Fatalf("%s: kept counts %+v are no upper bound of the counts by scan %+v", when, kept, scanned)
	}
	return kept
}

// TestCountsFollowWrites: after every batch of random writes of every
// kind, expiries (by reads and by the expirer) included, the counts kept
// by the write phases match a count by scan: exactly while no plain SET
// ran, as an upper bound otherwise; DBSIZE makes them exact again. The
// counts survive a crash (only what was synced) exactly.
func TestCountsFollowWrites(t *testing.T) {
	for _, blind := range []bool{false, true} {
		t.Run(fmt.Sprintf("blind=%v", blind), func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			s, err := Open("db", Options{FS: fs, GoneLife: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, uint64(len(t.Name()))))
			names := []string{"0", "tenant"}
			for i := range 400 {
				k := keyspace(t, s, names[rng.IntN(len(names))])
				ops := make([]Op, 1+rng.IntN(4))
				for j := range ops {
					ops[j] = randomWrite(rng, blind)
				}
				do(t, k, ops...)
				c := checkCounts(t, k, fmt.Sprintf("batch %d", i))
				if !blind && !c.exact() {
					t.Fatalf("batch %d: counts %+v inexact without a plain SET", i, c)
				}
				if i%50 == 49 {
					ops := do(t, k, ReadOp(func(r *Reader) (any, error) { return r.Count() }))
					if c := checkCounts(t, k, "after DBSIZE"); !c.exact() {
						t.Fatalf("after DBSIZE: counts %+v inexact (DBSIZE said %v)", c, ops[0].Result)
					}
				}
			}
			// The expirer deletes every key past its deadline.
			deadline := time.Now().Add(waitTimeout)
			for _, name := range names {
				k := keyspace(t, s, name)
				for {
					var due int64
					do(t, k, ReadOp(func(r *Reader) (any, error) {
						c, live, err := countRecords(r.r, r.prefix, r.end, r.now)
						due = c.keys - live
						return nil, err
					}))
					if due == 0 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("keyspace %q: %d keys past their deadline were not expired", name, due)
					}
					s.expireSoon()
					time.Sleep(5 * time.Millisecond)
				}
				checkCounts(t, k, "after the expirer")
			}
			// A crash keeps what was synced, the counts with it.
			crashed := fs.CrashClone(vfs.CrashCloneCfg{})
			closeBounded(t, s)
			s2 := openStore(t, "db", Options{FS: crashed})
			for _, name := range names {
				c := checkCounts(t, keyspace(t, s2, name), "after a crash")
				if !blind && !c.exact() {
					t.Fatalf("after a crash: counts %+v inexact", c)
				}
			}
		})
	}
}

// TestCountsUpgrade: a format-3 directory (batch numbers without counts)
// opens with its counts computed once, exactly, and is marked format 4.
func TestCountsUpgrade(t *testing.T) {
	s, dir := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "a")
	now := time.Now().UnixMilli()
	do(t, k, WriteOp(func(tx *Tx) (any, error) {
		for i := range 10 {
			if err := tx.SetString([]byte{byte(i)}, []byte("v"), int64(i%2)*(now+int64(i)*1000)); err != nil {
				return nil, err
			}
		}
		_, err := tx.Delete([]byte{3})
		return nil, err
	}))
	do(t, keyspace(t, s, "b"), Put([]byte("x"), []byte("1")))
	closeBounded(t, s)

	// Make it format 3: batch number records of 8 bytes.
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if err := db.Set(keyspacePrefix(tagSeq, name), encodeSeq(1), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Set(formatKey, []byte("3"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openStore(t, dir, Options{NoSync: true})
	want := map[string]KeyCount{
		"a": {Keys: 9, Expires: 4, MeanDeadline: float64(now) + (1000+5000+7000+9000)/4.0, Exact: true},
		"b": {Keys: 1, Exact: true},
	}
	for name, w := range want {
		k := keyspace(t, s2, name)
		if got := k.KeyCount(); got != w {
			t.Errorf("keyspace %q after the upgrade: %+v, want %+v", name, got, w)
		}
		if k.LastBatch() != 1 {
			t.Errorf("keyspace %q: batch %d, want 1", name, k.LastBatch())
		}
		checkCounts(t, k, "after the upgrade")
	}
	v, closer, err := s2.db.Get(formatKey)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	if string(v) != formatVersionText {
		t.Fatalf("format %q after the upgrade, want %q", v, formatVersionText)
	}
}
