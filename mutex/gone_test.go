package mutex

import (
	"context"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// TestGoneRecordKeepsReadsCheap: a key set and deleted over and over (a
// lock, a queue that empties) is found by one step of Pebble's iterator,
// not by stepping over every version of it in the memtable, which is what
// a deletion on top would cost (Get and First take the same path).
func TestGoneRecordKeepsReadsCheap(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "")
	const cycles = 2000
	for range cycles {
		do(t, k, Put(b("lock"), b("me")), Delete(b("lock")))
	}
	key := append(keyspacePrefix(tagData, ""), "lock"...)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: key, UpperBound: append(key, 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if !it.First() {
		t.Fatal("no gone record for the deleted key")
	}
	if m, err := decodeRecord(it.Value()); err != nil || !m.isGone() {
		t.Fatalf("record = %+v, %v; want a gone record", m, err)
	}
	if steps := it.Stats().ForwardStepCount[pebble.InternalIterCall]; steps > 10 {
		t.Fatalf("finding the deleted key took %d internal steps after %d set/del cycles", steps, cycles)
	}
	// Gone is missing for every read.
	ops := do(t, k, Get(b("lock")), ReadOp(func(r *Reader) (any, error) { return r.Exists(b("lock")) }),
		ReadOp(func(r *Reader) (any, error) { return r.Count() }),
		ReadOp(func(r *Reader) (any, error) { return r.TypeOf(b("lock")) }))
	if ops[0].Result != nil || ops[1].Result != false || ops[2].Result != int64(0) || ops[3].Result != TypeNone {
		t.Fatalf("reads of a gone key: %v %v %v %v", ops[0].Result, ops[1].Result, ops[2].Result, ops[3].Result)
	}
	if c := k.KeyCount(); c.Keys != 0 || c.Expires != 0 || !c.Exact {
		t.Fatalf("KeyCount = %+v", c)
	}
}

// TestGoneRecordReclaimed: the expirer deletes a gone record for real once
// it has been gone for GoneLife, and leaves a key written again alone.
func TestGoneRecordReclaimed(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true, GoneLife: 50 * time.Millisecond})
	k := keyspace(t, s, "")
	seq := k.LastBatch()
	do(t, k, Put(b("a"), b("1")), Put(b("b"), b("1")), Delete(b("a")), Delete(b("b")), Put(b("b"), b("2")))
	if k.LastBatch() != seq+1 {
		t.Fatalf("batches = %d, want 1", k.LastBatch()-seq)
	}
	stored := func(key string) (Meta, bool) {
		raw, closer, err := s.db.Get(append(keyspacePrefix(tagData, ""), key...))
		if err == pebble.ErrNotFound {
			return Meta{}, false
		}
		if err != nil {
			t.Fatal(err)
		}
		defer closer.Close()
		m, err := decodeRecord(raw)
		if err != nil {
			t.Fatal(err)
		}
		return m, true
	}
	if m, ok := stored("a"); !ok || !m.isGone() {
		t.Fatalf("a after DEL: %+v %v, want a gone record", m, ok)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, ok := stored("a"); !ok {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the gone record of a was never deleted")
		case <-time.After(10 * time.Millisecond):
			s.expireSoon()
		}
	}
	if m, ok := stored("b"); !ok || m.Type != TypeString || string(m.Value) != "2" {
		t.Fatalf("b = %+v %v, want the string 2", m, ok)
	}
	if k.LastBatch() != seq+1 {
		t.Fatalf("reclaiming took a batch number: %d", k.LastBatch()-seq)
	}
	if s.ExpiredKeys() != 0 {
		t.Fatalf("expired_keys = %d: a gone record is not an expiry", s.ExpiredKeys())
	}
}
