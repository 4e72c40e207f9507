package commands

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/mutexredis/mutexredis/mutex"
)

// Helpers shared by the collection commands (hashes, sets, and the types
// that follow them): typed lookups with Redis's WRONGTYPE, creating or
// loading a collection inside a write op, HSCAN/SSCAN cursors and random
// elements. A collection's elements are stored ordered by sub-key (see
// mutex/encoding.go), which the cursors and the random walk rely on.

// lookupKind returns key's metadata when it exists and holds type t; ok is
// false when it does not exist, and the error is mutex.ErrWrongType when
// it holds another type. In a Tx (pass &tx.Reader) an expired key is
// deleted first, as Tx.Lookup does.
func lookupKind(r *mutex.Reader, key []byte, t mutex.Type) (mutex.Meta, bool, error) {
	m, ok, err := r.Lookup(key)
	if !ok || err != nil {
		return mutex.Meta{}, false, err
	}
	if m.Type != t {
		return mutex.Meta{}, false, mutex.ErrWrongType
	}
	return m, true, nil
}

// loadOrCreate returns the collection of type t at key inside a write op,
// or a new empty one (created true; nothing is written until putColl).
func loadOrCreate(tx *mutex.Tx, key []byte, t mutex.Type) (m mutex.Meta, created bool, err error) {
	m, ok, err := lookupKind(&tx.Reader, key, t)
	if err != nil || ok {
		return m, false, err
	}
	return tx.NewCollection(t), true, nil
}

// putColl writes a collection's metadata after its elements changed; a
// collection that became empty is deleted (Redis's "del" notification
// follows the command's own, as Redis sends it), and a new one notifies
// "new" (Redis sends it before the command's event: call putColl first).
func putColl(tx *mutex.Tx, key []byte, m *mutex.Meta, created bool) error {
	if created && m.Count > 0 {
		notify(tx, notifyNew, "new", key)
	}
	return tx.PutMeta(key, m)
}

// notifyEmptied sends Redis's "del" for a collection its command emptied.
func notifyEmptied(tx *mutex.Tx, key []byte, m *mutex.Meta) {
	if m.Count <= 0 {
		notify(tx, notifyGeneric, "del", key)
	}
}

// elems returns every element of a collection, in order, as copies: sub
// and (when vals) value; within budget when they are a reply (nil: they
// are not).
func elems(r *mutex.Reader, key []byte, m *mutex.Meta, vals bool, budget *replyBudget) (subs, values [][]byte, err error) {
	subs = make([][]byte, 0, min(m.Count, 1<<16))
	if vals {
		values = make([][]byte, 0, cap(subs))
	}
	fits := true
	err = r.Elems(key, m, mutex.ElemRange{}, func(sub, val []byte) bool {
		n := len(sub)
		if vals {
			n += len(val)
		}
		if budget != nil {
			if fits = budget.take(n); !fits {
				return false
			}
		}
		subs = append(subs, append([]byte{}, sub...))
		if vals {
			values = append(values, append([]byte{}, val...))
		}
		return true
	})
	if err == nil && !fits {
		return nil, nil, budget.err()
	}
	return subs, values, err
}

// ---- HSCAN / SSCAN cursors ----

// A collection cursor says where the next call resumes: at the first
// element whose sub-key is at least some bound. Bounds of up to 7 bytes
// are encoded in the number itself (derived from the element order: such
// a cursor never expires and survives restarts):
//
//	bit 62 set | length (3 bits, bits 56–58) | the bound, 7 bytes, zero-padded
//
// The bound is the shortest prefix of the next element that sorts after
// the last element returned, so it is short whenever the two differ early.
// A longer bound is kept by the server under a number, in the table SCAN
// uses (scan.go), and those cursors are below 1<<62. Cursor 0 starts (and,
// in a reply, ends) an iteration. Every element present for the whole
// iteration is returned exactly once, whatever is added or removed
// meanwhile: the walk follows the element order.
const (
	derivedCursor   = uint64(1) << 62
	derivedBoundMax = 7
	// smallScan: a collection this small is returned whole by a scan from
	// cursor 0, as Redis does for its listpack encodings.
	smallScan = 128
)

func encodeBound(cursors *ScanCursors, bound []byte) uint64 {
	if len(bound) > derivedBoundMax {
		return cursors.save(bytes.Clone(bound))
	}
	var b [8]byte
	copy(b[1:], bound)
	return derivedCursor | uint64(len(bound))<<56 | binary.BigEndian.Uint64(b[:])&(1<<56-1)
}

// decodeCursor returns the bound a cursor resumes at (nil: the start).
func decodeCursor(cursors *ScanCursors, c uint64) ([]byte, any) {
	switch {
	case c == 0:
		return nil, nil
	case c&derivedCursor != 0:
		n := int(c >> 56 & 7)
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], c)
		return bytes.Clone(b[1 : 1+n]), nil
	}
	bound, ok := cursors.load(c)
	if !ok {
		return nil, Error("ERR invalid cursor (unknown or expired)")
	}
	return bound, nil
}

// separator is the shortest prefix of next that sorts after last (last <
// next).
func separator(last, next []byte) []byte {
	n := 0
	for n < len(last) && n < len(next) && last[n] == next[n] {
		n++
	}
	return next[:min(n+1, len(next))]
}

// parseCursor reads a cursor as Redis does (strtoul, no leading space):
// an optional sign (a negative number wraps around), decimal digits, within
// 64 bits; the empty string is 0.
func parseCursor(b []byte) (uint64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg, b = b[0] == '-', b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' || n > (1<<64-1-uint64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// scanColl is one HSCAN/SSCAN call over the collection key of type t:
// [next cursor, [sub (value) …]].
func scanColl(r *mutex.Reader, key []byte, t mutex.Type, s scanArgs, withValues bool) (any, error) {
	m, ok, err := lookupKind(r, key, t)
	if err != nil {
		return nil, err
	}
	if !ok {
		return []any{"0", []any{}}, nil
	}
	if s.bad != nil {
		return s.bad, nil
	}
	start, bad := decodeCursor(s.cursors, s.cursor)
	if bad != nil {
		return bad, nil
	}
	count := s.count
	if s.cursor == 0 && m.Count <= smallScan {
		count = smallScan + 1 // the whole collection
	}
	out := []any{}
	var last, next []byte
	seen := 0
	err = r.Elems(key, &m, mutex.ElemRange{Start: start}, func(sub, val []byte) bool {
		if seen == count {
			next = append([]byte{}, sub...)
			return false
		}
		seen++
		last = append(last[:0], sub...)
		if s.match(sub) {
			out = append(out, append([]byte{}, sub...))
			if withValues {
				out = append(out, append([]byte{}, val...))
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	cursor := "0"
	if next != nil {
		cursor = strconv.FormatUint(encodeBound(s.cursors, separator(last, next)), 10)
	}
	return []any{cursor, out}, nil
}

// ---- random elements ----

// smallRandom: a collection this small is read whole to choose from, so
// the choice is uniform; a larger one is sampled by a random walk down
// the element order (randomElem).
const smallRandom = 1024

// maxRandomCount bounds the replies of HRANDFIELD/SRANDMEMBER with a
// negative count (elements may repeat, so the reply is not bounded by the
// collection).
const maxRandomCount = 1 << 24

// randomPicker chooses random elements of one collection.
type randomPicker struct {
	r    *mutex.Reader
	key  []byte
	m    *mutex.Meta
	vals bool
	// all holds the whole (small) collection.
	all, allVals [][]byte
	loaded       bool
}

func newPicker(r *mutex.Reader, key []byte, m *mutex.Meta, vals bool) (*randomPicker, error) {
	p := &randomPicker{r: r, key: key, m: m, vals: vals}
	if m.Count <= smallRandom {
		var err error
		p.all, p.allVals, err = elems(r, key, m, vals, nil)
		if err != nil {
			return nil, err
		}
		p.loaded = true
	}
	return p, nil
}

// one returns a random element (and its value when vals).
func (p *randomPicker) one() (sub, val []byte, err error) {
	if p.loaded {
		i := rand.IntN(len(p.all))
		if p.vals {
			val = p.allVals[i]
		}
		return p.all[i], val, nil
	}
	return randomElem(p.r, p.key, p.m)
}

// distinct returns n different random elements, n < the collection's size.
func (p *randomPicker) distinct(n int) (subs, vals [][]byte, err error) {
	if !p.loaded && int64(n)*3 > p.m.Count {
		// Most of the collection: read it all and drop the rest at random.
		if p.all, p.allVals, err = elems(p.r, p.key, p.m, p.vals, nil); err != nil {
			return nil, nil, err
		}
		p.loaded = true
	}
	if p.loaded {
		idx := rand.Perm(len(p.all))[:n]
		slices.Sort(idx)
		for _, i := range idx {
			subs = append(subs, p.all[i])
			if p.vals {
				vals = append(vals, p.allVals[i])
			}
		}
		return subs, vals, nil
	}
	seen := make(map[string]bool, n)
	for tries := 0; len(subs) < n; tries++ {
		if tries > 8*n+64 { // a skewed walk: fall back to reading everything
			p.all, p.allVals, err = elems(p.r, p.key, p.m, p.vals, nil)
			if err != nil {
				return nil, nil, err
			}
			p.loaded = true
			return p.distinct(n)
		}
		s, v, err := randomElem(p.r, p.key, p.m)
		if err != nil {
			return nil, nil, err
		}
		if seen[string(s)] {
			continue
		}
		seen[string(s)] = true
		subs, vals = append(subs, s), append(vals, v)
	}
	return subs, vals, nil
}

// randomElem picks an element of a non-empty collection without reading
// it whole: a random walk down the element order (walkElem) proposes an
// element e with a probability p(e) it knows, and the proposal is kept
// with probability 1/(n·p(e)) when that is below 1 (rejection sampling),
// so that no element comes out more often than 1/n. Elements the walk
// reaches less often than that stay a little rarer: the result is close
// to uniform, not exactly uniform. After maxWalks rejections the last
// proposal is taken.
func randomElem(r *mutex.Reader, key []byte, m *mutex.Meta) (sub, val []byte, err error) {
	const maxWalks = 64
	it, err := r.ElemIter(key, m)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if cerr := it.Close(); err == nil {
			err = cerr
		}
	}()
	n := float64(m.Count)
	for i := 0; ; i++ {
		sub, val, p, err := walkElem(it)
		if err != nil || sub == nil || i == maxWalks-1 || p*n <= 1 || rand.Float64()*p*n < 1 {
			return sub, val, err
		}
	}
}

// walkElem is one random walk down the element order, O(depth × fan-out ×
// log n) seeks: at each byte position past the prefix the remaining
// elements share, it lists the bytes they have there (and, when one of
// them is the prefix itself, the choice of stopping at it), picks one
// uniformly and goes on among the elements with that byte. It returns the
// element reached and the probability of reaching it.
func walkElem(it *mutex.ElemIter) (sub, val []byte, p float64, err error) {
	if !it.First() {
		return nil, nil, 0, nil
	}
	lo := bytes.Clone(it.Sub())
	it.Last()
	hi := bytes.Clone(it.Sub())
	p = 1
	var children []byte
	for {
		if bytes.Equal(lo, hi) {
			break
		}
		n := 0
		for n < len(lo) && n < len(hi) && lo[n] == hi[n] {
			n++
		}
		prefix := hi[:n] // every element from lo to hi has it
		// The bytes at position n, from the first element longer than
		// the prefix up to hi's.
		stop := len(lo) == n
		children = children[:0]
		seek := append(bytes.Clone(prefix), 0)
		if !stop {
			seek[n] = lo[n]
		}
		for it.SeekGE(seek) {
			c := it.Sub()[n]
			children = append(children, c)
			if c >= hi[n] {
				break
			}
			seek[n] = c + 1
		}
		k := len(children)
		if stop {
			k++
		}
		p /= float64(k)
		i := rand.IntN(k)
		if stop && i == k-1 {
			hi = lo // the prefix itself
			break
		}
		seek[n] = children[i]
		it.SeekGE(seek)
		lo = bytes.Clone(it.Sub())
		if end := prefixEnd(seek); end == nil {
			it.Last()
		} else {
			it.SeekLT(end)
		}
		hi = bytes.Clone(it.Sub())
	}
	if !it.SeekGE(lo) {
		return nil, nil, 0, errors.New("commands: element vanished during a random walk")
	}
	val, err = it.Value()
	return lo, val, p, err
}

// prefixEnd is the first byte string after every string starting with p
// (nil: none).
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// parseCount parses the count of HRANDFIELD/SRANDMEMBER: any integer but
// the most negative, as Redis's getRangeLongFromObjectOrReply(-LONG_MAX,
// LONG_MAX).
func parseCount(b []byte) (int64, any) {
	n, ok := ParseInt(b)
	if !ok {
		return 0, ErrNotInteger
	}
	if n == -1<<63 {
		return 0, Error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
	}
	return n, nil
}

// randomMemberOp is HRANDFIELD (t hash: WITHVALUES allowed) and
// SRANDMEMBER: one random element, or count of them.
func randomMemberOp(args [][]byte, t mutex.Type) (mutex.Op, any) {
	key := args[1]
	a, bad := parseRandomArgs(args[2:], t == mutex.TypeHash)
	if bad != nil {
		return mutex.Op{}, bad
	}
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		m, ok, err := lookupKind(r, key, t)
		if err != nil {
			return nil, err
		}
		if !a.has {
			if !ok {
				return nil, nil
			}
			p, err := newPicker(r, key, &m, false)
			if err != nil {
				return nil, err
			}
			s, _, err := p.one()
			return s, err
		}
		if !ok {
			return []any{}, nil
		}
		return randomReply(r, key, &m, a)
	}), nil
}
