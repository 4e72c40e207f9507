package mutex

import (
	"hash/maphash"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// nameFilter answers whether a keyspace name may have a batch number on
// disk, so that creating a keyspace never seen before reads nothing: a
// Pebble Get that misses still seeks the memtables' skiplists, which was a
// sixth of a new tenant's cost. It is a Bloom filter over every name with a
// batch number when the store opened and every name a keyspace was created
// for since (before it can commit); "no" is certain, "maybe" is wrong about
// 1% of the time and costs the Get.
//
// Memory: 10 to 20 bits per name, ×2 for the doubling layers, so 1M
// tenants take at most ~5 MiB. The filter never shrinks: an evicted
// keyspace keeps its batch number on disk.
type nameFilter struct {
	seed   maphash.Seed
	mu     sync.Mutex
	layers []bloomLayer // adds go to the last, each twice the one before
}

type bloomLayer struct {
	bits     []uint64
	n, limit int
}

const (
	bloomBitsPerName = 10 // with bloomHashes: ~1% false positives
	bloomHashes      = 7
	bloomFirstLimit  = 4096 // ×10 bits: a power of two
)

func newNameFilter() *nameFilter {
	return &nameFilter{seed: maphash.MakeSeed()}
}

func newBloomLayer(limit int) bloomLayer {
	words := 1 // a power of two: bit positions are masked, not divided
	for words*64 < limit*bloomBitsPerName {
		words *= 2
	}
	return bloomLayer{bits: make([]uint64, words), limit: limit}
}

// bit returns the i-th of the bloomHashes bit positions of hash h in l
// (double hashing).
func (l *bloomLayer) bit(h uint64, i uint64) (word int, mask uint64) {
	b := (h + i*(h>>32|h<<32|1)) & (uint64(len(l.bits))*64 - 1)
	return int(b / 64), 1 << (b % 64)
}

func (f *nameFilter) add(name string) {
	h := maphash.String(f.seed, name)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.layers) == 0 || f.layers[len(f.layers)-1].n >= f.layers[len(f.layers)-1].limit {
		limit := bloomFirstLimit
		if len(f.layers) > 0 {
			limit = 2 * f.layers[len(f.layers)-1].limit
		}
		f.layers = append(f.layers, newBloomLayer(limit))
	}
	l := &f.layers[len(f.layers)-1]
	for i := range uint64(bloomHashes) {
		w, m := l.bit(h, i)
		l.bits[w] |= m
	}
	l.n++
}

// mayHave reports whether name may have been added.
func (f *nameFilter) mayHave(name string) bool {
	h := maphash.String(f.seed, name)
	f.mu.Lock()
	defer f.mu.Unlock()
	for j := range f.layers {
		l := &f.layers[j]
		all := true
		for i := uint64(0); all && i < bloomHashes; i++ {
			w, m := l.bit(h, i)
			all = l.bits[w]&m != 0
		}
		if all {
			return true
		}
	}
	return false
}

// loadNames adds the name of every keyspace with a batch number in db.
func (f *nameFilter) loadNames(db *pebble.DB) error {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{tagSeq}, UpperBound: []byte{tagSeq + 1}})
	if err != nil {
		return err
	}
	for valid := it.First(); valid; valid = it.Next() {
		if n, ok := decodeKeyspaceName(it.Key()); ok {
			f.add(n)
		}
	}
	return it.Close()
}
