package mutex

import (
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/sync/semaphore"
)

// Keyspace is one keyspace of a Store and the cycling mutex guarding it.
// Its methods are safe for concurrent use.
//
// The mutex has no goroutine of its own: its phases run on the goroutines
// of the submitters waiting for them (see doc.go). At any time at most one
// goroutine holds the baton, the right to plan phases, and owns the fields
// below marked so: the submitter that finds the keyspace stopped takes it,
// and it passes with each phase to whoever ends that phase (the last worker
// of a read phase, the leader of a write phase), until one finds nothing
// queued and stops the keyspace. An idle keyspace holds no goroutine (its
// batch number, watches and subscriptions live in the struct).
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
	inSpare []*request // the inbox's next backing array (the baton holder's)
	closing bool
	running bool          // the baton is held (guarded by inMu)
	evicted bool          // dropped from the store's registry (guarded by inMu): see Store.sweep
	used    atomic.Bool   // submitted to since the last sweep
	lastSeq atomic.Uint64 // last committed batch number
	watches watches
	block   blocking
	subsMu  sync.Mutex
	subs    []*Subscription
	nsubs   atomic.Int32

	// Owned by the baton holder.
	q       queues
	touched map[string]struct{} // keys the last batch wrote, while submitters block
	phase   uint64              // read phases planned
	rp      *readPhase          // the read phase running, shared by its readers
	done    *request            // finished requests to wake once the baton is passed (a list through link)
	// snap is the state before this keyspace's failed batch, read instead
	// of the database (which may show the batch) until recovery undoes it;
	// nil otherwise, so that an idle keyspace pins no old versions. Guarded
	// by store.dbMu (written under its write lock, or by a write phase
	// under its read lock).
	snap *sharedSnapshot // a reference the keyspace releases
	undo []undoEntry     // reverts this keyspace's failed batch; guarded like snap
	// committedAt is Store.commits after this keyspace's last commit: a
	// shared snapshot taken since shows its state (Store.snapshotBefore).
	committedAt uint64

	// counts are the key counts of the last committed batch (counts.go):
	// replaced by each write phase's, and made exact by a count by scan in
	// a read phase; countsMu guards them against readers outside the mutex.
	countsMu sync.Mutex
	counts   keyCounts

	stats keyspaceStats // INFO's mutex section, /metrics (stats.go)
	feed  feedCache     // owned by run (feed.go)
}

var errNoKind = errors.New("mutex: op has no kind (build ops with ReadOp, WriteOp or AfterWrite)")

// request is one submitter's sequence of ops, run in order.
type request struct {
	ops  []Op
	next int // index of the first op not yet run
	from int // next when its write phase began: the ops that phase ran
	// wake (capacity 1) carries one signal per phase the request waits
	// for; role says what the signal asks of its goroutine.
	wake  chan struct{}
	role  role
	slot  int             // the first slot of the read phase's share it runs (roleRead)
	lead  bool            // its goroutine serves it to the end (a Do): it may lead
	batch []*request      // the write phase it leads
	link  *request        // next in Keyspace.done
	r     Reader          // what its goroutine runs a read share with
	ctx   context.Context // Do's: Options.Tracker learns who wrote (nil for wake-ups)
}

// role is what a woken request's goroutine is to do.
type role uint8

const (
	roleDone role = iota // every op has run
	roleRead             // run a share of the read phase k.rp, its own reads first
	roleLead             // run the write phase req.batch, then carry the baton on
)

// readPhase is the state a read phase's readers share: set by the baton
// holder that plans it, read-only while they run, and handed to the last
// one to finish, which ends the phase. Pooled: a keyspace holds one only
// while a read phase runs.
type readPhase struct {
	seq       uint64
	now       int64
	src       pebble.Reader // the phase's unchanging state, nil if err
	cache     *readCache    // the store's read cache while src is the database itself
	err       error
	listening bool
	reqs      []*request // by slot; a request with no op left leaves its slot
	recs      [][]Access // by slot, while someone listens
	share     int        // slots per worker: worker i runs [i·share, (i+1)·share)
	nops      atomic.Int64
	left      atomic.Int64 // workers that have not finished their share
}

var readPhasePool = sync.Pool{New: func() any { return new(readPhase) }}

// newKeyspace reads the keyspace's batch number. Caller holds s.dbMu for
// reading.
func newKeyspace(s *Store, name string) (*Keyspace, error) {
	k := &Keyspace{
		store:     s,
		name:      name,
		queued:    semaphore.NewWeighted(int64(s.opts.MaxQueuedOps)),
		maxQueued: int64(s.opts.MaxQueuedOps),
	}
	k.prefix, k.end, k.seqKey = keyspaceKeys(name)
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
		seq, counts, err := decodeSeqRecord(v)
		closer.Close()
		if err != nil {
			return nil, err
		}
		k.lastSeq.Store(seq)
		k.counts = counts
	}
	return k, nil
}

// keyspaceKeys returns keyspacePrefix(tagData, name), its prefixEnd and
// keyspacePrefix(tagSeq, name), in one allocation: a new tenant's keyspace
// is made for one batch.
func keyspaceKeys(name string) (prefix, end, seqKey []byte) {
	var n [binary.MaxVarintLen64]byte
	head := binary.PutUvarint(n[:], uint64(len(name)))
	l := 1 + head + len(name)
	buf := make([]byte, 0, 3*l)
	for _, tag := range []byte{tagData, tagData, tagSeq} {
		buf = append(append(append(buf, tag), n[:head]...), name...)
	}
	prefix, end, seqKey = buf[:l:l], buf[l:2*l:2*l], buf[2*l:]
	for i := l - 1; i >= 0; i-- { // as prefixEnd
		if end[i] != 0xff {
			end[i]++
			return prefix, end[:i+1], seqKey
		}
	}
	return prefix, nil, seqKey
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
	req.ops, req.next, req.lead, req.ctx = ops, 0, true, ctx
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
		k.drive(req)
	}
	k.serve(req)
	req.ops, req.ctx = nil, nil
	requestPool.Put(req) // the phases let go of it before it was done
	return nil
}

// requestPool recycles requests, their wake channels and readers: one Do
// is one request, and they are the hot path.
var requestPool = sync.Pool{New: func() any { return &request{wake: make(chan struct{}, 1)} }}

// serve waits for req's turns and takes them: it runs a share of a read
// phase (req's own reads first) or leads a write phase when handed one, and
// carries the baton on after a phase it ended. It returns once every op of
// req has run.
func (k *Keyspace) serve(req *request) {
	for {
		<-req.wake
		switch req.role {
		case roleDone:
			return
		case roleRead:
			last, done := k.readShare(req, req.slot)
			if last {
				k.endReadPhase()
				k.drive(req)
			}
			if done {
				return // no slot holds req: nothing will wake it
			}
		case roleLead:
			reqs := req.batch
			req.batch = nil
			k.writePhase(reqs)
			k.drive(req)
		}
	}
}

// wakeAs signals req's goroutine to take role.
func wakeAs(req *request, r role) {
	req.role = r
	req.wake <- struct{}{}
}

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
		k.store.releaseSnapshot(k.snap)
		k.snap = nil
	}
	k.store.dbMu.RUnlock()
	k.endSubscriptions()
}

// idle lets go of the baton when nothing was submitted since the last
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

// drive holds the baton: it takes in what was submitted, plans the next
// phase (queues.next) and hands it out: a read phase to its workers, of
// which the caller is one (startReadPhase), a write phase to its leader;
// whoever ends the phase carries the baton on. It returns then, or once the
// keyspace stopped. Only when no participant can lead a write phase does
// it run the phase itself. own is the caller's request (it may be done
// already). The requests the phases finished are woken once the next phase
// is handed out, so that it starts first.
func (k *Keyspace) drive(own *request) {
	for {
		closing := k.takeInbox()
		kind, reqs := k.q.next()
		var l *request
		if kind == phaseWrite {
			if l = leader(reqs, own); l == nil {
				k.writePhase(reqs)
				continue
			}
		}
		done := k.done
		k.done = nil
		switch {
		case kind == phaseRead:
			if k.startReadPhase(reqs, own, done) {
				k.endReadPhase() // own finished it last: the baton is back
				continue
			}
			return
		case kind == phaseWrite:
			l.batch = reqs
			wakeAs(l, roleLead)
		default:
			wakeDone(done) // before the keyspace stops: Close waits for the stop
			switch {
			case closing:
				k.stopped()
			case !k.idle():
				continue
			}
			// A failed batch's snapshot stays for recovery (snap).
			k.store.wg.Done()
			return
		}
		wakeDone(done) // the baton is passed: only the list is ours
		return
	}
}

// wakeDone wakes each finished request of a list through link, in the
// order they finished (route pushes to the front).
func wakeDone(req *request) {
	var rev *request
	for req != nil {
		req.link, rev, req = rev, req, req.link
	}
	for req = rev; req != nil; {
		next := req.link
		req.link = nil
		wakeAs(req, roleDone) // from here req may be reused
		req = next
	}
}

// takeInbox routes every submitted request to its queue and reports whether
// the keyspace is closing.
func (k *Keyspace) takeInbox() (closing bool) {
	k.inMu.Lock()
	in := k.inbox
	k.inbox = k.inSpare
	closing = k.closing
	k.inMu.Unlock()
	for _, req := range in {
		k.route(req)
	}
	clear(in)
	k.inSpare = in[:0]
	return closing
}

// route queues req for its next phase, or, when it is done, adds it to
// the list drive wakes.
func (k *Keyspace) route(req *request) {
	if k.q.route(req, k.settle) {
		req.link, k.done = k.done, req
	}
}

// settle completes an AfterWrite with no write queued before it: every
// write queued earlier has been flushed (phases do not overlap).
func (k *Keyspace) settle(op *Op) {
	if err := k.store.Failed(); err != nil {
		op.Err = err
	} else {
		op.Result = k.lastSeq.Load()
	}
}

// startReadPhase runs reqs' read phase on their submitters' goroutines,
// in parallel, against one unchanging state: the database's view of this
// keyspace changes only in its own write phases, which never overlap a
// read phase. The phase is cut into as many shares as the Go scheduler can
// run at once (GOMAXPROCS): more workers would only wait for a processor,
// and the phase ends when its slowest worker does. The first request of
// each share is woken to run it (its own reads first); the caller, own's
// goroutine, runs the first share, after waking done (the requests the
// last phases finished). It reports whether own finished the phase last,
// and then holds the baton again. The phase holds store.dbMu for reading
// until endReadPhase (an RWMutex is not tied to a goroutine).
func (k *Keyspace) startReadPhase(reqs []*request, own, done *request) (last bool) {
	s := k.store
	k.phase++
	rp := readPhasePool.Get().(*readPhase)
	k.rp = rp
	rp.seq, rp.now, rp.listening, rp.reqs = k.phase, s.now(), k.listening(), reqs
	rp.recs = nil
	if rp.listening {
		rp.recs = make([][]Access, len(reqs))
	}
	s.dbMu.RLock()
	rp.src, rp.cache, rp.err = nil, nil, nil
	switch {
	case k.snap != nil:
		rp.src = k.snap.snap
	case s.db != nil:
		rp.src, rp.cache = s.db, s.rcache
	default:
		rp.err = s.Failed()
	}
	if rp.err == nil {
		rp.err = s.verifyRead()
	}
	workers := min(len(reqs), runtime.GOMAXPROCS(0))
	rp.share = (len(reqs) + workers - 1) / workers
	workers = (len(reqs) + rp.share - 1) / rp.share
	rp.nops.Store(0)
	rp.left.Store(int64(workers))
	for lo := rp.share; lo < len(reqs); lo += rp.share {
		req := reqs[lo]
		req.slot = lo
		wakeAs(req, roleRead)
	}
	wakeDone(done)
	last, _ = k.readShare(own, 0)
	return last
}

// readShare runs the reads of the read phase's share that starts at slot
// lo, on the calling goroutine (worker's, a submitter's), with worker's
// Reader; each request keeps its own recording for the reads event. A
// request with no op left leaves its slot and is woken done, except worker
// itself when the share is its own (lo > 0): it reports that as done, and
// returns at once. It reports whether this was the phase's last share to
// finish (the caller then ends the phase). Past the count down, rp and the
// slots belong to the last worker.
func (k *Keyspace) readShare(worker *request, lo int) (last, done bool) {
	rp := k.rp
	r := &worker.r
	*r = Reader{r: rp.src, cache: rp.cache, ks: k.name, prefix: k.prefix, end: k.end, now: rp.now, reuseIter: true, maxReply: k.store.maxReply(),
		stateCounts: &k.counts, stateCountsMu: &k.countsMu, key: r.key[:0], elemBuf: r.elemBuf[:0], elemBuf2: r.elemBuf2[:0]}
	var n int64
	for slot := lo; slot < min(lo+rp.share, len(rp.reqs)); slot++ {
		req := rp.reqs[slot]
		var rec []Access
		if rp.listening {
			r.rec = &rec
		}
		end := span(req, phaseRead)
		n += int64(end - req.next)
		for ; req.next < end; req.next++ {
			op := &req.ops[req.next]
			if rp.err != nil {
				op.Err = rp.err
				continue
			}
			op.Result, op.Err = op.read(r)
		}
		if rp.listening {
			rp.recs[slot] = rec
		}
		if req.next == len(req.ops) {
			rp.reqs[slot] = nil
			if req == worker && lo > 0 {
				done = true
			} else {
				wakeAs(req, roleDone) // nothing else of the phase touches it
			}
		}
	}
	r.close()
	r.countCacheLookups()
	if r.sawDue {
		k.store.expireSoon() // a read never writes: the expirer deletes what it met
	}
	r.r, r.rec = nil, nil
	rp.nops.Add(n)
	return rp.left.Add(-1) == 0, done
}

// endReadPhase ends the read phase its last worker finished: it announces
// the phase's reads in phase order and routes the requests with ops left.
func (k *Keyspace) endReadPhase() {
	rp := k.rp
	k.rp = nil
	k.store.dbMu.RUnlock()
	k.stats.readPhase(int(rp.nops.Load()))
	if rp.listening {
		var ops []Access
		for _, rec := range rp.recs {
			ops = append(ops, rec...)
		}
		k.emit(Event{Kind: EventReads, Seq: rp.seq, Ops: ops})
	}
	for _, req := range rp.reqs {
		if req != nil {
			k.route(req)
		}
	}
	k.q.recycle(rp.reqs)
	rp.reqs, rp.recs, rp.src, rp.cache, rp.err = nil, nil, nil, nil, nil
	readPhasePool.Put(rp)
}

// writePhase runs reqs' writes into one batch and commits it, on the
// leader's goroutine (or the baton holder's), then routes reqs.
func (k *Keyspace) writePhase(reqs []*request) {
	s := k.store
	if s.failed.Load() {
		s.recoverFromFailure() // on error the store stays failed and the batch gets it
	}
	s.dbMu.RLock()
	for _, req := range reqs {
		req.from = req.next
	}
	seq, count, notes, err := k.applyBatch(reqs)
	s.dbMu.RUnlock()
	if k.touched != nil {
		k.wakeBlocked(k.touched)
		k.touched = nil
	}
	k.stats.writePhases.Add(1)
	for _, req := range reqs {
		for j := req.from; j < req.next; j++ {
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
	k.q.recycle(reqs)
}

// applyBatch runs the queued writes of reqs into one batch and commits it.
// It returns the batch number the phase's AfterWrites report, the number of
// mutations, the ops' notes, and the error every op of the batch gets. A
// batch without mutations is not committed. Caller holds store.dbMu for
// reading.
func (k *Keyspace) applyBatch(reqs []*request) (seq uint64, count int, notes []any, err error) {
	s := k.store
	if err := s.Failed(); err != nil {
		runWrites(reqs, nil, nil)
		return 0, 0, nil, err
	}
	b := s.db.NewIndexedBatch()
	defer b.Close()
	tx := &Tx{
		Reader:   Reader{r: b, cache: s.rcache, inTx: true, ks: k.name, prefix: k.prefix, end: k.end, now: s.now(), maxReply: s.maxReply()},
		b:        b,
		watches:  &k.watches,
		lastSeq:  k.lastSeq.Load(),
		goneLife: s.opts.GoneLife.Milliseconds(),
		onExpire: s.exp.onExpire,
	}
	tx.expired, tx.seen, tx.stateCounts = tx.expire, tx.sawRecord, &tx.counts
	k.countsMu.Lock()
	tx.counts = k.counts
	k.countsMu.Unlock()
	if k.block.waiting.Load() > 0 {
		tx.touched = map[string]struct{}{}
	}
	if k.listening() {
		tx.muts, tx.notes = new([]Access), new([]any)
	}
	if t := s.opts.Tracker; t != nil && t.Active() {
		tx.written = &writtenKeys{}
	}
	if s.opts.FeedRetention.On() {
		tx.feedOps = feedBuffer() // the feed records every batch's ops
		defer putFeedBuffer(tx.feedOps)
	}
	runWrites(reqs, tx, s.opts.Tracker)
	tx.countCacheLookups()
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
		tx.scratch = encodeSeqRecord(tx.scratch, seq, &tx.counts)
		if err := b.Set(k.seqKey, tx.scratch, nil); err != nil {
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
	before := s.snapshotBefore(k.committedAt)
	start := time.Now()
	if local, err := k.commitBatch(tx, seq, opts); err != nil {
		if !local { // refused by the Replicator: nothing reached Pebble
			s.releaseSnapshot(before)
			return seq, tx.mutations, nil, err
		}
		k.stats.failed.Add(1)
		// Pebble may already show the batch: read the state before it and
		// remember how to revert it until recoverFromFailure.
		undo, uerr := undoFor(b, before.snap)
		k.undo = append(k.undo, undo...)
		if k.snap == nil {
			k.snap = before
		} else {
			s.releaseSnapshot(before) // an earlier failed batch's state is older still
		}
		s.commitFailed(errors.Join(err, uerr))
		return seq, tx.mutations, nil, err
	}
	k.committedAt = s.commits.Add(1)
	s.releaseSnapshot(before)
	k.stats.committed(tx.mutations, time.Since(start))
	s.lowerExpireFloor(tx.minDeadline)
	k.countsMu.Lock()
	k.counts = tx.counts
	k.countsMu.Unlock()
	k.lastSeq.Store(seq)
	k.touched = tx.touched
	if !tx.changed {
		return seq, 0, nil, nil
	}
	return seq, max(tx.mutations, 1), notes, nil
}

// runWrites runs reqs' ops of the write phase into tx (with tx nil, it only
// steps over them); each request stops at its first read, which waits for
// the next read phase.
func runWrites(reqs []*request, tx *Tx, tracker WriteTracker) {
	for _, req := range reqs {
		for end := span(req, phaseWrite); req.next < end; req.next++ {
			op := &req.ops[req.next]
			switch {
			case op.kind != KindWrite && op.kind != KindAfterWrite:
				op.Err = errNoKind
			case op.kind == KindWrite && tx != nil:
				op.Result, op.Err = op.write(tx)
				if tx.written != nil {
					tx.reportWritten(req.ctx, tracker)
				}
			}
		}
	}
}
