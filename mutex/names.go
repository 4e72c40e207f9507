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
// for since (before it can commit); "no" is certain, "maybe" is wrong a few
// times in a hundred and costs the Get.
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
	bloomBitsPerName = 10 // with bloomHashes, blocked: ~1.5% false positives per full layer
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

// word returns the word of l that holds name's bits, and the bits: a
// blocked filter, all of a name's bits in one word, so that a look costs
// one memory access per layer (a 1M-name layer is far larger than the CPU
// caches) for a slightly higher false-positive rate. The word comes from
// the hash's low bits, the bloomHashes bit positions from the rest, 6
// bits each.
func (l *bloomLayer) word(h uint64) (word int, mask uint64) {
	word = int(h & uint64(len(l.bits)-1))
	for i := range uint64(bloomHashes) {
		mask |= 1 << (h >> (20 + 6*i) & 63)
	}
	return word, mask
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
	w, m := l.word(h)
	l.bits[w] |= m
	l.n++
}

// mayHave reports whether name may have been added.
func (f *nameFilter) mayHave(name string) bool {
	h := maphash.String(f.seed, name)
	f.mu.Lock()
	defer f.mu.Unlock()
	for j := range f.layers {
		l := &f.layers[j]
		if w, m := l.word(h); l.bits[w]&m == m {
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
