package mutex

import "github.com/cockroachdb/pebble/v2"

// ElemIter moves over one collection's elements by seeks, for commands
// that jump around the element order (random picks) rather than read a
// range once with Elems. Open it with Reader.ElemIter and Close it before
// the op returns.
type ElemIter struct {
	it    *pebble.Iterator
	group []byte // the prefix of the collection's elements
	buf   []byte
}

// ElemIter opens an iterator over the elements of the collection key
// described by m. In a Tx it sees the batch as it was when opened.
func (r *Reader) ElemIter(key []byte, m *Meta) (*ElemIter, error) {
	group := elemGroup(nil, r.ks, key, m.gen)
	it, err := r.r.NewIter(&pebble.IterOptions{LowerBound: group, UpperBound: prefixEnd(group)})
	if err != nil {
		return nil, err
	}
	return &ElemIter{it: it, group: group}, nil
}

func (e *ElemIter) at(sub []byte) []byte {
	e.buf = append(append(e.buf[:0], e.group...), sub...)
	return e.buf
}

// First moves to the first element; false if there is none.
func (e *ElemIter) First() bool { return e.it.First() }

// Last moves to the last element; false if there is none.
func (e *ElemIter) Last() bool { return e.it.Last() }

// SeekGE moves to the first element whose sub-key is at least sub.
func (e *ElemIter) SeekGE(sub []byte) bool { return e.it.SeekGE(e.at(sub)) }

// SeekLT moves to the last element whose sub-key is below sub.
func (e *ElemIter) SeekLT(sub []byte) bool { return e.it.SeekLT(e.at(sub)) }

// Sub is the current element's sub-key, valid until the iterator moves.
func (e *ElemIter) Sub() []byte { return e.it.Key()[len(e.group):] }

// Value returns a copy of the current element's value.
func (e *ElemIter) Value() ([]byte, error) {
	v, err := e.it.ValueAndErr()
	if err != nil {
		return nil, err
	}
	return append([]byte{}, v...), nil
}

// Close releases the iterator and reports any error it met.
func (e *ElemIter) Close() error {
	err := e.it.Error()
	if cerr := e.it.Close(); err == nil {
		err = cerr
	}
	return err
}
