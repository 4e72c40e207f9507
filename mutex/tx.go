package mutex

import (
	"bytes"
	"errors"

	"github.com/cockroachdb/pebble/v2"
)

// Tx is the write batch being built in a write phase. Its Reader methods see
// every mutation made so far in the batch. A key the Tx finds past its
// deadline is deleted as "expired" before the op that found it goes on, so
// every op of the batch agrees, with the batch's one clock, on what exists.
type Tx struct {
	Reader
	b         *pebble.Batch
	mutations int       // accesses announced (Emit): the flushed event's count
	changed   bool      // user-visible data changed: the batch takes a number
	dirty     bool      // anything written, housekeeping included
	muts      *[]Access // nil when nobody listens to the writes event
	feedOps   *[]byte   // the feed's binary ops so far (feedops.go); nil when the feed is off
	notes     *[]any    // nil when nobody listens to the flushed event
	watches   *watches
	lastSeq   uint64
	gens      uint64              // collections created in this batch
	touched   map[string]struct{} // keys written, while submitters block (else nil)
	written   *writtenKeys        // the op's keys for Options.Tracker, while it is active (else nil)
	scratch   []byte
	goneLife  int64 // ms (Options.GoneLife)
	// minDeadline is the earliest deadline the batch indexed (0: none),
	// for the expirer's floor (expire.go).
	minDeadline int64
	onExpire    func(tx *Tx, key []byte) // Store.expired
	// replicated: the phase applied a batch from the log (replicate.go).
	replicated bool
	counts     keyCounts   // the keyspace's, as of the batch so far (counts.go)
	recent     *recentKeys // the records the batch last read or wrote (counts.go); nil until one is read
}

// Emit adds a to the batch's writes event: commands announce their
// collection mutations with it, in the vocabulary of Access. Set, Delete,
// SetDeadline and Clear announce themselves.
func (tx *Tx) Emit(a Access) {
	tx.mutations++
	tx.changed = true
	if tx.feedOps != nil {
		*tx.feedOps = appendFeedOp(*tx.feedOps, &a)
	}
	if tx.muts != nil {
		a.Key, a.Value, a.To = bytes.Clone(a.Key), bytes.Clone(a.Value), bytes.Clone(a.To)
		if a.Items != nil {
			items := make([][]byte, len(a.Items))
			for i, it := range a.Items {
				items[i] = bytes.Clone(it)
			}
			a.Items = items
		}
		*tx.muts = append(*tx.muts, a)
	}
}

func (tx *Tx) wrote(key []byte) {
	tx.changed, tx.dirty = true, true
	tx.watches.touch(key)
	if tx.touched != nil {
		tx.touched[string(key)] = struct{}{}
	}
	if tx.written != nil {
		tx.written.add(key)
	}
}

// Set sets key to the string value, with no expiry: it replaces whatever
// the key held, as Redis's SET does.
func (tx *Tx) Set(key, value []byte) error { return tx.SetString(key, value, 0) }

// SetString sets key to the string value with a deadline (ms since the
// epoch; 0 for none). The deadline is the caller's: a past one makes a key
// that is already expired.
func (tx *Tx) SetString(key, value []byte, deadline int64) error {
	if err := tx.countWrite(key, true, deadline, true); err != nil {
		return err
	}
	op := tx.b.SetDeferred(len(tx.prefix)+len(key), stringRecordLen(len(value), deadline))
	copy(op.Key, tx.prefix)
	copy(op.Key[len(tx.prefix):], key)
	tx.wroteKey(op.Key)
	tx.lastColl.forget(key)
	rec := appendRecordHeader(op.Value[:0], TypeString, deadline)
	copy(op.Value[len(rec):], value)
	if err := op.Finish(); err != nil {
		return err
	}
	if err := tx.indexDeadline(key, deadline); err != nil {
		return err
	}
	tx.Emit(Access{Op: "set", Key: key, Value: value})
	if deadline != 0 {
		tx.Emit(Access{Op: "pexpireat", Key: key, At: deadline})
	}
	tx.wrote(key)
	return nil
}

func (tx *Tx) indexDeadline(key []byte, deadline int64) error {
	if deadline == 0 {
		return nil
	}
	if tx.minDeadline == 0 || deadline < tx.minDeadline {
		tx.minDeadline = deadline
	}
	tx.scratch = expireKey(tx.scratch, deadline, tx.ks, key)
	return tx.b.Set(tx.scratch, nil, nil)
}

// Delete removes key, whatever its type, and reports whether it existed.
// A collection's elements go with one range deletion. Deleting a missing
// key is not a mutation.
func (tx *Tx) Delete(key []byte) (bool, error) {
	m, ok, err := tx.lookup(key)
	if !ok || err != nil {
		return false, err
	}
	if err := tx.drop(key, &m); err != nil {
		return false, err
	}
	tx.Emit(Access{Op: "del", Key: key})
	return true, nil
}

// drop deletes key's record, leaving a gone record (gone.go), and its
// elements.
func (tx *Tx) drop(key []byte, m *Meta) error {
	tx.lastColl.forget(key)
	if err := tx.dropElems(key, m); err != nil {
		return err
	}
	if err := tx.putGone(key); err != nil {
		return err
	}
	tx.wrote(key)
	return nil
}

func (tx *Tx) dropElems(key []byte, m *Meta) error {
	if !m.IsCollection() {
		return nil
	}
	group := elemGroup(nil, tx.ks, key, m.gen)
	tx.deletedRange(tagElem)
	return tx.b.DeleteRange(group, prefixEnd(group), nil)
}

// wroteKey tells the Tx's reads that the batch wrote the record or
// element stored: they read it from the batch, not the read cache.
func (tx *Tx) wroteKey(stored []byte) {
	if tx.cache == nil {
		return
	}
	if tx.batchWrites == nil {
		tx.batchWrites = new(batchWrites)
	}
	tx.batchWrites.add(tx.cache, stored)
}

// deletedRange tells the Tx's reads that the batch deleted a range of
// records (tag tagData) or elements (tagElem): from now on they read every
// key of that kind from the batch.
func (tx *Tx) deletedRange(tag byte) {
	if tx.batchWrites == nil {
		tx.batchWrites = new(batchWrites)
	}
	switch tag {
	case tagData:
		tx.batchWrites.recordRanges = true
	case tagElem:
		tx.batchWrites.elemRanges = true
	}
}

// expire deletes a key found past its deadline (lookup's hook in a Tx).
// Its record is deleted for real: an expired key is rarely written again
// at once, so it needs no gone record.
func (tx *Tx) expire(key []byte, m *Meta) error {
	tx.lastColl.forget(key)
	if err := tx.dropElems(key, m); err != nil {
		return err
	}
	tx.counts.change(true, m.Deadline, false, 0)
	tx.remember(key, false, 0)
	stored := tx.encodeKey(key)
	tx.wroteKey(stored)
	if err := tx.b.Delete(stored, nil); err != nil {
		return err
	}
	tx.wrote(key)
	tx.Emit(Access{Op: "expired", Key: key})
	if tx.onExpire != nil {
		tx.onExpire(tx, key)
	}
	return nil
}

// SetDeadline sets the deadline of an existing key (0 removes it, as
// PERSIST) and reports whether the key exists.
func (tx *Tx) SetDeadline(key []byte, deadline int64) (bool, error) {
	m, ok, err := tx.lookup(key)
	if !ok || err != nil {
		return false, err
	}
	m.Deadline = deadline
	if err := tx.putRecord(key, &m); err != nil {
		return false, err
	}
	if deadline == 0 {
		tx.Emit(Access{Op: "persist", Key: key})
	} else {
		tx.Emit(Access{Op: "pexpireat", Key: key, At: deadline})
	}
	return true, nil
}

func (tx *Tx) putRecord(key []byte, m *Meta) error {
	if err := tx.countWrite(key, true, m.Deadline, false); err != nil {
		return err
	}
	tx.scratch = encodeRecord(tx.scratch, m)
	stored := tx.encodeKey(key)
	tx.wroteKey(stored)
	if err := tx.b.Set(stored, tx.scratch, nil); err != nil {
		return err
	}
	if err := tx.indexDeadline(key, m.Deadline); err != nil {
		return err
	}
	tx.wrote(key)
	tx.lastColl.wrote(key, m)
	return nil
}

// NewCollection returns the metadata of a new, empty collection of type t
// for key, with a generation of its own; nothing is written until PutMeta.
// The caller has checked that key does not exist (or deleted it).
func (tx *Tx) NewCollection(t Type) Meta {
	tx.gens++
	return Meta{Type: t, gen: (tx.lastSeq+1)<<24 | tx.gens&(1<<24-1)}
}

// PutMeta writes a collection's metadata after its elements changed. A
// collection left empty is deleted (as Redis deletes empty collections),
// except a stream, which may be empty.
func (tx *Tx) PutMeta(key []byte, m *Meta) error {
	if m.Count <= 0 && m.Type != TypeStream {
		return tx.drop(key, m)
	}
	return tx.putRecord(key, m)
}

// SetElem sets the element sub of the collection key (described by m).
// The caller keeps m.Count and calls PutMeta.
func (tx *Tx) SetElem(key []byte, m *Meta, sub, val []byte) error {
	tx.elemBuf2 = append(elemGroup(tx.elemBuf2, tx.ks, key, m.gen), sub...)
	tx.wroteKey(tx.elemBuf2)
	tx.wrote(key)
	return tx.b.Set(tx.elemBuf2, val, nil)
}

// DelElem deletes the element sub of the collection key (described by m).
func (tx *Tx) DelElem(key []byte, m *Meta, sub []byte) error {
	tx.elemBuf2 = append(elemGroup(tx.elemBuf2, tx.ks, key, m.gen), sub...)
	tx.wroteKey(tx.elemBuf2)
	tx.wrote(key)
	return tx.b.Delete(tx.elemBuf2, nil)
}

// CopyTo writes the value of src (described by m, read from this
// keyspace) to dst in the keyspace of to (tx itself or another keyspace's
// Tx in the same store), replacing dst. The copy keeps m's deadline.
// Collections are copied element by element (Redis's COPY, RENAME and MOVE
// are O(N) too) and announced as "copy" (Key: src, To: dst, Value: the
// source keyspace when it is another one), a string as "set".
func (tx *Tx) CopyTo(to *Tx, src, dst []byte, m *Meta) error {
	if old, ok, err := to.lookup(dst); err != nil {
		return err
	} else if ok {
		if err := to.drop(dst, &old); err != nil {
			return err
		}
	}
	if !m.IsCollection() {
		return to.SetString(dst, m.Value, m.Deadline)
	}
	n := to.NewCollection(m.Type)
	n.Count, n.Aux, n.Deadline = m.Count, m.Aux, m.Deadline
	var werr error
	err := tx.Elems(src, m, ElemRange{}, func(sub, val []byte) bool {
		werr = to.SetElem(dst, &n, sub, val)
		return werr == nil
	})
	if err = errors.Join(err, werr); err != nil {
		return err
	}
	if err := to.putRecord(dst, &n); err != nil {
		return err
	}
	a := Access{Op: "copy", Key: src, To: dst}
	if to.ks != tx.ks {
		a.Value = []byte(tx.ks) // the source keyspace
	}
	to.Emit(a)
	return nil
}

// Listening reports whether the keyspace's events have a subscriber: notes
// are only kept then, so a note that is costly to build can be skipped.
func (tx *Tx) Listening() bool { return tx.notes != nil }

// Note attaches n to the batch: the flushed event of a committed batch
// carries its ops' notes, in order (a failed batch carries none). The server
// uses notes for Redis keyspace notifications. Notes are dropped when
// nobody subscribes to the keyspace's events.
func (tx *Tx) Note(n any) {
	if tx.notes != nil {
		*tx.notes = append(*tx.notes, n)
	}
}

// Clear removes every key of the keyspace, with range deletions of its
// records and elements (O(1) whatever it holds).
func (tx *Tx) Clear() error {
	tx.watches.touchExisting(func(key []byte) bool {
		ok, err := tx.Exists(key)
		return ok || err != nil
	})
	tx.lastColl = collRecord{}
	tx.deletedRange(tagData)
	if err := tx.b.DeleteRange(tx.prefix, tx.end, nil); err != nil {
		return err
	}
	elems := keyspacePrefix(tagElem, tx.ks)
	tx.deletedRange(tagElem)
	if err := tx.b.DeleteRange(elems, prefixEnd(elems), nil); err != nil {
		return err
	}
	tx.changed, tx.dirty = true, true
	tx.counts = keyCounts{}
	tx.recent.reset()
	if tx.written != nil {
		tx.written.all = true
	}
	tx.Emit(Access{Op: "flushdb"})
	return nil
}
