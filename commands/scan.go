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
		budget, fits := newReplyBudget(r), true
		err := r.Scan(nil, func(key []byte, _ mutex.Type) bool {
			if pattern == "*" || glob.Match(pattern, string(key)) {
				if fits = budget.take(len(key)); !fits {
					return false
				}
				keys = append(keys, bytes.Clone(key))
			}
			return true
		})
		if err == nil && !fits {
			return nil, budget.err()
		}
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
	cursors := cursorsOf(c.Client)
	s, bad := parseScanArgs(c.Args[1:], scanType)
	if bad == nil {
		bad = s.bad
	}
	if bad != nil {
		return mutex.Op{}, bad
	}
	var after []byte
	if s.cursor != 0 {
		var ok bool
		if after, ok = cursors.load(s.cursor); !ok {
			return mutex.Op{}, Error("ERR invalid cursor (unknown or expired)")
		}
	}
	count, typ := s.count, s.typ
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
			if (typ == mutex.TypeNone || typ == t) && s.match(key) {
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

// scanArgs are a SCAN-family command's cursor and options.
type scanArgs struct {
	cursor   uint64
	pattern  string
	count    int
	noValues bool       // HSCAN's NOVALUES
	typ      mutex.Type // SCAN's TYPE: TypeNone for any, 255 for an unknown type
	// bad is an option error: HSCAN, SSCAN and ZSCAN report it only for an
	// existing key, as Redis checks the key first; SCAN at once.
	bad     any
	cursors *ScanCursors // where long resume points are kept (the keyspace's)
}

// scanOptions say which options beyond MATCH and COUNT a command takes.
type scanOptions uint8

const (
	scanNoValues scanOptions = 1 << iota // HSCAN
	scanType                             // SCAN
)

// parseScanArgs parses "cursor [MATCH pattern] [COUNT count]" and the
// command's own options, for every SCAN-family command. An invalid cursor
// is an error at once, as in Redis; option errors are kept in bad. COUNT
// is capped at 2^20.
func parseScanArgs(args [][]byte, opts scanOptions) (scanArgs, any) {
	s := scanArgs{pattern: "*", count: defaultScanCount}
	c, ok := parseCursor(args[0])
	if !ok {
		return s, Error("ERR invalid cursor")
	}
	s.cursor = c
	for i := 1; i < len(args); i++ {
		switch {
		case opts&scanNoValues != 0 && isOption(args[i], "NOVALUES"):
			s.noValues = true
		case i+1 >= len(args):
			s.bad = ErrSyntax
			return s, nil
		case isOption(args[i], "MATCH"):
			i++
			s.pattern = string(args[i])
		case isOption(args[i], "COUNT"):
			i++
			n, ok := ParseInt(args[i])
			if !ok {
				s.bad = ErrNotInteger
				return s, nil
			}
			if n < 1 {
				s.bad = ErrSyntax
				return s, nil
			}
			s.count = int(min(n, 1<<20))
		case opts&scanType != 0 && isOption(args[i], "TYPE"):
			i++
			// Redis answers nothing (not an error) for an unknown type.
			if s.typ, ok = mutex.ParseType(string(bytes.ToLower(args[i]))); !ok || s.typ == mutex.TypeNone {
				s.typ = 255
			}
		default:
			s.bad = ErrSyntax
			return s, nil
		}
	}
	return s, nil
}

// match reports whether a key or element matches the MATCH pattern.
func (s *scanArgs) match(b []byte) bool { return s.pattern == "*" || glob.Match(s.pattern, string(b)) }
