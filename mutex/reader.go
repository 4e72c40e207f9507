package mutex

import (
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// Access describes one operation for the reads and writes events.
//
// Reads: "get", "exists", "peekfirst", "peeklast", "scan" (Key: where it
// resumes), "count", "elems" (a collection read).
//
// Writes, in a vocabulary that replays (see AppendJSON): "set" (Key,
// Value), "del", "expired", "persist", "pexpireat" (At), "flushdb", and the
// collection writes the commands define (Op named after the Redis command,
// Items holding its fields, members or elements, At an integer where one
// applies, To a second key).
type Access struct {
	Op    string
	Key   []byte
	Value []byte
	Range *Range
	Items [][]byte
	At    int64
	To    []byte
	// Pairs says Items are field/value pairs (rendered as a JSON object).
	Pairs bool
}

// Reader reads one keyspace. In a read phase it reads the state left by the
// last committed batch; inside a Tx it reads the batch being built. Every
// read sees one clock (Now): a key whose deadline has passed does not
// exist for it.
type Reader struct {
	r pebble.Reader
	// cache is the store's read cache (readcache.go), nil when off or
	// when the phase reads a recovery snapshot. A read phase reads records
	// and elements through it; a Tx (inTx) only the keys its batch has not
	// written (batchWrites, nil until it writes one).
	cache       *readCache
	inTx        bool
	batchWrites *batchWrites
	// cacheHits and cacheMisses count this reader's lookups in cache,
	// added to its totals once the phase is done.
	cacheHits, cacheMisses uint64
	ks                     string
	prefix                 []byte // tagData‖keyspace
	end                    []byte // first key after the keyspace
	key                    []byte // scratch for encoded keys
	rec                    *[]Access
	now                    int64
	maxReply               int64                                 // Options.MaxReplyBytes, read once per phase (budget.go)
	expired                func(key []byte, m *Meta) error       // a Tx deletes what it finds expired
	seen                   func(key []byte, m *Meta, found bool) // a Tx remembers the records it read (counts.go)
	// stateCounts are the keyspace's key counts in the state read, for
	// DBSIZE; stateCountsMu guards them in a read phase (nil in a Tx,
	// which owns them).
	stateCounts   *keyCounts
	stateCountsMu *sync.Mutex
	sawDue        bool // a read phase met an expired key
	elemBuf       []byte
	elemBuf2      []byte
	// iter is reused by the peeks of a read phase (a snapshot does not
	// change); a Tx's batch does, so a Tx opens one per peek.
	iter      *pebble.Iterator
	reuseIter bool
	elemWalk  elemWalker // the read phase's reused element iterator (elems.go)
	lastColl  collRecord // the read phase's last collection record (elems.go)
}

// Now is the phase's clock, in ms since the Unix epoch: one reading per
// phase, so every op of a phase agrees on what has expired.
func (r *Reader) Now() int64 { return r.now }

// Keyspace is the name of the keyspace r reads.
func (r *Reader) Keyspace() string { return r.ks }

// close releases the reader's iterator.
func (r *Reader) close() {
	if r.iter != nil {
		r.iter.Close()
		r.iter = nil
	}
	r.elemWalk.close()
}

// newIter returns an iterator over [lower, upper) and a function to call
// when done with it.
func (r *Reader) newIter(lower, upper []byte) (*pebble.Iterator, func(), error) {
	if !r.reuseIter {
		it, err := r.r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
		if err != nil {
			return nil, nil, err
		}
		return it, func() { it.Close() }, nil
	}
	if r.iter == nil {
		it, err := r.r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
		if err != nil {
			return nil, nil, err
		}
		r.iter = it
	} else {
		r.iter.SetBounds(lower, upper)
	}
	return r.iter, func() {}, nil
}

// Record adds a to the reads event (or, in a Tx, is ignored: a Tx records
// mutations with Emit).
func (r *Reader) record(a Access) {
	if r.rec != nil {
		a.Key = bytes.Clone(a.Key)
		if a.Range != nil { // the event outlives the caller's buffers
			rng := *a.Range
			rng.Min.Key, rng.Max.Key = bytes.Clone(rng.Min.Key), bytes.Clone(rng.Max.Key)
			a.Range = &rng
		}
		*r.rec = append(*r.rec, a)
	}
}

func (r *Reader) encodeKey(key []byte) []byte {
	r.key = append(append(r.key[:0], r.prefix...), key...)
	return r.key
}

func (r *Reader) isExpired(m *Meta) bool { return m.Deadline != 0 && r.now > m.Deadline }

// rawRecord returns key's record whatever its deadline, with Value and Aux
// copied; a gone record is no record.
func (r *Reader) rawRecord(key []byte) (Meta, bool, error) {
	m, ok, err := r.storedRecord(key)
	if m.isGone() {
		return Meta{}, false, err
	}
	return m, ok, err
}

// storedRecord is rawRecord that returns gone records too.
func (r *Reader) storedRecord(key []byte) (Meta, bool, error) {
	if m, ok := r.lastColl.get(key); ok {
		if r.seen != nil {
			r.seen(key, &m, true) // the counts' recent keys stay current
		}
		return m, true, nil
	}
	stored := r.encodeKey(key)
	raw, found, closer, err := r.cachedGet(r.cacheFor(stored), stored)
	switch {
	case err != nil:
		return Meta{}, false, err
	case !found:
		return r.absent(key)
	}
	if closer != nil {
		defer closer.Close()
	}
	return r.decodeStored(key, raw, closer == nil)
}

// cachedGet reads Pebble key stored through cache (nil: from r's source
// alone). The value must not be modified. Read from Pebble, it is valid
// until closer is closed; from the cache (closer nil), it is immutable and
// stays valid.
func (r *Reader) cachedGet(cache *readCache, stored []byte) (value []byte, found bool, closer io.Closer, err error) {
	var ticket readTicket
	if cache != nil {
		v, found, hit, t := cache.get(stored)
		if hit {
			r.cacheHits++
			return v, found, nil, nil
		}
		r.cacheMisses++
		ticket = t
	}
	v, closer, err := r.r.Get(stored)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if cache != nil {
			cache.fill(stored, nil, false, ticket)
		}
		return nil, false, nil, nil
	case err != nil:
		return nil, false, nil, err
	}
	if cache != nil {
		cache.fill(stored, v, true, ticket)
	}
	return v, true, closer, nil
}

// owned returns v for a caller to keep: v itself when it came from the
// read cache (immutable, and its capacity ends at its length, so appending
// copies) and a read phase reads it, else a copy. A Tx always copies:
// commands may build a new value from the old one in place.
func (r *Reader) owned(v []byte, cached bool) []byte {
	if cached && !r.inTx {
		return v[:len(v):len(v)]
	}
	return bytes.Clone(v)
}

func (r *Reader) absent(key []byte) (Meta, bool, error) {
	if r.seen != nil {
		r.seen(key, &Meta{}, false)
	}
	return Meta{}, false, nil
}

// decodeStored decodes key's stored record raw (cached: from the read
// cache), copying what the Meta keeps where it must (owned).
func (r *Reader) decodeStored(key, raw []byte, cached bool) (Meta, bool, error) {
	m, err := decodeRecord(raw)
	if err != nil {
		return Meta{}, false, err
	}
	if m.Value != nil {
		m.Value = r.owned(m.Value, cached)
	}
	if m.Aux != nil {
		m.Aux = r.owned(m.Aux, cached)
	}
	if r.seen != nil {
		r.seen(key, &m, true)
	}
	if r.reuseIter && m.IsCollection() {
		r.lastColl.put(key, &m)
	}
	return m, true, nil
}

// lookup returns key's record if the key is live.
func (r *Reader) lookup(key []byte) (Meta, bool, error) {
	m, ok, err := r.rawRecord(key)
	if !ok || err != nil {
		return Meta{}, false, err
	}
	if r.isExpired(&m) {
		if r.expired != nil {
			return Meta{}, false, r.expired(key, &m)
		}
		r.sawDue = true
		return Meta{}, false, nil
	}
	return m, true, nil
}

// Lookup returns key's metadata (with a string's value) if the key exists.
func (r *Reader) Lookup(key []byte) (Meta, bool, error) {
	r.record(Access{Op: "get", Key: key})
	return r.lookup(key)
}

// Get returns a copy of a string key's value and whether the key exists;
// ErrWrongType if it holds another type.
func (r *Reader) Get(key []byte) ([]byte, bool, error) {
	r.record(Access{Op: "get", Key: key})
	m, ok, err := r.lookup(key)
	if !ok || err != nil {
		return nil, false, err
	}
	if m.Type != TypeString {
		return nil, false, ErrWrongType
	}
	return m.Value, true, nil
}

// Exists reports whether key exists, whatever its type.
func (r *Reader) Exists(key []byte) (bool, error) {
	r.record(Access{Op: "exists", Key: key})
	_, ok, err := r.lookup(key)
	return ok, err
}

// TypeOf returns the type of key's value, TypeNone if it does not exist.
func (r *Reader) TypeOf(key []byte) (Type, error) {
	r.record(Access{Op: "exists", Key: key})
	m, _, err := r.lookup(key)
	return m.Type, err
}

// PeekFirst returns the first string key in rng and its value; ok is false
// when the range holds none. Keys of other types are skipped.
func (r *Reader) PeekFirst(rng Range) (kv KV, ok bool, err error) {
	r.record(Access{Op: "peekfirst", Range: &rng})
	return r.peek(rng, false)
}

// PeekLast returns the last string key in rng and its value; ok is false
// when the range holds none. Keys of other types are skipped.
func (r *Reader) PeekLast(rng Range) (kv KV, ok bool, err error) {
	r.record(Access{Op: "peeklast", Range: &rng})
	return r.peek(rng, true)
}

func (r *Reader) bounds(rng Range) (lower, upper []byte) {
	lower, upper = r.prefix, r.end
	switch rng.Min.Kind {
	case Inclusive:
		lower = append(bytes.Clone(r.prefix), rng.Min.Key...)
	case Exclusive:
		lower = append(append(bytes.Clone(r.prefix), rng.Min.Key...), 0)
	}
	switch rng.Max.Kind {
	case Inclusive:
		upper = append(append(bytes.Clone(r.prefix), rng.Max.Key...), 0)
	case Exclusive:
		upper = append(bytes.Clone(r.prefix), rng.Max.Key...)
	}
	return lower, upper
}

func (r *Reader) peek(rng Range, last bool) (KV, bool, error) {
	if rng.Min.Kind == Empty || rng.Max.Kind == Empty {
		return KV{}, false, nil
	}
	lower, upper := r.bounds(rng)
	if upper != nil && bytes.Compare(lower, upper) >= 0 {
		return KV{}, false, nil
	}
	it, done, err := r.newIter(lower, upper)
	if err != nil {
		return KV{}, false, err
	}
	defer done()
	step := it.Next
	valid := it.First()
	if last {
		step, valid = it.Prev, it.Last()
	}
	for ; valid; valid = step() {
		raw, err := it.ValueAndErr()
		if err != nil {
			return KV{}, false, err
		}
		m, err := decodeRecord(raw)
		if err != nil {
			return KV{}, false, err
		}
		if m.Type != TypeString { // gone records included
			continue
		}
		if r.isExpired(&m) {
			r.sawDue = true
			continue
		}
		return KV{Key: bytes.Clone(it.Key()[len(r.prefix):]), Value: bytes.Clone(m.Value)}, true, nil
	}
	return KV{}, false, it.Error()
}

// Scan calls fn with each live key after after (from the first key when
// after is nil), in order, until fn returns false. The key passed to fn is
// only valid during the call.
func (r *Reader) Scan(after []byte, fn func(key []byte, t Type) bool) error {
	r.record(Access{Op: "scan", Key: after})
	return r.scan(after, fn)
}

func (r *Reader) scan(after []byte, fn func(key []byte, t Type) bool) error {
	lower := r.prefix
	if after != nil {
		lower = append(append(bytes.Clone(r.prefix), after...), 0)
	}
	it, done, err := r.newIter(lower, r.end)
	if err != nil {
		return err
	}
	defer done()
	for valid := it.First(); valid; valid = it.Next() {
		raw, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		m, err := decodeRecord(raw)
		if err != nil {
			return err
		}
		if m.isGone() {
			continue
		}
		if r.isExpired(&m) {
			r.sawDue = true
			continue
		}
		if !fn(it.Key()[len(r.prefix):], m.Type) {
			break
		}
	}
	return it.Error()
}

// ElemRange bounds a walk over a collection's elements by their sub-keys:
// [Start, End), nil meaning unbounded; Reverse walks from the end.
type ElemRange struct {
	Start, End []byte
	Reverse    bool
}

// Elem returns a copy of the element sub of the collection key described
// by m.
func (r *Reader) Elem(key []byte, m *Meta, sub []byte) ([]byte, bool, error) {
	r.elemBuf = append(elemGroup(r.elemBuf, r.ks, key, m.gen), sub...)
	v, found, closer, err := r.cachedGet(r.elemCache(r.elemBuf, m.Type), r.elemBuf)
	if !found || err != nil {
		return nil, false, err
	}
	if closer != nil {
		defer closer.Close()
	}
	return r.owned(v, closer == nil), true, nil
}

// countCacheLookups adds the reader's cache hits and misses to the cache's
// totals, once per phase: one shared counter per lookup would be contended.
func (r *Reader) countCacheLookups() {
	if r.cache != nil && r.cacheHits+r.cacheMisses > 0 {
		r.cache.hits.Add(r.cacheHits)
		r.cache.misses.Add(r.cacheMisses)
		r.cacheHits, r.cacheMisses = 0, 0
	}
}

// cacheFor is the cache to read the Pebble key stored through: a read
// phase's, or in a Tx the cache unless the batch may have written stored.
func (r *Reader) cacheFor(stored []byte) *readCache {
	if r.inTx && r.batchWrites != nil && r.cache != nil && r.batchWrites.mayHave(r.cache, stored) {
		return nil
	}
	return r.cache
}

// elemCache is cacheFor for the element stored of a collection of type t.
// A Tx writes hashes', sets', sorted sets' and lists' elements only with
// SetElem and DelElem, which tell batchWrites; a stream's it writes
// directly, so it reads those from its batch.
func (r *Reader) elemCache(stored []byte, t Type) *readCache {
	switch t {
	case TypeHash, TypeSet, TypeZSet, TypeList:
		return r.cacheFor(stored)
	}
	if r.inTx {
		return nil
	}
	return r.cache
}

// Elems calls fn with the sub-key and value of each element of the
// collection key (described by m) in rng, in order, until fn returns false.
// sub and val are only valid during the call.
func (r *Reader) Elems(key []byte, m *Meta, rng ElemRange, fn func(sub, val []byte) bool) error {
	group := elemGroup(nil, r.ks, key, m.gen)
	lower, upper := group, prefixEnd(group)
	if rng.Start != nil {
		lower = append(bytes.Clone(group), rng.Start...)
	}
	if rng.End != nil {
		upper = append(bytes.Clone(group), rng.End...)
	}
	it, reused, err := r.walkIter(lower, upper)
	if err != nil {
		return err
	}
	defer r.walkDone(it, reused)
	step, valid := it.Next, it.First()
	if rng.Reverse {
		step, valid = it.Prev, it.Last()
	}
	for ; valid; valid = step() {
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		if !fn(it.Key()[len(group):], v) {
			break
		}
	}
	return it.Error()
}
