package mutex

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// makeHash writes a hash of n fields at key, as a write op.
func makeHash(t *testing.T, k *Keyspace, key string, n int) {
	t.Helper()
	do(t, k, WriteOp(func(tx *Tx) (any, error) {
		m := tx.NewCollection(TypeHash)
		for i := range n {
			if err := tx.SetElem(b(key), &m, []byte{byte('a' + i)}, b("v")); err != nil {
				return nil, err
			}
			m.Count++
		}
		return nil, tx.PutMeta(b(key), &m)
	}))
}

// countElems counts every element key in the store.
func countElems(t *testing.T, s *Store) int {
	t.Helper()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{tagElem}, UpperBound: []byte{tagElem + 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		n++
	}
	return n
}

func TestCollectionRecordAndElements(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "0")
	makeHash(t, k, "h", 3)
	ops := []Op{ReadOp(func(r *Reader) (any, error) {
		m, ok, err := r.Lookup(b("h"))
		if !ok || err != nil || m.Type != TypeHash || m.Count != 3 {
			t.Errorf("Lookup(h) = %+v %v %v", m, ok, err)
		}
		var subs []string
		err = r.Elems(b("h"), &m, ElemRange{}, func(sub, _ []byte) bool { subs = append(subs, string(sub)); return true })
		return subs, err
	}), Get(b("h"))}
	if err := k.Do(context.Background(), ops); err != nil || ops[0].Err != nil {
		t.Fatal(err, ops[0].Err)
	}
	if got := ops[0].Result.([]string); len(got) != 3 || got[0] != "a" || got[2] != "c" {
		t.Fatalf("elements %v", got)
	}
	if ops[1].Err != ErrWrongType {
		t.Fatalf("Get of a hash: %v, want ErrWrongType", ops[1].Err)
	}
	// DEL drops the elements with the record, in the write phase.
	do(t, k, Delete(b("h")))
	if n := countElems(t, s); n != 0 {
		t.Fatalf("%d elements left after DEL", n)
	}
}

// A blind SET over a hash orphans its elements; the sweeper reclaims them
// and leaves live collections alone.
func TestSweeperReclaimsOrphans(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "0")
	makeHash(t, k, "h", 5)
	makeHash(t, k, "keep", 2)
	do(t, k, Put(b("h"), b("now a string")))
	if n := countElems(t, s); n != 7 {
		t.Fatalf("%d elements before the sweep, want 7", n)
	}
	n, err := s.sweepOrphans()
	if err != nil || n != 1 {
		t.Fatalf("sweepOrphans() = %d, %v; want 1 orphan group", n, err)
	}
	if n := countElems(t, s); n != 2 {
		t.Fatalf("%d elements after the sweep, want the 2 of the live hash", n)
	}
	if got := get(t, k, "h"); got != "now a string" {
		t.Fatalf("h = %q", got)
	}
}

// A key past its deadline is missing for every read, and the expirer
// deletes it with an "expired" write that takes a batch number.
func TestDeadlineAndExpirer(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "0")
	sub := k.Subscribe(64)
	defer sub.Close()
	past := time.Now().Add(-time.Second).UnixMilli()
	do(t, k, WriteOp(func(tx *Tx) (any, error) { return nil, tx.SetString(b("old"), b("v"), past) }),
		WriteOp(func(tx *Tx) (any, error) {
			return nil, tx.SetString(b("new"), b("v"), time.Now().Add(time.Hour).UnixMilli())
		}))
	if got := get(t, k, "old"); got != "<nil>" {
		t.Fatalf("expired key read as %q", got)
	}
	deadline := time.Now().Add(waitTimeout)
	for s.ExpiredKeys() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the expirer did not delete the expired key")
		}
		time.Sleep(5 * time.Millisecond)
	}
	sawExpired := false
	for !sawExpired {
		select {
		case e := <-sub.C:
			for _, a := range e.Ops {
				sawExpired = sawExpired || (e.Kind == EventWrites && a.Op == "expired" && string(a.Key) == "old")
			}
		case <-time.After(waitTimeout):
			t.Fatal("no writes event with the expiry")
		}
	}
	if got := get(t, k, "new"); got != "v" {
		t.Fatalf("live key = %q", got)
	}
}

// A directory written in format 1 (strings only, 3-byte headers) opens and
// reads as it was.
func TestUpgradeFromFormat1(t *testing.T) {
	dir := t.TempDir()
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := append(keyspacePrefix(tagData, "0"), "k"...)
	for _, kv := range [][2][]byte{{formatKey, b("1")}, {rec, append([]byte{1, 0, 0}, "old value"...)}} {
		if err := db.Set(kv[0], kv[1], pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s := openStore(t, dir, Options{})
	k := keyspace(t, s, "0")
	if got := get(t, k, "k"); got != "old value" {
		t.Fatalf("format-1 string read as %q", got)
	}
	v, closer, err := s.db.Get(formatKey)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	if string(v) != strconv.Itoa(formatVersion) {
		t.Fatalf("format after upgrade = %q, want %d", v, formatVersion)
	}
	ops := []Op{ReadOp(func(r *Reader) (any, error) { return r.TypeOf(b("k")) })}
	if err := k.Do(context.Background(), ops); err != nil || ops[0].Result != TypeString {
		t.Fatalf("TypeOf = %v %v", ops[0].Result, err)
	}
}
