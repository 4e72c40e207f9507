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
// the last key under a number. Cursors belong to a server and a keyspace
// (ScanCursors): any connection may continue a scan in the same keyspace
// (a pooled client may), a cursor of another keyspace is an invalid
// cursor, and each keyspace keeps its newest maxScanCursors cursors, so
// only scans of the same keyspace can make one expire.

func init() {
	register(
		&Command{Name: "keys", Arity: 2, Flags: Read, Op: keysOp},
		&Command{Name: "scan", Arity: -2, Flags: Read, OpCtx: scanOp},
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

// ScanCursors maps one keyspace's cursor numbers to the key a scan resumes
// after. It holds at most maxScanCursors cursors (the oldest is forgotten).
type ScanCursors struct {
	mu    sync.Mutex
	next  uint64
	after map[uint64][]byte
	order []uint64 // oldest first
}

// NewScanCursors returns an empty table.
func NewScanCursors() *ScanCursors {
	return &ScanCursors{next: 1, after: map[uint64][]byte{}}
}

// CursorHost is implemented by the server's connection handle
// (Client.Conn): it returns the cursors of a keyspace.
type CursorHost interface {
	ScanCursors(keyspace string) *ScanCursors
}

// cursorsOf returns the cursor table of cl's keyspace; a client without a
// host (a test's) gets a table of its own for the call.
func cursorsOf(cl *Client) *ScanCursors {
	if h, ok := cl.Conn.(CursorHost); ok {
		return h.ScanCursors(cl.Keyspace)
	}
	return NewScanCursors()
}

func (c *ScanCursors) save(after []byte) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
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

func (c *ScanCursors) load(id uint64) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	after, ok := c.after[id]
	return after, ok
}

func scanOp(c *Ctx) (mutex.Op, any) {
	args := c.Args
	cursors := cursorsOf(c.Client)
	cursor, err := strconv.ParseUint(string(args[1]), 10, 64)
	if err != nil {
		return mutex.Op{}, Error("ERR invalid cursor")
	}
	var after []byte
	if cursor != 0 {
		var ok bool
		if after, ok = cursors.load(cursor); !ok {
			return mutex.Op{}, Error("ERR invalid cursor (unknown or expired)")
		}
	}
	typ := mutex.TypeNone
	pattern, count, bad := parseMatchCount(args[2:], func(opt, v []byte) bool {
		if !isOption(opt, "TYPE") {
			return false
		}
		// Redis answers nothing (not an error) for an unknown type.
		var ok bool
		if typ, ok = mutex.ParseType(string(bytes.ToLower(v))); !ok || typ == mutex.TypeNone {
			typ = 255
		}
		return true
	})
	if bad != nil {
		return mutex.Op{}, bad
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
			next = strconv.FormatUint(cursors.save(last), 10)
		}
		return []any{next, keys}, err
	}), nil
}

// parseMatchCount parses SCAN's and ZSCAN's "[MATCH pattern] [COUNT n]"
// option pairs; other reports whether it took an option of the command's
// own (SCAN's TYPE). COUNT is capped at 2^20.
func parseMatchCount(args [][]byte, other func(opt, v []byte) bool) (pattern string, count int, bad any) {
	pattern, count = "*", defaultScanCount
	for i := 0; i < len(args); i += 2 {
		if i+1 >= len(args) {
			return "", 0, ErrSyntax
		}
		switch v := args[i+1]; {
		case isOption(args[i], "MATCH"):
			pattern = string(v)
		case isOption(args[i], "COUNT"):
			n, ok := ParseInt(v)
			if !ok {
				return "", 0, ErrNotInteger
			}
			if n < 1 {
				return "", 0, ErrSyntax
			}
			count = int(min(n, 1<<20))
		case other != nil && other(args[i], v):
		default:
			return "", 0, ErrSyntax
		}
	}
	return pattern, count, nil
}
