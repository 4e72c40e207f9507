package mutex

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/sync/semaphore"
)

// Keyspace is one keyspace of a Store and the cycling mutex guarding it.
// Its methods are safe for concurrent use.
//
// One goroutine (run) owns the queues and drives the phases; submitters only
// append to the inbox and wait. It runs only while there is work: the
// submission that finds it stopped starts it, and it stops once its inbox
// and queues are empty, so an idle keyspace holds no goroutine (its batch
// number, watches and subscriptions live in the struct).
type Keyspace struct {
	store  *Store
	name   string
	prefix []byte // tagData‖name: every key of the keyspace starts with it
	end    []byte // first key after the keyspace
	seqKey []byte

	queued    *semaphore.Weighted // back-pressure: ops queued and not yet answered
	maxQueued int64

	inMu    sync.Mutex
	inbox   []*request
	closing bool
	running bool          // run's goroutine exists (guarded by inMu)
	evicted bool          // dropped from the store's registry (guarded by inMu): see Store.sweep
	used    atomic.Bool   // submitted to since the last sweep
	lastSeq atomic.Uint64 // last committed batch number
	watches watches
	block   blocking
	subsMu  sync.Mutex
	subs    []*Subscription
	nsubs   atomic.Int32

	// Owned by run.
	reads, writes []*request
	spare         []*request          // reused backing array for the next phase's queue
	touched       map[string]struct{} // keys the last batch wrote, while submitters block
	phase         uint64
	// snap is the state before this keyspace's failed batch, read instead
	// of the database (which may show the batch) until recovery undoes it;
	// nil otherwise, so that an idle keyspace pins no old versions. Guarded
	// by store.dbMu (written under its write lock, or by run under its read
	// lock).
	snap *pebble.Snapshot
	undo []undoEntry // reverts this keyspace's failed batch; guarded like snap

	stats keyspaceStats // INFO's mutex section, /metrics (stats.go)
	feed  feedCache     // owned by run (feed.go)
}

var errNoKind = errors.New("mutex: op has no kind (build ops with ReadOp, WriteOp or AfterWrite)")

// request is one submitter's sequence of ops, run in order.
type request struct {
	ops  []Op
	next int           // index of the first op not yet run
	done chan struct{} // capacity 1: receives once all ops have run
}

// newKeyspace reads the keyspace's batch number. Caller holds s.dbMu for
// reading.
func newKeyspace(s *Store, name string) (*Keyspace, error) {
	k := &Keyspace{
		store:     s,
		name:      name,
		prefix:    keyspacePrefix(tagData, name),
		seqKey:    keyspacePrefix(tagSeq, name),
		queued:    semaphore.NewWeighted(int64(s.opts.MaxQueuedOps)),
		maxQueued: int64(s.opts.MaxQueuedOps),
	}
	k.end = prefixEnd(k.prefix)
	k.stats.init(&s.stats)
	if s.db == nil {
		return nil, s.Failed()
	}
	if !s.names.mayHave(name) {
		return k, nil // never committed a batch (names.go)
	}
	v, closer, err := s.db.Get(k.seqKey)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		seq, err := decodeSeq(v)
		closer.Close()
		if err != nil {
			return nil, err
		}
		k.lastSeq.Store(seq)
	}
	return k, nil
}

// Name returns the keyspace's name.
func (k *Keyspace) Name() string { return k.name }

// LastBatch returns the number of the last committed batch (0 if none).
func (k *Keyspace) LastBatch() uint64 {
	k.inMu.Lock()
	evicted := k.evicted
	k.inMu.Unlock()
	if evicted {
		if live, err := k.live(); err == nil {
			return live.LastBatch()
		}
	}
	return k.lastSeq.Load()
}

// LastBatchResident is LastBatch for a keyspace known to be resident (see
// Store.Resident, whose lock forbids LastBatch's forwarding).
func (k *Keyspace) LastBatchResident() uint64 { return k.lastSeq.Load() }

// live returns the keyspace's current instance: k itself, or, once k was
// evicted as idle, the one the store has now (read again from disk).
func (k *Keyspace) live() (*Keyspace, error) { return k.store.Keyspace(k.name) }

// Do queues ops as one client's sequence and waits until all have run; each
// op's Result and Err are then set. The ops run in order: consecutive ops of
// one kind join the same phase, and each op sees the effect of the ops
// before it. If the keyspace has too much work queued, Do first waits for
// room, or until ctx is done (then it returns ctx's error and runs nothing).
// Once queued, ops run to completion whatever ctx does. Do returns
// ErrClosed if the store is closing, and the store's error (ErrFatal) once
// it has failed for good.
func (k *Keyspace) Do(ctx context.Context, ops []Op) error {
	if len(ops) == 0 {
		return nil
	}
	if k.store.fatal.Load() {
		_, err := k.store.Fatal()
		return err // the database may be stuck: queue nothing
	}
	k.used.Store(true)
	weight := min(int64(len(ops)), k.maxQueued)
	if err := k.queued.Acquire(ctx, weight); err != nil {
		return err
	}
	defer k.queued.Release(weight)
	k.stats.queued.Add(int64(len(ops)))
	defer k.stats.queued.Add(-int64(len(ops)))
	req := requestPool.Get().(*request)
	req.ops, req.next = ops, 0
	k.inMu.Lock()
	if k.evicted {
		k.inMu.Unlock()
		requestPool.Put(req)
		live, err := k.live()
		if err != nil {
			return err
		}
		return live.Do(ctx, ops)
	}
	if k.closing {
		k.inMu.Unlock()
		requestPool.Put(req)
		return ErrClosed
	}
	k.inbox = append(k.inbox, req)
	start := !k.running
	if start {
		k.running = true
		k.store.wg.Add(1) // before Close's Wait: closing is still false
	}
	k.inMu.Unlock()
	if start {
		k.run(req, true) // returns once req has run; else the runner takes it in
	}
	<-req.done
	req.ops = nil
	requestPool.Put(req) // the state machine let go of it before signalling done
	return nil
}

// requestPool recycles requests and their done channels: one Do is one
// request, and they are the hot path.
var requestPool = sync.Pool{New: func() any { return &request{done: make(chan struct{}, 1)} }}

// close makes the keyspace refuse new work; its goroutine, if running,
// finishes what is queued and stops; an idle keyspace is cleaned up here.
func (k *Keyspace) close() {
	k.inMu.Lock()
	k.closing = true
	running := k.running
	k.inMu.Unlock()
	if !running {
		k.stopped()
	}
	// else run sees closing once its inbox is empty
}

// stopped releases what a closed keyspace holds.
func (k *Keyspace) stopped() {
	k.store.dbMu.RLock()
	if k.snap != nil {
		k.snap.Close()
		k.snap = nil
	}
	k.store.dbMu.RUnlock()
	k.endSubscriptions()
}

// idle stops run's goroutine when nothing was submitted since its last
// look, and reports whether it did. Caller has no queued work.
func (k *Keyspace) idle() bool {
	k.inMu.Lock()
	defer k.inMu.Unlock()
	if len(k.inbox) > 0 || k.closing {
		return false
	}
	k.running = false
	return true
}

// run is the state machine: it alternates read and write phases while
// either has work, a write phase after a read phase and vice versa, so
// neither starves the other. Whatever arrives during a phase is taken in
// after it, for the next phase of its kind.
//
// The submitter that finds the keyspace stopped runs it itself (Do), on
// its own goroutine, whose stack has grown already (a fresh goroutine per
// activation spent most of a one-write tenant's time growing its stack);
// once its own ops have run, it hands what is left to a new goroutine.
// own is that submitter's request (nil on the handed-over goroutine).
func (k *Keyspace) run(own *request, lastWasWrite bool) {
	for {
		if own != nil && len(own.done) > 0 {
			if k.hasWork() {
				go k.run(nil, lastWasWrite) // keeps the store's wg count
				return
			}
			own = nil // nothing left: stop below, as the goroutine would
		}
		closing := k.takeInbox()
		switch {
		case len(k.reads) > 0 && (lastWasWrite || len(k.writes) == 0):
			k.readPhase()
			lastWasWrite = false
		case len(k.writes) > 0:
			k.writePhase()
			lastWasWrite = true
		case closing:
			k.stopped()
			k.store.wg.Done()
			return
		default:
			if k.idle() {
				// A failed batch's snapshot stays for recovery (snap).
				k.store.wg.Done()
				return
			}
		}
	}
}

// hasWork reports whether anything is queued or submitted, or the keyspace
// is closing (the runner must go on). Only the runner calls it.
func (k *Keyspace) hasWork() bool {
	if len(k.reads) > 0 || len(k.writes) > 0 {
		return true
	}
	k.inMu.Lock()
	defer k.inMu.Unlock()
	return len(k.inbox) > 0 || k.closing
}

// takeInbox routes every submitted request to its queue and reports whether
// the keyspace is closing with nothing left in its inbox.
func (k *Keyspace) takeInbox() (closing bool) {
	k.inMu.Lock()
	in := k.inbox
	k.inbox = nil
	closing = k.closing
	k.inMu.Unlock()
	for _, req := range in {
		k.route(req)
	}
	return closing
}

// route puts req in the queue of its next op's kind, or finishes it. An
// AfterWrite with no write queued before it completes at once: every write
// queued earlier has been flushed (phases run on this goroutine).
func (k *Keyspace) route(req *request) {
	for ; req.next < len(req.ops); req.next++ {
		op := &req.ops[req.next]
		switch op.kind {
		case KindRead:
			k.reads = append(k.reads, req)
			return
		case KindWrite:
			k.writes = append(k.writes, req)
			return
		case KindAfterWrite:
			if len(k.writes) > 0 {
				k.writes = append(k.writes, req)
				return
			}
			if err := k.store.Failed(); err != nil {
				op.Err = err
			} else {
				op.Result = k.lastSeq.Load()
			}
		default:
			op.Err = errNoKind
		}
	}
	req.done <- struct{}{}
}

// takeQueue returns q's requests and leaves q empty on a recycled array.
func (k *Keyspace) takeQueue(q *[]*request) []*request {
	reqs := *q
	*q = k.spare[:0]
	return reqs
}

func (k *Keyspace) recycle(reqs []*request) {
	clear(reqs)
	k.spare = reqs[:0]
}

func (k *Keyspace) readPhase() {
	reqs := k.takeQueue(&k.reads)
	k.phase++
	var rec *[]Access
	if k.listening() {
		rec = new([]Access)
	}
	s := k.store
	s.dbMu.RLock()
	r := Reader{ks: k.name, prefix: k.prefix, end: k.end, rec: rec, reuseIter: true, now: s.now()}
	// The database's view of this keyspace changes only in its own write
	// phases, which never overlap a read phase: it is one unchanging state.
	var err error
	switch {
	case k.snap != nil:
		r.r = k.snap
	case s.db != nil:
		r.r = s.db
	default:
		err = s.Failed()
	}
	nops := 0
	for _, req := range reqs {
		for ; req.next < len(req.ops) && req.ops[req.next].kind == KindRead; req.next++ {
			nops++
			op := &req.ops[req.next]
			if err != nil {
				op.Err = err
				continue
			}
			op.Result, op.Err = op.read(&r)
		}
	}
	r.close()
	s.dbMu.RUnlock()
	if r.sawDue {
		s.expireSoon() // a read never writes: the expirer deletes what it met
	}
	k.stats.readPhase(nops)
	if rec != nil {
		k.emit(Event{Kind: EventReads, Seq: k.phase, Ops: *rec})
	}
	for _, req := range reqs {
		k.route(req)
	}
	k.recycle(reqs)
}

func (k *Keyspace) writePhase() {
	reqs := k.takeQueue(&k.writes)
	s := k.store
	if s.failed.Load() {
		s.recoverFromFailure() // on error the store stays failed and the batch gets it
	}
	s.dbMu.RLock()
	starts := make([]int, len(reqs))
	for i, req := range reqs {
		starts[i] = req.next
	}
	seq, count, notes, err := k.applyBatch(reqs)
	s.dbMu.RUnlock()
	if k.touched != nil {
		k.wakeBlocked(k.touched)
		k.touched = nil
	}
	k.stats.writePhases.Add(1)
	for i, req := range reqs {
		for j := starts[i]; j < req.next; j++ {
			op := &req.ops[j]
			switch {
			case err != nil:
				op.Result, op.Err = nil, err
			case op.kind == KindAfterWrite:
				op.Result = seq
			}
		}
	}
	if count > 0 {
		if err != nil {
			notes = nil // what did not happen is not announced
		}
		k.emit(Event{Kind: EventFlushed, Seq: seq, Count: count, Err: err, Notes: notes})
	}
	for _, req := range reqs {
		k.route(req)
	}
	k.recycle(reqs)
}

// applyBatch runs the queued writes of reqs into one batch and commits it.
// It returns the batch number the phase's AfterWrites report, the number of
// mutations, the ops' notes, and the error every op of the batch gets. A
// batch without mutations is not committed. Caller holds store.dbMu for
// reading.
func (k *Keyspace) applyBatch(reqs []*request) (seq uint64, count int, notes []any, err error) {
	s := k.store
	// Ops stop at the first read: it waits for the next read phase.
	runWrites := func(tx *Tx) {
		for _, req := range reqs {
			for ; req.next < len(req.ops) && req.ops[req.next].kind != KindRead; req.next++ {
				op := &req.ops[req.next]
				switch {
				case op.kind != KindWrite && op.kind != KindAfterWrite:
					op.Err = errNoKind
				case op.kind == KindWrite && tx != nil:
					op.Result, op.Err = op.write(tx)
				}
			}
		}
	}
	if err := s.Failed(); err != nil {
		runWrites(nil)
		return 0, 0, nil, err
	}
	b := s.db.NewIndexedBatch()
	defer b.Close()
	tx := &Tx{
		Reader:  Reader{r: b, ks: k.name, prefix: k.prefix, end: k.end, now: s.now()},
		b:       b,
		watches: &k.watches,
		lastSeq: k.lastSeq.Load(),
	}
	tx.expired, tx.onExpire = tx.expire, s.expired
	if k.block.waiting.Load() > 0 {
		tx.touched = map[string]struct{}{}
	}
	if k.listening() {
		tx.muts, tx.notes = new([]Access), new([]any)
	}
	if s.opts.FeedRetention.On() {
		tx.feedOps = feedBuffer() // the feed records every batch's ops
		defer putFeedBuffer(tx.feedOps)
	}
	runWrites(tx)
	if tx.notes != nil {
		notes = *tx.notes
	}
	if !tx.changed && !tx.dirty {
		return k.lastSeq.Load(), 0, nil, nil
	}
	// Housekeeping alone (stale deadline index entries) commits without a
	// batch number: nothing a client can see changed.
	seq = k.lastSeq.Load()
	if tx.changed {
		seq++
		if err := b.Set(k.seqKey, encodeSeq(seq), nil); err != nil {
			return seq, tx.mutations, nil, err
		}
		if s.opts.FeedRetention.On() {
			if err := k.appendFeedEntry(tx, seq); err != nil {
				return seq, tx.mutations, nil, err
			}
		}
		if tx.muts != nil {
			k.emit(Event{Kind: EventWrites, Seq: seq, Ops: *tx.muts})
		}
	}
	opts := pebble.Sync
	if s.opts.NoSync {
		opts = pebble.NoSync
	}
	before := s.db.NewSnapshot()
	start := time.Now()
	if err := commit(b, opts); err != nil {
		k.stats.failed.Add(1)
		// Pebble may already show the batch: read the state before it and
		// remember how to revert it until recoverFromFailure.
		undo, uerr := undoFor(b, before)
		k.undo = append(k.undo, undo...)
		k.snap = before
		s.commitFailed(errors.Join(err, uerr))
		return seq, tx.mutations, nil, err
	}
	k.stats.committed(tx.mutations, time.Since(start))
	before.Close()
	k.lastSeq.Store(seq)
	k.touched = tx.touched
	if !tx.changed {
		return seq, 0, nil, nil
	}
	return seq, max(tx.mutations, 1), notes, nil
}
