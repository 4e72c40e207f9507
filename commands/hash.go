package commands

import (
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/mutexredis/mutexredis/mutex"
)

// The hash commands (Redis's "hash" group). A hash is a collection whose
// elements are its fields (sub-key: the field; value: the field's value),
// kept in field order, with the field count in the key's record: HLEN is
// O(1), a field read or write O(log n). Reads are mutex.ReadOps; anything
// that may write, HINCRBY included, is a mutex.WriteOp evaluated in the
// write phase against every write queued before it. Writes announce
// themselves on the writes event as "hset" (fields: the values set) and
// "hdel" (items: the fields removed), which replay to the same hash.

func init() {
	key1 := func(c *Command) *Command { c.FirstKey, c.LastKey, c.Step = 1, 1, 1; return c }
	register(
		key1(&Command{Name: "hset", Arity: -4, Flags: Write | Fast, Op: hsetOp("hset", false)}),
		key1(&Command{Name: "hmset", Arity: -4, Flags: Write | Fast, Op: hsetOp("hmset", true)}),
		key1(&Command{Name: "hsetnx", Arity: 4, Flags: Write | Fast, Op: hsetnxOp}),
		key1(&Command{Name: "hget", Arity: 3, Flags: Read | Fast, Op: hgetOp}),
		key1(&Command{Name: "hmget", Arity: -3, Flags: Read | Fast, Op: hmgetOp}),
		key1(&Command{Name: "hdel", Arity: -3, Flags: Write | Fast, Op: hdelOp}),
		key1(&Command{Name: "hexists", Arity: 3, Flags: Read | Fast, Op: hexistsOp}),
		key1(&Command{Name: "hlen", Arity: 2, Flags: Read | Fast, Op: hlenOp}),
		key1(&Command{Name: "hstrlen", Arity: 3, Flags: Read | Fast, Op: hstrlenOp}),
		key1(&Command{Name: "hgetall", Arity: 2, Flags: Read, Op: hgetallOp(true, true)}),
		key1(&Command{Name: "hkeys", Arity: 2, Flags: Read, Op: hgetallOp(true, false)}),
		key1(&Command{Name: "hvals", Arity: 2, Flags: Read, Op: hgetallOp(false, true)}),
		key1(&Command{Name: "hincrby", Arity: 4, Flags: Write | Fast, Op: hincrbyOp}),
		key1(&Command{Name: "hincrbyfloat", Arity: 4, Flags: Write | Fast, Op: hincrbyfloatOp}),
		key1(&Command{Name: "hrandfield", Arity: -2, Flags: Read, Op: hrandfieldOp}),
		key1(&Command{Name: "hscan", Arity: -3, Flags: Read, OpCtx: hscanOp}),
	)
}

// hashSet sets field value pairs in the hash at key, creating it, and
// returns how many fields are new.
func hashSet(tx *mutex.Tx, key []byte, pairs [][]byte, event string) (int64, error) {
	m, created, err := loadOrCreate(tx, key, mutex.TypeHash)
	if err != nil {
		return 0, err
	}
	var added int64
	for i := 0; i < len(pairs); i += 2 {
		_, exists, err := tx.Elem(key, &m, pairs[i])
		if err != nil {
			return 0, err
		}
		if !exists {
			added++
			m.Count++
		}
		if err := tx.SetElem(key, &m, pairs[i], pairs[i+1]); err != nil {
			return 0, err
		}
	}
	// Overwriting fields leaves the record as it was: rewriting it would
	// only grow the memtable every later lookup searches (SetElem told
	// watchers).
	if added > 0 {
		if err := putColl(tx, key, &m, created); err != nil {
			return 0, err
		}
	}
	tx.Emit(mutex.Access{Op: "hset", Key: key, Items: lastPairs(pairs), Pairs: true})
	notify(tx, notifyHash, event, key)
	return added, nil
}

// lastPairs drops the earlier of repeated fields, so the writes event's
// "fields" object has each field once, with the value that was kept.
func lastPairs(pairs [][]byte) [][]byte {
	if len(pairs) <= 2 {
		return pairs
	}
	last := make(map[string]int, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		last[string(pairs[i])] = i
	}
	if len(last) == len(pairs)/2 {
		return pairs
	}
	out := make([][]byte, 0, 2*len(last))
	for i := 0; i < len(pairs); i += 2 {
		if last[string(pairs[i])] == i {
			out = append(out, pairs[i], pairs[i+1])
		}
	}
	return out
}

// hsetOp builds HSET (replies the number of new fields) and HMSET (OK).
func hsetOp(name string, ok bool) func([][]byte) (mutex.Op, any) {
	return func(args [][]byte) (mutex.Op, any) {
		key, pairs := args[1], args[2:]
		if len(pairs)%2 != 0 {
			return mutex.Op{}, ArityError(name)
		}
		return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
			added, err := hashSet(tx, key, pairs, "hset")
			if err != nil {
				return nil, err
			}
			if ok {
				return OK, nil
			}
			return added, nil
		}), nil
	}
}

func hsetnxOp(args [][]byte) (mutex.Op, any) {
	key, field, value := args[1], args[2], args[3]
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		m, ok, err := lookupKind(&tx.Reader, key, mutex.TypeHash)
		if err != nil {
			return nil, err
		}
		if ok {
			if _, exists, err := tx.Elem(key, &m, field); err != nil || exists {
				return int64(0), err
			}
		}
		if _, err := hashSet(tx, key, [][]byte{field, value}, "hset"); err != nil {
			return nil, err
		}
		return int64(1), nil
	}), nil
}

// hashField reads one field: its value and whether the hash has it.
func hashField(r *mutex.Reader, key, field []byte) ([]byte, bool, error) {
	m, ok, err := lookupKind(r, key, mutex.TypeHash)
	if !ok || err != nil {
		return nil, false, err
	}
	return r.Elem(key, &m, field)
}

func hgetOp(args [][]byte) (mutex.Op, any) {
	key, field := args[1], args[2]
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		v, ok, err := hashField(r, key, field)
		if !ok || err != nil {
			return nil, err
		}
		if v == nil {
			v = []byte{}
		}
		return v, nil
	}), nil
}

func hmgetOp(args [][]byte) (mutex.Op, any) {
	key, fields := args[1], args[2:]
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		out := make([]any, len(fields))
		m, ok, err := lookupKind(r, key, mutex.TypeHash)
		if err != nil {
			return nil, err
		}
		for i, f := range fields {
			out[i] = []byte(nil)
			if !ok {
				continue
			}
			v, found, err := r.Elem(key, &m, f)
			if err != nil {
				return nil, err
			}
			if found {
				out[i] = append([]byte{}, v...)
			}
		}
		return out, nil
	}), nil
}

func hdelOp(args [][]byte) (mutex.Op, any) {
	key, fields := args[1], args[2:]
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		n, err := delElems(tx, key, mutex.TypeHash, fields, "hdel", notifyHash)
		return n, err
	}), nil
}

// delElems removes the elements subs from the collection of type t at key
// (HDEL, SREM), announcing them as op and notifying event, then "del" if
// the collection is left empty; it returns how many were there.
func delElems(tx *mutex.Tx, key []byte, t mutex.Type, subs [][]byte, event string, class uint32) (int64, error) {
	m, ok, err := lookupKind(&tx.Reader, key, t)
	if !ok || err != nil {
		return 0, err
	}
	var gone [][]byte
	for _, s := range subs {
		_, exists, err := tx.Elem(key, &m, s)
		if err != nil {
			return 0, err
		}
		if !exists {
			continue
		}
		if err := tx.DelElem(key, &m, s); err != nil {
			return 0, err
		}
		m.Count--
		gone = append(gone, s)
	}
	if len(gone) == 0 {
		return 0, nil
	}
	if err := tx.PutMeta(key, &m); err != nil {
		return 0, err
	}
	tx.Emit(mutex.Access{Op: event, Key: key, Items: gone})
	notify(tx, class, event, key)
	notifyEmptied(tx, key, &m)
	return int64(len(gone)), nil
}

func hexistsOp(args [][]byte) (mutex.Op, any) {
	key, field := args[1], args[2]
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		_, ok, err := hashField(r, key, field)
		if !ok || err != nil {
			return int64(0), err
		}
		return int64(1), nil
	}), nil
}

// collLen is a collection's element count (0 when missing): HLEN, SCARD.
func collLen(t mutex.Type) func([][]byte) (mutex.Op, any) {
	return func(args [][]byte) (mutex.Op, any) {
		key := args[1]
		return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
			m, _, err := lookupKind(r, key, t)
			return m.Count, err
		}), nil
	}
}

var hlenOp = collLen(mutex.TypeHash)

func hstrlenOp(args [][]byte) (mutex.Op, any) {
	key, field := args[1], args[2]
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		v, _, err := hashField(r, key, field)
		return int64(len(v)), err
	}), nil
}

// hgetallOp builds HGETALL (fields and values: a map), HKEYS and HVALS.
func hgetallOp(fields, values bool) func([][]byte) (mutex.Op, any) {
	return func(args [][]byte) (mutex.Op, any) {
		key := args[1]
		return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
			m, ok, err := lookupKind(r, key, mutex.TypeHash)
			if err != nil {
				return nil, err
			}
			n := int64(1)
			if fields && values {
				n = 2
			}
			out := make([]any, 0, min(n*m.Count, 1<<16))
			budget, fits := newReplyBudget(r), true
			if ok {
				err = r.Elems(key, &m, mutex.ElemRange{}, func(f, v []byte) bool {
					n := 0
					if fields {
						n += len(f)
					}
					if values {
						n += len(v)
					}
					if fits = budget.take(n); !fits {
						return false
					}
					if fields {
						out = append(out, append([]byte{}, f...))
					}
					if values {
						out = append(out, append([]byte{}, v...))
					}
					return true
				})
			}
			if err == nil && !fits {
				return nil, budget.err()
			}
			if fields && values {
				return Map(out), err
			}
			return out, err
		}), nil
	}
}

func hincrbyOp(args [][]byte) (mutex.Op, any) {
	key, field := args[1], args[2]
	delta, ok := ParseInt(args[3])
	if !ok {
		return mutex.Op{}, ErrNotInteger
	}
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		old, exists, err := hashField(&tx.Reader, key, field)
		if err != nil {
			return nil, err
		}
		var cur int64
		if exists {
			if cur, ok = ParseInt(old); !ok {
				return Error("ERR hash value is not an integer"), nil
			}
		}
		if (delta > 0 && cur > math.MaxInt64-delta) || (delta < 0 && cur < math.MinInt64-delta) {
			return ErrOverflow, nil
		}
		cur += delta
		if _, err := hashSet(tx, key, [][]byte{field, strconv.AppendInt(nil, cur, 10)}, "hincrby"); err != nil {
			return nil, err
		}
		return cur, nil
	}), nil
}

func hincrbyfloatOp(args [][]byte) (mutex.Op, any) {
	key, field := args[1], args[2]
	delta, ok := parseLongDouble(args[3])
	if !ok {
		return mutex.Op{}, ErrNotFloat
	}
	if delta.IsInf() {
		return mutex.Op{}, Error("ERR value is NaN or Infinity")
	}
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		old, exists, err := hashField(&tx.Reader, key, field)
		if err != nil {
			return nil, err
		}
		cur := newLongDouble()
		if exists {
			if cur, ok = parseLongDouble(old); !ok {
				return Error("ERR hash value is not a float"), nil
			}
		}
		if cur.IsInf() || cur.Add(cur, delta).MantExp(nil) > longDoubleMaxExp {
			return Error("ERR increment would produce NaN or Infinity"), nil
		}
		v := formatLongDouble(cur)
		if _, err := hashSet(tx, key, [][]byte{field, v}, "hincrbyfloat"); err != nil {
			return nil, err
		}
		return v, nil
	}), nil
}

// HINCRBYFLOAT computes as Redis does, in C's long double (x87 80-bit
// extended precision on the platforms Redis runs on: a 64-bit mantissa, a
// 15-bit exponent), and writes the result as Redis's ld2string in
// LD_STR_HUMAN mode: "%.17Lf" with the trailing zeros dropped. So the
// replies and stored values are Redis's to the last digit (0.1 + 1000 is
// 1000.10000000000000000, not float64's 1000.1).
const longDoubleMaxExp = 16384

func newLongDouble() *big.Float { return new(big.Float).SetPrec(64).SetMode(big.ToNearestEven) }

// parseLongDouble parses a float as Redis's string2ld (strtold): what
// parseFloat accepts, with long double's range (1e400 is a number; past
// the range is an error, as strtold's ERANGE is for Redis).
func parseLongDouble(b []byte) (*big.Float, bool) {
	f, ok := parseFloat(b)
	if !ok {
		return nil, false
	}
	z := newLongDouble()
	s := string(b)
	if math.IsInf(f, 0) && strings.ContainsAny(s, "iI") {
		return z.SetInf(f < 0), true
	}
	base := 10
	if isHexWithoutExponent(s) {
		s += "p0"
	}
	if t := strings.TrimLeft(s, "+-"); len(t) > 1 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') {
		base = 0
	}
	if _, _, err := z.Parse(s, base); err != nil {
		return nil, false
	}
	if e := z.MantExp(nil); e > longDoubleMaxExp || (z.Sign() != 0 && e < -16445) {
		return nil, false
	}
	return z, true
}

// formatLongDouble is ld2string(LD_STR_HUMAN).
func formatLongDouble(z *big.Float) []byte {
	s := z.Text('f', 17)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if s == "-0" {
		s = "0"
	}
	return []byte(s)
}

// randomArgs parses HRANDFIELD's and SRANDMEMBER's "[count [WITHVALUES]]"
// (WITHVALUES when values); has says a count was given.
type randomArgs struct {
	count      int64
	has        bool
	withValues bool
}

func parseRandomArgs(args [][]byte, values bool) (randomArgs, any) {
	var a randomArgs
	if len(args) == 0 {
		return a, nil
	}
	n, bad := parseCount(args[0])
	if bad != nil {
		return a, bad
	}
	a.count, a.has = n, true
	switch {
	case len(args) == 1:
	case len(args) == 2 && values && isOption(args[1], "WITHVALUES"):
		a.withValues = true
		if n < math.MinInt64/2 || n > math.MaxInt64/2 {
			return a, Error("ERR value is out of range")
		}
	default:
		return a, ErrSyntax
	}
	if -n > maxRandomCount {
		return a, Error("ERR value is out of range: a negative count may repeat elements, at most " +
			strconv.Itoa(maxRandomCount) + " of them")
	}
	return a, nil
}

// randomReply is HRANDFIELD's and SRANDMEMBER's reply with a count: a
// positive count gives distinct elements (all when it reaches the size),
// a negative one -count elements that may repeat.
func randomReply(r *mutex.Reader, key []byte, m *mutex.Meta, a randomArgs) (any, error) {
	out := []any{}
	if a.count == 0 {
		return out, nil
	}
	// A negative count repeats elements: the reply is bounded by the
	// budget, not by the collection.
	budget := newReplyBudget(r)
	add := func(s, v []byte) bool {
		if !budget.take(len(s) + len(v)) {
			return false
		}
		out = append(out, s)
		if a.withValues {
			out = append(out, v)
		}
		return true
	}
	var subs, vals [][]byte
	var err error
	switch {
	case a.count >= m.Count:
		subs, vals, err = elems(r, key, m, a.withValues, nil) // add() bounds them
	case a.count < 0:
		p, err := newPicker(r, key, m, a.withValues)
		if err != nil {
			return nil, err
		}
		for i := int64(0); i < -a.count; i++ {
			s, v, err := p.one()
			if err != nil {
				return nil, err
			}
			if !add(s, v) {
				return nil, budget.err()
			}
		}
		return out, nil
	default:
		var p *randomPicker
		if p, err = newPicker(r, key, m, a.withValues); err == nil {
			subs, vals, err = p.distinct(int(a.count))
		}
	}
	if err != nil {
		return nil, err
	}
	for i, s := range subs {
		if !add(s, valueAt(vals, i)) {
			return nil, budget.err()
		}
	}
	return out, nil
}

func valueAt(vals [][]byte, i int) []byte {
	if i < len(vals) {
		return vals[i]
	}
	return nil
}

// hrandfieldOp is HRANDFIELD key [count [WITHVALUES]].
func hrandfieldOp(args [][]byte) (mutex.Op, any) { return randomMemberOp(args, mutex.TypeHash) }

func hscanOp(c *Ctx) (mutex.Op, any) {
	key := c.Args[1]
	s, bad := parseScanArgs(c.Args[2:], scanNoValues)
	if bad != nil {
		return mutex.Op{}, bad
	}
	s.cursors = cursorsOf(c.Client)
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		return scanColl(r, key, mutex.TypeHash, s, !s.noValues)
	}), nil
}
