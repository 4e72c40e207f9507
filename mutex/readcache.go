package mutex

import (
	"bytes"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// The read cache holds the stored records (tagData keys: a string's value,
// a collection's metadata) that read phases read recently, by their Pebble
// key, and the keys they found absent (as an empty record: a stored one
// never is), so that a hot key is answered from a Go map instead of a descent
// through Pebble's memtable skiplists (most of a GET's CPU when its key is
// in a memtable). It is bounded in bytes (Options.ReadCacheSize) and
// evicts by CLOCK: a hit marks its entry, the hand passes over marked
// entries once and evicts the first unmarked one.
//
// Coherence. The cache is a copy of what Pebble holds, never newer or
// older, because:
//   - every batch committed to Pebble goes through Store.commit, which,
//     once the batch is applied, walks it and replaces or drops each
//     cached record it sets or deletes (a range deletion that reaches
//     records drops every entry); a failed commit, a reopened database and
//     a restored snapshot drop everything;
//   - a record read from Pebble enters the cache only if no write touched
//     its shard since the read began (the shard's epoch, which every write
//     to the shard moves on), so a fill never brings back a value that a
//     concurrent commit replaced;
//   - only read phases use it (Reader.cache, set in readShare while the
//     phase reads the database itself, not a recovery snapshot). A
//     keyspace's write phase, which alone writes its records, never
//     overlaps its read phases, and it updates the cache before its
//     requests are answered, so a read phase sees exactly the batches
//     committed before it.
//
// Element keys (hash fields, set members …) are not cached: partial range
// deletions of a live collection's elements (stream trims) would have to
// find every cached key in the range.
type readCache struct {
	seed   maphash.Seed
	shards [readCacheShards]readCacheShard
	hits   atomic.Uint64
	misses atomic.Uint64
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
// and record bytes: the slot, the index's map entry and the two
// allocations' headers.
const readCacheEntryOverhead = 96

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
	key    string
	record []byte // never modified once cached: a write replaces it; empty: absent
	used   bool
	ref    atomic.Bool // hit since the hand last passed
}

func newReadCache(size int64) *readCache {
	c := &readCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].index = map[string]int32{}
	}
	c.resize(size)
	return c
}

func entrySize(key string, record []byte) int64 {
	return int64(len(key)+len(record)) + readCacheEntryOverhead
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

// get returns key's cached record, or the shard's epoch to pass to fill
// once the record is read from Pebble. The record must not be modified.
func (c *readCache) get(key []byte) (record []byte, epoch uint64, ok bool) {
	sh := c.shard(key)
	sh.mu.RLock()
	i, ok := sh.index[string(key)]
	if ok {
		s := &sh.slots[i]
		record = s.record
		if !s.ref.Load() {
			s.ref.Store(true)
		}
	} else {
		epoch = sh.epoch
	}
	sh.mu.RUnlock()
	return record, epoch, ok
}

// fill caches a copy of record (empty: the key is absent), read from
// Pebble since get returned epoch, unless a write touched the shard since.
func (c *readCache) fill(key, record []byte, epoch uint64) {
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.epoch != epoch || sh.limit == 0 {
		return
	}
	if _, ok := sh.index[string(key)]; ok {
		return
	}
	k := string(key)
	size := entrySize(k, record)
	if size > sh.limit/8 {
		return // one large value would evict many small ones
	}
	for sh.bytes+size > sh.limit {
		sh.evictOne()
	}
	sh.put(k, append([]byte{}, record...), size) // never nil: used tells a slot in use
}

// put stores a new entry. Caller holds sh.mu and made room.
func (sh *readCacheShard) put(key string, record []byte, size int64) {
	var i int32
	if n := len(sh.free); n > 0 {
		i, sh.free = sh.free[n-1], sh.free[:n-1]
	} else {
		sh.slots = append(sh.slots, readCacheSlot{})
		i = int32(len(sh.slots) - 1)
	}
	s := &sh.slots[i]
	s.key, s.record, s.used = key, record, true
	s.ref.Store(false)
	sh.index[key] = i
	sh.bytes += size
	sh.filled++
}

// remove empties slot i. Caller holds sh.mu.
func (sh *readCacheShard) remove(i int32) {
	s := &sh.slots[i]
	delete(sh.index, s.key)
	sh.bytes -= entrySize(s.key, s.record)
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

// written applies one committed write to a record: set (record non-nil)
// replaces a cached entry, delete drops it.
func (c *readCache) written(key, record []byte, deleted bool) {
	sh := c.shard(key)
	sh.mu.Lock()
	sh.epoch++
	if i, ok := sh.index[string(key)]; ok {
		s := &sh.slots[i]
		size := entrySize(s.key, record)
		if deleted || size > sh.limit/8 {
			sh.remove(i)
		} else {
			sh.bytes += size - entrySize(s.key, s.record)
			s.record = bytes.Clone(record)
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
			if isRecordKey(key) {
				c.written(key, value, false)
			}
		case pebble.InternalKeyKindDelete, pebble.InternalKeyKindSingleDelete, pebble.InternalKeyKindDeleteSized:
			if isRecordKey(key) {
				c.written(key, nil, true)
			}
		case pebble.InternalKeyKindRangeDelete:
			// value is the range's end: does [key, value) reach a record?
			if bytes.Compare(key, []byte{tagData + 1}) < 0 && bytes.Compare(value, []byte{tagData}) > 0 {
				c.clear()
			}
		case pebble.InternalKeyKindLogData:
		default:
			if isRecordKey(key) { // no other kind writes records today
				c.clear()
			}
		}
	}
}

func isRecordKey(key []byte) bool { return len(key) > 0 && key[0] == tagData }

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
