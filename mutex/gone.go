package mutex

// Gone records. Pebble answers a point read of a deleted key by stepping
// over every older version of it still in the memtable (a DEL on top tells
// it nothing about what lies below), so a key written and deleted over and
// over — a lock taken and released, a job queue that keeps emptying — made
// each later read of it O(versions): after 60,000 SET/DEL cycles a GET of
// the free lock took 1–3 ms instead of 25 µs. A write that deletes a key
// therefore writes a gone record instead of a deletion: a record of type
// TypeNone that every reader treats as missing, and that Pebble finds
// first. It carries a deadline Options.GoneLife ahead, listed in the deadline
// index, so the expirer deletes it for real once the key has stayed gone
// that long (housekeeping: no notification, no batch number); by then the
// versions below it have usually been flushed out of the memtable, where
// one version per key remains. Expiry itself deletes for real: an expired
// key is rarely written again at once.

import "time"

const defaultGoneLife = time.Minute

// isGone reports whether m is a gone record.
func (m *Meta) isGone() bool { return m.Type == TypeNone }

// putGone replaces key's record with a gone record.
func (tx *Tx) putGone(key []byte) error {
	if err := tx.countWrite(key, false, 0, false); err != nil {
		return err
	}
	deadline := tx.now + tx.goneLife
	tx.scratch = appendRecordHeader(tx.scratch[:0], TypeNone, deadline)
	stored := tx.encodeKey(key)
	tx.wroteKey(stored)
	if err := tx.b.Set(stored, tx.scratch, nil); err != nil {
		return err
	}
	return tx.indexDeadline(key, deadline)
}
