package commands

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/mutexredis/mutexredis/mutex"
)

// The string commands (Redis's "string" group) and the mutex's own PEEKFIRST,
// PEEKLAST and AFTERWRITE. Reads become mutex.ReadOps; anything that may
// write is a mutex.WriteOp evaluated inside the write phase, so conditions
// (NX, XX, IFEQ …) and read-modify-writes (INCR …) are checked against the
// state left by every write queued before them. As in Redis, SET, GETSET
// and MSET clear a key's time to live; INCR, APPEND, SETRANGE and the other
// in-place changes keep it.

// maxStringLen is Redis's proto-max-bulk-len default: the largest value
// SETRANGE and APPEND may build.
const maxStringLen = 512 << 20

func init() {
	register(
		&Command{Name: "get", Arity: 2, Flags: Read | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: getOp},
		&Command{Name: "mget", Arity: -2, Flags: Read | Fast, FirstKey: 1, LastKey: -1, Step: 1, Op: mgetOp},
		&Command{Name: "strlen", Arity: 2, Flags: Read | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: strlenOp},
		&Command{Name: "set", Arity: -3, Flags: Write, FirstKey: 1, LastKey: 1, Step: 1, Op: setOp},
		&Command{Name: "setnx", Arity: 3, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: setnxOp},
		&Command{Name: "setex", Arity: 4, Flags: Write, FirstKey: 1, LastKey: 1, Step: 1, Op: setexOp("setex", 1000)},
		&Command{Name: "psetex", Arity: 4, Flags: Write, FirstKey: 1, LastKey: 1, Step: 1, Op: setexOp("psetex", 1)},
		&Command{Name: "getex", Arity: -2, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: getexOp},
		&Command{Name: "mset", Arity: -3, Flags: Write, FirstKey: 1, LastKey: -1, Step: 2, Op: msetOp},
		&Command{Name: "msetex", Arity: -4, Flags: Write, FirstKey: 2, LastKey: -1, Step: 2, Op: msetexOp,
			Summary: "Atomically sets several keys with an optional shared expiry and NX/XX condition, as Redis 8."},
		&Command{Name: "incr", Arity: 2, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: incrOp(1, false)},
		&Command{Name: "decr", Arity: 2, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: incrOp(-1, false)},
		&Command{Name: "incrby", Arity: 3, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: incrOp(1, true)},
		&Command{Name: "decrby", Arity: 3, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: incrOp(-1, true)},
		&Command{Name: "incrbyfloat", Arity: 3, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: incrbyfloatOp},
		&Command{Name: "append", Arity: 3, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: appendOp},
		&Command{Name: "getset", Arity: 3, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: getsetOp},
		&Command{Name: "getdel", Arity: 2, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: getdelOp},
		&Command{Name: "setrange", Arity: 4, Flags: Write, FirstKey: 1, LastKey: 1, Step: 1, Op: setrangeOp},
		&Command{Name: "msetnx", Arity: -3, Flags: Write, FirstKey: 1, LastKey: -1, Step: 2, Op: msetnxOp},
		&Command{Name: "getrange", Arity: 4, Flags: Read, FirstKey: 1, LastKey: 1, Step: 1, Op: getrangeOp},
		&Command{Name: "substr", Arity: 4, Flags: Read, FirstKey: 1, LastKey: 1, Step: 1, Op: getrangeOp},
		&Command{Name: "digest", Arity: 2, Flags: Read | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: digestOp,
			Summary: "Returns the XXH3 digest of a string value, as Redis 8.4."},
		&Command{Name: "delex", Arity: -2, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: delexOp,
			Summary: "Deletes a key if its value (or digest) matches a condition, as Redis 8.4."},
		&Command{Name: "peekfirst", Arity: -1, Flags: Read, Op: peekOp(false),
			Summary: "Returns the first string key and its value in a lexicographic range."},
		&Command{Name: "peeklast", Arity: -1, Flags: Read, Op: peekOp(true),
			Summary: "Returns the last string key and its value in a lexicographic range."},
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
			if err != nil && !errors.Is(err, mutex.ErrWrongType) { // MGET answers nil for other types
				return nil, err
			}
			vals[i] = v
		}
		return vals, nil
	}), nil
}

func strlenOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		v, _, err := r.Get(key)
		return int64(len(v)), err
	}), nil
}

// setOptions are SET's options after key and value.
type setOptions struct {
	nx, xx, get bool
	exp         expiry
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
		case isExpiryOption(a):
			n, bad := o.exp.parse("set", args, i, expirySet)
			if bad != nil {
				return o, bad
			}
			i += n
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
	if !o.nx && !o.xx && !o.get && o.cond == nil && o.exp.kind != expiryKeepTTL {
		// A blind write: nothing to read first (KEEPTTL reads the old deadline).
		return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
			deadline, _ := o.exp.deadline(tx.Now())
			return OK, setKeyTTL(tx, key, value, deadline, "set")
		}), nil
	}
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		m, exists, err := tx.Lookup(key)
		if err != nil {
			return nil, err
		}
		if exists && m.Type != mutex.TypeString && (o.get || o.cond != nil) {
			return ErrWrongType, nil
		}
		old := m.Value
		apply := !(o.nx && exists) && !(o.xx && !exists)
		if o.cond != nil {
			if apply, err = o.cond.holds(old, exists); err != nil {
				return nil, err
			}
		}
		if apply {
			deadline, keep := o.exp.deadline(tx.Now())
			if keep {
				deadline = m.Deadline
			}
			if err := setKeyTTL(tx, key, value, deadline, "set"); err != nil {
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

// setexOp builds SETEX (seconds) and PSETEX (milliseconds): SET with a
// time to live that must be positive.
func setexOp(name string, unit int64) func([][]byte) (mutex.Op, any) {
	return func(args [][]byte) (mutex.Op, any) {
		key, value := args[1], args[3]
		exp, bad := parseTTLArg(name, args[2], unit)
		if bad != nil {
			return mutex.Op{}, bad
		}
		return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
			deadline, _ := exp.deadline(tx.Now())
			return OK, setKeyTTL(tx, key, value, deadline, "set")
		}), nil
	}
}

func getexOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	var exp expiry
	for i := 2; i < len(args); i++ {
		if !isExpiryOption(args[i]) && !isOption(args[i], "PERSIST") || exp.kind != expiryNone {
			return mutex.Op{}, ErrSyntax
		}
		n, bad := exp.parse("getex", args, i, expiryGetex)
		if bad != nil {
			return mutex.Op{}, bad
		}
		i += n
	}
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		v, ok, err := tx.Get(key)
		if !ok || err != nil {
			return nil, err
		}
		switch deadline, _ := exp.deadline(tx.Now()); {
		case exp.kind == expiryPersist:
			if _, err := persistKey(tx, key); err != nil {
				return nil, err
			}
		case exp.kind != expiryNone:
			if _, err := applyDeadline(tx, key, deadline); err != nil {
				return nil, err
			}
		}
		return v, nil
	}), nil
}

func msetOp(args [][]byte) (mutex.Op, any) {
	pairs := args[1:]
	if bad := keyPairs("mset", pairs); bad != nil {
		return mutex.Op{}, bad
	}
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) { return OK, setPairs(tx, pairs) }), nil
}

// msetexOp is Redis 8's MSETEX numkeys key value [key value …] [NX | XX]
// [EX s | PX ms | EXAT t | PXAT t | KEEPTTL]: all keys set or none, with
// one expiry. It replies 1 when the keys were set, 0 when the condition
// failed.
func msetexOp(args [][]byte) (mutex.Op, any) {
	n, ok := ParseInt(args[1])
	if !ok || n <= 0 {
		return mutex.Op{}, Error("ERR invalid numkeys value")
	}
	if int64(len(args)-2) < 2*n {
		return mutex.Op{}, Error("ERR wrong number of key-value pairs")
	}
	pairs, rest := args[2:2+2*n], args[2+2*n:]
	var nx, xx bool
	var exp expiry
	for i := 0; i < len(rest); i++ {
		switch a := rest[i]; {
		case isOption(a, "NX") && !xx:
			nx = true
		case isOption(a, "XX") && !nx:
			xx = true
		case isExpiryOption(a) && exp.kind == expiryNone:
			k, bad := exp.parse("msetex", rest, i, expirySet)
			if bad != nil {
				return mutex.Op{}, bad
			}
			i += k
		default:
			return mutex.Op{}, ErrSyntax
		}
	}
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		deadlines := make([]int64, len(pairs)/2)
		for i := 0; i < len(pairs); i += 2 {
			m, exists, err := tx.Lookup(pairs[i])
			if err != nil {
				return nil, err
			}
			if (nx && exists) || (xx && !exists) {
				return int64(0), nil
			}
			deadlines[i/2] = m.Deadline
		}
		now := tx.Now()
		for i := 0; i < len(pairs); i += 2 {
			deadline, keep := exp.deadline(now)
			if keep {
				deadline = deadlines[i/2]
			}
			if err := setKeyTTL(tx, pairs[i], pairs[i+1], deadline, "set"); err != nil {
				return nil, err
			}
		}
		return int64(1), nil
	}), nil
}

// stringForUpdate reads a string key inside a write op: its value (nil
// when missing) and deadline, so that an in-place change keeps the time to
// live, as Redis's do.
func stringForUpdate(tx *mutex.Tx, key []byte) (v []byte, deadline int64, err error) {
	m, ok, err := tx.Lookup(key)
	if !ok || err != nil {
		return nil, 0, err
	}
	if m.Type != mutex.TypeString {
		return nil, 0, mutex.ErrWrongType
	}
	return m.Value, m.Deadline, nil
}

// incrOp builds INCR/DECR (step ±1) and INCRBY/DECRBY (sign ±1, amount argument).
func incrOp(sign int64, byArg bool) func([][]byte) (mutex.Op, any) {
	return func(args [][]byte) (mutex.Op, any) {
		key := args[1]
		delta := sign
		if byArg {
			n, ok := ParseInt(args[2])
			if !ok {
				return mutex.Op{}, ErrNotInteger
			}
			if sign < 0 {
				if n == math.MinInt64 {
					return mutex.Op{}, Error("ERR decrement would overflow")
				}
				n = -n
			}
			delta = n
		}
		return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
			old, deadline, err := stringForUpdate(tx, key)
			if err != nil {
				return nil, err
			}
			var cur int64
			if old != nil {
				var ok bool
				if cur, ok = ParseInt(old); !ok {
					return ErrNotInteger, nil
				}
			}
			if (delta > 0 && cur > math.MaxInt64-delta) || (delta < 0 && cur < math.MinInt64-delta) {
				return ErrOverflow, nil
			}
			cur += delta
			return cur, setKeyTTL(tx, key, strconv.AppendInt(nil, cur, 10), deadline, "incrby")
		}), nil
	}
}

// parseFloat parses a float argument or value as Redis's string2ld does:
// no spaces, no NaN; infinities parse (an increment that reaches one is
// refused later).
func parseFloat(b []byte) (float64, bool) {
	s := string(b)
	if len(s) == 0 || strings.ContainsAny(s, " \t\r\n_") {
		return 0, false
	}
	if isHexWithoutExponent(s) {
		s += "p0" // strtold reads "0x10"; Go wants a binary exponent
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

func isHexWithoutExponent(s string) bool {
	s = strings.TrimLeft(s, "+-")
	return len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && !strings.ContainsAny(s, "pP")
}

func incrbyfloatOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	delta, ok := parseFloat(args[2])
	if !ok {
		return mutex.Op{}, ErrNotFloat
	}
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		old, deadline, err := stringForUpdate(tx, key)
		if err != nil {
			return nil, err
		}
		var cur float64
		if old != nil {
			if cur, ok = parseFloat(old); !ok {
				return ErrNotFloat, nil
			}
		}
		cur += delta
		if math.IsNaN(cur) || math.IsInf(cur, 0) {
			return Error("ERR increment would produce NaN or Infinity"), nil
		}
		v := []byte(strconv.FormatFloat(cur, 'f', -1, 64))
		return v, setKeyTTL(tx, key, v, deadline, "incrbyfloat")
	}), nil
}

func appendOp(args [][]byte) (mutex.Op, any) {
	key, suffix := args[1], args[2]
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		old, deadline, err := stringForUpdate(tx, key)
		if err != nil {
			return nil, err
		}
		if len(old)+len(suffix) > maxStringLen {
			return Error("ERR string exceeds maximum allowed size (proto-max-bulk-len)"), nil
		}
		v := append(old, suffix...)
		return int64(len(v)), setKeyTTL(tx, key, v, deadline, "append")
	}), nil
}

func getsetOp(args [][]byte) (mutex.Op, any) {
	key, value := args[1], args[2]
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		old, _, err := tx.Get(key)
		if err != nil {
			return nil, err
		}
		return old, setKey(tx, key, value, "set")
	}), nil
}

func getdelOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		old, ok, err := tx.Get(key)
		if !ok || err != nil {
			return nil, err
		}
		_, err = delKey(tx, key)
		return old, err
	}), nil
}

func setrangeOp(args [][]byte) (mutex.Op, any) {
	key, value := args[1], args[3]
	offset, ok := ParseInt(args[2])
	if !ok {
		return mutex.Op{}, ErrNotInteger
	}
	if offset < 0 {
		return mutex.Op{}, Error("ERR offset is out of range")
	}
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		old, deadline, err := stringForUpdate(tx, key)
		if err != nil {
			return nil, err
		}
		if len(value) == 0 {
			return int64(len(old)), nil // nothing to write; a missing key stays missing
		}
		if offset > maxStringLen-int64(len(value)) { // written so that it cannot overflow
			return Error("ERR string exceeds maximum allowed size (proto-max-bulk-len)"), nil
		}
		end := int(offset) + len(value)
		v := old
		if end > len(v) {
			v = append(v, make([]byte, end-len(v))...)
		}
		copy(v[offset:], value)
		return int64(len(v)), setKeyTTL(tx, key, v, deadline, "setrange")
	}), nil
}

func msetnxOp(args [][]byte) (mutex.Op, any) {
	pairs := args[1:]
	if bad := keyPairs("msetnx", pairs); bad != nil {
		return mutex.Op{}, bad
	}
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		for i := 0; i < len(pairs); i += 2 {
			exists, err := tx.Exists(pairs[i])
			if err != nil || exists {
				return int64(0), err
			}
		}
		return int64(1), setPairs(tx, pairs)
	}), nil
}

func getrangeOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	start, ok1 := ParseInt(args[2])
	end, ok2 := ParseInt(args[3])
	if !ok1 || !ok2 {
		return mutex.Op{}, ErrNotInteger
	}
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		v, _, err := r.Get(key)
		if err != nil {
			return nil, err
		}
		return substring(v, start, end), nil
	}), nil
}

// substring is GETRANGE's slice: negative indexes count from the end,
// both ends inclusive, clamped to the string.
func substring(v []byte, start, end int64) []byte {
	n := int64(len(v))
	if start < 0 && end < 0 && start > end {
		return []byte{}
	}
	if start < 0 {
		start = max(n+start, 0)
	}
	if end < 0 {
		end = max(n+end, 0)
	}
	end = min(end, n-1)
	if start > end || n == 0 {
		return []byte{}
	}
	return v[start : end+1]
}

func digestOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		v, ok, err := r.Get(key)
		if !ok || err != nil {
			return nil, err
		}
		return Digest(v), nil
	}), nil
}

func delexOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	var cond *condition
	switch len(args) {
	case 2:
	case 4:
		c, ok := parseCondition(args[2])
		if !ok {
			return mutex.Op{}, ErrSyntax
		}
		c.operand = args[3]
		cond = &c
	default:
		return mutex.Op{}, ErrSyntax
	}
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		old, exists, err := tx.Get(key)
		if err != nil || !exists {
			return int64(0), err
		}
		if cond != nil {
			if ok, _ := cond.holds(old, exists); !ok {
				return int64(0), nil
			}
		}
		if _, err := delKey(tx, key); err != nil {
			return nil, err
		}
		return int64(1), nil
	}), nil
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

// setPairs sets each key of key value pairs (MSET, MSETNX).
func setPairs(tx *mutex.Tx, pairs [][]byte) error {
	for i := 0; i < len(pairs); i += 2 {
		if err := setKey(tx, pairs[i], pairs[i+1], "set"); err != nil {
			return err
		}
	}
	return nil
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
