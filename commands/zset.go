package commands

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/mutexredis/mutexredis/mutex"
)

// Sorted sets (Redis's "sorted_set" group). A sorted set is a collection
// whose elements are two families of sub-keys:
//
//	'm'‖member               → score (8 bytes: the IEEE 754 bits, big endian)
//	's'‖sortable(score)‖member → ""
//
// sortable(score) flips the IEEE 754 bits so that byte order is numeric
// order (-inf < … < -0 = +0 < … < +inf; -0 is stored as +0, as Redis's
// small sorted sets do), so the 's' family is the sorted set in Redis's
// order: by score, then by member bytes. The metadata's Count is the number
// of members (ZCARD is O(1)).
//
// Costs: ZADD, ZREM, ZSCORE, ZINCRBY are O(log n) per member (Pebble point
// reads and writes). Ranges by score and by lex seek to their start:
// O(log n + k). Ranges by rank and ZRANK have no order-statistic index: they
// walk from the nearer end of the set, O(min(r, n-r)) (see ZRANK in
// redis-compat.md). Lex ranges (ZRANGEBYLEX …) walk the 'm' family, which
// is in member order: the same as Redis's order when all scores are equal,
// the only case Redis defines.

func init() {
	k1 := func(c *Command) *Command { c.FirstKey, c.LastKey, c.Step = 1, 1, 1; return c }
	register(
		k1(&Command{Name: "zadd", Arity: -4, Flags: Write | Fast, Op: zaddOp(false)}),
		k1(&Command{Name: "zincrby", Arity: 4, Flags: Write | Fast, Op: zaddOp(true)}),
		k1(&Command{Name: "zrem", Arity: -3, Flags: Write | Fast, Op: zremOp}),
		k1(&Command{Name: "zscore", Arity: 3, Flags: Read | Fast, Op: zscoreOp}),
		k1(&Command{Name: "zmscore", Arity: -3, Flags: Read | Fast, Op: zmscoreOp}),
		k1(&Command{Name: "zcard", Arity: 2, Flags: Read | Fast, Op: zcardOp}),
		k1(&Command{Name: "zcount", Arity: 4, Flags: Read | Fast, Op: zcountOp}),
		k1(&Command{Name: "zlexcount", Arity: 4, Flags: Read | Fast, Op: zlexcountOp}),
		k1(&Command{Name: "zrange", Arity: -4, Flags: Read, Op: zrangeOp(zrangeAuto, false, false)}),
		k1(&Command{Name: "zrangebyscore", Arity: -4, Flags: Read, Op: zrangeOp(zrangeScore, false, true)}),
		k1(&Command{Name: "zrevrangebyscore", Arity: -4, Flags: Read, Op: zrangeOp(zrangeScore, true, true)}),
		k1(&Command{Name: "zrangebylex", Arity: -4, Flags: Read, Op: zrangeOp(zrangeLex, false, true)}),
		k1(&Command{Name: "zrevrangebylex", Arity: -4, Flags: Read, Op: zrangeOp(zrangeLex, true, true)}),
		k1(&Command{Name: "zrevrange", Arity: -4, Flags: Read, Op: zrangeOp(zrangeRank, true, true)}),
		&Command{Name: "zrangestore", Arity: -5, Flags: Write, FirstKey: 1, LastKey: 2, Step: 1, Op: zrangestoreOp},
		k1(&Command{Name: "zrank", Arity: -3, Flags: Read | Fast, Op: zrankOp(false)}),
		k1(&Command{Name: "zrevrank", Arity: -3, Flags: Read | Fast, Op: zrankOp(true)}),
		k1(&Command{Name: "zpopmin", Arity: -2, Flags: Write | Fast, Op: zpopOp(false)}),
		k1(&Command{Name: "zpopmax", Arity: -2, Flags: Write | Fast, Op: zpopOp(true)}),
		&Command{Name: "zmpop", Arity: -4, Flags: Write, Op: zmpopOp(false)},
		&Command{Name: "bzpopmin", Arity: -3, Flags: Write | Fast | MayBlock, FirstKey: 1, LastKey: -2, Step: 1, Op: bzpopOp(false)},
		&Command{Name: "bzpopmax", Arity: -3, Flags: Write | Fast | MayBlock, FirstKey: 1, LastKey: -2, Step: 1, Op: bzpopOp(true)},
		&Command{Name: "bzmpop", Arity: -5, Flags: Write | MayBlock, Op: zmpopOp(true)},
		k1(&Command{Name: "zrandmember", Arity: -2, Flags: Read, Op: zrandmemberOp}),
		k1(&Command{Name: "zremrangebyscore", Arity: 4, Flags: Write, Op: zremrangeOp(zrangeScore)}),
		k1(&Command{Name: "zremrangebyrank", Arity: 4, Flags: Write, Op: zremrangeOp(zrangeRank)}),
		k1(&Command{Name: "zremrangebylex", Arity: 4, Flags: Write, Op: zremrangeOp(zrangeLex)}),
		&Command{Name: "zunion", Arity: -3, Flags: Read, Op: zsetOpCmd(zopUnion, false)},
		&Command{Name: "zinter", Arity: -3, Flags: Read, Op: zsetOpCmd(zopInter, false)},
		&Command{Name: "zdiff", Arity: -3, Flags: Read, Op: zsetOpCmd(zopDiff, false)},
		&Command{Name: "zunionstore", Arity: -4, Flags: Write, FirstKey: 1, LastKey: 1, Step: 1, Op: zsetOpCmd(zopUnion, true)},
		&Command{Name: "zinterstore", Arity: -4, Flags: Write, FirstKey: 1, LastKey: 1, Step: 1, Op: zsetOpCmd(zopInter, true)},
		&Command{Name: "zdiffstore", Arity: -4, Flags: Write, FirstKey: 1, LastKey: 1, Step: 1, Op: zsetOpCmd(zopDiff, true)},
		&Command{Name: "zintercard", Arity: -3, Flags: Read, Op: zintercardOp},
		k1(&Command{Name: "zscan", Arity: -3, Flags: Read, OpCtx: zscanOp}),
	)
}

// ---- encoding ----

const (
	zfamMember byte = 'm'
	zfamScore  byte = 's'
)

// zsortable is the 8-byte form of a score whose byte order is numeric
// order: the sign bit flipped for positives, every bit for negatives.
func zsortable(f float64) uint64 {
	if f == 0 {
		f = 0 // -0 sorts (and is stored) as +0
	}
	b := math.Float64bits(f)
	if b>>63 != 0 {
		return ^b
	}
	return b | 1<<63
}

// zunsortable is the inverse of zsortable.
func zunsortable(u uint64) float64 {
	if u>>63 != 0 {
		return math.Float64frombits(u &^ (1 << 63))
	}
	return math.Float64frombits(^u)
}

func zmemberSub(member []byte) []byte {
	return append([]byte{zfamMember}, member...)
}

func zscoreSub(score float64, member []byte) []byte {
	sub := make([]byte, 0, 9+len(member))
	sub = append(sub, zfamScore)
	sub = binary.BigEndian.AppendUint64(sub, zsortable(score))
	return append(sub, member...)
}

func zencodeScore(f float64) []byte { return binary.BigEndian.AppendUint64(nil, math.Float64bits(f)) }

func zdecodeScore(v []byte) float64 {
	if len(v) != 8 {
		return 0
	}
	return math.Float64frombits(binary.BigEndian.Uint64(v))
}

// zitem is one member and its score.
type zitem struct {
	member []byte
	score  float64
}

// zdecodeScoreSub parses an 's' sub-key; member aliases sub.
func zdecodeScoreSub(sub []byte) (member []byte, score float64) {
	if len(sub) < 9 {
		return nil, 0
	}
	return sub[9:], zunsortable(binary.BigEndian.Uint64(sub[1:9]))
}

// zscoreFamily and zmemberFamily bound each family.
var (
	zscoreFamily  = mutex.ElemRange{Start: []byte{zfamScore}, End: []byte{zfamScore + 1}}
	zmemberFamily = mutex.ElemRange{Start: []byte{zfamMember}, End: []byte{zfamMember + 1}}
)

// ---- parsing ----

const (
	errZNotFloatRange = Error("ERR min or max is not a float")
	errZNaN           = Error("ERR resulting score is not a number (NaN)")
)

// zparseScore parses a score (or weight, or increment) as Redis's
// getDoubleFromObject: strtod's syntax, the whole argument, no leading
// space, no NaN, and neither an overflow nor an underflow to zero.
func zparseScore(b []byte) (float64, bool) {
	f, ok := parseFloat(b)
	if !ok {
		return 0, false
	}
	if math.IsInf(f, 0) && !zspellsInf(b) {
		return 0, false // overflow: strtod's ERANGE with HUGE_VAL
	}
	if f == 0 && znonzeroMantissa(b) {
		return 0, false // underflow to zero: ERANGE
	}
	return f, true
}

func zspellsInf(b []byte) bool {
	s := strings.ToLower(strings.TrimLeft(string(b), "+-"))
	return s == "inf" || s == "infinity"
}

func znonzeroMantissa(b []byte) bool {
	s := strings.ToLower(strings.TrimLeft(string(b), "+-"))
	hex := strings.HasPrefix(s, "0x")
	if hex {
		s = s[2:]
	}
	for _, c := range s {
		switch {
		case !hex && c == 'e', hex && c == 'p':
			return false
		case c >= '1' && c <= '9', hex && c >= 'a' && c <= 'f':
			return true
		}
	}
	return false
}

// zparseRangeFloat parses one end of a score range the way Redis's
// zslParseRange calls strtod: leading spaces are skipped, the rest must be
// a number (an empty argument is 0), NaN is refused, overflows are
// infinities.
func zparseRangeFloat(b []byte) (float64, bool) {
	if len(b) == 0 {
		return 0, true
	}
	s := strings.TrimLeft(string(b), " \t\n\v\f\r")
	if s == "" || strings.ContainsAny(s, " \t\n\v\f\r_") {
		return 0, false
	}
	if isHexWithoutExponent(s) {
		s += "p0"
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) && !(f == 0 && errors.Is(err, strconv.ErrRange)) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// zscoreRange is a range of scores, as ZRANGEBYSCORE takes it.
type zscoreRange struct {
	min, max     float64
	minex, maxex bool
}

func zparseScoreRange(minArg, maxArg []byte) (zscoreRange, any) {
	var rng zscoreRange
	var ok1, ok2 bool
	if len(minArg) > 0 && minArg[0] == '(' {
		rng.minex = true
		minArg = minArg[1:]
	}
	if len(maxArg) > 0 && maxArg[0] == '(' {
		rng.maxex = true
		maxArg = maxArg[1:]
	}
	rng.min, ok1 = zparseRangeFloat(minArg)
	rng.max, ok2 = zparseRangeFloat(maxArg)
	if !ok1 || !ok2 {
		return rng, errZNotFloatRange
	}
	return rng, nil
}

func (z zscoreRange) empty() bool {
	return z.min > z.max || z.min == z.max && (z.minex || z.maxex)
}

func (z zscoreRange) contains(f float64) bool {
	return (f > z.min || !z.minex && f == z.min) && (f < z.max || !z.maxex && f == z.max)
}

// elems is the range of 's' sub-keys holding the scores in z.
func (z zscoreRange) elems(reverse bool) mutex.ElemRange {
	lo, hi := zsortable(z.min), zsortable(z.max)
	if z.minex {
		lo++
	}
	if !z.maxex {
		hi++
	}
	start := binary.BigEndian.AppendUint64([]byte{zfamScore}, lo)
	end := binary.BigEndian.AppendUint64([]byte{zfamScore}, hi)
	return mutex.ElemRange{Start: start, End: end, Reverse: reverse}
}

// zlexRange is a range of members, as ZRANGEBYLEX takes it.
type zlexRange struct{ min, max mutex.Bound }

func zparseLexRange(minArg, maxArg []byte) (zlexRange, any) {
	lo, ok1 := parseLexBound(minArg, true)
	hi, ok2 := parseLexBound(maxArg, false)
	if !ok1 || !ok2 {
		return zlexRange{}, ErrLexRange
	}
	return zlexRange{lo, hi}, nil
}

// elems is the range of 'm' sub-keys holding the members in z; ok is
// false when it is empty.
func (z zlexRange) elems(reverse bool) (mutex.ElemRange, bool) {
	if z.min.Kind == mutex.Empty || z.max.Kind == mutex.Empty {
		return mutex.ElemRange{}, false
	}
	rng := mutex.ElemRange{Start: zmemberFamily.Start, End: zmemberFamily.End, Reverse: reverse}
	switch z.min.Kind {
	case mutex.Inclusive:
		rng.Start = zmemberSub(z.min.Key)
	case mutex.Exclusive:
		rng.Start = append(zmemberSub(z.min.Key), 0)
	}
	switch z.max.Kind {
	case mutex.Inclusive:
		rng.End = append(zmemberSub(z.max.Key), 0)
	case mutex.Exclusive:
		rng.End = zmemberSub(z.max.Key)
	}
	return rng, bytes.Compare(rng.Start, rng.End) < 0
}

// zparseInt parses an integer argument (ERR value is not an integer …).
func zparseInt(b []byte) (int64, any) {
	n, ok := ParseInt(b)
	if !ok {
		return 0, ErrNotInteger
	}
	return n, nil
}

// zrankRange turns start and stop (negative from the end) into a range of
// ranks [lo, hi] of a set of n members; ok is false when it is empty.
func zrankRange(start, stop, n int64) (lo, hi int64, ok bool) {
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

// ---- reading ----

// zreply turns the errors of a zset op that are replies (WRONGTYPE, Redis
// errors) into its result.
func zreply(res any, err error) (any, error) {
	var e Error
	if errors.As(err, &e) {
		return e, nil
	}
	if errors.Is(err, mutex.ErrWrongType) {
		return ErrWrongType, nil
	}
	return res, err
}

func zread(fn func(r *mutex.Reader) (any, error)) mutex.Op {
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) { return zreply(fn(r)) })
}

func zwrite(fn func(tx *mutex.Tx) (any, error)) mutex.Op {
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) { return zreply(fn(tx)) })
}

// zlookup returns key's sorted set; ErrWrongType if it holds another type.
func zlookup(r *mutex.Reader, key []byte) (mutex.Meta, bool, error) {
	m, ok, err := r.Lookup(key)
	if err != nil || !ok {
		return m, false, err
	}
	if m.Type != mutex.TypeZSet {
		return m, false, ErrWrongType
	}
	return m, true, nil
}

// zgetScore returns member's score.
func zgetScore(r *mutex.Reader, key []byte, m *mutex.Meta, member []byte) (float64, bool, error) {
	v, ok, err := r.Elem(key, m, zmemberSub(member))
	if !ok || err != nil {
		return 0, false, err
	}
	return zdecodeScore(v), true, nil
}

// zwalkScores calls fn with each member (valid during the call) and score
// in rng of the 's' family, in order, until fn returns false.
func zwalkScores(r *mutex.Reader, key []byte, m *mutex.Meta, rng mutex.ElemRange, fn func(member []byte, score float64) bool) error {
	return r.Elems(key, m, rng, func(sub, _ []byte) bool {
		member, score := zdecodeScoreSub(sub)
		return fn(member, score)
	})
}

// zcollect returns the members of rng (of the 's' family) after skipping
// offset of them, at most limit (all if negative).
func zcollect(r *mutex.Reader, key []byte, m *mutex.Meta, rng mutex.ElemRange, offset, limit int64) ([]zitem, error) {
	if limit == 0 {
		return nil, nil
	}
	n := m.Count
	if limit > 0 {
		n = min(n, limit)
	}
	items := make([]zitem, 0, min(n, 256))
	// The members are copied into shared buffers, not one allocation each
	// (ZRANGE 0 9 made as many allocations as it returned members). A
	// member keeps the buffer it was copied into when a later one grows.
	var buf []byte
	budget, fits := newReplyBudget(r), true
	err := zwalkScores(r, key, m, rng, func(member []byte, score float64) bool {
		if offset > 0 {
			offset--
			return true
		}
		if fits = budget.take(len(member) + 8); !fits {
			return false
		}
		if buf == nil || len(buf)+len(member) > cap(buf) { // non-nil: "" is a member
			buf = make([]byte, 0, max(2*cap(buf), (len(member)+8)*int(min(n, 64))))
		}
		at := len(buf)
		buf = append(buf, member...)
		items = append(items, zitem{buf[at:len(buf):len(buf)], score})
		return limit < 0 || int64(len(items)) < limit
	})
	if err == nil && !fits {
		return nil, budget.err()
	}
	return items, err
}

// zcollectLex is zcollect over a lex range (of the 'm' family).
func zcollectLex(r *mutex.Reader, key []byte, m *mutex.Meta, rng mutex.ElemRange, offset, limit int64) ([]zitem, error) {
	var items []zitem
	if limit == 0 {
		return nil, nil
	}
	budget, fits := newReplyBudget(r), true
	err := r.Elems(key, m, rng, func(sub, val []byte) bool {
		if offset > 0 {
			offset--
			return true
		}
		if fits = budget.take(len(sub) + 8); !fits {
			return false
		}
		items = append(items, zitem{bytes.Clone(sub[1:]), zdecodeScore(val)})
		return limit < 0 || int64(len(items)) < limit
	})
	if err == nil && !fits {
		return nil, budget.err()
	}
	return items, err
}

// zcollectRanks returns the members of ranks [lo, hi] (ascending order;
// of descending order when rev), walking from the nearer end.
func zcollectRanks(r *mutex.Reader, key []byte, m *mutex.Meta, lo, hi int64, rev bool) ([]zitem, error) {
	n := m.Count
	if rev { // ranks of the descending order
		lo, hi = n-1-hi, n-1-lo
	}
	var items []zitem
	var err error
	if lo <= n-1-hi {
		items, err = zcollect(r, key, m, zscoreFamily, lo, hi-lo+1)
	} else {
		rng := zscoreFamily
		rng.Reverse = true
		items, err = zcollect(r, key, m, rng, n-1-hi, hi-lo+1)
		slices.Reverse(items)
	}
	if rev {
		slices.Reverse(items)
	}
	return items, err
}

// zscored is the reply of members with or without their scores: with
// them, Pairs (RESP2: a flat array; RESP3: [member, score] pairs).
func zscored(items []zitem, withScores bool) any {
	out := make([]any, 0, len(items)*(1+b2i(withScores)))
	for _, it := range items {
		out = append(out, it.member)
		if withScores {
			out = append(out, Double(it.score))
		}
	}
	if withScores {
		return Pairs(out)
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ---- writing ----

// zset is a sorted set being changed in a write op.
type zset struct {
	tx      *mutex.Tx
	key     []byte
	m       mutex.Meta
	count   int64 // m.Count when opened
	created bool
	changed bool
}

// zopen opens key's sorted set for writing; create makes a new one if the
// key does not exist (ok is false when it does not and create is false).
func zopen(tx *mutex.Tx, key []byte, create bool) (*zset, bool, error) {
	m, ok, err := zlookup(&tx.Reader, key)
	if err != nil {
		return nil, false, err
	}
	if !ok {
		if !create {
			return nil, false, nil
		}
		return &zset{tx: tx, key: key, m: tx.NewCollection(mutex.TypeZSet), created: true}, true, nil
	}
	return &zset{tx: tx, key: key, m: m, count: m.Count}, true, nil
}

func (z *zset) score(member []byte) (float64, bool, error) {
	return zgetScore(&z.tx.Reader, z.key, &z.m, member)
}

// set gives member the score (old is its score when had).
func (z *zset) set(member []byte, score float64, old float64, had bool) error {
	if score == 0 {
		score = 0 // no -0 in a stored set, as Redis's listpacks
	}
	if had {
		if err := z.tx.DelElem(z.key, &z.m, zscoreSub(old, member)); err != nil {
			return err
		}
	} else {
		z.m.Count++
	}
	if err := z.tx.SetElem(z.key, &z.m, zmemberSub(member), zencodeScore(score)); err != nil {
		return err
	}
	z.changed = true
	return z.tx.SetElem(z.key, &z.m, zscoreSub(score, member), nil)
}

// remove deletes member, whose score is score.
func (z *zset) remove(member []byte, score float64) error {
	if err := z.tx.DelElem(z.key, &z.m, zmemberSub(member)); err != nil {
		return err
	}
	z.m.Count--
	z.changed = true
	return z.tx.DelElem(z.key, &z.m, zscoreSub(score, member))
}

// save writes the metadata if the count changed; an emptied set is deleted.
// It notifies "new" for a created set and "del" for an emptied one (the
// command notifies its own event).
func (z *zset) save() error {
	if !z.changed || !z.created && z.m.Count == z.count {
		return nil // the record is unchanged (SetElem and DelElem told watchers)
	}
	if z.created {
		notify(z.tx, notifyNew, "new", z.key)
	}
	return z.tx.PutMeta(z.key, &z.m)
}

func (z *zset) notifyEmptied() {
	if z.changed && z.m.Count <= 0 {
		notify(z.tx, notifyGeneric, "del", z.key)
	}
}

// zaddItems renders member/score pairs for the writes event.
func zaddItems(items []zitem) [][]byte {
	out := make([][]byte, 0, 2*len(items))
	for _, it := range items {
		s := it.score
		if s == 0 {
			s = 0
		}
		out = append(out, it.member, FormatDouble(s))
	}
	return out
}

func zmembers(items []zitem) [][]byte {
	out := make([][]byte, len(items))
	for i, it := range items {
		out[i] = it.member
	}
	return out
}

// zremoveItems removes items from z and announces them.
func (z *zset) removeItems(items []zitem) error {
	for _, it := range items {
		if err := z.remove(it.member, it.score); err != nil {
			return err
		}
	}
	if len(items) > 0 {
		z.tx.Emit(mutex.Access{Op: "zrem", Key: z.key, Items: zmembers(items)})
	}
	return z.save()
}

// zstore replaces dst with a sorted set of items (deleting it when items
// is empty), announced as del + zadd, notifying event (or "del").
func zstore(tx *mutex.Tx, dst []byte, items []zitem, event string) error {
	existed, err := tx.Delete(dst)
	if err != nil {
		return err
	}
	if len(items) == 0 {
		if existed {
			notify(tx, notifyGeneric, "del", dst)
		}
		return nil
	}
	if !existed {
		notify(tx, notifyNew, "new", dst)
	}
	m := tx.NewCollection(mutex.TypeZSet)
	z := &zset{tx: tx, key: dst, m: m}
	for _, it := range items {
		if err := z.set(it.member, it.score, 0, false); err != nil {
			return err
		}
	}
	if err := tx.PutMeta(dst, &z.m); err != nil {
		return err
	}
	tx.Emit(mutex.Access{Op: "zadd", Key: dst, Items: zaddItems(items), Pairs: true})
	notify(tx, notifyZset, event, dst)
	return nil
}

// ---- ZADD, ZINCRBY ----

type zaddFlags struct{ nx, xx, gt, lt, ch, incr bool }

func zaddOp(zincrby bool) func(args [][]byte) (mutex.Op, any) {
	return func(args [][]byte) (mutex.Op, any) {
		key := args[1]
		f := zaddFlags{incr: zincrby}
		i := 2
	options:
		for ; i < len(args); i++ {
			switch a := args[i]; {
			case isOption(a, "NX"):
				f.nx = true
			case isOption(a, "XX"):
				f.xx = true
			case isOption(a, "GT"):
				f.gt = true
			case isOption(a, "LT"):
				f.lt = true
			case isOption(a, "CH"):
				f.ch = true
			case isOption(a, "INCR"):
				f.incr = true
			default:
				break options
			}
		}
		rest := args[i:]
		if len(rest) == 0 || len(rest)%2 != 0 {
			return mutex.Op{}, ErrSyntax
		}
		if f.nx && f.xx {
			return mutex.Op{}, Error("ERR XX and NX options at the same time are not compatible")
		}
		if f.gt && f.nx || f.lt && f.nx || f.gt && f.lt {
			return mutex.Op{}, Error("ERR GT, LT, and/or NX options at the same time are not compatible")
		}
		if f.incr && len(rest) > 2 {
			return mutex.Op{}, Error("ERR INCR option supports a single increment-element pair")
		}
		items := make([]zitem, len(rest)/2)
		for j := range items {
			s, ok := zparseScore(rest[2*j])
			if !ok {
				return mutex.Op{}, ErrNotFloat
			}
			items[j] = zitem{rest[2*j+1], s}
		}
		return zwrite(func(tx *mutex.Tx) (any, error) { return zadd(tx, key, f, items) }), nil
	}
}

func zadd(tx *mutex.Tx, key []byte, f zaddFlags, items []zitem) (any, error) {
	z, ok, err := zopen(tx, key, !f.xx)
	if err != nil {
		return nil, err
	}
	if !ok { // XX on a missing key
		if f.incr {
			return nil, nil
		}
		return int64(0), nil
	}
	var added, updated, processed int64
	var score float64
	var changed []zitem
	for _, it := range items {
		cur, had, err := z.score(it.member)
		if err != nil {
			return nil, err
		}
		s := it.score
		switch {
		case had:
			if f.nx {
				continue
			}
			if f.incr {
				s += cur
				if math.IsNaN(s) {
					return errZNaN, nil
				}
			}
			if f.lt && s >= cur || f.gt && s <= cur {
				continue
			}
			if s != cur {
				if err := z.set(it.member, s, cur, true); err != nil {
					return nil, err
				}
				updated++
				changed = append(changed, zitem{it.member, s})
			}
		case !f.xx:
			if err := z.set(it.member, s, 0, false); err != nil {
				return nil, err
			}
			added++
			changed = append(changed, zitem{it.member, s})
		default:
			continue
		}
		processed++
		score = s
	}
	if err := z.save(); err != nil {
		return nil, err
	}
	if len(changed) > 0 {
		tx.Emit(mutex.Access{Op: "zadd", Key: key, Items: zaddItems(changed), Pairs: true})
		if f.incr {
			notify(tx, notifyZset, "zincr", key)
		} else {
			notify(tx, notifyZset, "zadd", key)
		}
	}
	switch {
	case f.incr && processed > 0:
		return Double(score), nil // unnormalised: a new member's -0 answers -0, as Redis
	case f.incr:
		return nil, nil
	case f.ch:
		return added + updated, nil
	}
	return added, nil
}

// ---- ZREM, ZSCORE, ZMSCORE, ZCARD, ZCOUNT, ZLEXCOUNT ----

func zremOp(args [][]byte) (mutex.Op, any) {
	key, members := args[1], args[2:]
	return zwrite(func(tx *mutex.Tx) (any, error) {
		z, ok, err := zopen(tx, key, false)
		if !ok || err != nil {
			return int64(0), err
		}
		var removed []zitem
		for _, member := range members {
			s, had, err := z.score(member)
			if err != nil {
				return nil, err
			}
			if had {
				if err := z.remove(member, s); err != nil {
					return nil, err
				}
				removed = append(removed, zitem{member, s})
			}
		}
		if len(removed) == 0 {
			return int64(0), nil
		}
		tx.Emit(mutex.Access{Op: "zrem", Key: key, Items: zmembers(removed)})
		if err := z.save(); err != nil {
			return nil, err
		}
		notify(tx, notifyZset, "zrem", key)
		z.notifyEmptied()
		return int64(len(removed)), nil
	}), nil
}

func zscoreOp(args [][]byte) (mutex.Op, any) {
	key, member := args[1], args[2]
	return zread(func(r *mutex.Reader) (any, error) {
		m, ok, err := zlookup(r, key)
		if !ok || err != nil {
			return nil, err
		}
		s, ok, err := zgetScore(r, key, &m, member)
		if !ok || err != nil {
			return nil, err
		}
		return Double(s), nil
	}), nil
}

func zmscoreOp(args [][]byte) (mutex.Op, any) {
	key, members := args[1], args[2:]
	return zread(func(r *mutex.Reader) (any, error) {
		out := make([]any, len(members))
		m, ok, err := zlookup(r, key)
		if !ok || err != nil {
			return out, err
		}
		for i, member := range members {
			s, ok, err := zgetScore(r, key, &m, member)
			if err != nil {
				return nil, err
			}
			if ok {
				out[i] = Double(s)
			}
		}
		return out, nil
	}), nil
}

func zcardOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	return zread(func(r *mutex.Reader) (any, error) {
		m, _, err := zlookup(r, key)
		return m.Count, err
	}), nil
}

func zcountOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	rng, bad := zparseScoreRange(args[2], args[3])
	if bad != nil {
		return mutex.Op{}, bad
	}
	return zread(func(r *mutex.Reader) (any, error) {
		m, ok, err := zlookup(r, key)
		if !ok || err != nil || rng.empty() {
			return int64(0), err
		}
		return r.CountElems(key, &m, rng.elems(false))
	}), nil
}

func zlexcountOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	lex, bad := zparseLexRange(args[2], args[3])
	if bad != nil {
		return mutex.Op{}, bad
	}
	return zread(func(r *mutex.Reader) (any, error) {
		m, ok, err := zlookup(r, key)
		if !ok || err != nil {
			return int64(0), err
		}
		rng, ok := lex.elems(false)
		if !ok {
			return int64(0), nil
		}
		return r.CountElems(key, &m, rng)
	}), nil
}

// ---- ZRANGE and friends ----

type zrangeType uint8

const (
	zrangeAuto zrangeType = iota
	zrangeRank
	zrangeScore
	zrangeLex
)

// zrangeArgs is a parsed ZRANGE (or ZRANGESTORE, or a legacy form).
type zrangeArgs struct {
	key        []byte
	typ        zrangeType
	rev        bool
	withScores bool
	offset     int64
	limit      int64 // -1: no limit
	start      int64 // ranks
	stop       int64
	score      zscoreRange
	lex        zlexRange
}

// zparseRange parses args (key min max options…) as Redis's
// zrangeGenericCommand: typ and rev are preset by the legacy commands
// (fixed), store refuses WITHSCORES.
func zparseRange(args [][]byte, typ zrangeType, rev, fixed, store bool) (zrangeArgs, any) {
	a := zrangeArgs{key: args[0], typ: typ, rev: rev, limit: -1}
	fixedDir := fixed
	for j := 3; j < len(args); j++ {
		left := len(args) - j - 1
		switch opt := args[j]; {
		case !store && isOption(opt, "WITHSCORES"):
			a.withScores = true
		case isOption(opt, "LIMIT") && left >= 2:
			var bad any
			if a.offset, bad = zparseInt(args[j+1]); bad != nil {
				return a, bad
			}
			if a.limit, bad = zparseInt(args[j+2]); bad != nil {
				return a, bad
			}
			j += 2
		case !fixedDir && !a.rev && isOption(opt, "REV"):
			a.rev = true
		case a.typ == zrangeAuto && isOption(opt, "BYLEX"):
			a.typ = zrangeLex
		case a.typ == zrangeAuto && isOption(opt, "BYSCORE"):
			a.typ = zrangeScore
		default:
			return a, ErrSyntax
		}
	}
	if a.typ == zrangeAuto {
		a.typ = zrangeRank
	}
	if a.limit != -1 && a.typ == zrangeRank {
		return a, Error("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
	}
	if a.withScores && a.typ == zrangeLex {
		return a, Error("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
	}
	lo, hi := args[1], args[2]
	if a.rev && a.typ != zrangeRank {
		lo, hi = hi, lo
	}
	var bad any
	switch a.typ {
	case zrangeRank:
		if a.start, bad = zparseInt(lo); bad != nil {
			return a, bad
		}
		a.stop, bad = zparseInt(hi)
	case zrangeScore:
		a.score, bad = zparseScoreRange(lo, hi)
	case zrangeLex:
		a.lex, bad = zparseLexRange(lo, hi)
	}
	return a, bad
}

// all reports whether the range (without LIMIT) holds every member of a
// set of n, whatever their scores.
func (a *zrangeArgs) all(n int64) bool {
	switch {
	case a.offset != 0 || a.limit >= 0:
		return false
	case a.typ == zrangeRank:
		lo, hi, ok := zrankRange(a.start, a.stop, n)
		return ok && lo == 0 && hi == n-1
	case a.typ == zrangeScore:
		return math.IsInf(a.score.min, -1) && !a.score.minex && math.IsInf(a.score.max, 1) && !a.score.maxex
	}
	return a.lex.min.Kind == mutex.Unbounded && a.lex.max.Kind == mutex.Unbounded
}

// items runs the range against the set.
func (a *zrangeArgs) items(r *mutex.Reader, m *mutex.Meta) ([]zitem, error) {
	if a.offset < 0 || a.offset > 0 && a.offset >= m.Count {
		return nil, nil // Redis: a negative offset (or one past the end) gives nothing
	}
	switch a.typ {
	case zrangeRank:
		lo, hi, ok := zrankRange(a.start, a.stop, m.Count)
		if !ok {
			return nil, nil
		}
		return zcollectRanks(r, a.key, m, lo, hi, a.rev)
	case zrangeScore:
		if a.score.empty() {
			return nil, nil
		}
		return zcollect(r, a.key, m, a.score.elems(a.rev), a.offset, a.limit)
	default:
		rng, ok := a.lex.elems(a.rev)
		if !ok {
			return nil, nil
		}
		return zcollectLex(r, a.key, m, rng, a.offset, a.limit)
	}
}

func zrangeOp(typ zrangeType, rev, fixed bool) func(args [][]byte) (mutex.Op, any) {
	return func(args [][]byte) (mutex.Op, any) {
		a, bad := zparseRange(args[1:], typ, rev, fixed, false)
		if bad != nil {
			return mutex.Op{}, bad
		}
		return zread(func(r *mutex.Reader) (any, error) {
			m, ok, err := zlookup(r, a.key)
			if !ok || err != nil {
				return []any{}, err
			}
			items, err := a.items(r, &m)
			return zscored(items, a.withScores), err
		}), nil
	}
}

func zrangestoreOp(args [][]byte) (mutex.Op, any) {
	dst := args[1]
	a, bad := zparseRange(args[2:], zrangeAuto, false, false, true)
	if bad != nil {
		return mutex.Op{}, bad
	}
	return zwrite(func(tx *mutex.Tx) (any, error) {
		var items []zitem
		m, ok, err := zlookup(&tx.Reader, a.key)
		if err != nil {
			return nil, err
		}
		if ok {
			if items, err = a.items(&tx.Reader, &m); err != nil {
				return nil, err
			}
		}
		return int64(len(items)), zstore(tx, dst, items, "zrangestore")
	}), nil
}

// ---- ZRANK, ZREVRANK ----

func zrankOp(rev bool) func(args [][]byte) (mutex.Op, any) {
	return func(args [][]byte) (mutex.Op, any) {
		key, member := args[1], args[2]
		if len(args) > 4 {
			return mutex.Op{}, ArityError(strings.ToLower(string(args[0])))
		}
		withScore := len(args) == 4
		if withScore && !isOption(args[3], "WITHSCORE") {
			return mutex.Op{}, ErrSyntax
		}
		var missing any
		if withScore {
			missing = NullArray{}
		}
		return zread(func(r *mutex.Reader) (any, error) {
			m, ok, err := zlookup(r, key)
			if !ok || err != nil {
				return missing, err
			}
			s, ok, err := zgetScore(r, key, &m, member)
			if !ok || err != nil {
				return missing, err
			}
			rank, ok, err := r.ElemPosition(key, &m, zscoreFamily, zscoreSub(s, member), m.Count)
			if !ok || err != nil {
				return missing, err
			}
			if rev {
				rank = m.Count - 1 - rank
			}
			if withScore {
				return []any{rank, Double(s)}, nil
			}
			return rank, nil
		}), nil
	}
}

// ---- pops ----

// zpop pops up to count members from the set at key (nil when it is
// missing or empty), notifying zpopmin or zpopmax.
func zpop(tx *mutex.Tx, key []byte, count int64, max bool) ([]zitem, error) {
	z, ok, err := zopen(tx, key, false)
	if !ok || err != nil {
		return nil, err
	}
	rng := zscoreFamily
	rng.Reverse = max
	items, err := zcollect(&tx.Reader, key, &z.m, rng, 0, count)
	if err != nil || len(items) == 0 {
		return nil, err
	}
	if err := z.removeItems(items); err != nil {
		return nil, err
	}
	if max {
		notify(tx, notifyZset, "zpopmax", key)
	} else {
		notify(tx, notifyZset, "zpopmin", key)
	}
	z.notifyEmptied()
	return items, nil
}

func zpopOp(max bool) func(args [][]byte) (mutex.Op, any) {
	return func(args [][]byte) (mutex.Op, any) {
		key := args[1]
		if len(args) > 3 {
			return mutex.Op{}, ErrSyntax
		}
		count, hasCount := int64(1), len(args) == 3
		if hasCount {
			n, ok := ParseInt(args[2])
			if !ok || n < 0 {
				return mutex.Op{}, Error("ERR value is out of range, must be positive")
			}
			count = n
		}
		return zwrite(func(tx *mutex.Tx) (any, error) {
			if _, _, err := zlookup(&tx.Reader, key); err != nil {
				return nil, err
			}
			if count == 0 {
				return []any{}, nil
			}
			items, err := zpop(tx, key, count, max)
			if !hasCount { // one flat [member, score], in RESP3 too
				return []any(zscored(items, true).(Pairs)), err
			}
			return zscored(items, true), err
		}), nil
	}
}

// bzpopOp is BZPOPMIN and BZPOPMAX: key … timeout.
func bzpopOp(max bool) func(args [][]byte) (mutex.Op, any) {
	return func(args [][]byte) (mutex.Op, any) {
		keys := cloneArgs(args[1 : len(args)-1]) // kept while the client blocks
		timeout, bad := ParseTimeout(args[len(args)-1])
		if bad != nil {
			return mutex.Op{}, bad
		}
		return blockingOp(keys, timeout, NullArray{}, func(tx *mutex.Tx) (any, bool, error) {
			for _, key := range keys {
				items, err := zpop(tx, key, 1, max)
				if err != nil {
					if errors.Is(err, mutex.ErrWrongType) {
						return ErrWrongType, true, nil
					}
					return nil, false, err
				}
				if len(items) > 0 {
					return []any{bytes.Clone(key), items[0].member, Double(items[0].score)}, true, nil
				}
			}
			return nil, false, nil
		}), nil
	}
}

// zmpopOp is ZMPOP (numkeys key … MIN|MAX [COUNT n]) and BZMPOP (timeout
// first).
func zmpopOp(blocking bool) func(args [][]byte) (mutex.Op, any) {
	return func(args [][]byte) (mutex.Op, any) {
		rest := args[1:]
		var timeoutArg []byte
		if blocking {
			timeoutArg, rest = rest[0], rest[1:]
		}
		numkeys, ok := ParseInt(rest[0])
		if !ok || numkeys < 1 {
			return mutex.Op{}, Error("ERR numkeys should be greater than 0")
		}
		if numkeys > int64(len(rest)-2) {
			return mutex.Op{}, ErrSyntax
		}
		keys := rest[1 : 1+numkeys]
		if blocking {
			keys = cloneArgs(keys) // kept while the client blocks
		}
		opts := rest[1+numkeys:]
		var max bool
		switch {
		case isOption(opts[0], "MIN"):
		case isOption(opts[0], "MAX"):
			max = true
		default:
			return mutex.Op{}, ErrSyntax
		}
		count := int64(-1)
		for j := 1; j < len(opts); j++ {
			if count != -1 || !isOption(opts[j], "COUNT") || j+1 >= len(opts) {
				return mutex.Op{}, ErrSyntax
			}
			n, ok := ParseInt(opts[j+1])
			if !ok || n < 1 {
				return mutex.Op{}, Error("ERR count should be greater than 0")
			}
			count = n
			j++
		}
		if count == -1 {
			count = 1
		}
		attempt := func(tx *mutex.Tx) (any, bool, error) {
			for _, key := range keys {
				items, err := zpop(tx, key, count, max)
				if err != nil {
					if errors.Is(err, mutex.ErrWrongType) {
						return ErrWrongType, true, nil
					}
					return nil, false, err
				}
				if len(items) > 0 {
					pairs := make([]any, len(items))
					for i, it := range items {
						pairs[i] = []any{it.member, Double(it.score)}
					}
					return []any{bytes.Clone(key), pairs}, true, nil
				}
			}
			return nil, false, nil
		}
		if !blocking {
			return zwrite(func(tx *mutex.Tx) (any, error) {
				res, ok, err := attempt(tx)
				if !ok {
					return NullArray{}, err
				}
				return res, err
			}), nil
		}
		d, bad := ParseTimeout(timeoutArg)
		if bad != nil {
			return mutex.Op{}, bad
		}
		return blockingOp(keys, d, NullArray{}, attempt), nil
	}
}

// ---- ZRANDMEMBER ----

// zmaxRandCount bounds ZRANDMEMBER's negative count (repetitions allowed),
// whose reply is built in memory.
const zmaxRandCount = 1 << 20

func zrandmemberOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	if len(args) > 4 || len(args) == 4 && !isOption(args[3], "WITHSCORES") {
		return mutex.Op{}, ErrSyntax
	}
	withScores := len(args) == 4
	hasCount := len(args) >= 3
	var count int64
	if hasCount {
		var bad any
		if count, bad = zparseInt(args[2]); bad != nil {
			return mutex.Op{}, bad
		}
		if count == math.MinInt64 {
			return mutex.Op{}, Error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
		}
		if withScores && count < -math.MaxInt64/2 {
			return mutex.Op{}, Error("ERR value is out of range")
		}
		if count < -zmaxRandCount {
			return mutex.Op{}, Error("ERR count is too large: at most " + strconv.Itoa(zmaxRandCount) + " members with repetitions")
		}
	}
	return zread(func(r *mutex.Reader) (any, error) {
		m, ok, err := zlookup(r, key)
		if err != nil {
			return nil, err
		}
		if !ok {
			if hasCount {
				return []any{}, nil
			}
			return nil, nil
		}
		n := m.Count
		if !hasCount {
			items, err := zpickRanks(r, key, &m, []int64{rand.Int64N(n)})
			if err != nil || len(items) == 0 {
				return nil, err
			}
			return items[0].member, nil
		}
		switch {
		case count == 0:
			return []any{}, nil
		case count >= n: // the whole set, in descending order, as Redis
			rng := zscoreFamily
			rng.Reverse = true
			items, err := zcollect(r, key, &m, rng, 0, -1)
			return zscored(items, withScores), err
		case count > 0: // distinct members, in random order
			perm := zdistinctRanks(n, count)
			items, err := zpickRanks(r, key, &m, perm)
			rand.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
			return zscored(items, withScores), err
		}
		ranks := make([]int64, -count)
		for i := range ranks {
			ranks[i] = rand.Int64N(n)
		}
		items, err := zpickRanks(r, key, &m, ranks)
		return zscored(items, withScores), err
	}), nil
}

// zdistinctRanks returns k distinct ranks below n (Floyd's algorithm).
func zdistinctRanks(n, k int64) []int64 {
	seen := make(map[int64]struct{}, k)
	out := make([]int64, 0, k)
	for j := n - k; j < n; j++ {
		t := rand.Int64N(j + 1)
		if _, dup := seen[t]; dup {
			t = j
		}
		seen[t] = struct{}{}
		out = append(out, t)
	}
	return out
}

// zpickRanks returns the members at ranks, in the order of ranks (which
// may repeat), with one walk of the set.
func zpickRanks(r *mutex.Reader, key []byte, m *mutex.Meta, ranks []int64) ([]zitem, error) {
	order := make([]int, len(ranks))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return int(ranks[a] - ranks[b]) })
	out := make([]zitem, len(ranks))
	next, rank := 0, int64(0)
	budget, fits := newReplyBudget(r), true // ranks may repeat: each copy is a reply's
	err := zwalkScores(r, key, m, zscoreFamily, func(member []byte, score float64) bool {
		var it *zitem
		for next < len(order) && ranks[order[next]] == rank {
			if fits = budget.take(len(member) + 8); !fits {
				return false
			}
			if it == nil {
				it = &zitem{bytes.Clone(member), score}
			}
			out[order[next]] = *it
			next++
		}
		rank++
		return next < len(order)
	})
	if err == nil && !fits {
		return nil, budget.err()
	}
	return out[:next], err
}

// ---- ZREMRANGEBY* ----

func zremrangeOp(typ zrangeType) func(args [][]byte) (mutex.Op, any) {
	event := map[zrangeType]string{zrangeRank: "zremrangebyrank", zrangeScore: "zremrangebyscore", zrangeLex: "zremrangebylex"}[typ]
	return func(args [][]byte) (mutex.Op, any) {
		key := args[1]
		var a zrangeArgs
		var bad any
		a.key, a.typ, a.limit = key, typ, -1
		switch typ {
		case zrangeRank:
			if a.start, bad = zparseInt(args[2]); bad == nil {
				a.stop, bad = zparseInt(args[3])
			}
		case zrangeScore:
			a.score, bad = zparseScoreRange(args[2], args[3])
		case zrangeLex:
			a.lex, bad = zparseLexRange(args[2], args[3])
		}
		if bad != nil {
			return mutex.Op{}, bad
		}
		return zwrite(func(tx *mutex.Tx) (any, error) {
			z, ok, err := zopen(tx, key, false)
			if !ok || err != nil {
				return int64(0), err
			}
			if a.all(z.m.Count) { // the whole set: one range deletion, O(1)
				if _, err := tx.Delete(key); err != nil {
					return nil, err
				}
				notify(tx, notifyZset, event, key)
				notify(tx, notifyGeneric, "del", key)
				return z.m.Count, nil
			}
			items, err := a.items(&tx.Reader, &z.m)
			if err != nil || len(items) == 0 {
				return int64(0), err
			}
			if err := z.removeItems(items); err != nil {
				return nil, err
			}
			notify(tx, notifyZset, event, key)
			z.notifyEmptied()
			return int64(len(items)), nil
		}), nil
	}
}

// ---- ZUNION, ZINTER, ZDIFF, their STOREs, ZINTERCARD ----

type zsetOpKind uint8

const (
	zopUnion zsetOpKind = iota
	zopInter
	zopDiff
)

const (
	zaggSum = iota
	zaggMin
	zaggMax
)

// zsetOpArgs is a parsed ZUNION/ZINTER/ZDIFF (or STORE, or ZINTERCARD).
type zsetOpArgs struct {
	kind       zsetOpKind
	keys       [][]byte
	weights    []float64
	agg        int
	withScores bool
	limit      int64 // ZINTERCARD; 0: none
	// bad is an option error, answered after the keys' types are
	// checked, as Redis does.
	bad any
}

// zparseSetOp parses "numkeys key … options" for cmd.
func zparseSetOp(cmd string, kind zsetOpKind, args [][]byte, store, card bool) (zsetOpArgs, any) {
	a := zsetOpArgs{kind: kind}
	n, ok := ParseInt(args[0])
	if !ok {
		return a, ErrNotInteger
	}
	if n < 1 {
		return a, Error("ERR at least 1 input key is needed for '" + cmd + "' command")
	}
	if n > int64(len(args)-1) {
		return a, ErrSyntax
	}
	a.keys = args[1 : 1+n]
	opts := args[1+n:]
	for j := 0; j < len(opts) && a.bad == nil; j++ {
		left := len(opts) - j - 1
		switch opt := opts[j]; {
		case card && isOption(opt, "LIMIT") && left >= 1:
			l, ok := ParseInt(opts[j+1])
			if !ok || l < 0 {
				a.bad = Error("ERR LIMIT can't be negative")
			}
			a.limit = l
			j++
		case !card && kind != zopDiff && left >= len(a.keys) && isOption(opt, "WEIGHTS"):
			a.weights = make([]float64, len(a.keys))
			for i := range a.weights {
				w, ok := zparseScore(opts[j+1+i])
				if !ok {
					a.bad = Error("ERR weight value is not a float")
					break
				}
				a.weights[i] = w
			}
			j += len(a.keys)
		case !card && kind != zopDiff && left >= 1 && isOption(opt, "AGGREGATE"):
			switch v := opts[j+1]; {
			case isOption(v, "SUM"):
				a.agg = zaggSum
			case isOption(v, "MIN"):
				a.agg = zaggMin
			case isOption(v, "MAX"):
				a.agg = zaggMax
			default:
				a.bad = ErrSyntax
			}
			j++
		case !card && !store && isOption(opt, "WITHSCORES"):
			a.withScores = true
		default:
			a.bad = ErrSyntax
		}
	}
	return a, nil
}

// zsource is one input of a set operation: a sorted set or a set.
type zsource struct {
	key    []byte
	m      mutex.Meta
	ok     bool
	weight float64
}

func (s *zsource) size() int64 {
	if !s.ok {
		return 0
	}
	return s.m.Count
}

// each calls fn with every member and score of s (a set's members score 1).
func (s *zsource) each(r *mutex.Reader, fn func(member []byte, score float64) bool) error {
	if !s.ok {
		return nil
	}
	if s.m.Type == mutex.TypeSet {
		return r.Elems(s.key, &s.m, mutex.ElemRange{}, func(sub, _ []byte) bool { return fn(sub, 1) })
	}
	return zwalkScores(r, s.key, &s.m, zscoreFamily, fn)
}

// find returns member's score in s.
func (s *zsource) find(r *mutex.Reader, member []byte) (float64, bool, error) {
	if !s.ok {
		return 0, false, nil
	}
	if s.m.Type == mutex.TypeSet {
		_, ok, err := r.Elem(s.key, &s.m, member)
		return 1, ok, err
	}
	return zgetScore(r, s.key, &s.m, member)
}

func zaggregate(target *float64, v float64, agg int) {
	switch agg {
	case zaggSum:
		*target += v
		if math.IsNaN(*target) {
			*target = 0
		}
	case zaggMin:
		if v < *target {
			*target = v
		}
	case zaggMax:
		if v > *target {
			*target = v
		}
	}
}

// run computes the operation; limit > 0 stops an intersection once it has
// that many members; a result that is a reply stays within budget (nil for
// one that is stored or counted).
func (a *zsetOpArgs) run(r *mutex.Reader, budget *replyBudget) ([]zitem, error) {
	srcs := make([]*zsource, len(a.keys))
	for i, key := range a.keys {
		m, ok, err := r.Lookup(key)
		if err != nil {
			return nil, err
		}
		if ok && m.Type != mutex.TypeZSet && m.Type != mutex.TypeSet {
			return nil, ErrWrongType
		}
		srcs[i] = &zsource{key: key, m: m, ok: ok, weight: 1}
		if a.weights != nil {
			srcs[i].weight = a.weights[i]
		}
	}
	if a.bad != nil {
		return nil, a.bad.(Error)
	}
	var items []zitem
	var ierr error
	keep := func(member []byte, score float64) bool {
		if budget != nil && !budget.take(len(member)+8) {
			ierr = budget.err()
			return false
		}
		items = append(items, zitem{bytes.Clone(member), score})
		return true
	}
	switch a.kind {
	case zopUnion:
		slices.SortStableFunc(srcs, func(x, y *zsource) int { return int(x.size() - y.size()) })
		acc := map[string]int{}
		for _, s := range srcs {
			err := s.each(r, func(member []byte, score float64) bool {
				v := s.weight * score
				if math.IsNaN(v) {
					v = 0
				}
				if i, ok := acc[string(member)]; ok {
					zaggregate(&items[i].score, v, a.agg)
					return true
				}
				acc[string(member)] = len(items)
				return keep(member, v)
			})
			if err = errors.Join(err, ierr); err != nil {
				return nil, err
			}
		}
	case zopInter:
		slices.SortStableFunc(srcs, func(x, y *zsource) int { return int(x.size() - y.size()) })
		if srcs[0].size() == 0 {
			return nil, nil
		}
		err := srcs[0].each(r, func(member []byte, score float64) bool {
			v := srcs[0].weight * score
			if math.IsNaN(v) {
				v = 0
			}
			for _, s := range srcs[1:] {
				sc, ok, err := s.find(r, member)
				if err != nil {
					ierr = err
					return false
				}
				if !ok {
					return true
				}
				zaggregate(&v, sc*s.weight, a.agg)
			}
			return keep(member, v) && (a.limit <= 0 || int64(len(items)) < a.limit)
		})
		if err = errors.Join(err, ierr); err != nil {
			return nil, err
		}
	case zopDiff:
		err := srcs[0].each(r, func(member []byte, score float64) bool {
			for _, s := range srcs[1:] {
				_, ok, err := s.find(r, member)
				if err != nil {
					ierr = err
					return false
				}
				if ok {
					return true
				}
			}
			return keep(member, score)
		})
		if err = errors.Join(err, ierr); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(items, func(x, y zitem) int {
		switch {
		case x.score < y.score:
			return -1
		case x.score > y.score:
			return 1
		}
		return bytes.Compare(x.member, y.member)
	})
	return items, nil
}

func zsetOpCmd(kind zsetOpKind, store bool) func(args [][]byte) (mutex.Op, any) {
	return func(args [][]byte) (mutex.Op, any) {
		name := strings.ToLower(string(args[0]))
		if store {
			dst := args[1]
			a, bad := zparseSetOp(name, kind, args[2:], true, false)
			if bad != nil {
				return mutex.Op{}, bad
			}
			return zwrite(func(tx *mutex.Tx) (any, error) {
				items, err := a.run(&tx.Reader, nil)
				if err != nil {
					return nil, err
				}
				return int64(len(items)), zstore(tx, dst, items, name)
			}), nil
		}
		a, bad := zparseSetOp(name, kind, args[1:], false, false)
		if bad != nil {
			return mutex.Op{}, bad
		}
		return zread(func(r *mutex.Reader) (any, error) {
			budget := newReplyBudget(r)
			items, err := a.run(r, &budget)
			return zscored(items, a.withScores), err
		}), nil
	}
}

func zintercardOp(args [][]byte) (mutex.Op, any) {
	a, bad := zparseSetOp("zintercard", zopInter, args[1:], false, true)
	if bad != nil {
		return mutex.Op{}, bad
	}
	return zread(func(r *mutex.Reader) (any, error) {
		items, err := a.run(r, nil)
		return int64(len(items)), err
	}), nil
}

// ---- ZSCAN ----

// zscanSmall is the size up to which ZSCAN returns the whole set at once,
// in order, as Redis does for its listpack-encoded sets.
const zscanSmall = 128

func zscanOp(c *Ctx) (mutex.Op, any) {
	key := c.Args[1]
	s, bad := parseScanArgs(c.Args[2:], 0)
	if bad != nil {
		return mutex.Op{}, bad
	}
	s.cursors = cursorsOf(c.Client)
	return zread(func(r *mutex.Reader) (any, error) {
		m, ok, err := zlookup(r, key)
		if !ok || err != nil {
			return []any{"0", []any{}}, err
		}
		if s.bad != nil {
			return s.bad, nil
		}
		start, bad := decodeCursor(s.cursors, s.cursor)
		if bad != nil {
			return bad, nil
		}
		out := []any{}
		if s.cursor == 0 && m.Count <= zscanSmall {
			err := zwalkScores(r, key, &m, zscoreFamily, func(member []byte, score float64) bool {
				if s.match(member) {
					out = append(out, bytes.Clone(member), FormatDouble(score)) // strings, in RESP3 too
				}
				return true
			})
			return []any{"0", out}, err
		}
		// Larger sets page in member order, with HSCAN's cursors.
		rng := zmemberFamily
		if start != nil {
			rng.Start = zmemberSub(start)
		}
		var last, next []byte
		seen := 0
		err = r.Elems(key, &m, rng, func(sub, val []byte) bool {
			member := sub[1:]
			if seen == s.count {
				next = bytes.Clone(member)
				return false
			}
			seen++
			last = append(last[:0], member...)
			if s.match(member) {
				out = append(out, bytes.Clone(member), FormatDouble(zdecodeScore(val)))
			}
			return true
		})
		cursor := "0"
		if next != nil {
			cursor = strconv.FormatUint(encodeBound(s.cursors, separator(last, next)), 10)
		}
		return []any{cursor, out}, err
	}), nil
}
