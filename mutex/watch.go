package mutex

import (
	"sync"
	"sync/atomic"
)

// Watch notices writes to a set of keys, for optimistic transactions
// (Redis's WATCH). It is marked changed by every write phase that mutates
// one of its keys after Keyspace.Watch returned, including writes that were
// already queued then but not yet applied. Clearing the keyspace changes
// the watches on the keys it held. A write op can test Changed inside its
// own write phase and see every mutation queued before it.
type Watch struct {
	ks      *Keyspace
	keys    []string
	changed atomic.Bool
	closed  atomic.Bool
}

// watches is a keyspace's registry of watched keys.
type watches struct {
	mu    sync.Mutex
	byKey map[string][]*Watch
	n     atomic.Int32 // number of registered watches: a lock-free "any?"
}

// Watch starts watching keys.
func (k *Keyspace) Watch(keys ...[]byte) *Watch {
	k.inMu.Lock() // the keyspace is not evicted while a watch registers
	if k.evicted {
		k.inMu.Unlock()
		if live, err := k.live(); err == nil {
			return live.Watch(keys...)
		}
		k.inMu.Lock()
	}
	defer k.inMu.Unlock()
	w := &Watch{ks: k, keys: make([]string, len(keys))}
	k.watches.mu.Lock()
	defer k.watches.mu.Unlock()
	if k.watches.byKey == nil {
		k.watches.byKey = map[string][]*Watch{}
	}
	for i, key := range keys {
		w.keys[i] = string(key)
		k.watches.byKey[w.keys[i]] = append(k.watches.byKey[w.keys[i]], w)
	}
	k.watches.n.Add(1)
	return w
}

// Changed reports whether a watched key has been written since the watch began.
func (w *Watch) Changed() bool { return w.changed.Load() }

// Keyspace returns the keyspace the watch is on.
func (w *Watch) Keyspace() *Keyspace { return w.ks }

// Close stops the watch; closing it again does nothing.
func (w *Watch) Close() {
	if !w.closed.CompareAndSwap(false, true) {
		return
	}
	ws := &w.ks.watches
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, key := range w.keys {
		list := ws.byKey[key]
		for i, x := range list {
			if x == w {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(ws.byKey, key)
		} else {
			ws.byKey[key] = list
		}
	}
	ws.n.Add(-1)
}

// touch marks the watches on key changed.
func (ws *watches) touch(key []byte) {
	if ws.n.Load() == 0 {
		return
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, w := range ws.byKey[string(key)] {
		w.changed.Store(true)
	}
}

// touchExisting marks the watches on every watched key for which exists
// is true (a flush changes only the keys it removes, as in Redis).
func (ws *watches) touchExisting(exists func(key []byte) bool) {
	if ws.n.Load() == 0 {
		return
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for key, list := range ws.byKey {
		if !exists([]byte(key)) {
			continue
		}
		for _, w := range list {
			w.changed.Store(true)
		}
	}
}

// ChangedIn is Changed seen from tx, a write op of the watch's keyspace:
// it first deletes the watched keys whose deadline has passed, so that a
// watched key that expired counts as written, as in Redis 7.
func (w *Watch) ChangedIn(tx *Tx) (bool, error) {
	if tx.ks == w.ks.name {
		for _, key := range w.keys {
			if _, _, err := tx.lookup([]byte(key)); err != nil {
				return false, err
			}
		}
	}
	return w.Changed(), nil
}
