package mutex

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// On-disk layout. Every Pebble key starts with one tag byte:
//
//	tagMeta  "format"                      → formatVersion (decimal)
//	tagSeq   uvarint(len(ks)) ks           → last committed batch number (8 bytes, big endian)
//	tagData  uvarint(len(ks)) ks key       → valueHeader ‖ payload
//
// The keyspace name is length-prefixed, so no two (keyspace, key) pairs can
// encode to the same bytes whatever bytes they contain, and all keys of one
// keyspace form one contiguous range, in the byte order of the user keys.
const (
	tagMeta byte = 0x01
	tagSeq  byte = 0x02
	tagData byte = 0x03
)

// formatVersion is stored at open and checked on every later open.
const formatVersion = 1

var formatKey = append([]byte{tagMeta}, "format"...)

// ErrFormatVersion is returned by Open when the directory holds data written
// in an on-disk format this build does not understand.
var ErrFormatVersion = errors.New("mutex: unsupported on-disk format version")

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

// decodeKeyspacePrefix parses tag‖uvarint(len)‖name from k and returns the name.
func decodeKeyspaceName(k []byte) (string, bool) {
	if len(k) < 2 {
		return "", false
	}
	n, w := binary.Uvarint(k[1:])
	if w <= 0 || uint64(len(k)-1-w) < n {
		return "", false
	}
	return string(k[1+w : 1+w+int(n)]), true
}

// Value header: one version byte, one type byte, one flags byte. The type and
// flags are reserved so that types and expiry can be added without a
// migration; today every value is a string with no flags.
const (
	valueHeaderVersion byte = 1
	valueTypeString    byte = 0
	valueHeaderLen          = 3
)

func encodeValue(dst, v []byte) []byte {
	dst = append(dst[:0], valueHeaderVersion, valueTypeString, 0)
	return append(dst, v...)
}

func decodeValue(raw []byte) ([]byte, error) {
	if len(raw) < valueHeaderLen || raw[0] != valueHeaderVersion {
		return nil, fmt.Errorf("mutex: corrupt value header %x", raw[:min(len(raw), valueHeaderLen)])
	}
	if raw[1] != valueTypeString || raw[2] != 0 {
		return nil, fmt.Errorf("mutex: unsupported value type %d flags %d", raw[1], raw[2])
	}
	return raw[valueHeaderLen:], nil
}

func encodeSeq(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func decodeSeq(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("mutex: corrupt batch sequence %x", b)
	}
	return binary.BigEndian.Uint64(b), nil
}
