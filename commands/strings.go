package commands

import (
	"math"
	"strconv"
	"strings"

	"github.com/mutexredis/mutexredis/mutex"
)

// Read-modify-write string commands. Each is one mutex.WriteOp: it reads
// the key inside the write phase, so it sees every write queued before it
// and nothing can change the key between its read and its write.

// maxStringLen is Redis's proto-max-bulk-len default: the largest value
// SETRANGE and APPEND may build.
const maxStringLen = 512 << 20

func init() {
	register(
		&Command{Name: "incr", Arity: 2, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: incrOp(1, false),
			Summary: "Increments the integer value of a key by one."},
		&Command{Name: "decr", Arity: 2, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: incrOp(-1, false),
			Summary: "Decrements the integer value of a key by one."},
		&Command{Name: "incrby", Arity: 3, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: incrOp(1, true),
			Summary: "Increments the integer value of a key by a number."},
		&Command{Name: "decrby", Arity: 3, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: incrOp(-1, true),
			Summary: "Decrements the integer value of a key by a number."},
		&Command{Name: "incrbyfloat", Arity: 3, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: incrbyfloatOp,
			Summary: "Increments the floating point value of a key by a number."},
		&Command{Name: "append", Arity: 3, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: appendOp,
			Summary: "Appends a string to the value of a key."},
		&Command{Name: "getset", Arity: 3, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: getsetOp,
			Summary: "Returns the previous value of a key after setting it to a new value."},
		&Command{Name: "getdel", Arity: 2, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: getdelOp,
			Summary: "Returns the value of a key after deleting it."},
		&Command{Name: "setrange", Arity: 4, Flags: Write, FirstKey: 1, LastKey: 1, Step: 1, Op: setrangeOp,
			Summary: "Overwrites part of a string value from an offset."},
		&Command{Name: "msetnx", Arity: -3, Flags: Write, FirstKey: 1, LastKey: -1, Step: 2, Op: msetnxOp,
			Summary: "Sets several keys only if none of them exists."},
		&Command{Name: "getrange", Arity: 4, Flags: Read, FirstKey: 1, LastKey: 1, Step: 1, Op: getrangeOp,
			Summary: "Returns a substring of the string stored at a key."},
		&Command{Name: "substr", Arity: 4, Flags: Read, FirstKey: 1, LastKey: 1, Step: 1, Op: getrangeOp,
			Summary: "Returns a substring of the string stored at a key (old name of GETRANGE)."},
		&Command{Name: "digest", Arity: 2, Flags: Read | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: digestOp,
			Summary: "Returns the XXH3 digest of a string value, as Redis 8.4."},
		&Command{Name: "delex", Arity: -2, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: delexOp,
			Summary: "Deletes a key if its value (or digest) matches a condition, as Redis 8.4."},
	)
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
			old, _, err := tx.Get(key)
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
			return cur, setKey(tx, key, strconv.AppendInt(nil, cur, 10), "incrby")
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
		old, _, err := tx.Get(key)
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
		return v, setKey(tx, key, v, "incrbyfloat")
	}), nil
}

func appendOp(args [][]byte) (mutex.Op, any) {
	key, suffix := args[1], args[2]
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		old, _, err := tx.Get(key)
		if err != nil {
			return nil, err
		}
		if len(old)+len(suffix) > maxStringLen {
			return Error("ERR string exceeds maximum allowed size (proto-max-bulk-len)"), nil
		}
		v := append(old, suffix...)
		return int64(len(v)), setKey(tx, key, v, "append")
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
		old, _, err := tx.Get(key)
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
		return int64(len(v)), setKey(tx, key, v, "setrange")
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
