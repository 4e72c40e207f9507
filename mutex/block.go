package mutex

import (
	"context"
	"sync"
	"sync/atomic"
)

// Blocking ops (BLPOP, BZPOPMIN, XREAD BLOCK …). A blocked submitter holds
// no phase: it waits outside the mutex until a committed batch writes one
// of its keys. Then the keyspace queues an attempt for every waiter on
// those keys, in the order they blocked, at the head of the next write
// phase; an attempt that finds what it waits for is served (its result is
// the op's, and is returned only after that phase's batch is durable), one
// that does not stays blocked. So an element goes to exactly one waiter,
// the longest waiting first, and is durably removed before anyone sees it.

// Attempt is a blocking op's try: it runs inside a write phase and reports
// whether it was served. An attempt that is not served must not mutate.
type Attempt func(tx *Tx) (result any, served bool, err error)

// blockState is where a waiter is.
type blockState uint8

const (
	blockWaiting   blockState = iota // registered, nothing queued
	blockQueued                      // an attempt is queued or running
	blockCancelled                   // gave up while a woken attempt was queued
)

type waiter struct {
	keys    []string
	attempt Attempt
	seq     uint64
	// pending are the attempts queued for it by wake-ups, not yet finished
	// by its goroutine; ready (capacity 1) says there are some. The queue
	// never blocks the baton holder (keyspace.go), which may be any submitter.
	pending []*request // guarded by blocking.mu
	ready   chan struct{}
	state   blockState // guarded by blocking.mu
}

// blocking is a keyspace's registry of waiters.
type blocking struct {
	mu      sync.Mutex
	byKey   map[string][]*waiter
	next    uint64
	waiting atomic.Int64 // waiters registered; 0 keeps the write path free of this
}

// Blocked reports how many submitters are blocked on the keyspace.
func (k *Keyspace) Blocked() int64 { return k.block.waiting.Load() }

// Block waits until attempt is served: it runs attempt once at once (in
// the next write phase), then again each time a committed batch writes one
// of keys, until it reports served or ctx is done. On ctx's end it returns
// ctx's error, unless an attempt already in the queue serves it: what an
// attempt took is never dropped.
//
// A waiter's state changes inside the keyspace's phases (an attempt that
// is not served makes it waiting again, within its phase; a wake-up after
// a commit queues the waiting ones), so no wake-up is missed and the
// order of service is the order of blocking.
func (k *Keyspace) Block(ctx context.Context, keys [][]byte, attempt Attempt) (any, error) {
	k.inMu.Lock()
	if k.evicted { // a stale pointer: block on the live instance
		k.inMu.Unlock()
		live, err := k.live()
		if err != nil {
			return nil, err
		}
		return live.Block(ctx, keys, attempt)
	}
	k.block.waiting.Add(1) // under inMu: the store's sweep keeps k resident
	k.inMu.Unlock()
	w := &waiter{attempt: attempt, ready: make(chan struct{}, 1), state: blockQueued}
	for _, key := range keys {
		w.keys = append(w.keys, string(key))
	}
	k.block.mu.Lock()
	if k.block.byKey == nil {
		k.block.byKey = map[string][]*waiter{}
	}
	w.seq = k.block.next
	k.block.next++
	for _, key := range w.keys {
		k.block.byKey[key] = append(k.block.byKey[key], w)
	}
	k.block.mu.Unlock()
	defer k.unblock(w)

	// The first try goes through the ordinary queue after registering, so
	// a batch committed meanwhile cannot be missed.
	first := []Op{WriteOp(k.attemptOp(w))}
	if err := k.Do(context.WithoutCancel(ctx), first); err != nil {
		return nil, err
	}
	res, ok, err := result(first[0])
	for !ok && err == nil {
		select {
		case <-w.ready:
			res, ok, err = k.finishPending(w)
		case <-ctx.Done():
			k.block.mu.Lock()
			waiting := w.state == blockWaiting && len(w.pending) == 0
			// Cancelled before unlocking: a wake-up between here and
			// unblock would queue an attempt nobody waits for.
			w.state = blockCancelled
			k.block.mu.Unlock()
			if waiting {
				return nil, ctx.Err()
			}
			if res, ok, err = k.finishPending(w); ok || err != nil {
				return res, err
			}
			return nil, ctx.Err()
		}
	}
	return res, err
}

// finishPending waits for the attempts queued for w and returns the
// outcome of the one that served it, if any (at most one can: a served
// waiter is not woken again).
func (k *Keyspace) finishPending(w *waiter) (res any, ok bool, err error) {
	k.block.mu.Lock()
	reqs := w.pending
	w.pending = nil
	k.block.mu.Unlock()
	for _, req := range reqs {
		if r, o, e := k.finish(req); o || e != nil {
			res, ok, err = r, o, e
		}
	}
	return res, ok, err
}

// finish waits for a woken attempt and returns its outcome.
func (k *Keyspace) finish(req *request) (any, bool, error) {
	<-req.wake // an attempt is only ever woken done: it does not lead
	op := req.ops[0]
	req.ops = nil
	requestPool.Put(req)
	return result(op)
}

func result(op Op) (any, bool, error) {
	if op.Err != nil {
		return nil, false, op.Err
	}
	res, ok := op.Result.(served)
	return res.result, ok, nil
}

// served wraps the result of an attempt that was served.
type served struct{ result any }

// attemptOp is the op of one attempt. It runs in a write phase: a
// cancelled waiter's attempt does nothing; one that is not served makes
// its waiter waiting again.
func (k *Keyspace) attemptOp(w *waiter) func(tx *Tx) (any, error) {
	return func(tx *Tx) (any, error) {
		k.block.mu.Lock()
		cancelled := w.state == blockCancelled
		k.block.mu.Unlock()
		if cancelled {
			return nil, nil
		}
		res, ok, err := w.attempt(tx)
		if err != nil || ok {
			return served{res}, err
		}
		k.block.mu.Lock()
		if w.state == blockQueued {
			w.state = blockWaiting
		}
		k.block.mu.Unlock()
		return nil, nil
	}
}

func (k *Keyspace) unblock(w *waiter) {
	k.block.mu.Lock()
	defer k.block.mu.Unlock()
	for _, key := range w.keys {
		ws := k.block.byKey[key]
		for i, x := range ws {
			if x == w {
				ws = append(ws[:i:i], ws[i+1:]...)
				break
			}
		}
		if len(ws) == 0 {
			delete(k.block.byKey, key)
		} else {
			k.block.byKey[key] = ws
		}
	}
	k.block.waiting.Add(-1)
}

// wakeBlocked queues, at the head of the write queue and in the order they
// blocked, an attempt for every waiting waiter on a key in touched. Called
// by a write phase after its batch committed.
func (k *Keyspace) wakeBlocked(touched map[string]struct{}) {
	var woken []*waiter
	k.block.mu.Lock()
	for key := range touched {
		for _, w := range k.block.byKey[key] {
			if w.state == blockWaiting {
				w.state = blockQueued
				woken = append(woken, w)
			}
		}
	}
	sortWaiters(woken)
	reqs := make([]*request, 0, len(woken))
	for _, w := range woken {
		req := requestPool.Get().(*request)
		// Its waiter may give up before it runs (ctx), so it never leads.
		req.ops, req.next, req.lead = []Op{WriteOp(k.attemptOp(w))}, 0, false
		w.pending = append(w.pending, req)
		select {
		case w.ready <- struct{}{}:
		default:
		}
		reqs = append(reqs, req)
	}
	k.block.mu.Unlock()
	k.q.writeFirst(reqs)
}

func sortWaiters(ws []*waiter) {
	for i := 1; i < len(ws); i++ { // insertion sort: few waiters wake at once
		for j := i; j > 0 && ws[j].seq < ws[j-1].seq; j-- {
			ws[j], ws[j-1] = ws[j-1], ws[j]
		}
	}
}
