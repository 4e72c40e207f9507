package mutex

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// On-disk layout. Every Pebble key starts with one tag byte; ks is a
// keyspace name and key a user key, each length-prefixed with a uvarint
// where something follows them:
//
//	tagMeta   "format"                              → formatVersion (decimal)
//	tagSeq    ‖ks                                   → last committed batch number (8 bytes BE) ‖ key counts (counts.go)
//	tagData   ‖ks key                               → record: header ‖ payload
//	tagElem   ‖ks ‖key gen(8 BE) sub                → element value
//	tagExpire deadline(8 BE) ‖ks key                → "" (the deadline index)
//	tagFeed   ‖ks …                                 → the change feed (feed.go)
//
// (‖x means uvarint(len(x)) x.) A record is one key's metadata:
//
//	+---------+------+-------+--------------------+----------------------------------+
//	| version | type | flags | deadline (8 BE,    | payload                          |
//	|  (2)    |      |       |  if flags&expires) |                                  |
//	+---------+------+-------+--------------------+----------------------------------+
//	  string:       the value
//	  collections:  gen (8 BE) ‖ uvarint(count) ‖ aux (type-specific: list ends, stream state)
//	  none:         nothing: a gone record, a deleted key (gone.go); always has a deadline
//
// A collection's elements live under tagElem, contiguous and ordered by
// sub, which each type defines (hash: field; set: member; sorted set:
// 'm'‖member → score and 's'‖score‖member; list: index; stream: entry ID).
// The generation gen is unique per keyspace (the batch number that created
// the collection and a counter), so a record overwritten, deleted or
// expired leaves its elements unreachable at once: DEL and overwrites are
// O(1) in the write phase. DEL and expiry also drop the elements with one
// range deletion; a blind SET cannot know what it overwrites, so the
// sweeper (sweep.go) reclaims such orphans in the background.
//
// The deadline index is ordered by deadline across keyspaces, so the
// expirer finds every due key with one bounded scan. An entry whose record
// no longer carries that deadline is stale and is dropped when reached.
//
// Format 1 (the first release) had only strings, with a 3-byte header
// [1 0 0]; records in that form are still read as strings without a
// deadline, so a format-1 directory opens as it is and is marked format 2.
//
// Format 3 stores a feed entry's ops in a binary form (feedops.go) where
// format 2 stored JSON; both are told apart by the entry's node field and
// read alike, so a format-1 or -2 directory opens as it is and is marked
// format 3 (a build of format 2 then refuses it: it would misread the
// newer entries).
//
// Format 4 stores each keyspace's key counts after its batch number
// (counts.go). Opening an older directory counts its keys once, by scan,
// and stores the counts before marking it format 4.
const (
	tagMeta   byte = 0x01
	tagSeq    byte = 0x02
	tagData   byte = 0x03
	tagElem   byte = 0x04
	tagExpire byte = 0x05
)

// formatVersion is stored at open and checked on every later open; the
// formats it can upgrade from are listed in upgradableFormats.
const formatVersion = 4

var formatVersionText = strconv.Itoa(formatVersion)

// Format 2 had neither gone records (gone.go) nor binary feed ops (feedops.go);
// its records and JSON feed entries are still read as they are. Format 3
// had no key counts; the upgrade computes them (upgradeCounts).
var upgradableFormats = []string{"1", "2", "3"}

var formatKey = append([]byte{tagMeta}, "format"...)

// ErrFormatVersion is returned by Open when the directory holds data written
// in an on-disk format this build does not understand.
var ErrFormatVersion = errors.New("mutex: unsupported on-disk format version")

// ErrWrongType is returned by an access that expects one type of value and
// finds another (a string read of a hash, say).
var ErrWrongType = errors.New("WRONGTYPE Operation against a key holding the wrong kind of value")

// Type is the type of a key's value.
type Type uint8

const (
	TypeNone Type = iota // no such key
	TypeString
	TypeList
	TypeSet
	TypeZSet
	TypeHash
	TypeStream
)

var typeNames = [...]string{"none", "string", "list", "set", "zset", "hash", "stream"}

// String is the type's name as Redis's TYPE reports it.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "unknown"
}

// ParseType is the inverse of Type.String; ok is false for an unknown name.
func ParseType(name string) (Type, bool) {
	for i, n := range typeNames {
		if n == name {
			return Type(i), true
		}
	}
	return TypeNone, false
}

func appendLenPrefixed(p, s []byte) []byte {
	p = binary.AppendUvarint(p, uint64(len(s)))
	return append(p, s...)
}

func keyspacePrefix(tag byte, ks string) []byte {
	p := make([]byte, 0, 1+binary.MaxVarintLen64+len(ks))
	p = append(p, tag)
	p = binary.AppendUvarint(p, uint64(len(ks)))
	return append(p, ks...)
}

// prefixEnd is the first key after every key starting with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // p is all 0xff: no upper bound
}

// decodeKeyspaceName parses tag‖uvarint(len)‖name from k and returns the
// name.
func decodeKeyspaceName(k []byte) (string, bool) {
	name, _, ok := splitLenPrefixed(k[min(1, len(k)):])
	return string(name), ok && len(k) >= 2
}

// splitLenPrefixed parses uvarint(len)‖s from b and returns s and the rest.
func splitLenPrefixed(b []byte) (s, rest []byte, ok bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return nil, nil, false
	}
	return b[w : w+int(n)], b[w+int(n):], true
}

// elemGroup is the prefix of every element of one collection:
// tagElem‖ks ‖key gen.
func elemGroup(dst []byte, ks string, key []byte, gen uint64) []byte {
	dst = append(dst[:0], tagElem)
	dst = appendLenPrefixed(dst, []byte(ks))
	dst = appendLenPrefixed(dst, key)
	return binary.BigEndian.AppendUint64(dst, gen)
}

// expireKey is the deadline index entry of key.
func expireKey(dst []byte, deadline int64, ks string, key []byte) []byte {
	dst = append(dst[:0], tagExpire)
	dst = binary.BigEndian.AppendUint64(dst, uint64(deadline))
	dst = appendLenPrefixed(dst, []byte(ks))
	return append(dst, key...)
}

// decodeExpireKey is the inverse of expireKey.
func decodeExpireKey(k []byte) (deadline int64, ks string, key []byte, ok bool) {
	if len(k) < 9 || k[0] != tagExpire {
		return 0, "", nil, false
	}
	deadline = int64(binary.BigEndian.Uint64(k[1:9]))
	name, rest, ok := splitLenPrefixed(k[9:])
	return deadline, string(name), rest, ok
}

// Record header.
const (
	recordVersion1 byte = 1 // format 1: strings only, header [1 0 0]
	recordVersion  byte = 2
	flagExpires    byte = 1 // an 8-byte deadline follows the header
	recordHeader        = 3
)

// Meta is what a key's record says: its type, its deadline and, for a
// collection, its element count and the type's own state.
type Meta struct {
	Type     Type
	Deadline int64  // ms since the Unix epoch; 0: no expiry
	Value    []byte // strings: the value
	Count    int64  // collections: number of elements
	Aux      []byte // collections: type-specific state (list ends, stream IDs)
	gen      uint64 // collections: the generation of the elements
}

// IsCollection reports whether m's type keeps elements.
func (m *Meta) IsCollection() bool { return m.Type > TypeString }

func appendRecordHeader(dst []byte, t Type, deadline int64) []byte {
	if deadline == 0 {
		return append(dst, recordVersion, byte(t), 0)
	}
	dst = append(dst, recordVersion, byte(t), flagExpires)
	return binary.BigEndian.AppendUint64(dst, uint64(deadline))
}

// stringRecordLen is the length of a string record of n bytes.
func stringRecordLen(n int, deadline int64) int {
	if deadline == 0 {
		return recordHeader + n
	}
	return recordHeader + 8 + n
}

func encodeRecord(dst []byte, m *Meta) []byte {
	dst = appendRecordHeader(dst[:0], m.Type, m.Deadline)
	if m.Type == TypeString {
		return append(dst, m.Value...)
	}
	dst = binary.BigEndian.AppendUint64(dst, m.gen)
	dst = binary.AppendUvarint(dst, uint64(m.Count))
	return append(dst, m.Aux...)
}

// decodeRecord parses a record. Value and Aux alias raw.
func decodeRecord(raw []byte) (Meta, error) {
	if len(raw) >= recordHeader && raw[0] == recordVersion1 && raw[1] == 0 && raw[2] == 0 {
		return Meta{Type: TypeString, Value: raw[recordHeader:]}, nil
	}
	if len(raw) < recordHeader || raw[0] != recordVersion || int(raw[1]) >= len(typeNames) {
		return Meta{}, fmt.Errorf("mutex: corrupt record header %x", raw[:min(len(raw), recordHeader)])
	}
	m := Meta{Type: Type(raw[1])}
	p := raw[recordHeader:]
	if raw[2]&flagExpires != 0 {
		if len(p) < 8 {
			return Meta{}, errors.New("mutex: corrupt record deadline")
		}
		m.Deadline = int64(binary.BigEndian.Uint64(p))
		p = p[8:]
	}
	switch m.Type {
	case TypeNone: // a gone record (gone.go)
		return m, nil
	case TypeString:
		m.Value = p
		return m, nil
	}
	if len(p) < 8 {
		return Meta{}, errors.New("mutex: corrupt collection record")
	}
	m.gen = binary.BigEndian.Uint64(p)
	n, w := binary.Uvarint(p[8:])
	if w <= 0 {
		return Meta{}, errors.New("mutex: corrupt collection count")
	}
	m.Count, m.Aux = int64(n), p[8+w:]
	return m, nil
}

func encodeSeq(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func decodeSeq(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("mutex: corrupt batch sequence %x", b)
	}
	return binary.BigEndian.Uint64(b), nil
}
