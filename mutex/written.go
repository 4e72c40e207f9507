package mutex

import (
	"bytes"
	"context"
)

// WriteTracker learns, inside the write phase, which keys each write op
// wrote: every way a key changes (commands, scripts, transactions, expiry,
// blocked pops) goes through the Tx, so nothing is missed. The server's
// client-side caching sends its invalidations from it, before the batch
// commits and so before any later read runs.
type WriteTracker interface {
	// Active reports whether anyone needs to know; it is asked once per
	// batch, and a batch records nothing while it is false. It must turn
	// true before a read whose keys it will want runs.
	Active() bool
	// Written is called after each write op that wrote keys, with the ctx
	// the op was submitted with (nil for the retries of blocked ops), the
	// keys it wrote, each once, in order, and all set when the op cleared
	// the keyspace. keys are the tracker's to keep.
	Written(ctx context.Context, keys [][]byte, all bool)
}

// writtenKeys are the keys the running op wrote.
type writtenKeys struct {
	keys [][]byte
	all  bool
}

// add records key unless the op already wrote it (ops write few keys, or
// the same key again and again, as HSET's fields).
func (w *writtenKeys) add(key []byte) {
	for i := len(w.keys) - 1; i >= 0; i-- {
		if bytes.Equal(w.keys[i], key) {
			return
		}
		if len(w.keys)-i > 16 { // many keys: duplicates cost the tracker a lookup, not more
			break
		}
	}
	w.keys = append(w.keys, bytes.Clone(key))
}

// reportWritten hands the running op's keys to the tracker.
func (tx *Tx) reportWritten(ctx context.Context, t WriteTracker) {
	w := tx.written
	if len(w.keys) == 0 && !w.all {
		return
	}
	t.Written(ctx, w.keys, w.all)
	w.keys, w.all = nil, false
}
