package commands

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/mutexredis/mutexredis/mutex"
)

// The list commands (Redis's "list" group) and the blocking pops.
//
// A list is a collection (mutex.Meta) whose elements are numbered: the
// record's Aux holds head and tail, two 8-byte big-endian sequence numbers
// (the first element is at head, the next free slot after the last at
// tail; a new list starts with both at 1<<63), and element i (0-based) is
// stored under the sub-key head+i, 8 bytes big-endian, so that the
// elements are ordered as the list is. Pushing or popping at either end
// moves head or tail by one: O(1). LINDEX and LSET read or write one
// element, O(log n); LRANGE is one bounded walk, O(log n + k). LINSERT and
// LREM shift the elements on one side of the change, LTRIM deletes what it
// cuts: O(n) at worst, as in Redis. A list emptied by a command is deleted
// (with one range deletion of its elements).
//
// Every mutation is announced (mutex.Tx.Emit) in a vocabulary that
// replays: "lpush"/"rpush" (Items: the elements in the order pushed),
// "lpop"/"rpop" (At: how many), "lset" (At: the index from the head,
// Value), "linsert" (Items: BEFORE|AFTER, pivot, element), "lrem" (At: the
// count argument, Value: the element), "ltrim" (Items: the kept range,
// from the head). LMOVE and the blocking pops announce the pops and
// pushes they make.

// listOrigin is head and tail of a new list: the middle of the uint64
// range, so that either end can grow for ever.
const listOrigin = 1 << 63

func init() {
	key1 := func(c *Command) *Command { c.FirstKey, c.LastKey, c.Step = 1, 1, 1; return c }
	register(
		key1(&Command{Name: "lpush", Arity: -3, Flags: Write | Fast, Op: listPushOp(true, false)}),
		key1(&Command{Name: "rpush", Arity: -3, Flags: Write | Fast, Op: listPushOp(false, false)}),
		key1(&Command{Name: "lpushx", Arity: -3, Flags: Write | Fast, Op: listPushOp(true, true)}),
		key1(&Command{Name: "rpushx", Arity: -3, Flags: Write | Fast, Op: listPushOp(false, true)}),
		key1(&Command{Name: "lpop", Arity: -2, Flags: Write | Fast, Op: listPopOp("lpop", true)}),
		key1(&Command{Name: "rpop", Arity: -2, Flags: Write | Fast, Op: listPopOp("rpop", false)}),
		key1(&Command{Name: "llen", Arity: 2, Flags: Read | Fast, Op: llenOp}),
		key1(&Command{Name: "lrange", Arity: 4, Flags: Read, Op: lrangeOp}),
		key1(&Command{Name: "lindex", Arity: 3, Flags: Read | Fast, Op: lindexOp}),
		key1(&Command{Name: "lset", Arity: 4, Flags: Write | Fast, Op: lsetOp}),
		key1(&Command{Name: "linsert", Arity: 5, Flags: Write, Op: linsertOp}),
		key1(&Command{Name: "lrem", Arity: 4, Flags: Write, Op: lremOp}),
		key1(&Command{Name: "ltrim", Arity: 4, Flags: Write, Op: ltrimOp}),
		key1(&Command{Name: "lpos", Arity: -3, Flags: Read, Op: lposOp}),
		&Command{Name: "lmove", Arity: 5, Flags: Write, FirstKey: 1, LastKey: 2, Step: 1, Op: lmoveOp},
		&Command{Name: "rpoplpush", Arity: 3, Flags: Write, FirstKey: 1, LastKey: 2, Step: 1, Op: rpoplpushOp},
		&Command{Name: "lmpop", Arity: -4, Flags: Write, Op: lmpopOp},
		&Command{Name: "blpop", Arity: -3, Flags: Write | MayBlock, FirstKey: 1, LastKey: -2, Step: 1, Op: blpopOp(true)},
		&Command{Name: "brpop", Arity: -3, Flags: Write | MayBlock, FirstKey: 1, LastKey: -2, Step: 1, Op: blpopOp(false)},
		&Command{Name: "blmove", Arity: 6, Flags: Write | MayBlock, FirstKey: 1, LastKey: 2, Step: 1, Op: blmoveOp},
		&Command{Name: "brpoplpush", Arity: 4, Flags: Write | MayBlock, FirstKey: 1, LastKey: 2, Step: 1, Op: brpoplpushOp},
		&Command{Name: "blmpop", Arity: -5, Flags: Write | MayBlock, Op: blmpopOp},
	)
}

// ---- the list in a record ----

// list is a list being read or changed by one op.
type list struct {
	key        []byte
	m          mutex.Meta
	head, tail uint64
	created    bool // new in this op: nothing stored yet
	// cleared: every element was deleted one by one, so an empty list
	// needs no range deletion.
	cleared bool
}

func listSub(i uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), i) }

// readList returns the list at key, nil when the key does not exist, and
// mutex.ErrWrongType when it holds another type. In a Tx (pass
// &tx.Reader) an expired key is deleted first.
func readList(r *mutex.Reader, key []byte) (*list, error) {
	m, ok, err := r.Lookup(key)
	if !ok || err != nil {
		return nil, err
	}
	if m.Type != mutex.TypeList {
		return nil, mutex.ErrWrongType
	}
	if len(m.Aux) != 16 {
		return nil, errors.New("corrupt list record")
	}
	l := &list{key: key, m: m}
	l.head = binary.BigEndian.Uint64(m.Aux)
	l.tail = binary.BigEndian.Uint64(m.Aux[8:])
	if l.tail-l.head != uint64(m.Count) {
		return nil, errors.New("corrupt list record: count and ends disagree")
	}
	return l, nil
}

func newList(tx *mutex.Tx, key []byte) *list {
	return &list{key: key, m: tx.NewCollection(mutex.TypeList), head: listOrigin, tail: listOrigin, created: true}
}

func (l *list) len() int64 { return int64(l.tail - l.head) }

// get returns element i (0 ≤ i < len).
func (l *list) get(r *mutex.Reader, i int64) ([]byte, error) {
	v, ok, err := r.Elem(l.key, &l.m, listSub(l.head+uint64(i)))
	if err == nil && !ok {
		err = errors.New("corrupt list: element missing")
	}
	return v, err
}

// walk calls fn with the index and value of elements start..end
// (inclusive, 0 ≤ start ≤ end < len), backwards when reverse, until fn
// returns false. v is only valid during the call.
func (l *list) walk(r *mutex.Reader, start, end int64, reverse bool, fn func(i int64, v []byte) bool) error {
	rng := mutex.ElemRange{Start: listSub(l.head + uint64(start)), End: listSub(l.head + uint64(end) + 1), Reverse: reverse}
	return r.Elems(l.key, &l.m, rng, func(sub, v []byte) bool {
		return fn(int64(binary.BigEndian.Uint64(sub)-l.head), v)
	})
}

// values returns copies of elements start..end.
func (l *list) values(r *mutex.Reader, start, end int64) ([][]byte, error) {
	out := make([][]byte, 0, min(end-start+1, 1<<16))
	err := l.walk(r, start, end, false, func(_ int64, v []byte) bool {
		out = append(out, bytes.Clone(v))
		return true
	})
	return out, err
}

func (l *list) set(tx *mutex.Tx, i int64, v []byte) error {
	return tx.SetElem(l.key, &l.m, listSub(l.head+uint64(i)), v)
}

// push adds vals at the head (left) or the tail, one after the other.
func (l *list) push(tx *mutex.Tx, left bool, vals ...[]byte) error {
	for _, v := range vals {
		var at uint64
		if left {
			l.head--
			at = l.head
		} else {
			at = l.tail
			l.tail++
		}
		if err := tx.SetElem(l.key, &l.m, listSub(at), v); err != nil {
			return err
		}
	}
	return nil
}

// popPointMax is the most elements a pop reads and deletes one by one;
// more are read with one walk (and an emptied list goes with one range
// deletion).
const popPointMax = 64

// pop removes up to n elements from the head (left) or the tail and
// returns them in the order popped.
func (l *list) pop(tx *mutex.Tx, left bool, n int64) ([][]byte, error) {
	n = min(n, l.len())
	if n <= 0 {
		return nil, nil
	}
	emptied := n == l.len()
	point := n <= popPointMax
	out := make([][]byte, 0, min(n, 1<<16))
	if point {
		for j := range n {
			i := j
			if !left {
				i = l.len() - 1 - j
			}
			v, err := l.get(&tx.Reader, i)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	} else {
		start, end := int64(0), n-1
		if !left {
			start, end = l.len()-n, l.len()-1
		}
		err := l.walk(&tx.Reader, start, end, !left, func(_ int64, v []byte) bool {
			out = append(out, bytes.Clone(v))
			return true
		})
		if err != nil {
			return nil, err
		}
		if int64(len(out)) != n {
			return nil, errors.New("corrupt list: elements missing")
		}
	}
	for range n {
		var at uint64
		if left {
			at = l.head
			l.head++
		} else {
			l.tail--
			at = l.tail
		}
		if point || !emptied { // an emptied list may go with one range deletion
			if err := tx.DelElem(l.key, &l.m, listSub(at)); err != nil {
				return nil, err
			}
		}
	}
	l.cleared = emptied && point
	return out, nil
}

// save writes the list's record; an empty list is deleted. A new list
// notifies "new" (call save before the command's own notification, as
// Redis sends them in that order).
func (l *list) save(tx *mutex.Tx) error {
	l.m.Count = l.len()
	l.m.Aux = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(make([]byte, 0, 16), l.head), l.tail)
	if l.created && l.m.Count > 0 {
		notify(tx, notifyNew, "new", l.key)
	}
	switch {
	case l.created && l.m.Count == 0:
		return nil // nothing was stored
	case l.cleared && l.m.Count == 0:
		return tx.DropEmptied(l.key)
	}
	return tx.PutMeta(l.key, &l.m)
}

// notifyIfEmptied sends Redis's "del" for a list its command emptied.
func (l *list) notifyIfEmptied(tx *mutex.Tx) {
	if l.len() == 0 {
		notify(tx, notifyGeneric, "del", l.key)
	}
}

// listRead and listWrite build ops whose mutex.ErrWrongType becomes the
// WRONGTYPE reply.
func listRead(fn func(r *mutex.Reader) (any, error)) mutex.Op {
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) { return wrongTypeReply(fn(r)) })
}

func listWrite(fn func(tx *mutex.Tx) (any, error)) mutex.Op {
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) { return wrongTypeReply(fn(tx)) })
}

func wrongTypeReply(res any, err error) (any, error) {
	if errors.Is(err, mutex.ErrWrongType) {
		return ErrWrongType, nil
	}
	return res, err
}

func popName(left bool) string {
	if left {
		return "lpop"
	}
	return "rpop"
}

func pushName(left bool) string {
	if left {
		return "lpush"
	}
	return "rpush"
}

// parseEnd parses LEFT or RIGHT.
func parseEnd(arg []byte) (left bool, bad any) {
	switch {
	case isOption(arg, "LEFT"):
		return true, nil
	case isOption(arg, "RIGHT"):
		return false, nil
	}
	return false, ErrSyntax
}

// normIndex turns a Redis index (negative from the end) into one from the
// head; ok is false when it is out of range.
func normIndex(i, n int64) (int64, bool) {
	if i < 0 {
		i += n
	}
	return i, i >= 0 && i < n
}

// normRange clips a Redis start/stop range to the list's n elements; ok is
// false when it is empty.
func normRange(start, stop, n int64) (int64, int64, bool) {
	if start < 0 {
		start += n
	}
	if stop < 0 {
		stop += n
	}
	start = max(start, 0)
	if start > stop || start >= n {
		return 0, 0, false
	}
	return start, min(stop, n-1), true
}

// ---- pushes and pops ----

func listPushOp(left, onlyExisting bool) func([][]byte) (mutex.Op, any) {
	return func(args [][]byte) (mutex.Op, any) {
		key, vals := args[1], args[2:]
		return listWrite(func(tx *mutex.Tx) (any, error) {
			l, err := readList(&tx.Reader, key)
			if err != nil {
				return nil, err
			}
			if l == nil {
				if onlyExisting {
					return int64(0), nil
				}
				l = newList(tx, key)
			}
			if err := l.push(tx, left, vals...); err != nil {
				return nil, err
			}
			if err := l.save(tx); err != nil {
				return nil, err
			}
			tx.Emit(mutex.Access{Op: pushName(left), Key: key, Items: vals})
			notify(tx, notifyList, pushName(left), key)
			return l.len(), nil
		}), nil
	}
}

// popFrom pops up to n elements of l, saves it and announces the pop.
func popFrom(tx *mutex.Tx, l *list, left bool, n int64) ([][]byte, error) {
	vals, err := l.pop(tx, left, n)
	if err != nil {
		return nil, err
	}
	if err := l.save(tx); err != nil {
		return nil, err
	}
	tx.Emit(mutex.Access{Op: popName(left), Key: l.key, At: int64(len(vals))})
	notify(tx, notifyList, popName(left), l.key)
	l.notifyIfEmptied(tx)
	return vals, nil
}

func listPopOp(name string, left bool) func([][]byte) (mutex.Op, any) {
	return func(args [][]byte) (mutex.Op, any) {
		if len(args) > 3 {
			return mutex.Op{}, ArityError(name)
		}
		key := args[1]
		hasCount, count := len(args) == 3, int64(1)
		if hasCount {
			var ok bool
			if count, ok = ParseInt(args[2]); !ok || count < 0 {
				return mutex.Op{}, Error("ERR value is out of range, must be positive")
			}
		}
		return listWrite(func(tx *mutex.Tx) (any, error) {
			l, err := readList(&tx.Reader, key)
			if err != nil {
				return nil, err
			}
			if l == nil {
				if hasCount {
					return NullArray{}, nil
				}
				return nil, nil
			}
			if count == 0 {
				return []any{}, nil
			}
			vals, err := popFrom(tx, l, left, count)
			if err != nil {
				return nil, err
			}
			if !hasCount {
				return vals[0], nil
			}
			return bulks(vals), nil
		}), nil
	}
}

func bulks(vals [][]byte) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = v
	}
	return out
}

// popFirst pops up to count elements from the first non-empty list of
// keys: the reply is [key, element] (mpop false) or [key, [elements…]]
// (mpop true), served false when every key is empty. strict reports a key
// of another type as WRONGTYPE; otherwise such a key is skipped, as Redis
// 7.0 leaves a blocked client blocked when its key becomes another type.
func popFirst(tx *mutex.Tx, keys [][]byte, left bool, count int64, mpop, strict bool) (any, bool, error) {
	for _, key := range keys {
		l, err := readList(&tx.Reader, key)
		if errors.Is(err, mutex.ErrWrongType) {
			if strict {
				return ErrWrongType, true, nil
			}
			continue
		}
		if err != nil {
			return nil, false, err
		}
		if l == nil {
			continue
		}
		vals, err := popFrom(tx, l, left, count)
		if err != nil {
			return nil, false, err
		}
		if mpop {
			return []any{bytes.Clone(key), bulks(vals)}, true, nil
		}
		return []any{bytes.Clone(key), vals[0]}, true, nil
	}
	return nil, false, nil
}

// parseMpop parses LMPOP's (and BLMPOP's) numkeys key … LEFT|RIGHT [COUNT n].
func parseMpop(args [][]byte) (keys [][]byte, left bool, count int64, bad any) {
	n, ok := ParseInt(args[0])
	if !ok || n < 1 {
		return nil, false, 0, Error("ERR numkeys should be greater than 0")
	}
	if n >= int64(len(args))-1 {
		return nil, false, 0, ErrSyntax
	}
	keys, rest := args[1:1+n], args[1+n:]
	if left, bad = parseEnd(rest[0]); bad != nil {
		return nil, false, 0, bad
	}
	count = -1
	for i := 1; i < len(rest); i++ {
		if count == -1 && isOption(rest[i], "COUNT") && i+1 < len(rest) {
			i++
			if count, ok = ParseInt(rest[i]); !ok || count < 1 {
				return nil, false, 0, Error("ERR count should be greater than 0")
			}
			continue
		}
		return nil, false, 0, ErrSyntax
	}
	return keys, left, max(count, 1), nil
}

func lmpopOp(args [][]byte) (mutex.Op, any) {
	keys, left, count, bad := parseMpop(args[1:])
	if bad != nil {
		return mutex.Op{}, bad
	}
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		res, served, err := popFirst(tx, keys, left, count, true, true)
		if !served && err == nil {
			return NullArray{}, nil
		}
		return res, err
	}), nil
}

// ---- moves ----

// lmove pops one element of src (which exists) and pushes it to dst; the
// reply is the element, or WRONGTYPE if dst holds another type.
func lmove(tx *mutex.Tx, src *list, dstKey []byte, from, to bool) (any, error) {
	var dst *list
	if bytes.Equal(src.key, dstKey) {
		dst = src
	} else {
		var err error
		if dst, err = readList(&tx.Reader, dstKey); errors.Is(err, mutex.ErrWrongType) {
			return ErrWrongType, nil
		} else if err != nil {
			return nil, err
		}
		if dst == nil {
			dst = newList(tx, dstKey)
		}
	}
	vals, err := src.pop(tx, from, 1)
	if err != nil {
		return nil, err
	}
	if err := dst.push(tx, to, vals[0]); err != nil {
		return nil, err
	}
	if dst != src {
		if err := src.save(tx); err != nil {
			return nil, err
		}
	}
	if err := dst.save(tx); err != nil {
		return nil, err
	}
	tx.Emit(mutex.Access{Op: popName(from), Key: src.key, At: 1})
	tx.Emit(mutex.Access{Op: pushName(to), Key: dstKey, Items: vals})
	notify(tx, notifyList, pushName(to), dstKey)
	notify(tx, notifyList, popName(from), src.key)
	src.notifyIfEmptied(tx)
	return vals[0], nil
}

// tryMove is LMOVE's body: served false when src does not exist.
func tryMove(tx *mutex.Tx, srcKey, dstKey []byte, from, to, strict bool) (any, bool, error) {
	src, err := readList(&tx.Reader, srcKey)
	if errors.Is(err, mutex.ErrWrongType) {
		if strict {
			return ErrWrongType, true, nil
		}
		return nil, false, nil
	}
	if err != nil || src == nil {
		return nil, false, err
	}
	res, err := lmove(tx, src, dstKey, from, to)
	return res, err == nil, err
}

func lmoveOp(args [][]byte) (mutex.Op, any) {
	from, bad := parseEnd(args[3])
	if bad != nil {
		return mutex.Op{}, bad
	}
	to, bad := parseEnd(args[4])
	if bad != nil {
		return mutex.Op{}, bad
	}
	return moveOp2(args[1], args[2], from, to), nil
}

func rpoplpushOp(args [][]byte) (mutex.Op, any) { return moveOp2(args[1], args[2], false, true), nil }

func moveOp2(src, dst []byte, from, to bool) mutex.Op {
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		res, _, err := tryMove(tx, src, dst, from, to, true)
		return res, err
	})
}

// ---- blocking ----

// attempts returns a blocking command's attempt: the first try (in the
// command's own write op) is strict, the later ones skip keys of another
// type, as Redis 7.0 keeps such a client blocked.
func attempts(try func(tx *mutex.Tx, strict bool) (any, bool, error)) mutex.Attempt {
	tries := 0 // attempts run one at a time, in the keyspace's write phases
	return func(tx *mutex.Tx) (any, bool, error) {
		tries++
		return try(tx, tries == 1)
	}
}

func blpopOp(left bool) func([][]byte) (mutex.Op, any) {
	return func(args [][]byte) (mutex.Op, any) {
		timeout, bad := ParseTimeout(args[len(args)-1])
		if bad != nil {
			return mutex.Op{}, bad
		}
		keys := args[1 : len(args)-1]
		return blockingOp(keys, timeout, NullArray{}, attempts(func(tx *mutex.Tx, strict bool) (any, bool, error) {
			return popFirst(tx, keys, left, 1, false, strict)
		})), nil
	}
}

func blmpopOp(args [][]byte) (mutex.Op, any) {
	keys, left, count, bad := parseMpop(args[2:])
	if bad != nil {
		return mutex.Op{}, bad
	}
	timeout, bad := ParseTimeout(args[1])
	if bad != nil {
		return mutex.Op{}, bad
	}
	return blockingOp(keys, timeout, NullArray{}, attempts(func(tx *mutex.Tx, strict bool) (any, bool, error) {
		return popFirst(tx, keys, left, count, true, strict)
	})), nil
}

func blmoveOp(args [][]byte) (mutex.Op, any) {
	from, bad := parseEnd(args[3])
	if bad != nil {
		return mutex.Op{}, bad
	}
	to, bad := parseEnd(args[4])
	if bad != nil {
		return mutex.Op{}, bad
	}
	timeout, bad := ParseTimeout(args[5])
	if bad != nil {
		return mutex.Op{}, bad
	}
	return blockingMove(args[1], args[2], from, to, timeout), nil
}

func brpoplpushOp(args [][]byte) (mutex.Op, any) {
	timeout, bad := ParseTimeout(args[3])
	if bad != nil {
		return mutex.Op{}, bad
	}
	return blockingMove(args[1], args[2], false, true, timeout), nil
}

func blockingMove(src, dst []byte, from, to bool, timeout time.Duration) mutex.Op {
	attempt := attempts(func(tx *mutex.Tx, strict bool) (any, bool, error) {
		return tryMove(tx, src, dst, from, to, strict)
	})
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		res, ok, err := attempt(tx)
		if ok || err != nil {
			return res, err
		}
		// A timeout answers a null array, MULTI a null bulk, as Redis 7.0.
		return &Blocking{Keys: [][]byte{src}, Attempt: attempt, Timeout: timeout, TimeoutReply: NullArray{}, HasNowReply: true}, nil
	})
}

// ---- reads ----

func llenOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	return listRead(func(r *mutex.Reader) (any, error) {
		l, err := readList(r, key)
		if l == nil || err != nil {
			return int64(0), err
		}
		return l.len(), nil
	}), nil
}

func lrangeOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	start, ok1 := ParseInt(args[2])
	stop, ok2 := ParseInt(args[3])
	if !ok1 || !ok2 {
		return mutex.Op{}, ErrNotInteger
	}
	return listRead(func(r *mutex.Reader) (any, error) {
		l, err := readList(r, key)
		if l == nil || err != nil {
			return []any{}, err
		}
		start, stop, ok := normRange(start, stop, l.len())
		if !ok {
			return []any{}, nil
		}
		// One buffer for the elements' bytes, one reply slot each.
		out := make([]any, 0, min(stop-start+1, 1<<16))
		var buf []byte
		var ends []int
		budget, fits := newReplyBudget(r), true
		err = l.walk(r, start, stop, false, func(_ int64, v []byte) bool {
			if fits = budget.take(len(v)); !fits {
				return false
			}
			buf = append(buf, v...)
			ends = append(ends, len(buf))
			return true
		})
		if err == nil && !fits {
			err = budget.err()
		}
		if err != nil {
			return nil, err
		}
		from := 0
		for _, to := range ends {
			out = append(out, buf[from:to:to])
			from = to
		}
		return out, nil
	}), nil
}

func lindexOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	index, indexOK := ParseInt(args[2])
	return listRead(func(r *mutex.Reader) (any, error) {
		l, err := readList(r, key)
		if l == nil || err != nil {
			return nil, err
		}
		if !indexOK { // Redis looks the key up first
			return ErrNotInteger, nil
		}
		i, ok := normIndex(index, l.len())
		if !ok {
			return nil, nil
		}
		return l.get(r, i)
	}), nil
}

func lposOp(args [][]byte) (mutex.Op, any) {
	key, elem := args[1], args[2]
	rank, count, maxlen := int64(1), int64(-1), int64(0)
	for i := 3; i < len(args); i++ {
		opt := args[i]
		if i+1 >= len(args) {
			return mutex.Op{}, ErrSyntax
		}
		n, ok := ParseInt(args[i+1])
		i++
		switch {
		case isOption(opt, "RANK"):
			if !ok {
				return mutex.Op{}, ErrNotInteger
			}
			if n == 0 {
				return mutex.Op{}, Error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
			}
			rank = n
		case isOption(opt, "COUNT"):
			if !ok || n < 0 {
				return mutex.Op{}, Error("ERR COUNT can't be negative")
			}
			count = n
		case isOption(opt, "MAXLEN"):
			if !ok || n < 0 {
				return mutex.Op{}, Error("ERR MAXLEN can't be negative")
			}
			maxlen = n
		default:
			return mutex.Op{}, ErrSyntax
		}
	}
	return listRead(func(r *mutex.Reader) (any, error) {
		l, err := readList(r, key)
		if l == nil || err != nil {
			if count >= 0 {
				return []any{}, err
			}
			return nil, err
		}
		reverse, skip, count := rank < 0, rank-1, count
		if reverse {
			skip = -rank - 1
		}
		if rank == math.MinInt64 {
			// Redis negates the rank, which stays negative: every match
			// from the end qualifies, and its COUNT test overflows.
			skip = 0
			if count > 0 {
				count = 0
			}
		}
		var found []any
		seen := int64(0)
		err = l.walk(r, 0, l.len()-1, reverse, func(i int64, v []byte) bool {
			if maxlen > 0 && seen >= maxlen {
				return false
			}
			seen++
			if !bytes.Equal(v, elem) {
				return true
			}
			if skip > 0 {
				skip--
				return true
			}
			found = append(found, i)
			return count == 0 || int64(len(found)) < max(count, 1)
		})
		if err != nil {
			return nil, err
		}
		if count >= 0 {
			if found == nil {
				return []any{}, nil
			}
			return found, nil
		}
		if found == nil {
			return nil, nil
		}
		return found[0], nil
	}), nil
}

// ---- changes in the middle ----

func lsetOp(args [][]byte) (mutex.Op, any) {
	key, value := args[1], args[3]
	index, indexOK := ParseInt(args[2])
	return listWrite(func(tx *mutex.Tx) (any, error) {
		l, err := readList(&tx.Reader, key)
		if err != nil {
			return nil, err
		}
		if l == nil {
			return ErrNoSuchKey, nil
		}
		if !indexOK {
			return ErrNotInteger, nil
		}
		i, ok := normIndex(index, l.len())
		if !ok {
			return Error("ERR index out of range"), nil
		}
		if err := l.set(tx, i, value); err != nil {
			return nil, err
		}
		if err := l.save(tx); err != nil {
			return nil, err
		}
		tx.Emit(mutex.Access{Op: "lset", Key: key, At: i, Value: value})
		notify(tx, notifyList, "lset", key)
		return OK, nil
	}), nil
}

func linsertOp(args [][]byte) (mutex.Op, any) {
	key, pivot, elem := args[1], args[3], args[4]
	var after bool
	switch {
	case isOption(args[2], "AFTER"):
		after = true
	case isOption(args[2], "BEFORE"):
	default:
		return mutex.Op{}, ErrSyntax
	}
	return listWrite(func(tx *mutex.Tx) (any, error) {
		l, err := readList(&tx.Reader, key)
		if l == nil || err != nil {
			return int64(0), err
		}
		at := int64(-1)
		err = l.walk(&tx.Reader, 0, l.len()-1, false, func(i int64, v []byte) bool {
			if bytes.Equal(v, pivot) {
				at = i
				return false
			}
			return true
		})
		if err != nil || at < 0 {
			return int64(-1), err
		}
		if after {
			at++
		}
		if err := l.insert(tx, at, elem); err != nil {
			return nil, err
		}
		if err := l.save(tx); err != nil {
			return nil, err
		}
		where := []byte("BEFORE")
		if after {
			where = []byte("AFTER")
		}
		tx.Emit(mutex.Access{Op: "linsert", Key: key, Items: [][]byte{where, pivot, elem}})
		notify(tx, notifyList, "linsert", key)
		return l.len(), nil
	}), nil
}

// insert puts v at index at (0 ≤ at ≤ len), shifting the shorter side by
// one.
func (l *list) insert(tx *mutex.Tx, at int64, v []byte) error {
	n := l.len()
	if at <= n-at { // move elements 0..at-1 one step towards the head
		moved, err := l.values(&tx.Reader, 0, at-1) // none when at is 0
		if err != nil {
			return err
		}
		l.head--
		for i, mv := range moved {
			if err := l.set(tx, int64(i), mv); err != nil {
				return err
			}
		}
		return l.set(tx, at, v)
	}
	moved, err := l.values(&tx.Reader, at, n-1)
	if err != nil {
		return err
	}
	l.tail++
	for i, mv := range moved {
		if err := l.set(tx, at+1+int64(i), mv); err != nil {
			return err
		}
	}
	return l.set(tx, at, v)
}

func lremOp(args [][]byte) (mutex.Op, any) {
	key, elem := args[1], args[3]
	count, ok := ParseInt(args[2])
	if !ok {
		return mutex.Op{}, ErrNotInteger
	}
	return listWrite(func(tx *mutex.Tx) (any, error) {
		l, err := readList(&tx.Reader, key)
		if l == nil || err != nil {
			return int64(0), err
		}
		n := l.len()
		var gone []int64 // indexes to remove
		limit := count
		if limit < 0 {
			limit = -limit // math.MinInt64 stays negative: no limit either way
		}
		err = l.walk(&tx.Reader, 0, n-1, count < 0, func(i int64, v []byte) bool {
			if bytes.Equal(v, elem) {
				gone = append(gone, i)
			}
			return limit <= 0 || int64(len(gone)) < limit
		})
		if err != nil {
			return nil, err
		}
		if len(gone) == 0 {
			return int64(0), nil
		}
		if err := l.remove(tx, gone); err != nil {
			return nil, err
		}
		if err := l.save(tx); err != nil {
			return nil, err
		}
		tx.Emit(mutex.Access{Op: "lrem", Key: key, At: count, Value: elem})
		notify(tx, notifyList, "lrem", key)
		l.notifyIfEmptied(tx)
		return int64(len(gone)), nil
	}), nil
}

// remove deletes the elements at the given indexes (distinct, in any
// order), closing the gaps from the shorter side.
func (l *list) remove(tx *mutex.Tx, gone []int64) error {
	n := l.len()
	if int64(len(gone)) == n {
		l.head = l.tail // the record's deletion drops the elements
		return nil
	}
	removed := make(map[int64]bool, len(gone))
	first, last := gone[0], gone[0]
	for _, i := range gone {
		removed[i] = true
		first, last = min(first, i), max(last, i)
	}
	k := int64(len(gone))
	if n-first <= last+1 { // rewrite first..n-1, closing towards the head
		vals, err := l.values(&tx.Reader, first, n-1)
		if err != nil {
			return err
		}
		w := first
		for j, v := range vals {
			if !removed[first+int64(j)] {
				if err := l.set(tx, w, v); err != nil {
					return err
				}
				w++
			}
		}
		for i := n - k; i < n; i++ {
			if err := tx.DelElem(l.key, &l.m, listSub(l.head+uint64(i))); err != nil {
				return err
			}
		}
		l.tail -= uint64(k)
		return nil
	}
	vals, err := l.values(&tx.Reader, 0, last) // rewrite 0..last, closing towards the tail
	if err != nil {
		return err
	}
	w := last
	for j := last; j >= 0; j-- {
		if !removed[j] {
			if err := l.set(tx, w, vals[j]); err != nil {
				return err
			}
			w--
		}
	}
	for i := int64(0); i < k; i++ {
		if err := tx.DelElem(l.key, &l.m, listSub(l.head+uint64(i))); err != nil {
			return err
		}
	}
	l.head += uint64(k)
	return nil
}

func ltrimOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	start, ok1 := ParseInt(args[2])
	stop, ok2 := ParseInt(args[3])
	if !ok1 || !ok2 {
		return mutex.Op{}, ErrNotInteger
	}
	return listWrite(func(tx *mutex.Tx) (any, error) {
		l, err := readList(&tx.Reader, key)
		if l == nil || err != nil {
			return OK, err
		}
		n := l.len()
		start, stop, ok := normRange(start, stop, n)
		if !ok {
			start, stop = n, n-1 // everything goes
		}
		if start == 0 && stop == n-1 {
			return OK, nil // nothing to cut
		}
		if ok {
			for i := int64(0); i < start; i++ {
				if err := tx.DelElem(l.key, &l.m, listSub(l.head+uint64(i))); err != nil {
					return nil, err
				}
			}
			for i := stop + 1; i < n; i++ {
				if err := tx.DelElem(l.key, &l.m, listSub(l.head+uint64(i))); err != nil {
					return nil, err
				}
			}
			l.tail = l.head + uint64(stop) + 1
			l.head += uint64(start)
		} else {
			l.head = l.tail
		}
		if err := l.save(tx); err != nil {
			return nil, err
		}
		kept := [][]byte{strconv.AppendInt(nil, start, 10), strconv.AppendInt(nil, stop, 10)}
		if !ok {
			kept = [][]byte{[]byte("1"), []byte("0")}
		}
		tx.Emit(mutex.Access{Op: "ltrim", Key: key, Items: kept})
		notify(tx, notifyList, "ltrim", key)
		l.notifyIfEmptied(tx)
		return OK, nil
	}), nil
}
