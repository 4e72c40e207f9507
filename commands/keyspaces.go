package commands

import (
	"strconv"

	"github.com/mutexredis/mutexredis/glob"
)

// KEYSPACES cursor [MATCH pattern] [COUNT n] lists the keyspaces that hold
// data (that have committed a batch), numbered and named, as SCAN lists
// keys: a cursor, then the names. It reads the store's list of keyspaces,
// never their keys, and no keyspace's mutex. Cursors are kept like SCAN's.

func init() {
	register(&Command{Name: "keyspaces", Arity: -2, Flags: Read, Run: keyspacesCmd,
		Summary: "Iterates over the keyspaces that hold data (an extension)."})
}

// KeyspaceLister is implemented by the server's connection handle
// (Client.Conn): it lists the store's keyspaces (mutex.Store.ListKeyspaces).
type KeyspaceLister interface {
	ListKeyspaces(start []byte, n int) (names []string, next []byte, err error)
}

// keyspacesCursors is the cursor table's key: not a valid keyspace name.
const keyspacesCursors = "\x00keyspaces"

func keyspacesCmd(c *Ctx) any {
	lister, ok := c.Client.Conn.(KeyspaceLister)
	if !ok {
		return Error("ERR KEYSPACES is not available here")
	}
	cursors := cursorsOf(&Client{Conn: c.Client.Conn, Keyspace: keyspacesCursors})
	cursor, err := strconv.ParseUint(string(c.Args[1]), 10, 64)
	if err != nil {
		return Error("ERR invalid cursor")
	}
	var start []byte
	if cursor != 0 {
		var ok bool
		if start, ok = cursors.load(cursor); !ok {
			return Error("ERR invalid cursor (unknown or expired)")
		}
	}
	pattern, count := "*", defaultScanCount
	args := c.Args
	for i := 2; i < len(args); i += 2 {
		if i+1 >= len(args) {
			return ErrSyntax
		}
		switch v := args[i+1]; {
		case isOption(args[i], "MATCH"):
			pattern = string(v)
		case isOption(args[i], "COUNT"):
			n, ok := ParseInt(v)
			if !ok {
				return ErrNotInteger
			}
			if n < 1 {
				return ErrSyntax
			}
			count = int(min(n, 1<<20))
		default:
			return ErrSyntax
		}
	}
	names, next, err := lister.ListKeyspaces(start, count)
	if err != nil {
		return ErrorReply(err)
	}
	out := []any{}
	for _, n := range names {
		if pattern == "*" || glob.Match(pattern, n) {
			out = append(out, n)
		}
	}
	nextCursor := "0"
	if next != nil {
		nextCursor = strconv.FormatUint(cursors.save(next), 10)
	}
	return []any{nextCursor, out}
}
