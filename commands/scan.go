package commands

import (
	"bytes"
	"strconv"
	"sync"

	"github.com/mutexredis/mutexredis/glob"
	"github.com/mutexredis/mutexredis/mutex"
)

// KEYS and SCAN. Keys are stored in order, so a SCAN cursor is "the last
// key returned"; clients expect cursors to be numbers, so the server keeps
// the last key under a number, shared by all connections (a pooled client
// may continue a scan on another connection) and bounded: the oldest of
// maxScanCursors is forgotten, and continuing it answers an error.

func init() {
	register(
		&Command{Name: "keys", Arity: 2, Flags: Read, Op: keysOp,
			Summary: "Returns all key names that match a pattern (scans the keyspace)."},
		&Command{Name: "scan", Arity: -2, Flags: Read, Op: scanOp,
			Summary: "Iterates over the key names in the keyspace, in key order."},
	)
}

func keysOp(args [][]byte) (mutex.Op, any) {
	pattern := string(args[1])
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		keys := []any{}
		err := r.Scan(nil, func(key []byte, _ mutex.Type) bool {
			if pattern == "*" || glob.Match(pattern, string(key)) {
				keys = append(keys, bytes.Clone(key))
			}
			return true
		})
		return keys, err
	}), nil
}

const (
	maxScanCursors   = 4096
	defaultScanCount = 10
)

// scanCursors maps cursor numbers to the key a scan resumes after.
var scanCursors = struct {
	sync.Mutex
	next  uint64
	after map[uint64][]byte
	order []uint64 // oldest first
}{next: 1, after: map[uint64][]byte{}}

func saveCursor(after []byte) uint64 {
	c := &scanCursors
	c.Lock()
	defer c.Unlock()
	id := c.next
	c.next++
	c.after[id] = after
	c.order = append(c.order, id)
	for len(c.order) > maxScanCursors {
		delete(c.after, c.order[0])
		c.order = c.order[1:]
	}
	return id
}

func loadCursor(id uint64) ([]byte, bool) {
	c := &scanCursors
	c.Lock()
	defer c.Unlock()
	after, ok := c.after[id]
	return after, ok
}

func scanOp(args [][]byte) (mutex.Op, any) {
	cursor, err := strconv.ParseUint(string(args[1]), 10, 64)
	if err != nil {
		return mutex.Op{}, Error("ERR invalid cursor")
	}
	var after []byte
	if cursor != 0 {
		var ok bool
		if after, ok = loadCursor(cursor); !ok {
			return mutex.Op{}, Error("ERR invalid cursor (unknown or expired)")
		}
	}
	pattern, count, typ := "*", defaultScanCount, mutex.TypeNone
	for i := 2; i < len(args); i += 2 {
		if i+1 >= len(args) {
			return mutex.Op{}, ErrSyntax
		}
		switch v := args[i+1]; {
		case isOption(args[i], "MATCH"):
			pattern = string(v)
		case isOption(args[i], "COUNT"):
			n, ok := ParseInt(v)
			if !ok {
				return mutex.Op{}, ErrNotInteger
			}
			if n < 1 {
				return mutex.Op{}, ErrSyntax
			}
			count = int(min(n, 1<<20))
		case isOption(args[i], "TYPE"):
			// Redis answers nothing (not an error) for an unknown type.
			var ok bool
			if typ, ok = mutex.ParseType(string(bytes.ToLower(v))); !ok || typ == mutex.TypeNone {
				typ = 255
			}
		default:
			return mutex.Op{}, ErrSyntax
		}
	}
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		keys := []any{}
		var last []byte
		seen, more := 0, false
		err := r.Scan(after, func(key []byte, t mutex.Type) bool {
			if seen == count {
				more = true
				return false
			}
			seen++
			last = append(last[:0], key...)
			if (typ == mutex.TypeNone || typ == t) && (pattern == "*" || glob.Match(pattern, string(key))) {
				keys = append(keys, bytes.Clone(key))
			}
			return true
		})
		next := "0"
		if more {
			next = strconv.FormatUint(saveCursor(last), 10)
		}
		return []any{next, keys}, err
	}), nil
}
