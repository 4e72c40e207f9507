package mutex

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Replication hooks. With Options.Replicator set, a write phase does not
// commit its batch itself: it hands the batch to the Replicator, which puts
// it in a replicated log and calls back to commit it locally once the log
// has it; other nodes apply the same bytes with Store.ApplyReplicated, in
// log order. Ops are evaluated once, on the node that proposes them (its
// clock, its conditions); every node then applies the same Pebble batch,
// batch number and feed entry included, so they stay identical.

// Batch is one write phase's batch as the replicated log carries it.
type Batch struct {
	Keyspace string
	// Base is the keyspace's batch number the batch was built on; Seq is
	// its own (Base+1, or Base for housekeeping that takes no number).
	Base, Seq uint64
	// Count is the flushed event's mutation count.
	Count int
	// Repr is the Pebble batch's bytes. In Replicate it is valid only
	// until commit is called: the Replicator copies what it keeps.
	Repr []byte
}

// Replicator replicates a Store's write batches (package replication
// implements it over Raft).
type Replicator interface {
	// Replicate is called by a write phase, holding its keyspace, in place
	// of its local commit. It returns once the batch is in the log and
	// committed locally: it calls commit, at most once, with the batch's
	// log index, in log order with every other batch applied. An error
	// that wraps ErrNotReplicated means commit was not called (the batch
	// is not visible here); it may still reach the log and be applied
	// later through ApplyReplicated, unless the error says otherwise.
	Replicate(b *Batch, commit func(index uint64) error) error
	// Leader reports whether this node proposes batches. Elsewhere the
	// expirer stays idle: expiries reach followers through the log.
	Leader() bool
	// VerifyRead is called once per read phase; a non-nil error fails the
	// phase's reads (a leader that lost its quorum must not serve what may
	// be stale as linearizable).
	VerifyRead() error
}

// ErrNotReplicated is wrapped by Replicator errors after which nothing was
// committed locally.
var ErrNotReplicated = errors.New("mutex: batch not replicated")

// ErrStaleBatch is ApplyReplicated's answer for a batch built on another
// batch number than the keyspace has at its place in the log (proposed by a
// leader that had not applied the keyspace's previous batch): every node
// skips it the same way, so they stay identical.
var ErrStaleBatch = errors.New("mutex: replicated batch built on a stale state")

// appliedKey holds the log index of the last replicated batch applied, in
// the same Pebble batch as the batch itself: after a crash the store holds
// exactly the batches up to it.
var appliedKey = append([]byte{tagMeta}, "applied-index"...)

// AppliedIndex returns the log index of the last replicated batch the
// store holds (0 if none).
func (s *Store) AppliedIndex() (uint64, error) {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if s.db == nil {
		return 0, s.Failed()
	}
	v, closer, err := s.db.Get(appliedKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	return decodeSeq(v)
}

// commitBatch commits the write phase's batch: locally, or through the
// Replicator. local reports whether the commit was attempted here (and so
// whether a failure needs the store's recovery).
func (k *Keyspace) commitBatch(tx *Tx, seq uint64, opts *pebble.WriteOptions) (local bool, err error) {
	r := k.store.opts.Replicator
	if r == nil {
		return true, k.store.commit(tx.b, opts)
	}
	if tx.replicated {
		// This phase applied a batch from the log: its other writes were
		// evaluated on a state the log had not settled; they are refused.
		return false, ErrNotReplicated
	}
	b := &Batch{Keyspace: k.name, Base: k.lastSeq.Load(), Seq: seq, Count: max(tx.mutations, 1), Repr: tx.b.Repr()}
	err = r.Replicate(b, func(index uint64) error {
		local = true
		if err := tx.b.Set(appliedKey, encodeSeq(index), nil); err != nil {
			return err
		}
		return k.store.commit(tx.b, opts)
	})
	return local, err
}

// verifyRead is the read phase's leadership check (nil without a Replicator).
func (s *Store) verifyRead() error {
	if r := s.opts.Replicator; r != nil {
		return r.VerifyRead()
	}
	return nil
}

// expiring reports whether the expirer should run its cycles here.
func (s *Store) expiring() bool {
	r := s.opts.Replicator
	return r == nil || r.Leader()
}

// ApplyReplicated applies a batch another node proposed, at log index
// index, in its keyspace's mutex (a write phase of its own, so that read
// phases never see it half applied), and updates the keyspace's batch
// number, its blocked clients, watches and flushed event as a local commit
// would. The commit is not synced unless the store syncs: the log is the
// durable copy, and the store records index with the batch.
func (s *Store) ApplyReplicated(b *Batch, index uint64) error {
	k, err := s.Keyspace(b.Keyspace)
	if err != nil {
		return err
	}
	var aerr error
	ops := []Op{WriteOp(func(tx *Tx) (any, error) {
		aerr = k.applyReplicated(tx, b, index)
		return nil, aerr
	})}
	if err := k.Do(context.Background(), ops); err != nil {
		return err
	}
	return aerr
}

// applyReplicated runs in k's write phase. Caller holds store.dbMu for reading.
func (k *Keyspace) applyReplicated(tx *Tx, rb *Batch, index uint64) error {
	s := k.store
	tx.replicated = true
	if rb.Base != k.lastSeq.Load() {
		return ErrStaleBatch
	}
	if err := s.Failed(); err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.SetRepr(bytes.Clone(rb.Repr)); err != nil {
		return err
	}
	if err := b.Set(appliedKey, encodeSeq(index), nil); err != nil {
		return err
	}
	opts := pebble.Sync
	if s.opts.NoSync {
		opts = pebble.NoSync
	}
	start := time.Now()
	if err := s.commit(b, opts); err != nil {
		return err
	}
	k.committedAt = s.commits.Add(1) // a shared snapshot older than this no longer shows k
	k.stats.committed(rb.Count, time.Since(start))
	changed := rb.Seq != rb.Base
	if changed {
		k.loadCounts(b) // the proposer counted: its batch carries the counts
	}
	k.lastSeq.Store(rb.Seq)
	if changed || k.watches.n.Load() > 0 || k.block.waiting.Load() > 0 {
		k.touchReplicated(b, changed)
	}
	if changed {
		k.emit(Event{Kind: EventFlushed, Seq: rb.Seq, Count: rb.Count})
	}
	return nil
}

// loadCounts takes the key counts from the batch number record of a
// replicated batch b.
func (k *Keyspace) loadCounts(b *pebble.Batch) {
	r := b.Reader()
	for {
		kind, key, value, ok, err := r.Next()
		if err != nil || !ok {
			return
		}
		if kind == pebble.InternalKeyKindSet && bytes.Equal(key, k.seqKey) {
			if _, counts, err := decodeSeqRecord(value); err == nil {
				k.countsMu.Lock()
				k.counts = counts
				k.countsMu.Unlock()
			}
			return
		}
	}
}

// touchReplicated marks the watches and wakes the blocked clients on the
// keys a replicated batch wrote, read from its records' keys. Runs on k's
// runner.
func (k *Keyspace) touchReplicated(b *pebble.Batch, changed bool) {
	var touched map[string]struct{}
	if k.block.waiting.Load() > 0 {
		touched = map[string]struct{}{}
		if changed {
			touched[FeedKey] = struct{}{}
		}
	}
	r := b.Reader()
	for {
		kind, key, _, ok, err := r.Next()
		if err != nil || !ok {
			break
		}
		if !bytes.HasPrefix(key, k.prefix) {
			continue
		}
		if kind == pebble.InternalKeyKindRangeDelete {
			k.watches.touchExisting(func([]byte) bool { return true })
			continue
		}
		user := key[len(k.prefix):]
		k.watches.touch(user)
		if touched != nil {
			touched[string(user)] = struct{}{}
		}
	}
	if len(touched) > 0 {
		if k.touched == nil {
			k.touched = touched
		} else {
			for key := range touched {
				k.touched[key] = struct{}{}
			}
		}
	}
}

// restoringKey marks a store whose content is being replaced by a
// snapshot (RestoreReplica): until it is gone the store is incomplete.
var restoringKey = append([]byte{tagMeta}, "restoring"...)

// Restoring reports whether a RestoreReplica was interrupted: the store's
// content is incomplete and must be restored again.
func (s *Store) Restoring() (bool, error) {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if s.db == nil {
		return false, s.Failed()
	}
	_, closer, err := s.db.Get(restoringKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	closer.Close()
	return true, nil
}

// RestoreReplica replaces the store's whole content with that of the store
// in dir (a checkpoint of the leader's, shipped as a Raft snapshot), with
// every phase held off. A crash midway leaves the restoring mark
// (Restoring), so that the node restores again before it serves as a
// replica. The resident keyspaces take the batch numbers of dir, and their
// watches are all marked changed.
func (s *Store) RestoreReplica(dir string) error {
	src, err := pebble.Open(dir, &pebble.Options{ReadOnly: true, Logger: discardLogger{}})
	if err != nil {
		return err
	}
	defer src.Close()
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if s.db == nil {
		return s.Failed()
	}
	s.dropSharedSnapshot() // it shows none of what comes
	b := s.db.NewBatch()
	err = errors.Join(b.DeleteRange([]byte{0}, []byte{0xff}, nil), b.Set(restoringKey, nil, nil))
	if err == nil {
		err = s.commit(b, pebble.Sync)
	}
	b.Close()
	if err != nil {
		return err
	}
	it, err := src.NewIter(nil)
	if err != nil {
		return err
	}
	b = s.db.NewBatch()
	for valid := it.First(); valid && err == nil; valid = it.Next() {
		if bytes.Equal(it.Key(), restoringKey) {
			continue
		}
		err = b.Set(it.Key(), it.Value(), nil)
		if err == nil && b.Len() > 16<<20 { // bounded memory: commit in parts (the mark covers a crash)
			err = s.commit(b, pebble.NoSync)
			b.Close()
			b = s.db.NewBatch()
		}
	}
	err = errors.Join(err, it.Close())
	if err == nil {
		err = errors.Join(b.Delete(restoringKey, nil), s.commit(b, pebble.Sync))
	}
	b.Close()
	if err != nil {
		return err
	}
	// The snapshot's keyspaces, which this store may never have seen, must
	// read their batch numbers when opened.
	if err := s.names.loadNames(s.db); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.keyspaces {
		seq, counts := uint64(0), keyCounts{}
		if v, closer, err := s.db.Get(k.seqKey); err == nil {
			seq, counts, _ = decodeSeqRecord(v)
			closer.Close()
		}
		k.countsMu.Lock()
		k.counts = counts
		k.countsMu.Unlock()
		k.lastSeq.Store(seq)
		k.watches.touchExisting(func([]byte) bool { return true })
	}
	return nil
}
