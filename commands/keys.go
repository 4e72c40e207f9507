package commands

import (
	"bytes"

	"github.com/mutexredis/mutexredis/mutex"
)

// The string and keyspace commands. Reads become mutex.ReadOps, anything
// that may write becomes a mutex.WriteOp evaluated inside the write phase,
// so conditions (NX, XX, IFEQ …) and read-modify-writes (INCR …) are
// checked against the state left by every write queued before them.

func init() {
	register(
		&Command{Name: "get", Arity: 2, Flags: Read | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: getOp,
			Summary: "Returns the string value of a key."},
		&Command{Name: "mget", Arity: -2, Flags: Read | Fast, FirstKey: 1, LastKey: -1, Step: 1, Op: mgetOp,
			Summary: "Atomically returns the string values of one or more keys."},
		&Command{Name: "exists", Arity: -2, Flags: Read | Fast, FirstKey: 1, LastKey: -1, Step: 1, Op: existsOp,
			Summary: "Determines whether one or more keys exist."},
		&Command{Name: "strlen", Arity: 2, Flags: Read | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: strlenOp,
			Summary: "Returns the length of a string value."},
		&Command{Name: "dbsize", Arity: 1, Flags: Read, Op: dbsizeOp,
			Summary: "Returns the number of keys in the keyspace (scans it)."},
		&Command{Name: "peekfirst", Arity: -1, Flags: Read, Op: peekOp(false),
			Summary: "Returns the first key and value in a lexicographic range."},
		&Command{Name: "peeklast", Arity: -1, Flags: Read, Op: peekOp(true),
			Summary: "Returns the last key and value in a lexicographic range."},
		&Command{Name: "set", Arity: -3, Flags: Write, FirstKey: 1, LastKey: 1, Step: 1, Op: setOp,
			Summary: "Sets the string value of a key, optionally only if a condition holds."},
		&Command{Name: "setnx", Arity: 3, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: setnxOp,
			Summary: "Sets the value of a key only when the key doesn't exist."},
		&Command{Name: "mset", Arity: -3, Flags: Write, FirstKey: 1, LastKey: -1, Step: 2, Op: msetOp,
			Summary: "Atomically sets the values of one or more keys."},
		&Command{Name: "del", Arity: -2, Flags: Write, FirstKey: 1, LastKey: -1, Step: 1, Op: delOp,
			Summary: "Deletes one or more keys."},
		&Command{Name: "unlink", Arity: -2, Flags: Write | Fast, FirstKey: 1, LastKey: -1, Step: 1, Op: delOp,
			Summary: "Deletes one or more keys (same as DEL)."},
		&Command{Name: "flushdb", Arity: -1, Flags: Write, Op: flushdbOp,
			Summary: "Removes every key of the keyspace, as one write."},
		&Command{Name: "afterwrite", Arity: 1, Flags: Fast, Op: afterwriteOp,
			Summary: "Replies once every write queued before it is durable, with the batch number."},
	)
}

func getOp(args [][]byte) (mutex.Op, any) { return mutex.Get(args[1]), nil }

func mgetOp(args [][]byte) (mutex.Op, any) {
	keys := args[1:]
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		vals := make([]any, len(keys))
		for i, k := range keys {
			v, _, err := r.Get(k)
			if err != nil {
				return nil, err
			}
			vals[i] = v
		}
		return vals, nil
	}), nil
}

func existsOp(args [][]byte) (mutex.Op, any) {
	keys := args[1:]
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		var n int64
		for _, k := range keys {
			ok, err := r.Exists(k)
			if err != nil {
				return nil, err
			}
			if ok {
				n++
			}
		}
		return n, nil
	}), nil
}

func strlenOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		v, _, err := r.Get(key)
		return int64(len(v)), err
	}), nil
}

func dbsizeOp([][]byte) (mutex.Op, any) {
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) { return r.Count() }), nil
}

func peekOp(last bool) func([][]byte) (mutex.Op, any) {
	name := "peekfirst"
	if last {
		name = "peeklast"
	}
	return func(args [][]byte) (mutex.Op, any) {
		if len(args) != 1 && len(args) != 3 {
			return mutex.Op{}, ArityError(name)
		}
		rng, bad := parseLexRange(args[1:])
		if bad != nil {
			return mutex.Op{}, bad
		}
		return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
			peek := r.PeekFirst
			if last {
				peek = r.PeekLast
			}
			kv, ok, err := peek(rng)
			if !ok || err != nil {
				return NullArray{}, err
			}
			return []any{kv.Key, kv.Value}, nil
		}), nil
	}
}

// setOptions are SET's options after key and value.
type setOptions struct {
	nx, xx, get bool
	cond        *condition // IFEQ / IFNE / IFDEQ / IFDNE
}

func parseSetOptions(args [][]byte) (setOptions, any) {
	var o setOptions
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case isOption(a, "NX") && !o.xx && o.cond == nil:
			o.nx = true
		case isOption(a, "XX") && !o.nx && o.cond == nil:
			o.xx = true
		case isOption(a, "GET"):
			o.get = true
		case isOption(a, "KEEPTTL"):
			// No key has a TTL, so keeping it is what already happens.
		case isOption(a, "EX"), isOption(a, "PX"), isOption(a, "EXAT"), isOption(a, "PXAT"):
			return o, Error("ERR key expiry is not supported by mutexredis")
		default:
			c, ok := parseCondition(a)
			if !ok || i+1 >= len(args) || o.nx || o.xx || o.cond != nil {
				return o, ErrSyntax
			}
			i++
			c.operand = args[i]
			o.cond = &c
		}
	}
	return o, nil
}

func setOp(args [][]byte) (mutex.Op, any) {
	key, value := args[1], args[2]
	o, bad := parseSetOptions(args[3:])
	if bad != nil {
		return mutex.Op{}, bad
	}
	if !o.nx && !o.xx && !o.get && o.cond == nil {
		return mutex.WriteOp(func(tx *mutex.Tx) (any, error) { return OK, setKey(tx, key, value, "set") }), nil
	}
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		old, exists, err := tx.Get(key)
		if err != nil {
			return nil, err
		}
		apply := !(o.nx && exists) && !(o.xx && !exists)
		if o.cond != nil {
			if apply, err = o.cond.holds(old, exists); err != nil {
				return nil, err
			}
		}
		if apply {
			if err := setKey(tx, key, value, "set"); err != nil {
				return nil, err
			}
		}
		switch {
		case o.get:
			return old, nil
		case apply:
			return OK, nil
		}
		return nil, nil
	}), nil
}

func setnxOp(args [][]byte) (mutex.Op, any) {
	key, value := args[1], args[2]
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		exists, err := tx.Exists(key)
		if err != nil || exists {
			return int64(0), err
		}
		return int64(1), setKey(tx, key, value, "set")
	}), nil
}

func msetOp(args [][]byte) (mutex.Op, any) {
	pairs := args[1:]
	if bad := keyPairs("mset", pairs); bad != nil {
		return mutex.Op{}, bad
	}
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) { return OK, setPairs(tx, pairs) }), nil
}

// setPairs sets each key of key value pairs (MSET, MSETNX).
func setPairs(tx *mutex.Tx, pairs [][]byte) error {
	for i := 0; i < len(pairs); i += 2 {
		if err := setKey(tx, pairs[i], pairs[i+1], "set"); err != nil {
			return err
		}
	}
	return nil
}

func delOp(args [][]byte) (mutex.Op, any) {
	keys := args[1:]
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		var n int64
		for _, k := range keys {
			existed, err := delKey(tx, k)
			if err != nil {
				return nil, err
			}
			if existed {
				n++
			}
		}
		return n, nil
	}), nil
}

func flushdbOp(args [][]byte) (mutex.Op, any) {
	if len(args) > 2 || (len(args) == 2 && !isOption(args[1], "SYNC") && !isOption(args[1], "ASYNC")) {
		return mutex.Op{}, ErrSyntax
	}
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) { return OK, tx.Clear() }), nil
}

func afterwriteOp([][]byte) (mutex.Op, any) { return mutex.AfterWrite(), nil }

// condition is a compare-and-set test on a key's current value.
type condition struct {
	name    string
	equal   bool // IFEQ/IFDEQ: holds when equal; IFNE/IFDNE: when different
	digest  bool // compare the value's digest, not the value
	operand []byte
}

func parseCondition(a []byte) (condition, bool) {
	for _, c := range []condition{
		{name: "IFEQ", equal: true}, {name: "IFNE"},
		{name: "IFDEQ", equal: true, digest: true}, {name: "IFDNE", digest: true},
	} {
		if isOption(a, c.name) {
			return c, true
		}
	}
	return condition{}, false
}

// holds reports whether the condition allows the write. As in Redis, the
// IFEQ/IFDEQ forms never create a missing key; IFNE/IFDNE do.
func (c *condition) holds(old []byte, exists bool) (bool, error) {
	if !exists {
		return !c.equal, nil
	}
	var same bool
	if c.digest {
		same = bytes.EqualFold([]byte(Digest(old)), c.operand)
	} else {
		same = bytes.Equal(old, c.operand)
	}
	return same == c.equal, nil
}
