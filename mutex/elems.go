package mutex

import (
	"bytes"

	"github.com/cockroachdb/pebble/v2"
)

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

// elemWalker keeps one iterator for a read phase's element walks (Elems):
// opening and closing a Pebble iterator costs more than a short walk such
// as ZRANGE 0 9 or LRANGE 0 9. A read phase's source does not change under
// it, so the iterator stays valid for the whole phase; a Tx's batch does,
// so a Tx opens one per walk.
type elemWalker struct {
	it   *pebble.Iterator
	busy bool // a walk is using it: a walk nested in it opens its own
}

func (w *elemWalker) close() {
	if w.it != nil {
		w.it.Close()
		w.it = nil
	}
	w.busy = false
}

// walkIter returns an iterator over [lower, upper); reused says it is the
// phase's, to be handed back with walkDone.
func (r *Reader) walkIter(lower, upper []byte) (it *pebble.Iterator, reused bool, err error) {
	w := &r.elemWalk
	if !r.reuseIter || w.busy {
		it, err = r.r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
		return it, false, err
	}
	if w.it == nil {
		if w.it, err = r.r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper}); err != nil {
			return nil, false, err
		}
	} else {
		w.it.SetBounds(lower, upper)
	}
	w.busy = true
	return w.it, true, nil
}

// walkDone releases an iterator from walkIter. One that met an error is
// closed, so that its error does not reach the next walk.
func (r *Reader) walkDone(it *pebble.Iterator, reused bool) {
	if !reused {
		it.Close()
		return
	}
	r.elemWalk.busy = false
	if it.Error() != nil {
		r.elemWalk.close()
	}
}

// collRecord remembers the last collection record a read phase read, or
// a Tx wrote: pipelined commands on one collection (HGET, HSET, ZADD … of
// one key) would each look its record up again, a Pebble Get through
// every memtable. A read phase's state does not change, so the record
// stays true for the phase; a Tx forgets it when it writes the key's record
// in any other way (a string, a deletion, an expiry, FLUSHDB).
type collRecord struct {
	key []byte
	m   Meta
	ok  bool
}

func (c *collRecord) get(key []byte) (Meta, bool) {
	if !c.ok || !bytes.Equal(c.key, key) {
		return Meta{}, false
	}
	m := c.m
	m.Aux = bytes.Clone(m.Aux) // the caller's own, as a Get's
	return m, true
}

func (c *collRecord) put(key []byte, m *Meta) {
	c.key = append(c.key[:0], key...)
	c.m, c.ok = *m, true
	c.m.Aux = bytes.Clone(m.Aux)
}

// wrote remembers the collection record a Tx just wrote (other types are
// forgotten: only collections are looked up over and over).
func (c *collRecord) wrote(key []byte, m *Meta) {
	if m.IsCollection() {
		c.put(key, m)
	} else {
		c.forget(key)
	}
}

func (c *collRecord) forget(key []byte) {
	if c.ok && bytes.Equal(c.key, key) {
		c.ok = false
	}
}
