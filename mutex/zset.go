package mutex

import (
	"bytes"

	"github.com/cockroachdb/pebble/v2"
)

// Helpers for sorted sets, whose elements are two families under one
// collection: 'm'‖member → score and 's'‖sortable score‖member → "" (see
// commands/zset.go). They only need the element order, so they know
// nothing of scores.

// CountElems returns the number of elements of the collection key
// (described by m) in rng (Reverse is ignored). It walks the range's keys
// without copying them: O(number counted).
func (r *Reader) CountElems(key []byte, m *Meta, rng ElemRange) (int64, error) {
	it, err := r.elemIter(key, m, rng)
	if err != nil {
		return 0, err
	}
	defer it.Close()
	var n int64
	for valid := it.First(); valid; valid = it.Next() {
		n++
	}
	return n, it.Error()
}

// ElemPosition returns the position of the element target within rng (the
// number of elements of rng before it), given total, the number of
// elements rng holds; ok is false when target is not in rng. It walks from
// both ends at once, so it costs O(min(position, total-position)) steps
// rather than O(position).
func (r *Reader) ElemPosition(key []byte, m *Meta, rng ElemRange, target []byte, total int64) (pos int64, ok bool, err error) {
	fwd, err := r.elemIter(key, m, rng)
	if err != nil {
		return 0, false, err
	}
	defer fwd.Close()
	bwd, err := r.elemIter(key, m, rng)
	if err != nil {
		return 0, false, err
	}
	defer bwd.Close()
	group := len(elemGroup(nil, r.ks, key, m.gen))
	var before, after int64
	f, b := fwd.First(), bwd.Last()
	for f && b {
		switch c := bytes.Compare(fwd.Key()[group:], target); {
		case c == 0:
			return before, true, nil
		case c > 0:
			return 0, false, nil // passed where it would be
		}
		switch c := bytes.Compare(bwd.Key()[group:], target); {
		case c == 0:
			return total - 1 - after, true, nil
		case c < 0:
			return 0, false, nil
		}
		before++
		after++
		f, b = fwd.Next(), bwd.Prev()
	}
	if err := fwd.Error(); err != nil {
		return 0, false, err
	}
	return 0, false, bwd.Error()
}

func (r *Reader) elemIter(key []byte, m *Meta, rng ElemRange) (*pebble.Iterator, error) {
	group := elemGroup(nil, r.ks, key, m.gen)
	lower, upper := group, prefixEnd(group)
	if rng.Start != nil {
		lower = append(bytes.Clone(group), rng.Start...)
	}
	if rng.End != nil {
		upper = append(bytes.Clone(group), rng.End...)
	}
	return r.r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
}
