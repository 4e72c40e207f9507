package mutex

import (
	"bytes"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// The read cache holds the stored records (tagData keys: a string's value,
// a collection's metadata) and the elements (tagElem keys: hash fields, set
// and sorted-set members, list items) that phases read recently, by their
// Pebble key, and the keys they found absent, so that a hot key is
// answered from a Go map instead of a descent through Pebble's memtable
// skiplists (most of a GET's or SISMEMBER's CPU when its key is in a
// memtable). It is bounded in bytes (Options.ReadCacheSize) and evicts by
// CLOCK: a hit marks its entry, the hand passes over marked entries once
// and evicts the first unmarked one.
//
// Coherence. The cache is a copy of what Pebble holds, never newer or
// older, because:
//   - every batch committed to Pebble goes through Store.commit, which,
//     once the batch is applied, walks it and replaces or drops each
//     cached key it sets or deletes. A range deletion that reaches records
//     drops every entry; one that reaches elements (a collection deleted,
//     FLUSHDB, a stream group destroyed) moves the element epoch on, which
//     makes every element cached before it a miss. A failed commit, a
//     reopened database and a restored snapshot drop everything;
//   - a key read from Pebble enters the cache only if no write touched its
//     shard (and, for an element, no element range deletion happened)
//     since the read began: its ticket from get, so a fill never brings
//     back a value that a concurrent commit replaced;
//   - a read phase uses it while it reads the database itself, not a
//     recovery snapshot. A keyspace's write phase, which alone writes its
//     keys, never overlaps its read phases, and it updates the cache before
//     its requests are answered, so a read phase sees exactly the batches
//     committed before it;
//   - a write phase reads through the cache only the records, and the
//     elements of hashes, sets, sorted sets and lists, that its own batch
//     has not written: Tx's batchWrites filter, fed by every write of a
//     record (SetString, putRecord, putGone, expire, the expirer's gone
//     deletion) and of those elements (SetElem and DelElem, their only
//     writers), and off for the rest of the batch for the kind a range
//     deletion reached. Everything else it reads from its batch.
type readCache struct {
	seed      maphash.Seed
	shards    [readCacheShards]readCacheShard
	elemEpoch atomic.Uint64 // moved on by every range deletion of elements
	hits      atomic.Uint64
	misses    atomic.Uint64
}

const readCacheShards = 64

// DefaultReadCacheSize is the read cache's bound when Options leave it 0.
const DefaultReadCacheSize = 32 << 20

// ReadCacheStats returns the read cache's counters.
func (s *Store) ReadCacheStats() ReadCacheStats { return s.rcache.stats() }

// SetReadCacheSize bounds the read cache at size bytes from now on (0
// turns it off), evicting what no longer fits.
func (s *Store) SetReadCacheSize(size int64) { s.rcache.resize(max(size, 0)) }

// readCacheEntryOverhead approximates an entry's memory beyond its key
// and value bytes: the slot (56 bytes, in a slice that grows by doubling),
// the index's map entry (about 32) and the two allocations' rounding up to
// their size classes. Measured: 148k entries of a 19-byte key and a
// 103-byte record held 70 MB of Go heap, 470 bytes each at the heap's
// peak, about 280 live (the Go collector lets the heap grow to twice what
// is live before it runs).
const readCacheEntryOverhead = 160

type readCacheShard struct {
	mu     sync.RWMutex
	epoch  uint64 // moved on by every write to the shard's keys
	index  map[string]int32
	slots  []readCacheSlot
	free   []int32 // indexes of empty slots
	hand   int
	bytes  int64 // the entries' size (entrySize)
	limit  int64
	filled int      // entries
	_      [64]byte // keeps neighbouring shards' locks off one cache line
}

type readCacheSlot struct {
	key       string
	value     []byte // never modified once cached: a write replaces it
	elemEpoch uint64 // an element's: the cache's element epoch when it was read
	used      bool
	absent    bool        // the key does not exist
	ref       atomic.Bool // hit since the hand last passed
}

// readTicket is what a miss hands to fill: the state the read began in.
type readTicket struct{ epoch, elemEpoch uint64 }

func newReadCache(size int64) *readCache {
	c := &readCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].index = map[string]int32{}
	}
	c.resize(size)
	return c
}

func entrySize(key string, value []byte) int64 {
	return int64(len(key)+len(value)) + readCacheEntryOverhead
}

func (c *readCache) shard(key []byte) *readCacheShard {
	return &c.shards[maphash.Bytes(c.seed, key)%readCacheShards]
}

// resize sets the cache's bound in bytes (0 turns it off), evicting what
// no longer fits.
func (c *readCache) resize(size int64) {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.limit = size / readCacheShards
		for sh.bytes > sh.limit {
			sh.evictOne()
		}
		sh.mu.Unlock()
	}
}

// get looks key up. On a hit it returns the value (which must not be
// modified) or found false for a key cached as absent; on a miss, the
// ticket to pass to fill once the key is read from Pebble.
func (c *readCache) get(key []byte) (value []byte, found, hit bool, t readTicket) {
	elems := c.elemEpoch.Load()
	sh := c.shard(key)
	sh.mu.RLock()
	i, hit := sh.index[string(key)]
	if hit {
		s := &sh.slots[i]
		if key[0] == tagElem && s.elemEpoch != elems {
			hit = false // cached before a range deletion of elements
		} else {
			value, found = s.value, !s.absent
			if !s.ref.Load() {
				s.ref.Store(true)
			}
		}
	}
	if !hit {
		t = readTicket{sh.epoch, elems}
	}
	sh.mu.RUnlock()
	return value, found, hit, t
}

// fill caches a copy of value (found false: the key is absent), read from
// Pebble since get handed out t, unless a write touched the shard or an
// element range deletion happened since.
func (c *readCache) fill(key, value []byte, found bool, t readTicket) {
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.epoch != t.epoch || c.elemEpoch.Load() != t.elemEpoch || sh.limit == 0 {
		return
	}
	if i, ok := sh.index[string(key)]; ok {
		if sh.slots[i].elemEpoch == t.elemEpoch {
			return // another reader filled it
		}
		sh.remove(i) // stale: cached before an element range deletion
	}
	k := string(key)
	size := entrySize(k, value)
	if size > sh.limit/8 {
		return // one large value would evict many small ones
	}
	for sh.bytes+size > sh.limit {
		sh.evictOne()
	}
	sh.put(k, exactCopy(value), !found, t.elemEpoch, size)
}

// exactCopy copies v into a slice whose capacity is its length: readers
// may keep a cached value, and an append to it must not write into it.
func exactCopy(v []byte) []byte {
	c := make([]byte, len(v))
	copy(c, v)
	return c
}

// put stores a new entry. Caller holds sh.mu and made room.
func (sh *readCacheShard) put(key string, value []byte, absent bool, elemEpoch uint64, size int64) {
	var i int32
	if n := len(sh.free); n > 0 {
		i, sh.free = sh.free[n-1], sh.free[:n-1]
	} else {
		sh.slots = append(sh.slots, readCacheSlot{})
		i = int32(len(sh.slots) - 1)
	}
	s := &sh.slots[i]
	s.key, s.value, s.absent, s.elemEpoch, s.used = key, value, absent, elemEpoch, true
	s.ref.Store(false)
	sh.index[key] = i
	sh.bytes += size
	sh.filled++
}

// remove empties slot i. Caller holds sh.mu.
func (sh *readCacheShard) remove(i int32) {
	s := &sh.slots[i]
	delete(sh.index, s.key)
	sh.bytes -= entrySize(s.key, s.value)
	sh.filled--
	*s = readCacheSlot{}
	sh.free = append(sh.free, i)
}

// evictOne removes one entry by CLOCK. Caller holds sh.mu; the shard is
// not empty.
func (sh *readCacheShard) evictOne() {
	for {
		if sh.hand >= len(sh.slots) {
			sh.hand = 0
		}
		i := int32(sh.hand)
		sh.hand++
		s := &sh.slots[i]
		switch {
		case !s.used:
		case s.ref.Load():
			s.ref.Store(false)
		default:
			sh.remove(i)
			return
		}
	}
}

// written applies one committed write of a cached kind of key: a set
// replaces a cached entry with value, a delete drops it.
func (c *readCache) written(key, value []byte, deleted bool) {
	sh := c.shard(key)
	sh.mu.Lock()
	sh.epoch++
	if i, ok := sh.index[string(key)]; ok {
		s := &sh.slots[i]
		size := entrySize(s.key, value)
		if deleted || size > sh.limit/8 {
			sh.remove(i)
		} else {
			sh.bytes += size - entrySize(s.key, s.value)
			s.value, s.absent, s.elemEpoch = exactCopy(value), false, c.elemEpoch.Load()
			for sh.bytes > sh.limit {
				sh.evictOne()
			}
		}
	}
	sh.mu.Unlock()
}

// clear drops every entry.
func (c *readCache) clear() {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.epoch++
		clear(sh.index)
		sh.slots, sh.free, sh.hand, sh.bytes, sh.filled = sh.slots[:0], sh.free[:0], 0, 0, 0
		sh.mu.Unlock()
	}
}

// applied brings the cache up to date with batch b, just committed.
func (c *readCache) applied(b *pebble.Batch) {
	if b.Empty() {
		return
	}
	r := b.Reader()
	for {
		kind, key, value, ok, err := r.Next()
		if err != nil {
			c.clear() // cannot tell what it wrote
			return
		}
		if !ok {
			return
		}
		switch kind {
		case pebble.InternalKeyKindSet:
			if isCachedKey(key) {
				c.written(key, value, false)
			}
		case pebble.InternalKeyKindDelete, pebble.InternalKeyKindSingleDelete, pebble.InternalKeyKindDeleteSized:
			if isCachedKey(key) {
				c.written(key, nil, true)
			}
		case pebble.InternalKeyKindRangeDelete:
			// value is the range's end: does [key, value) reach records or elements?
			if reaches(key, value, tagData) {
				c.clear()
			}
			if reaches(key, value, tagElem) {
				c.elemEpoch.Add(1)
			}
		case pebble.InternalKeyKindLogData:
		default:
			if isCachedKey(key) { // no other kind writes them today
				c.clear()
			}
		}
	}
}

// isCachedKey reports whether key is of a kind the cache holds.
func isCachedKey(key []byte) bool {
	return len(key) > 0 && (key[0] == tagData || key[0] == tagElem)
}

// reaches reports whether [start, end) holds keys tagged tag.
func reaches(start, end []byte, tag byte) bool {
	return bytes.Compare(start, []byte{tag + 1}) < 0 && bytes.Compare(end, []byte{tag}) > 0
}

// batchWrites remembers, approximately, which records and elements a
// batch wrote: a one-hash Bloom filter of their Pebble keys (a false
// positive only sends a read to the batch), and whether it deleted a range
// of records or of elements (then every read of that kind goes to the
// batch).
type batchWrites struct {
	bits                     [batchWriteBits / 64]uint64
	recordRanges, elemRanges bool
}

const batchWriteBits = 1 << 14

func (w *batchWrites) add(c *readCache, key []byte) {
	h := maphash.Bytes(c.seed, key) % batchWriteBits
	w.bits[h/64] |= 1 << (h % 64)
}

func (w *batchWrites) mayHave(c *readCache, key []byte) bool {
	if key[0] == tagData && w.recordRanges || key[0] == tagElem && w.elemRanges {
		return true
	}
	h := maphash.Bytes(c.seed, key) % batchWriteBits
	return w.bits[h/64]&(1<<(h%64)) != 0
}

// ReadCacheStats are the read cache's counters.
type ReadCacheStats struct {
	Hits, Misses uint64
	Bytes        int64 // the entries' approximate memory
	Entries      int
	Limit        int64
}

func (c *readCache) stats() ReadCacheStats {
	st := ReadCacheStats{Hits: c.hits.Load(), Misses: c.misses.Load()}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		st.Bytes += sh.bytes
		st.Entries += sh.filled
		st.Limit += sh.limit
		sh.mu.RUnlock()
	}
	return st
}
