package commands

import (
	"bytes"
	"slices"

	"github.com/mutexredis/mutexredis/mutex"
)

// The set commands (Redis's "set" group). A set is a collection whose
// elements are its members (sub-key: the member; no value), in member
// order, with the member count in the key's record: SCARD is O(1), SADD,
// SREM and SISMEMBER O(log n). Pops, moves and the *STORE forms are
// mutex.WriteOps, evaluated in the write phase in queue order. Writes
// announce "sadd" and "srem" (items: the members added or removed) on the
// writes event; a *STORE is a "del" of the destination (when it existed)
// and an "sadd" of the result, so replaying the ops rebuilds the set.

func init() {
	key1 := func(c *Command) *Command { c.FirstKey, c.LastKey, c.Step = 1, 1, 1; return c }
	allKeys := func(c *Command) *Command { c.FirstKey, c.LastKey, c.Step = 1, -1, 1; return c }
	register(
		key1(&Command{Name: "sadd", Arity: -3, Flags: Write | Fast, Op: saddOp}),
		key1(&Command{Name: "srem", Arity: -3, Flags: Write | Fast, Op: sremOp}),
		key1(&Command{Name: "sismember", Arity: 3, Flags: Read | Fast, Op: sismemberOp}),
		key1(&Command{Name: "smismember", Arity: -3, Flags: Read | Fast, Op: smismemberOp}),
		key1(&Command{Name: "smembers", Arity: 2, Flags: Read, Op: smembersOp}),
		key1(&Command{Name: "scard", Arity: 2, Flags: Read | Fast, Op: collLen(mutex.TypeSet)}),
		key1(&Command{Name: "spop", Arity: -2, Flags: Write | Fast, Op: spopOp}),
		key1(&Command{Name: "srandmember", Arity: -2, Flags: Read, Op: srandmemberOp}),
		&Command{Name: "smove", Arity: 4, Flags: Write | Fast, FirstKey: 1, LastKey: 2, Step: 1, Op: smoveOp},
		allKeys(&Command{Name: "sinter", Arity: -2, Flags: Read, Op: setAlgebraOp(setInter)}),
		&Command{Name: "sintercard", Arity: -3, Flags: Read, Op: sintercardOp}, // keys after numkeys: COMMAND shows 0 0 0, as Redis
		&Command{Name: "sinterstore", Arity: -3, Flags: Write, FirstKey: 1, LastKey: -1, Step: 1, Op: setStoreOp(setInter, "sinterstore")},
		allKeys(&Command{Name: "sunion", Arity: -2, Flags: Read, Op: setAlgebraOp(setUnion)}),
		&Command{Name: "sunionstore", Arity: -3, Flags: Write, FirstKey: 1, LastKey: -1, Step: 1, Op: setStoreOp(setUnion, "sunionstore")},
		allKeys(&Command{Name: "sdiff", Arity: -2, Flags: Read, Op: setAlgebraOp(setDiff)}),
		&Command{Name: "sdiffstore", Arity: -3, Flags: Write, FirstKey: 1, LastKey: -1, Step: 1, Op: setStoreOp(setDiff, "sdiffstore")},
		key1(&Command{Name: "sscan", Arity: -3, Flags: Read, OpCtx: sscanOp}),
	)
}

// setAdd adds members to the set at key, creating it, and returns how
// many were not there.
func setAdd(tx *mutex.Tx, key []byte, members [][]byte) (int64, error) {
	m, created, err := loadOrCreate(tx, key, mutex.TypeSet)
	if err != nil {
		return 0, err
	}
	var added [][]byte
	for _, s := range members {
		_, exists, err := tx.Elem(key, &m, s)
		if err != nil {
			return 0, err
		}
		if exists {
			continue
		}
		if err := tx.SetElem(key, &m, s, nil); err != nil {
			return 0, err
		}
		m.Count++
		added = append(added, s)
	}
	if len(added) == 0 {
		return 0, nil
	}
	if err := putColl(tx, key, &m, created); err != nil {
		return 0, err
	}
	tx.Emit(mutex.Access{Op: "sadd", Key: key, Items: added})
	return int64(len(added)), nil
}

func saddOp(args [][]byte) (mutex.Op, any) {
	key, members := args[1], args[2:]
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		n, err := setAdd(tx, key, members)
		if n > 0 {
			notify(tx, notifySet, "sadd", key)
		}
		return n, err
	}), nil
}

func sremOp(args [][]byte) (mutex.Op, any) {
	key, members := args[1], args[2:]
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		return delElems(tx, key, mutex.TypeSet, members, "srem", notifySet)
	}), nil
}

func sismemberOp(args [][]byte) (mutex.Op, any) {
	key, member := args[1], args[2]
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		m, ok, err := lookupKind(r, key, mutex.TypeSet)
		if !ok || err != nil {
			return int64(0), err
		}
		_, in, err := r.Elem(key, &m, member)
		if in {
			return int64(1), err
		}
		return int64(0), err
	}), nil
}

func smismemberOp(args [][]byte) (mutex.Op, any) {
	key, members := args[1], args[2:]
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		m, ok, err := lookupKind(r, key, mutex.TypeSet)
		if err != nil {
			return nil, err
		}
		out := make([]any, len(members))
		for i, s := range members {
			out[i] = int64(0)
			if !ok {
				continue
			}
			_, in, err := r.Elem(key, &m, s)
			if err != nil {
				return nil, err
			}
			if in {
				out[i] = int64(1)
			}
		}
		return out, nil
	}), nil
}

func smembersOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		m, ok, err := lookupKind(r, key, mutex.TypeSet)
		if !ok || err != nil {
			return Set{}, err
		}
		budget := newReplyBudget(r)
		subs, _, err := elems(r, key, &m, false, &budget)
		return bytesSet(subs), err
	}), nil
}

func bytesSet(subs [][]byte) Set {
	out := make(Set, len(subs))
	for i, s := range subs {
		out[i] = s
	}
	return out
}

func spopOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	count, hasCount := int64(1), len(args) > 2
	switch {
	case len(args) > 3:
		return mutex.Op{}, ErrSyntax
	case hasCount:
		n, ok := ParseInt(args[2])
		if !ok || n < 0 {
			return mutex.Op{}, Error("ERR value is out of range, must be positive")
		}
		count = n
	}
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		m, ok, err := lookupKind(&tx.Reader, key, mutex.TypeSet)
		if err != nil {
			return nil, err
		}
		if !ok {
			if hasCount {
				return Set{}, nil
			}
			return nil, nil
		}
		if count == 0 {
			return Set{}, nil
		}
		var popped [][]byte
		if count >= m.Count {
			budget := newReplyBudget(&tx.Reader)
			if popped, _, err = elems(&tx.Reader, key, &m, false, &budget); err != nil {
				return nil, err
			}
		} else {
			p, err := newPicker(&tx.Reader, key, &m, false)
			if err != nil {
				return nil, err
			}
			if popped, _, err = p.distinct(int(count)); err != nil {
				return nil, err
			}
		}
		for _, s := range popped {
			if err := tx.DelElem(key, &m, s); err != nil {
				return nil, err
			}
		}
		m.Count -= int64(len(popped))
		if err := tx.PutMeta(key, &m); err != nil {
			return nil, err
		}
		tx.Emit(mutex.Access{Op: "srem", Key: key, Items: popped})
		notify(tx, notifySet, "spop", key)
		notifyEmptied(tx, key, &m)
		if !hasCount {
			return popped[0], nil
		}
		return bytesSet(popped), nil
	}), nil
}

// srandmemberOp is SRANDMEMBER key [count].
func srandmemberOp(args [][]byte) (mutex.Op, any) { return randomMemberOp(args, mutex.TypeSet) }

func smoveOp(args [][]byte) (mutex.Op, any) {
	src, dst, member := args[1], args[2], args[3]
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		sm, ok, err := lookupKind(&tx.Reader, src, mutex.TypeSet)
		if err != nil {
			return nil, err
		}
		if !ok {
			return int64(0), nil
		}
		if _, _, err := lookupKind(&tx.Reader, dst, mutex.TypeSet); err != nil {
			return nil, err
		}
		_, in, err := tx.Elem(src, &sm, member)
		if err != nil || !in {
			return int64(0), err
		}
		if bytes.Equal(src, dst) {
			return int64(1), nil
		}
		if _, err := delElems(tx, src, mutex.TypeSet, [][]byte{member}, "srem", notifySet); err != nil {
			return nil, err
		}
		n, err := setAdd(tx, dst, [][]byte{member})
		if n > 0 {
			notify(tx, notifySet, "sadd", dst)
		}
		return int64(1), err
	}), nil
}

// setOperands loads the sets at keys (nil for a missing key);
// mutex.ErrWrongType if any holds another type, as Redis checks them all.
func setOperands(r *mutex.Reader, keys [][]byte) ([]*mutex.Meta, error) {
	sets := make([]*mutex.Meta, len(keys))
	for i, k := range keys {
		m, ok, err := lookupKind(r, k, mutex.TypeSet)
		if err != nil {
			return nil, err
		}
		if ok {
			sets[i] = &m
		}
	}
	return sets, nil
}

// setAlgebra computes a set operation over keys; limit > 0 stops an
// intersection once it has that many members; a result that is a reply
// stays within budget (nil for one that is stored).
type setAlgebra func(r *mutex.Reader, keys [][]byte, sets []*mutex.Meta, limit int64, budget *replyBudget) ([][]byte, error)

// keep adds a copy of member to out, unless it passes budget.
func keep(out [][]byte, member []byte, budget *replyBudget) ([][]byte, bool) {
	if budget != nil && !budget.take(len(member)) {
		return out, false
	}
	return append(out, append([]byte{}, member...)), true
}

// setInter walks the smallest set and keeps the members every other set
// has.
func setInter(r *mutex.Reader, keys [][]byte, sets []*mutex.Meta, limit int64, budget *replyBudget) ([][]byte, error) {
	small := 0
	for i, m := range sets {
		if m == nil {
			return nil, nil
		}
		if m.Count < sets[small].Count {
			small = i
		}
	}
	var out [][]byte
	var ierr error
	err := r.Elems(keys[small], sets[small], mutex.ElemRange{}, func(s, _ []byte) bool {
		for i, m := range sets {
			if i == small {
				continue
			}
			_, in, err := r.Elem(keys[i], m, s)
			if err != nil {
				ierr = err
				return false
			}
			if !in {
				return true
			}
		}
		var fits bool
		if out, fits = keep(out, s, budget); !fits {
			ierr = budget.err()
			return false
		}
		return limit <= 0 || int64(len(out)) < limit
	})
	if err == nil {
		err = ierr
	}
	return out, err
}

// setUnion merges the members of every set, in order.
func setUnion(r *mutex.Reader, keys [][]byte, sets []*mutex.Meta, _ int64, budget *replyBudget) ([][]byte, error) {
	var out [][]byte
	seen := map[string]bool{}
	fits := true
	for i, m := range sets {
		if m == nil {
			continue
		}
		err := r.Elems(keys[i], m, mutex.ElemRange{}, func(s, _ []byte) bool {
			if !seen[string(s)] {
				seen[string(s)] = true
				out, fits = keep(out, s, budget)
			}
			return fits
		})
		if err == nil && !fits {
			err = budget.err()
		}
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, bytes.Compare)
	return out, nil
}

// setDiff keeps the members of the first set that no other set has.
func setDiff(r *mutex.Reader, keys [][]byte, sets []*mutex.Meta, _ int64, budget *replyBudget) ([][]byte, error) {
	if sets[0] == nil {
		return nil, nil
	}
	var out [][]byte
	var ierr error
	err := r.Elems(keys[0], sets[0], mutex.ElemRange{}, func(s, _ []byte) bool {
		for i, m := range sets[1:] {
			if m == nil {
				continue
			}
			_, in, err := r.Elem(keys[i+1], m, s)
			if err != nil {
				ierr = err
				return false
			}
			if in {
				return true
			}
		}
		var fits bool
		if out, fits = keep(out, s, budget); !fits {
			ierr = budget.err()
		}
		return fits
	})
	if err == nil {
		err = ierr
	}
	return out, err
}

// setAlgebraOp builds SINTER, SUNION and SDIFF.
func setAlgebraOp(op setAlgebra) func([][]byte) (mutex.Op, any) {
	return func(args [][]byte) (mutex.Op, any) {
		keys := args[1:]
		return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
			sets, err := setOperands(r, keys)
			if err != nil {
				return nil, err
			}
			budget := newReplyBudget(r)
			out, err := op(r, keys, sets, 0, &budget)
			return bytesSet(out), err
		}), nil
	}
}

func sintercardOp(args [][]byte) (mutex.Op, any) {
	n, ok := ParseInt(args[1])
	if !ok || n <= 0 {
		return mutex.Op{}, Error("ERR numkeys should be greater than 0")
	}
	if n > int64(len(args)-2) {
		return mutex.Op{}, Error("ERR Number of keys can't be greater than number of args")
	}
	keys, rest := args[2:2+n], args[2+n:]
	var limit int64
	for i := 0; i < len(rest); i++ {
		if !isOption(rest[i], "LIMIT") || i+1 >= len(rest) {
			return mutex.Op{}, ErrSyntax
		}
		i++
		l, ok := ParseInt(rest[i])
		if !ok || l < 0 {
			return mutex.Op{}, Error("ERR LIMIT can't be negative")
		}
		limit = l
	}
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		sets, err := setOperands(r, keys)
		if err != nil {
			return nil, err
		}
		out, err := setInter(r, keys, sets, limit, nil)
		return int64(len(out)), err
	}), nil
}

// setStoreOp builds SINTERSTORE, SUNIONSTORE and SDIFFSTORE: the result
// replaces the destination, whatever it held (its time to live goes too),
// and an empty result deletes it.
func setStoreOp(op setAlgebra, event string) func([][]byte) (mutex.Op, any) {
	return func(args [][]byte) (mutex.Op, any) {
		dst, keys := args[1], args[2:]
		return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
			sets, err := setOperands(&tx.Reader, keys)
			if err != nil {
				return nil, err
			}
			out, err := op(&tx.Reader, keys, sets, 0, nil)
			if err != nil {
				return nil, err
			}
			existed, err := tx.Delete(dst)
			if err != nil {
				return nil, err
			}
			if len(out) == 0 {
				if existed {
					notify(tx, notifyGeneric, "del", dst)
				}
				return int64(0), nil
			}
			m := tx.NewCollection(mutex.TypeSet)
			for _, s := range out {
				if err := tx.SetElem(dst, &m, s, nil); err != nil {
					return nil, err
				}
			}
			m.Count = int64(len(out))
			if err := putColl(tx, dst, &m, !existed); err != nil {
				return nil, err
			}
			tx.Emit(mutex.Access{Op: "sadd", Key: dst, Items: out})
			notify(tx, notifySet, event, dst)
			return m.Count, nil
		}), nil
	}
}

func sscanOp(c *Ctx) (mutex.Op, any) {
	key := c.Args[1]
	s, bad := parseScanArgs(c.Args[2:], 0)
	if bad != nil {
		return mutex.Op{}, bad
	}
	s.cursors = cursorsOf(c.Client)
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		return scanColl(r, key, mutex.TypeSet, s, false)
	}), nil
}
