package mutex

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"

	"github.com/cockroachdb/pebble/v2"
)

// Key counts. Each keyspace keeps how many records it holds (INFO's keys),
// how many of them carry a deadline (expires) and the sum of those
// deadlines (avg_ttl), so that INFO never scans. The write phase keeps them
// where it already knows what a write replaces: the Tx remembers the
// records its ops read (recentKeys), and a write that deletes or replaces
// a record its op read first (DEL, expiry, PutMeta, SetDeadline, SET NX,
// COPY …) changes the counts exactly. A plain SET does not read what it
// overwrites (a read would double its cost), so it counts as creating a
// key with its deadline, and it is counted as blind: the counts are then
// an upper bound, exact again after FLUSHDB or a count by scan (DBSIZE).
// The counts are stored with the batch number, in the same Pebble batch,
// so they survive restarts and crashes as exactly as the data.
//
// A key is counted from its write until its record is deleted, as Redis
// counts a key until it is reclaimed: one past its deadline that the
// expirer has not reached yet still counts. Gone records (gone.go) do not.

// keyCounts are a keyspace's counts in one committed state (or in the
// batch being built).
type keyCounts struct {
	keys, expires int64
	deadlines     wideSum // of the deadlines of the keys that have one, ms
	blind         int64   // SETs counted as creating their key since the counts were last exact
}

// exact reports whether the counts are the keyspace's true ones.
func (c *keyCounts) exact() bool { return c.blind == 0 }

// change accounts for one record: was (live, with deadline wasAt) before,
// is (with deadline isAt) now.
func (c *keyCounts) change(was bool, wasAt int64, is bool, isAt int64) {
	if was {
		c.keys--
		if wasAt != 0 {
			c.expires--
			c.deadlines.add(-wasAt)
		}
	}
	if is {
		c.keys++
		if isAt != 0 {
			c.expires++
			c.deadlines.add(isAt)
		}
	}
}

// wideSum is a signed 128-bit sum: a billion deadlines in ms overflow 64.
type wideSum struct {
	hi int64
	lo uint64
}

func (w *wideSum) add(v int64) {
	var carry uint64
	w.lo, carry = bits.Add64(w.lo, uint64(v), 0)
	w.hi += int64(carry)
	if v < 0 {
		w.hi-- // sign extension of v
	}
}

func (w wideSum) float() float64 { return float64(w.hi)*(1<<64) + float64(w.lo) }

// encodeSeqRecord is a keyspace's tagSeq record: its batch number, then
// its counts.
func encodeSeqRecord(dst []byte, seq uint64, c *keyCounts) []byte {
	dst = binary.BigEndian.AppendUint64(dst[:0], seq)
	dst = binary.AppendVarint(dst, c.keys)
	dst = binary.AppendVarint(dst, c.expires)
	dst = binary.AppendVarint(dst, c.deadlines.hi)
	dst = binary.AppendUvarint(dst, c.deadlines.lo)
	return binary.AppendVarint(dst, c.blind)
}

// decodeSeqRecord is the inverse of encodeSeqRecord. A record of 8 bytes
// (a keyspace that never held a key, or one written before format 4
// upgraded it) has zero counts.
func decodeSeqRecord(b []byte) (seq uint64, c keyCounts, err error) {
	if len(b) < 8 {
		return 0, c, errCorruptSeq(b)
	}
	seq, p := binary.BigEndian.Uint64(b), b[8:]
	if len(p) == 0 {
		return seq, c, nil
	}
	var ok bool
	fields := []*int64{&c.keys, &c.expires, &c.deadlines.hi}
	for _, f := range fields {
		if *f, p, ok = varint(p); !ok {
			return 0, c, errCorruptSeq(b)
		}
	}
	lo, w := binary.Uvarint(p)
	if w <= 0 {
		return 0, c, errCorruptSeq(b)
	}
	c.deadlines.lo = lo
	if c.blind, p, ok = varint(p[w:]); !ok || len(p) != 0 {
		return 0, c, errCorruptSeq(b)
	}
	return seq, c, nil
}

func varint(p []byte) (int64, []byte, bool) {
	v, w := binary.Varint(p)
	if w <= 0 {
		return 0, nil, false
	}
	return v, p[w:], true
}

func errCorruptSeq(b []byte) error { return fmt.Errorf("mutex: corrupt batch number record %x", b) }

// KeyCount is a keyspace's key counts: live keys, those of them with a
// deadline, and the mean of those deadlines (ms since the epoch). Exact is
// false when plain SETs since the last exact count may have replaced keys
// rather than created them: the counts are then an upper bound.
type KeyCount struct {
	Keys, Expires int64
	MeanDeadline  float64
	Exact         bool
}

func (c *keyCounts) public() KeyCount {
	out := KeyCount{Keys: c.keys, Expires: c.expires, Exact: c.exact()}
	if c.expires > 0 {
		out.MeanDeadline = c.deadlines.float() / float64(c.expires)
	}
	return out
}

// KeyCount returns the keyspace's counts in its last committed state. It
// reads memory only, without queueing in the mutex (INFO may run inside a
// transaction, in the keyspace's own write phase).
func (k *Keyspace) KeyCount() KeyCount {
	k.inMu.Lock()
	evicted := k.evicted
	k.inMu.Unlock()
	if evicted {
		if live, err := k.live(); err == nil {
			return live.KeyCount()
		}
	}
	k.countsMu.Lock()
	defer k.countsMu.Unlock()
	return k.counts.public()
}

// recentKeys is what a Tx knows of the records its ops last read or wrote:
// whether each is live and its deadline, in the batch's current state. A
// few entries cover an op's own keys (a command reads a key, then writes
// it); a write to a key not there reads it (or, for a plain SET, counts
// blind).
type recentKeys struct {
	e    [8]recentKey
	next int
}

type recentKey struct {
	key      []byte // nil: unused
	live     bool
	deadline int64
}

func (c *recentKeys) find(key []byte) *recentKey {
	if c == nil {
		return nil
	}
	for i := range c.e {
		if e := &c.e[i]; e.key != nil && bytes.Equal(e.key, key) {
			return e
		}
	}
	return nil
}

// remember records key's state, replacing the oldest entry if key has none.
func (c *recentKeys) remember(key []byte, live bool, deadline int64) {
	e := c.find(key)
	if e == nil {
		e = &c.e[c.next]
		c.next = (c.next + 1) % len(c.e)
		e.key = append(e.key[:0], key...)
		if e.key == nil {
			e.key = []byte{}
		}
	}
	e.live, e.deadline = live, deadline
}

func (c *recentKeys) reset() {
	if c == nil {
		return
	}
	for i := range c.e {
		c.e[i].key = nil
	}
}

// sawRecord is the Tx's Reader hook: every record it reads is remembered.
func (tx *Tx) sawRecord(key []byte, m *Meta, found bool) {
	live := found && !m.isGone()
	deadline := int64(0)
	if live {
		deadline = m.Deadline
	}
	tx.remember(key, live, deadline)
}

// remember records key's state in the Tx's recent keys.
func (tx *Tx) remember(key []byte, live bool, deadline int64) {
	if tx.recent == nil {
		tx.recent = new(recentKeys) // a batch of plain SETs never needs them
	}
	tx.recent.remember(key, live, deadline)
}

// countWrite accounts for key's record becoming live with deadline (live)
// or deleted (a gone record, or none). Call it before writing the record:
// what the record was comes from the Tx's recent keys, or else from a read
// (blind: a plain SET, which counts as creating the key instead).
func (tx *Tx) countWrite(key []byte, live bool, deadline int64, blind bool) error {
	if !live {
		deadline = 0
	}
	e := tx.recent.find(key)
	switch {
	case e != nil:
		tx.counts.change(e.live, e.deadline, live, deadline)
		e.live, e.deadline = live, deadline
	case blind:
		tx.counts.change(false, 0, live, deadline)
		tx.counts.blind++
	default:
		m, found, err := tx.storedRecord(key) // sawRecord remembers it
		if err != nil {
			return err
		}
		was := found && !m.isGone()
		tx.counts.change(was, m.Deadline, live, deadline)
		tx.remember(key, live, deadline)
	}
	return nil
}

// countRecords counts the records in [lower, upper) of r, and how many of
// them are live at now (past no deadline): a count by scan.
func countRecords(r pebble.Reader, lower, upper []byte, now int64) (c keyCounts, live int64, err error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return c, 0, err
	}
	for valid := it.First(); valid; valid = it.Next() {
		raw, err := it.ValueAndErr()
		if err != nil {
			break
		}
		m, err := decodeRecord(raw)
		if err != nil {
			it.Close()
			return c, 0, err
		}
		if m.isGone() {
			continue
		}
		c.change(false, 0, true, m.Deadline)
		if m.Deadline == 0 || now <= m.Deadline {
			live++
		}
	}
	return c, live, errors.Join(it.Error(), it.Close())
}

// Count returns the number of live keys in the keyspace (DBSIZE). From the
// counts when they are exact and no key has a deadline (none can be past
// it); otherwise by scan, which makes the counts exact again.
func (r *Reader) Count() (int64, error) {
	r.record(Access{Op: "count"})
	if r.stateCounts != nil {
		if r.stateCountsMu != nil {
			r.stateCountsMu.Lock()
		}
		c := *r.stateCounts
		if r.stateCountsMu != nil {
			r.stateCountsMu.Unlock()
		}
		if c.exact() && c.expires == 0 {
			return c.keys, nil
		}
	}
	c, live, err := countRecords(r.r, r.prefix, r.end, r.now)
	if err != nil {
		return 0, err
	}
	if r.stateCounts != nil {
		if r.stateCountsMu != nil {
			r.stateCountsMu.Lock()
			defer r.stateCountsMu.Unlock()
		}
		*r.stateCounts = c
	}
	return live, nil
}

// upgradeCounts computes, once, the counts of every keyspace of a database
// written before format 4, and stores them in its batch number records;
// the format version is set in the last batch, so an upgrade cut short is
// done again at the next open.
func upgradeCounts(db *pebble.DB) error {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{tagData}, UpperBound: []byte{tagData + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	b := db.NewBatch()
	defer func() { b.Close() }()
	for valid := it.First(); valid; {
		name, ok := decodeKeyspaceName(it.Key())
		if !ok {
			return errors.New("mutex: corrupt record key")
		}
		prefix := keyspacePrefix(tagData, name)
		end := prefixEnd(prefix)
		c, _, err := countRecords(db, prefix, end, 0)
		if err != nil {
			return err
		}
		seqKey := keyspacePrefix(tagSeq, name)
		var seq uint64
		switch v, closer, err := db.Get(seqKey); {
		case errors.Is(err, pebble.ErrNotFound):
		case err != nil:
			return err
		default:
			seq, _, err = decodeSeqRecord(v)
			closer.Close()
			if err != nil {
				return err
			}
		}
		if err := b.Set(seqKey, encodeSeqRecord(nil, seq, &c), nil); err != nil {
			return err
		}
		if b.Len() > 16<<20 { // bounded memory: commit in parts
			if err := pebbleCommit(b, pebble.NoSync); err != nil {
				return err
			}
			b.Close()
			b = db.NewBatch()
		}
		valid = it.SeekGE(end)
	}
	if err := it.Error(); err != nil {
		return err
	}
	if err := b.Set(formatKey, []byte(formatVersionText), nil); err != nil {
		return err
	}
	return pebbleCommit(b, pebble.Sync)
}
