package mutex

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
)

// logReplicator is an in-memory replicated log for one leader store: each
// batch is appended (its bytes copied, as a real log keeps them) and
// committed locally at its index; followers replay the log.
type logReplicator struct {
	mu      sync.Mutex
	entries []Batch
	refuse  error // when set, Replicate refuses without committing
}

func (r *logReplicator) Replicate(b *Batch, commit func(uint64) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refuse != nil {
		return r.refuse
	}
	e := *b
	e.Repr = bytes.Clone(b.Repr)
	r.entries = append(r.entries, e)
	return commit(uint64(len(r.entries)))
}

func (r *logReplicator) Leader() bool      { return r.refuse == nil }
func (r *logReplicator) VerifyRead() error { return nil }

// follower is a Replicator that never leads.
type follower struct{}

func (follower) Replicate(*Batch, func(uint64) error) error {
	return errors.Join(ErrNotReplicated, errors.New("READONLY"))
}
func (follower) Leader() bool      { return false }
func (follower) VerifyRead() error { return nil }

// TestReplicatedBatchesReproduceTheLeader: a follower store that applies
// the leader's batches in log order holds the same data, batch numbers and
// feed, records the log index, and refuses writes of its own.
func TestReplicatedBatchesReproduceTheLeader(t *testing.T) {
	log := &logReplicator{}
	opts := Options{Replicator: log, FeedRetention: FeedRetention{Batches: 1000}}
	leader, _ := newStore(t, opts)
	lk := keyspace(t, leader, "0")
	do(t, lk, Put(b("a"), b("1")), Put(b("b"), b("2")))
	do(t, lk, Delete(b("a")))
	do(t, lk, WriteOp(func(tx *Tx) (any, error) { return nil, tx.SetString(b("c"), b("3"), 0) }))

	fopts := Options{Replicator: follower{}, FeedRetention: FeedRetention{Batches: 1000}}
	fs, fdir := newStore(t, fopts)
	fk := keyspace(t, fs, "0")
	sub := fk.Subscribe(16)
	for i, e := range log.entries {
		if err := fs.ApplyReplicated(&e, uint64(i+1)); err != nil {
			t.Fatalf("apply entry %d: %v", i+1, err)
		}
	}
	for _, key := range []string{"a", "b", "c"} {
		l, f := do(t, lk, Get(b(key))), do(t, fk, Get(b(key)))
		if str(l[0]) != str(f[0]) {
			t.Errorf("%s: follower %s, leader %s", key, str(f[0]), str(l[0]))
		}
	}
	if l, f := lk.LastBatch(), fk.LastBatch(); l != 3 || f != l {
		t.Errorf("batch numbers: leader %d, follower %d; want 3", l, f)
	}
	if l, f := lk.KeyCount(), fk.KeyCount(); l.Keys != 2 || f != l {
		t.Errorf("key counts: leader %+v, follower %+v; want 2 keys", l, f)
	}
	_, le := feedEntries(t, lk)
	_, fe := feedEntries(t, fk)
	if len(le) != 3 || len(fe) != len(le) || field(fe[2], "ops") != field(le[2], "ops") {
		t.Errorf("feeds differ: leader %d entries, follower %d", len(le), len(fe))
	}
	if n, err := fs.AppliedIndex(); err != nil || n != 3 {
		t.Errorf("follower AppliedIndex = %d, %v; want 3", n, err)
	}
	if n, err := leader.AppliedIndex(); err != nil || n != 3 {
		t.Errorf("leader AppliedIndex = %d, %v; want 3", n, err)
	}
	for want := uint64(1); want <= 3; want++ {
		e := <-sub.C
		if e.Kind != EventFlushed || e.Seq != want {
			t.Errorf("follower event %+v, want flushed batch %d", e, want)
		}
	}

	// Applying an entry again, or one built on another batch number, is
	// refused the same way on every node: nothing changes.
	if err := fs.ApplyReplicated(&log.entries[1], 4); !errors.Is(err, ErrStaleBatch) {
		t.Errorf("a replayed batch: %v, want ErrStaleBatch", err)
	}
	if fk.LastBatch() != 3 {
		t.Errorf("a stale batch moved the batch number to %d", fk.LastBatch())
	}

	// A follower's own write is refused and leaves no trace; the store
	// stays healthy.
	ops := []Op{Put(b("x"), b("y"))}
	if err := fk.Do(context.Background(), ops); err != nil || !errors.Is(ops[0].Err, ErrNotReplicated) {
		t.Fatalf("follower write: Do %v, op %v; want ErrNotReplicated", err, ops[0].Err)
	}
	if fs.Failed() != nil {
		t.Errorf("a refused batch failed the store: %v", fs.Failed())
	}
	if got := do(t, fk, Get(b("x"))); got[0].Result != nil {
		t.Errorf("the refused write is visible: %s", str(got[0]))
	}

	// After a restart the follower still holds what it applied.
	fs.Close()
	fs2 := openStore(t, fdir, fopts)
	if n, err := fs2.AppliedIndex(); err != nil || n != 3 {
		t.Errorf("AppliedIndex after restart = %d, %v", n, err)
	}
	if got := do(t, keyspace(t, fs2, "0"), Get(b("c"))); str(got[0]) != "3" {
		t.Errorf("c after restart = %s", str(got[0]))
	}
}

// TestReplicatorRefusalLeavesStoreHealthy: a leader whose Replicator
// refuses (it lost leadership) answers the batch's ops with the refusal,
// commits nothing and does not enter failed mode.
func TestReplicatorRefusalLeavesStoreHealthy(t *testing.T) {
	refusal := errors.Join(ErrNotReplicated, errors.New("TRYAGAIN"))
	log := &logReplicator{}
	s, _ := newStore(t, Options{Replicator: log})
	k := keyspace(t, s, "0")
	do(t, k, Put(b("a"), b("1")))
	log.mu.Lock()
	log.refuse = refusal
	log.mu.Unlock()
	ops := []Op{Put(b("a"), b("2")), AfterWrite()}
	if err := k.Do(context.Background(), ops); err != nil || ops[0].Err != refusal {
		t.Fatalf("refused batch: Do %v, op %v", err, ops[0].Err)
	}
	log.mu.Lock()
	log.refuse = nil
	log.mu.Unlock()
	if s.Failed() != nil {
		t.Fatalf("store failed: %v", s.Failed())
	}
	if got := do(t, k, Get(b("a"))); str(got[0]) != "1" {
		t.Errorf("a = %s after a refused batch, want 1", str(got[0]))
	}
	if k.LastBatch() != 1 {
		t.Errorf("batch number %d after a refused batch, want 1", k.LastBatch())
	}
	do(t, k, Put(b("a"), b("3")))
	if k.LastBatch() != 2 || len(log.entries) != 2 {
		t.Errorf("after the refusal: batch %d, %d entries; want 2, 2", k.LastBatch(), len(log.entries))
	}
}

// TestRestoreReplica: a store restored from another's checkpoint holds
// exactly its content, its resident keyspaces take its batch numbers and
// their watches are marked changed.
func TestRestoreReplica(t *testing.T) {
	src, _ := newStore(t, Options{})
	sk := keyspace(t, src, "0")
	do(t, sk, Put(b("a"), b("1")))
	do(t, sk, Put(b("b"), b("2")))
	cp := t.TempDir() + "/cp"
	if err := src.Checkpoint(cp); err != nil {
		t.Fatal(err)
	}
	dst, _ := newStore(t, Options{})
	dk := keyspace(t, dst, "0")
	do(t, dk, Put(b("stale"), b("x")))
	do(t, keyspace(t, dst, "other"), Put(b("y"), b("z")))
	w := dk.Watch(b("stale"))
	defer w.Close()
	if err := dst.RestoreReplica(cp); err != nil {
		t.Fatal(err)
	}
	if got := do(t, dk, Get(b("stale")), Get(b("a")), Get(b("b"))); got[0].Result != nil || str(got[1]) != "1" || str(got[2]) != "2" {
		t.Errorf("after restore: stale %s, a %s, b %s", str(got[0]), str(got[1]), str(got[2]))
	}
	if got := do(t, keyspace(t, dst, "other"), Get(b("y"))); got[0].Result != nil {
		t.Errorf("a keyspace the snapshot lacks kept y = %s", str(got[0]))
	}
	if dk.LastBatch() != 2 {
		t.Errorf("batch number %d after restore, want the snapshot's 2", dk.LastBatch())
	}
	if c := dk.KeyCount(); c.Keys != 2 {
		t.Errorf("key counts %+v after restore, want the snapshot's 2 keys", c)
	}
	if !w.Changed() {
		t.Errorf("a watch survived the restore unchanged")
	}
	if r, err := dst.Restoring(); r || err != nil {
		t.Errorf("Restoring = %v, %v after a complete restore", r, err)
	}
}
