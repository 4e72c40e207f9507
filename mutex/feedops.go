package mutex

import (
	"encoding/binary"
	"errors"
)

// The feed stores a batch's ops in a compact binary form, appended by Emit
// inside the write phase, and renders them as the JSON array of
// AppendJSON only when an entry is read: the write phase copies bytes
// instead of escaping JSON, and snappy has fewer bytes to compress. One op:
//
//	flags(1) ‖op [‖key] [‖value] [‖to] [at (varint)] [uvarint(n) ‖item…]
//	[min kind(1) ‖key, max kind(1) ‖key]
//
// where flags says which fields are present (non-nil, as AppendJSON tells
// them apart), so the JSON is byte for byte what AppendJSON writes.
const (
	feedOpKey byte = 1 << iota
	feedOpValue
	feedOpTo
	feedOpAt
	feedOpItems
	feedOpPairs
	feedOpRange
)

// appendFeedOp appends a's binary form to b.
func appendFeedOp(b []byte, a *Access) []byte {
	var flags byte
	if a.Key != nil {
		flags |= feedOpKey
	}
	if a.Value != nil {
		flags |= feedOpValue
	}
	if a.To != nil {
		flags |= feedOpTo
	}
	if a.At != 0 {
		flags |= feedOpAt
	}
	if a.Items != nil {
		flags |= feedOpItems
	}
	if a.Pairs {
		flags |= feedOpPairs
	}
	if a.Range != nil {
		flags |= feedOpRange
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(a.Op)))
	b = append(b, a.Op...)
	for _, f := range [...][]byte{a.Key, a.Value, a.To} {
		if f != nil {
			b = appendLenPrefixed(b, f)
		}
	}
	if a.At != 0 {
		b = binary.AppendVarint(b, a.At)
	}
	if a.Items != nil {
		b = binary.AppendUvarint(b, uint64(len(a.Items)))
		for _, it := range a.Items {
			b = appendLenPrefixed(b, it)
		}
	}
	if a.Range != nil {
		for _, bd := range [...]Bound{a.Range.Min, a.Range.Max} {
			b = append(b, byte(bd.Kind))
			b = appendLenPrefixed(b, bd.Key)
		}
	}
	return b
}

var errCorruptFeedOps = errors.New("mutex: corrupt feed ops")

// appendFeedOpsJSON renders the binary ops src as a JSON array onto dst.
func appendFeedOpsJSON(dst, src []byte) ([]byte, error) {
	dst = append(dst, '[')
	var items [][]byte // reused by every op
	for n := 0; len(src) > 0; n++ {
		var a Access
		var err error
		a, items, src, err = decodeFeedOp(src, items[:0])
		if err != nil {
			return nil, err
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = a.AppendJSON(dst)
	}
	return append(dst, ']'), nil
}

// decodeFeedOp parses one op from b; its byte fields alias b, its Items
// are appended to items.
func decodeFeedOp(b []byte, items [][]byte) (a Access, _ [][]byte, rest []byte, err error) {
	if len(b) == 0 {
		return a, items, nil, errCorruptFeedOps
	}
	flags := b[0]
	op, b, ok := splitLenPrefixed(b[1:])
	if !ok {
		return a, items, nil, errCorruptFeedOps
	}
	a.Op = string(op)
	for _, f := range [...]struct {
		bit byte
		dst *[]byte
	}{{feedOpKey, &a.Key}, {feedOpValue, &a.Value}, {feedOpTo, &a.To}} {
		if flags&f.bit == 0 {
			continue
		}
		var v []byte
		if v, b, ok = splitLenPrefixed(b); !ok {
			return a, items, nil, errCorruptFeedOps
		}
		*f.dst = v[:len(v):len(v)] // non-nil even when empty
	}
	if flags&feedOpAt != 0 {
		at, w := binary.Varint(b)
		if w <= 0 {
			return a, items, nil, errCorruptFeedOps
		}
		a.At, b = at, b[w:]
	}
	if flags&feedOpItems != 0 {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)) {
			return a, items, nil, errCorruptFeedOps
		}
		b = b[w:]
		start := len(items)
		for range n {
			var it []byte
			if it, b, ok = splitLenPrefixed(b); !ok {
				return a, items, nil, errCorruptFeedOps
			}
			items = append(items, it)
		}
		a.Items = items[start:len(items):len(items)]
		if a.Items == nil {
			a.Items = [][]byte{}
		}
	}
	a.Pairs = flags&feedOpPairs != 0
	if flags&feedOpRange != 0 {
		var rng Range
		for _, bd := range [...]*Bound{&rng.Min, &rng.Max} {
			if len(b) == 0 {
				return a, items, nil, errCorruptFeedOps
			}
			bd.Kind = BoundKind(b[0])
			if bd.Key, b, ok = splitLenPrefixed(b[1:]); !ok {
				return a, items, nil, errCorruptFeedOps
			}
		}
		a.Range = &rng
	}
	return a, items, b, nil
}
