package commands

import (
	"bytes"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mutexredis/mutexredis/mutex"
)

// The stream commands (Redis's "stream" group), over mutex.Stream. Reads
// (XLEN, XRANGE, XREAD without BLOCK, XINFO, XPENDING) run in read phases;
// everything that changes a stream, a group, a consumer or a pending
// entries list is a write op, so group state commits with its batch. XREAD
// BLOCK and XREADGROUP BLOCK are blocking ops (blocking.go).
//
// The reserved key mutex.FeedKey is the keyspace's change feed: every
// stream read works on it, and so do the group commands; anything else
// that would write it answers ErrFeedReadOnly (FeedWriteRefused).

func init() {
	key1 := func(c *Command) *Command { c.FirstKey, c.LastKey, c.Step = 1, 1, 1; return c }
	register(
		key1(&Command{Name: "xadd", Arity: -5, Flags: Write | Fast, Op: xaddOp}),
		key1(&Command{Name: "xlen", Arity: 2, Flags: Read | Fast, Op: xlenOp}),
		key1(&Command{Name: "xrange", Arity: -4, Flags: Read, Op: xrangeOp(false)}),
		key1(&Command{Name: "xrevrange", Arity: -4, Flags: Read, Op: xrangeOp(true)}),
		key1(&Command{Name: "xdel", Arity: -3, Flags: Write | Fast, Op: xdelOp}),
		key1(&Command{Name: "xtrim", Arity: -4, Flags: Write, Op: xtrimOp}),
		key1(&Command{Name: "xsetid", Arity: -3, Flags: Write | Fast, Op: xsetidOp}),
		&Command{Name: "xread", Arity: -4, Flags: Read | MayBlock, Op: xreadOp},
		&Command{Name: "xreadgroup", Arity: -7, Flags: Write | MayBlock, Op: xreadgroupOp},
		key1(&Command{Name: "xack", Arity: -4, Flags: Write | Fast, Op: xackOp}),
		key1(&Command{Name: "xpending", Arity: -3, Flags: Read, Op: xpendingOp}),
		key1(&Command{Name: "xclaim", Arity: -6, Flags: Write | Fast, Op: xclaimOp}),
		key1(&Command{Name: "xautoclaim", Arity: -6, Flags: Write | Fast, Op: xautoclaimOp}),
		// The containers have no flags or keys of their own, as in Redis
		// (and OBJECT): their subcommands' ops are reads or writes.
		&Command{Name: "xgroup", Arity: -2, Op: xgroupOp,
			Subcommands: []string{"create", "setid", "destroy", "createconsumer", "delconsumer", "help"}},
		&Command{Name: "xinfo", Arity: -2, Op: xinfoOp,
			Subcommands: []string{"stream", "groups", "consumers", "help"}},
	)
}

// ErrFeedReadOnly answers a write to the change feed.
const ErrFeedReadOnly = Error("ERR " + mutex.FeedKey + " is the keyspace's change feed: it is read-only (consumer groups aside)")

// feedWritable lists the write commands that may name the feed: they only
// change consumer-group state.
var feedWritable = map[string]bool{"xreadgroup": true, "xgroup": true, "xack": true, "xclaim": true, "xautoclaim": true}

// FeedWriteRefused reports whether cmd would write the reserved feed key
// (it then answers ErrFeedReadOnly). Decide calls it for every command.
func FeedWriteRefused(cmd *Command, args [][]byte) bool {
	if cmd.Flags&Write == 0 || cmd.FirstKey <= 0 {
		return false
	}
	last := cmd.LastKey
	if last < 0 {
		last = len(args) + last
	}
	step := max(cmd.Step, 1)
	for i := cmd.FirstKey; i <= last && i < len(args); i += step {
		if mutex.IsFeedKey(args[i]) {
			return !feedWritable[cmd.Name]
		}
	}
	return false
}

var (
	errFeedEmpty       = Error("ERR the change feed " + mutex.FeedKey + " has no batch yet (or the feed is off): consumer groups are created once it has one")
	errInvalidStreamID = Error("ERR Invalid stream ID specified as stream command argument")
	errXaddTop         = Error("ERR The ID specified in XADD is equal or smaller than the target stream top item")
	errXaddZero        = Error("ERR The ID specified in XADD must be greater than 0-0")
	errXaddExhausted   = Error("ERR The stream has exhausted the last possible ID, unable to add more items")
	errStartInterval   = Error("ERR invalid start ID for the interval")
	errEndInterval     = Error("ERR invalid end ID for the interval")
)

// parseU64 parses a stream ID part as Redis's string2ull: a strict
// integer, or what strtoull accepts (spaces, a sign, leading zeros).
func parseU64(s []byte) (uint64, bool) {
	if n, ok := ParseInt(s); ok {
		return uint64(n), n >= 0
	}
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] >= '\t' && s[i] <= '\r') {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	if i == len(s) {
		return 0, false
	}
	var v uint64
	for ; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (math.MaxUint64-uint64(c-'0'))/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

// parseID parses ms[-seq] (missing seq: missingSeq), and unless strict "-"
// and "+". seqAuto reports "ms-*" when allowed.
func parseID(arg []byte, missingSeq uint64, strict, allowAuto bool) (id mutex.StreamID, seqAuto bool, ok bool) {
	if len(arg) > 127 {
		return id, false, false
	}
	if len(arg) == 1 && (arg[0] == '-' || arg[0] == '+') {
		if strict {
			return id, false, false
		}
		if arg[0] == '+' {
			return mutex.MaxStreamID, false, true
		}
		return mutex.StreamID{}, false, true
	}
	msPart, seqPart, dash := bytes.Cut(arg, []byte{'-'})
	ms, ok := parseU64(msPart)
	if !ok {
		return id, false, false
	}
	seq := missingSeq
	if dash {
		if allowAuto && len(seqPart) == 1 && seqPart[0] == '*' {
			return mutex.StreamID{Ms: ms}, true, true
		}
		if seq, ok = parseU64(seqPart); !ok {
			return id, false, false
		}
	}
	return mutex.StreamID{Ms: ms, Seq: seq}, false, true
}

func parseStrictID(arg []byte) (mutex.StreamID, bool) {
	id, _, ok := parseID(arg, 0, true, false)
	return id, ok
}

// parseRangeID parses an XRANGE/XPENDING bound, "(" for exclusive.
func parseRangeID(arg []byte, isStart bool) (mutex.StreamID, any) {
	missing := uint64(0)
	if !isStart {
		missing = math.MaxUint64
	}
	excl := len(arg) > 0 && arg[0] == '('
	if excl {
		arg = arg[1:]
	}
	id, _, ok := parseID(arg, missing, excl, false)
	if !ok {
		return id, errInvalidStreamID
	}
	if excl {
		var ok bool
		if isStart {
			if id, ok = id.Next(); !ok {
				return id, errStartInterval
			}
		} else if id, ok = id.Prev(); !ok {
			return id, errEndInterval
		}
	}
	return id, nil
}

func idReply(id mutex.StreamID) []byte { return id.Append(nil) }

func entryReply(e mutex.StreamEntry) []any {
	fields := make([]any, len(e.Fields))
	for i, f := range e.Fields {
		fields[i] = f
	}
	return []any{idReply(e.ID), fields}
}

// entrySize is what an entry costs a reply budget: its fields and ID.
func entrySize(e mutex.StreamEntry) int {
	n := 32
	for _, f := range e.Fields {
		n += len(f) + replySlotBytes
	}
	return n
}

// openStream opens key's stream inside an op, answering WRONGTYPE as an
// error value.
func openStream(r *mutex.Reader, key []byte) (*mutex.Stream, bool, error) {
	return r.OpenStream(key)
}

func xlenOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		st, ok, err := openStream(r, key)
		if !ok || err != nil {
			return int64(0), err
		}
		return st.Length, nil
	}), nil
}

func xrangeOp(rev bool) func([][]byte) (mutex.Op, any) {
	return func(args [][]byte) (mutex.Op, any) {
		key := args[1]
		a, b := args[2], args[3]
		if rev {
			a, b = b, a
		}
		start, bad := parseRangeID(a, true)
		if bad != nil {
			return mutex.Op{}, bad
		}
		end, bad := parseRangeID(b, false)
		if bad != nil {
			return mutex.Op{}, bad
		}
		count := int64(-1)
		for i := 4; i < len(args); i++ {
			if isOption(args[i], "COUNT") && i+1 < len(args) {
				n, ok := ParseInt(args[i+1])
				if !ok {
					return mutex.Op{}, ErrNotInteger
				}
				count = max(n, 0)
				i++
				continue
			}
			return mutex.Op{}, ErrSyntax
		}
		return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
			st, ok, err := openStream(r, key)
			if !ok || err != nil {
				return []any{}, err
			}
			if count == 0 {
				return NullArray{}, nil
			}
			out := []any{}
			budget, fits := newReplyBudget(r), true
			err = r.StreamRange(st, start, end, rev, func(e mutex.StreamEntry) bool {
				if fits = budget.take(entrySize(e)); !fits {
					return false
				}
				out = append(out, entryReply(e))
				return count < 0 || int64(len(out)) < count
			})
			if err == nil && !fits {
				return nil, budget.err()
			}
			return out, err
		}), nil
	}
}

// trimArgs are XADD's and XTRIM's trimming options.
type trimArgs struct {
	strategy  string // "", "maxlen" or "minid"
	approx    bool
	maxlen    int64
	minid     mutex.StreamID
	limit     int64
	nomk      bool
	id        mutex.StreamID
	idGiven   bool
	seqAuto   bool
	fieldsPos int
}

// parseTrimArgs parses from args[2]; for XADD it stops at the ID.
func parseTrimArgs(args [][]byte, xadd bool) (trimArgs, any) {
	var t trimArgs
	limitGiven := false
	i := 2
	for ; i < len(args); i++ {
		more := len(args) - 1 - i
		a := args[i]
		switch {
		case xadd && len(a) == 1 && a[0] == '*':
		case isOption(a, "MAXLEN") && more > 0:
			i++
			if s := args[i]; more > 1 && len(s) == 1 && (s[0] == '~' || s[0] == '=') {
				t.approx = s[0] == '~'
				i++
			}
			n, ok := ParseInt(args[i])
			if !ok {
				return t, ErrNotInteger
			}
			if n < 0 {
				return t, Error("ERR The MAXLEN argument must be >= 0.")
			}
			t.strategy, t.maxlen = "maxlen", n
			continue
		case isOption(a, "MINID") && more > 0:
			i++
			if s := args[i]; more > 1 && len(s) == 1 && (s[0] == '~' || s[0] == '=') {
				t.approx = s[0] == '~'
				i++
			}
			id, ok := parseStrictID(args[i])
			if !ok {
				return t, errInvalidStreamID
			}
			t.strategy, t.minid = "minid", id
			continue
		case xadd && isOption(a, "NOMKSTREAM"):
			t.nomk = true
			continue
		case isOption(a, "LIMIT") && more > 0:
			i++
			n, ok := ParseInt(args[i])
			if !ok {
				return t, ErrNotInteger
			}
			if n < 0 {
				return t, Error("ERR The LIMIT argument must be >= 0.")
			}
			t.limit, limitGiven = n, true
			continue
		case xadd:
			id, auto, ok := parseID(a, 0, true, true)
			if !ok {
				return t, errInvalidStreamID
			}
			t.id, t.seqAuto, t.idGiven = id, auto, true
		default:
			return t, ErrSyntax
		}
		break
	}
	if limitGiven && t.strategy == "" {
		return t, Error("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")
	}
	if !xadd && t.strategy == "" {
		return t, Error("ERR syntax error, XTRIM must be called with a trimming strategy")
	}
	if limitGiven && !t.approx {
		return t, Error("ERR syntax error, LIMIT cannot be used without the special ~ option")
	}
	if !limitGiven && t.approx {
		t.limit = 10000
	}
	t.fieldsPos = i + 1
	return t, nil
}

// approxNode is Redis's stream-node-max-entries: XINFO's radix-tree
// figures are estimated with it.
const approxNode = mutex.StreamNodeEntries

// trim applies t to st and returns the number of entries deleted. An
// exact trim deletes entry by entry; an approximate one (~) only deletes
// whole nodes (see mutex.StreamEntry.Node), at most limit entries, as
// Redis does.
func (t *trimArgs) trim(tx *mutex.Tx, st *mutex.Stream) (int64, error) {
	if t.strategy == "" || st.Length == 0 {
		return 0, nil
	}
	remove := int64(-1) // maxlen: how many to remove
	if t.strategy == "maxlen" {
		if remove = st.Length - t.maxlen; remove <= 0 {
			return 0, nil
		}
	}
	var ids, node []mutex.StreamID
	curNode, nodeOK := uint64(0), true
	flush := func() bool { // a whole node goes, if it may
		if !nodeOK || len(node) == 0 {
			return len(node) == 0
		}
		if remove >= 0 && int64(len(ids)+len(node)) > remove || t.limit > 0 && int64(len(ids)+len(node)) > t.limit {
			return false
		}
		ids = append(ids, node...)
		node = node[:0]
		return true
	}
	err := tx.StreamRange(st, mutex.StreamID{}, mutex.MaxStreamID, false, func(e mutex.StreamEntry) bool {
		if !t.approx {
			if t.strategy == "minid" && !e.ID.Less(t.minid) || remove >= 0 && int64(len(ids)) >= remove {
				return false
			}
			ids = append(ids, e.ID)
			return true
		}
		if len(node) > 0 && e.Node != curNode && !flush() {
			return false
		}
		curNode = e.Node
		if t.strategy == "minid" && !e.ID.Less(t.minid) {
			nodeOK = false // this node holds an entry to keep
			return false
		}
		node = append(node, e.ID)
		return true
	})
	if err != nil {
		return 0, err
	}
	if t.approx && nodeOK && len(node) > 0 {
		// The last node reached: it goes whole only when the walk ended
		// with it (every entry of it is to be removed).
		flush()
	}
	for _, id := range ids {
		if _, err := tx.StreamDelete(st, id); err != nil {
			return 0, err
		}
	}
	if len(ids) > 0 {
		next := mutex.StreamID{}
		if n, ok := ids[len(ids)-1].Next(); ok {
			next = n
		}
		tx.Emit(mutex.Access{Op: "xtrim", Key: st.Key, Items: [][]byte{[]byte("minid"), idReply(next)}})
	}
	return int64(len(ids)), nil
}

func xaddOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	t, bad := parseTrimArgs(args, true)
	if bad != nil {
		return mutex.Op{}, bad
	}
	fields := args[t.fieldsPos:]
	if len(fields) < 2 || len(fields)%2 != 0 {
		return mutex.Op{}, ArityError("xadd")
	}
	if t.idGiven && !t.seqAuto && t.id.IsZero() {
		return mutex.Op{}, errXaddZero
	}
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		st, ok, err := tx.OpenStream(key)
		if err != nil {
			return nil, err
		}
		if !ok {
			if t.nomk {
				return nil, nil
			}
			st = tx.CreateStream(key)
		}
		if st.Last == mutex.MaxStreamID {
			return errXaddExhausted, nil
		}
		var id mutex.StreamID
		switch {
		case !t.idGiven:
			now := uint64(max(tx.Now(), 0))
			if now > st.Last.Ms {
				id = mutex.StreamID{Ms: now}
			} else {
				id, _ = st.Last.Next()
			}
		case t.seqAuto:
			switch {
			case t.id.Ms > st.Last.Ms:
				id = mutex.StreamID{Ms: t.id.Ms}
			case t.id.Ms == st.Last.Ms && st.Last.Seq < math.MaxUint64:
				id = mutex.StreamID{Ms: t.id.Ms, Seq: st.Last.Seq + 1}
			default:
				return errXaddTop, nil
			}
		default:
			if !st.Last.Less(t.id) {
				return errXaddTop, nil
			}
			id = t.id
		}
		if err := tx.StreamAppend(st, id, fields); err != nil {
			return nil, err
		}
		items := make([][]byte, 0, len(fields)+1)
		items = append(append(items, idReply(id)), fields...)
		tx.Emit(mutex.Access{Op: "xadd", Key: key, Items: items})
		notify(tx, notifyStream, "xadd", key)
		n, err := t.trim(tx, st)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			notify(tx, notifyStream, "xtrim", key)
		}
		return idReply(id), tx.SaveStream(st)
	}), nil
}

func xtrimOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	t, bad := parseTrimArgs(args, false)
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		st, ok, err := tx.OpenStream(key)
		if !ok || err != nil {
			return int64(0), err
		}
		if bad != nil {
			return bad, nil
		}
		n, err := t.trim(tx, st)
		if err != nil || n == 0 {
			return n, err
		}
		notify(tx, notifyStream, "xtrim", key)
		return n, tx.SaveStream(st)
	}), nil
}

func xdelOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	ids := make([]mutex.StreamID, 0, len(args)-2)
	for _, a := range args[2:] {
		id, ok := parseStrictID(a)
		if !ok {
			return mutex.Op{}, errInvalidStreamID
		}
		ids = append(ids, id)
	}
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		st, ok, err := tx.OpenStream(key)
		if !ok || err != nil {
			return int64(0), err
		}
		var deleted [][]byte
		for _, id := range ids {
			ok, err := tx.StreamDelete(st, id)
			if err != nil {
				return nil, err
			}
			if ok {
				if st.MaxDeleted.Less(id) {
					st.MaxDeleted = id
				}
				deleted = append(deleted, idReply(id))
			}
		}
		if len(deleted) == 0 {
			return int64(0), nil
		}
		tx.Emit(mutex.Access{Op: "xdel", Key: key, Items: deleted})
		notify(tx, notifyStream, "xdel", key)
		return int64(len(deleted)), tx.SaveStream(st)
	}), nil
}

func xsetidOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	id, ok := parseStrictID(args[2])
	if !ok {
		return mutex.Op{}, errInvalidStreamID
	}
	added := int64(-1)
	var maxDel mutex.StreamID
	for i := 3; i < len(args); i += 2 {
		more := len(args) - 1 - i
		switch {
		case isOption(args[i], "ENTRIESADDED") && more > 0:
			n, ok := ParseInt(args[i+1])
			if !ok {
				return mutex.Op{}, ErrNotInteger
			}
			if n < 0 {
				return mutex.Op{}, Error("ERR entries_added must be positive")
			}
			added = n
		case isOption(args[i], "MAXDELETEDID") && more > 0:
			m, ok := parseStrictID(args[i+1])
			if !ok {
				return mutex.Op{}, errInvalidStreamID
			}
			if id.Less(m) {
				return mutex.Op{}, Error("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
			}
			maxDel = m
		default:
			return mutex.Op{}, ErrSyntax
		}
	}
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		st, ok, err := tx.OpenStream(key)
		if err != nil {
			return nil, err
		}
		if !ok {
			return ErrNoSuchKey, nil
		}
		if st.Length > 0 {
			last, _, err := tx.StreamLastEntry(st)
			if err != nil {
				return nil, err
			}
			if id.Less(last.ID) {
				return Error("ERR The ID specified in XSETID is smaller than the target stream top item"), nil
			}
			if added != -1 && st.Length > added {
				return Error("ERR The entries_added specified in XSETID is smaller than the target stream length"), nil
			}
		}
		if id.Less(st.MaxDeleted) {
			return Error("ERR The ID specified in XSETID is smaller than current max_deleted_entry_id"), nil
		}
		st.Last = id
		if added != -1 {
			st.EntriesAdded = uint64(added)
		}
		if !maxDel.IsZero() {
			st.MaxDeleted = maxDel
		}
		tx.Emit(mutex.Access{Op: "xsetid", Key: key, Items: [][]byte{idReply(st.Last),
			strconv.AppendUint(nil, st.EntriesAdded, 10), idReply(st.MaxDeleted)}})
		notify(tx, notifyStream, "xsetid", key)
		return OK, tx.SaveStream(st)
	}), nil
}

// readArgs are XREAD's and XREADGROUP's.
type readArgs struct {
	count    int64 // 0: no limit
	block    bool
	timeout  time.Duration
	group    []byte
	consumer []byte
	noack    bool
	keys     [][]byte
	ids      [][]byte
}

func parseReadArgs(args [][]byte, group bool) (readArgs, any) {
	var r readArgs
	name := "XREAD"
	if group {
		name = "XREADGROUP"
	}
	streams := 0
	for i := 1; i < len(args); i++ {
		more := len(args) - 1 - i
		a := args[i]
		switch {
		case isOption(a, "BLOCK") && more > 0:
			i++
			d, bad := ParseTimeoutMillis(args[i])
			if bad != nil {
				return r, bad
			}
			r.block, r.timeout = true, d
		case isOption(a, "COUNT") && more > 0:
			i++
			n, ok := ParseInt(args[i])
			if !ok {
				return r, ErrNotInteger
			}
			r.count = max(n, 0)
		case isOption(a, "STREAMS") && more > 0:
			streams = i + 1
			n := len(args) - streams
			if n%2 != 0 {
				return r, Error("ERR Unbalanced " + name + " list of streams: for each stream key an ID or '$' must be specified.")
			}
			r.keys, r.ids = args[streams:streams+n/2], args[streams+n/2:]
			i = len(args)
		case group && isOption(a, "GROUP") && more >= 2:
			r.group, r.consumer = args[i+1], args[i+2]
			i += 2
		case group && isOption(a, "NOACK"):
			r.noack = true
		default:
			return r, ErrSyntax
		}
	}
	if streams == 0 {
		return r, ErrSyntax
	}
	if group && r.group == nil {
		return r, Error("ERR Missing GROUP option for XREADGROUP")
	}
	for _, id := range r.ids {
		switch {
		case string(id) == "$":
			if group {
				return r, Error("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.")
			}
		case string(id) == ">":
			if !group {
				return r, Error("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")
			}
		case string(id) == "+" && !group:
		default:
			if _, ok := parseStrictID(id); !ok {
				return r, errInvalidStreamID
			}
		}
	}
	return r, nil
}

func xreadOp(args [][]byte) (mutex.Op, any) {
	ra, bad := parseReadArgs(args, false)
	if bad != nil {
		return mutex.Op{}, bad
	}
	// after[i] is resolved at the first try: "$" is the last ID then.
	after := make([]mutex.StreamID, len(ra.keys))
	last := make([]bool, len(ra.keys)) // "+": the last entry
	resolved := false
	attempt := func(r *mutex.Reader) (any, bool, error) {
		var out []any
		budget, fits := newReplyBudget(r), true
		for i, key := range ra.keys {
			st, ok, err := r.OpenStream(key)
			if err != nil {
				return nil, false, err
			}
			if !resolved {
				switch string(ra.ids[i]) {
				case "$":
					if ok {
						after[i] = st.Last
					}
				case "+":
					last[i] = true
				default:
					after[i], _ = parseStrictID(ra.ids[i])
				}
			}
			if !ok {
				continue
			}
			var entries []any
			if last[i] {
				if e, found, err := r.StreamLastEntry(st); err != nil {
					return nil, false, err
				} else if found {
					entries = append(entries, entryReply(e))
				}
			} else if start, ok := after[i].Next(); ok {
				err = r.StreamRange(st, start, mutex.MaxStreamID, false, func(e mutex.StreamEntry) bool {
					if fits = budget.take(entrySize(e)); !fits {
						return false
					}
					entries = append(entries, entryReply(e))
					return ra.count == 0 || int64(len(entries)) < ra.count
				})
				if err == nil && !fits {
					return budget.err(), true, nil
				}
				if err != nil {
					return nil, false, err
				}
			}
			if len(entries) > 0 {
				out = append(out, key, entries)
			}
		}
		if !resolved {
			resolved = true
			for i := range last {
				if last[i] { // "+" blocks for what comes after the last entry
					last[i] = false
					if st, ok, err := r.OpenStream(ra.keys[i]); err == nil && ok {
						after[i] = st.Last
					}
				}
			}
		}
		if out == nil {
			return NullArray{}, false, nil
		}
		return PairMap(out), true, nil
	}
	if !ra.block {
		return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
			res, _, err := attempt(r)
			return res, err
		}), nil
	}
	return blockingOp(ra.keys, ra.timeout, NullArray{}, func(tx *mutex.Tx) (any, bool, error) {
		return attempt(&tx.Reader)
	}), nil
}

func noGroupRead(key, group []byte) Error {
	return Error("NOGROUP No such key '" + string(key) + "' or consumer group '" + string(group) + "' in XREADGROUP with GROUP option")
}

// feedGapError answers a group on the feed whose position fell below
// what the feed retains.
func feedGapError(g mutex.StreamGroup, st *mutex.Stream) Error {
	return Error("ERR the change feed no longer holds the batches after " + g.LastID.String() +
		", the last delivered ID of group '" + string(g.Name) + "': it retains batches from " +
		strconv.FormatUint(st.FeedFirst(), 10) + " on (raise --feed-retention, or move the group with XGROUP SETID)")
}

// touchConsumer creates or refreshes a consumer's seen time.
func touchConsumer(tx *mutex.Tx, st *mutex.Stream, group, name []byte, active bool) (created bool, err error) {
	c, ok, err := tx.StreamConsumerGet(st, group, name)
	if err != nil {
		return false, err
	}
	if !ok {
		c = mutex.StreamConsumer{Name: name, ActiveTime: -1}
	}
	c.SeenTime = tx.Now()
	if active {
		c.ActiveTime = tx.Now()
	}
	if ok {
		return false, tx.RefreshStreamConsumer(st, group, c)
	}
	if !st.Feed {
		tx.Emit(mutex.Access{Op: "xgroup", Key: st.Key, Items: [][]byte{[]byte("createconsumer"), group, name}})
	}
	return true, tx.PutStreamConsumer(st, group, c)
}

// hasTombstones is Redis's streamRangeHasTombstones from start.
func hasTombstones(tx *mutex.Reader, st *mutex.Stream, start mutex.StreamID) (bool, error) {
	if st.Length == 0 || st.MaxDeleted.IsZero() {
		return false, nil
	}
	first, _, err := tx.StreamFirst(st)
	if err != nil {
		return false, err
	}
	if st.MaxDeleted.Less(first.ID) {
		return false, nil
	}
	return !st.MaxDeleted.Less(start), nil
}

// estimateRead is Redis's streamEstimateDistanceFromFirstEverEntry.
func estimateRead(r *mutex.Reader, st *mutex.Stream, id mutex.StreamID) (int64, error) {
	if st.EntriesAdded == 0 {
		return 0, nil
	}
	if st.Length == 0 && !st.Last.Less(id) {
		return int64(st.EntriesAdded), nil
	}
	if id == st.Last {
		return int64(st.EntriesAdded), nil
	}
	if st.Last.Less(id) {
		return -1, nil
	}
	first, _, err := r.StreamFirst(st)
	if err != nil {
		return 0, err
	}
	if st.MaxDeleted.IsZero() || st.MaxDeleted.Less(first.ID) {
		if id.Less(first.ID) {
			return int64(st.EntriesAdded) - st.Length, nil
		}
		if id == first.ID {
			return int64(st.EntriesAdded) - st.Length + 1, nil
		}
	}
	return -1, nil
}

func xreadgroupOp(args [][]byte) (mutex.Op, any) {
	ra, bad := parseReadArgs(args, true)
	if bad != nil {
		return mutex.Op{}, bad
	}
	history := false
	for _, id := range ra.ids {
		history = history || string(id) != ">"
	}
	try := func(tx *mutex.Tx, mayWait bool) (any, bool, error) {
		type target struct {
			st *mutex.Stream
			g  mutex.StreamGroup
		}
		targets := make([]target, len(ra.keys))
		for i, key := range ra.keys {
			st, ok, err := tx.OpenStream(key)
			if err != nil {
				return nil, false, err
			}
			if !ok {
				return noGroupRead(key, ra.group), true, nil
			}
			g, ok, err := tx.StreamGroupGet(st, ra.group)
			if err != nil {
				return nil, false, err
			}
			if !ok {
				return noGroupRead(key, ra.group), true, nil
			}
			if st.Feed && string(ra.ids[i]) == ">" && g.LastID.Less(st.MaxDeleted) {
				return feedGapError(g, st), true, nil
			}
			targets[i] = target{st, g}
		}
		var out []any
		now := tx.Now()
		// Past the reply budget, fewer new entries are delivered (as a
		// COUNT would): an error after the first stream's deliveries would
		// leave them pending and unseen.
		budget := newReplyBudget(&tx.Reader)
		for i, key := range ra.keys {
			st, g := targets[i].st, targets[i].g
			var entries []any
			if string(ra.ids[i]) != ">" {
				after, _ := parseStrictID(ra.ids[i])
				start, ok := after.Next()
				var pend []mutex.StreamPending
				if ok {
					err := tx.StreamPendings(st, ra.group, start, mutex.MaxStreamID, func(p mutex.StreamPending) bool {
						if bytes.Equal(p.Consumer, ra.consumer) {
							pend = append(pend, p)
						}
						return ra.count == 0 || int64(len(pend)) < ra.count
					})
					if err != nil {
						return nil, false, err
					}
				}
				redelivered := [][]byte{ra.group, ra.consumer}
				for _, p := range pend {
					e, found, err := tx.StreamEntryAt(st, p.ID)
					if err != nil {
						return nil, false, err
					}
					if !found {
						entries = append(entries, []any{idReply(p.ID), NullArray{}})
						continue
					}
					p.DeliveryTime, p.Deliveries = now, p.Deliveries+1
					if err := tx.PutStreamPending(st, ra.group, p); err != nil {
						return nil, false, err
					}
					entries = append(entries, entryReply(e))
					redelivered = append(redelivered, idReply(p.ID))
				}
				if len(redelivered) > 2 && !st.Feed {
					tx.Emit(mutex.Access{Op: "xclaim", Key: key, Items: redelivered})
				}
				if _, err := touchConsumer(tx, st, ra.group, ra.consumer, false); err != nil {
					return nil, false, err
				}
				if entries == nil {
					entries = []any{}
				}
				out = append(out, key, entries)
				continue
			}
			start, ok := g.LastID.Next()
			var got []mutex.StreamEntry
			if ok {
				err := tx.StreamRange(st, start, mutex.MaxStreamID, false, func(e mutex.StreamEntry) bool {
					if !budget.take(entrySize(e)) && (len(got) > 0 || len(out) > 0) {
						return false // at least one entry, so a consumer always moves on
					}
					got = append(got, e)
					return ra.count == 0 || int64(len(got)) < ra.count
				})
				if err != nil {
					return nil, false, err
				}
			}
			if len(got) == 0 {
				continue
			}
			ids := make([][]byte, 0, len(got)+2)
			ids = append(ids, ra.group, ra.consumer)
			for _, e := range got {
				tomb, err := hasTombstones(&tx.Reader, st, e.ID)
				if err != nil {
					return nil, false, err
				}
				switch {
				case g.EntriesRead != -1 && !tomb:
					g.EntriesRead++
				case st.EntriesAdded > 0:
					if g.EntriesRead, err = estimateRead(&tx.Reader, st, e.ID); err != nil {
						return nil, false, err
					}
				}
				g.LastID = e.ID
				if !ra.noack {
					p := mutex.StreamPending{ID: e.ID, Consumer: ra.consumer, DeliveryTime: now, Deliveries: 1}
					if err := tx.PutStreamPending(st, ra.group, p); err != nil {
						return nil, false, err
					}
				}
				entries = append(entries, entryReply(e))
				ids = append(ids, idReply(e.ID))
			}
			if err := tx.PutStreamGroup(st, g); err != nil {
				return nil, false, err
			}
			if created, err := touchConsumer(tx, st, ra.group, ra.consumer, true); err != nil {
				return nil, false, err
			} else if created {
				notify(tx, notifyStream, "xgroup-createconsumer", key)
			}
			if !st.Feed {
				op := "xreadgroup"
				if ra.noack {
					op = "xreadgroup-noack"
				}
				tx.Emit(mutex.Access{Op: op, Key: key, Items: ids})
			}
			out = append(out, key, entries)
		}
		if out == nil {
			if !mayWait {
				for i, key := range ra.keys {
					if created, err := touchConsumer(tx, targets[i].st, ra.group, ra.consumer, false); err != nil {
						return nil, false, err
					} else if created {
						notify(tx, notifyStream, "xgroup-createconsumer", key)
					}
				}
			}
			return NullArray{}, false, nil
		}
		return PairMap(out), true, nil
	}
	if !ra.block || history {
		return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
			res, _, err := try(tx, false)
			return res, err
		}), nil
	}
	return blockingOp(ra.keys, ra.timeout, NullArray{}, func(tx *mutex.Tx) (any, bool, error) {
		return try(tx, true)
	}), nil
}

func xackOp(args [][]byte) (mutex.Op, any) {
	key, group := args[1], args[2]
	ids := make([]mutex.StreamID, 0, len(args)-3)
	var bad any
	for _, a := range args[3:] {
		id, ok := parseStrictID(a)
		if !ok {
			bad = errInvalidStreamID
			break
		}
		ids = append(ids, id)
	}
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		st, ok, err := tx.OpenStream(key)
		if !ok || err != nil {
			return int64(0), err
		}
		if _, ok, err := tx.StreamGroupGet(st, group); !ok || err != nil {
			return int64(0), err
		}
		if bad != nil {
			return bad, nil
		}
		var acked [][]byte
		for _, id := range ids {
			if _, ok, err := tx.StreamPendingGet(st, group, id); err != nil {
				return nil, err
			} else if !ok {
				continue
			}
			if err := tx.DelStreamPending(st, group, id); err != nil {
				return nil, err
			}
			acked = append(acked, idReply(id))
		}
		if len(acked) > 0 && !st.Feed {
			tx.Emit(mutex.Access{Op: "xack", Key: key, Items: append([][]byte{group}, acked...)})
		}
		return int64(len(acked)), nil
	}), nil
}

func noGroup(key, group []byte) Error {
	return Error("NOGROUP No such key '" + string(key) + "' or consumer group '" + string(group) + "'")
}

func xpendingOp(args [][]byte) (mutex.Op, any) {
	key, group := args[1], args[2]
	summary := len(args) == 3
	if !summary && (len(args) < 6 || len(args) > 9) {
		return mutex.Op{}, ErrSyntax
	}
	var minIdle, count int64
	var start, end mutex.StreamID
	var consumer []byte
	if !summary {
		si := 3
		if isOption(args[3], "IDLE") {
			n, ok := ParseInt(args[4])
			if !ok {
				return mutex.Op{}, ErrNotInteger
			}
			minIdle = n
			if len(args) < 8 {
				return mutex.Op{}, ErrSyntax
			}
			si += 2
		}
		n, ok := ParseInt(args[si+2])
		if !ok {
			return mutex.Op{}, ErrNotInteger
		}
		count = max(n, 0)
		var bad any
		if start, bad = parseRangeID(args[si], true); bad != nil {
			return mutex.Op{}, bad
		}
		if end, bad = parseRangeID(args[si+1], false); bad != nil {
			return mutex.Op{}, bad
		}
		if si+3 < len(args) {
			consumer = args[si+3]
		}
		if si+4 < len(args) {
			return mutex.Op{}, ErrSyntax
		}
	}
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		st, ok, err := r.OpenStream(key)
		if err != nil {
			return nil, err
		}
		if !ok {
			return noGroup(key, group), nil
		}
		if _, ok, err := r.StreamGroupGet(st, group); err != nil || !ok {
			return noGroup(key, group), err
		}
		now := r.Now()
		if summary {
			var n int64
			var first, last mutex.StreamID
			per := map[string]int64{}
			err := r.StreamPendings(st, group, mutex.StreamID{}, mutex.MaxStreamID, func(p mutex.StreamPending) bool {
				if n == 0 {
					first = p.ID
				}
				last = p.ID
				n++
				per[string(p.Consumer)]++
				return true
			})
			if err != nil {
				return nil, err
			}
			if n == 0 {
				return []any{int64(0), nil, nil, NullArray{}}, nil
			}
			names := make([]string, 0, len(per))
			for name := range per {
				names = append(names, name)
			}
			sort.Strings(names)
			cons := make([]any, len(names))
			for i, name := range names {
				cons[i] = []any{name, strconv.FormatInt(per[name], 10)}
			}
			return []any{n, idReply(first), idReply(last), cons}, nil
		}
		out := []any{}
		if count == 0 {
			return out, nil
		}
		err = r.StreamPendings(st, group, start, end, func(p mutex.StreamPending) bool {
			if consumer != nil && !bytes.Equal(p.Consumer, consumer) {
				return true
			}
			idle := now - p.DeliveryTime
			if minIdle != 0 && idle < minIdle {
				return true
			}
			out = append(out, []any{idReply(p.ID), p.Consumer, max(idle, 0), p.Deliveries})
			return int64(len(out)) < count
		})
		return out, err
	}), nil
}

// claimer is XCLAIM's and XAUTOCLAIM's one loop: it claims pending
// entries for a consumer, one at a time, and announces what it did.
type claimer struct {
	tx                   *mutex.Tx
	st                   *mutex.Stream
	key, group, consumer []byte
	minIdle              int64 // skip entries delivered more recently (ms)
	delivery             int64 // the claimed entries' new delivery time
	retry                int64 // their delivery count; -1: one more (unless justid)
	force, justid        bool
	out                  []any    // what was claimed: entries, or IDs when justid
	claimed              [][]byte // group, consumer, IDs: the xclaim event
	gone                 [][]byte // group, IDs of entries no longer in the stream: the xack event
	made                 bool     // the consumer exists
}

func newClaimer(tx *mutex.Tx, st *mutex.Stream, key, group, consumer []byte) *claimer {
	return &claimer{tx: tx, st: st, key: key, group: group, consumer: consumer, delivery: tx.Now(), retry: -1,
		out: []any{}, claimed: [][]byte{group, consumer}, gone: [][]byte{group}}
}

// claim tries the pending entry p of id (found false: there is none, and
// FORCE makes one). A pending entry whose stream entry was deleted is
// dropped, as Redis does.
func (c *claimer) claim(id mutex.StreamID, p mutex.StreamPending, found bool) error {
	e, exists, err := c.tx.StreamEntryAt(c.st, id)
	if err != nil {
		return err
	}
	if !exists {
		if found {
			if err := c.tx.DelStreamPending(c.st, c.group, id); err != nil {
				return err
			}
			c.gone = append(c.gone, idReply(id))
		}
		return nil
	}
	if !found {
		if !c.force {
			return nil
		}
		p = mutex.StreamPending{ID: id}
	} else if c.minIdle > 0 && c.tx.Now()-p.DeliveryTime < c.minIdle {
		return nil
	}
	p.DeliveryTime = c.delivery
	if c.retry >= 0 {
		p.Deliveries = c.retry
	} else if !c.justid {
		p.Deliveries++
	}
	if !c.made {
		c.made = true
		if _, err := touchConsumer(c.tx, c.st, c.group, c.consumer, true); err != nil {
			return err
		}
	}
	p.Consumer = c.consumer
	if err := c.tx.PutStreamPending(c.st, c.group, p); err != nil {
		return err
	}
	c.claimed = append(c.claimed, idReply(id))
	if c.justid {
		c.out = append(c.out, idReply(id))
	} else {
		c.out = append(c.out, entryReply(e))
	}
	return nil
}

// emit announces the claims and the dropped entries in the writes event.
func (c *claimer) emit() {
	if c.st.Feed {
		return
	}
	if len(c.claimed) > 2 {
		c.tx.Emit(mutex.Access{Op: "xclaim", Key: c.key, Items: c.claimed})
	}
	if len(c.gone) > 1 {
		c.tx.Emit(mutex.Access{Op: "xack", Key: c.key, Items: c.gone})
	}
}

func xclaimOp(args [][]byte) (mutex.Op, any) {
	key, group, consumer := args[1], args[2], args[3]
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		st, ok, err := tx.OpenStream(key)
		if err != nil {
			return nil, err
		}
		if !ok {
			return noGroup(key, group), nil
		}
		g, ok, err := tx.StreamGroupGet(st, group)
		if err != nil || !ok {
			return noGroup(key, group), err
		}
		minIdle, okN := ParseInt(args[4])
		if !okN {
			return Error("ERR Invalid min-idle-time argument for XCLAIM"), nil
		}
		minIdle = max(minIdle, 0)
		var ids []mutex.StreamID
		j := 5
		for ; j < len(args); j++ {
			id, ok := parseStrictID(args[j])
			if !ok {
				break
			}
			ids = append(ids, id)
		}
		now := tx.Now()
		cl := newClaimer(tx, st, key, group, consumer)
		cl.minIdle = minIdle
		delivery := int64(-1)
		var lastID mutex.StreamID
		for ; j < len(args); j++ {
			more := len(args) - 1 - j
			a := args[j]
			switch {
			case isOption(a, "FORCE"):
				cl.force = true
			case isOption(a, "JUSTID"):
				cl.justid = true
			case isOption(a, "IDLE") && more > 0:
				j++
				n, ok := ParseInt(args[j])
				if !ok {
					return Error("ERR Invalid IDLE option argument for XCLAIM"), nil
				}
				delivery = now - n
			case isOption(a, "TIME") && more > 0:
				j++
				n, ok := ParseInt(args[j])
				if !ok {
					return Error("ERR Invalid TIME option argument for XCLAIM"), nil
				}
				delivery = n
			case isOption(a, "RETRYCOUNT") && more > 0:
				j++
				n, ok := ParseInt(args[j])
				if !ok {
					return Error("ERR Invalid RETRYCOUNT option argument for XCLAIM"), nil
				}
				cl.retry = n
			case isOption(a, "LASTID") && more > 0:
				j++
				id, ok := parseStrictID(args[j])
				if !ok {
					return errInvalidStreamID, nil
				}
				lastID = id
			default:
				return Error("ERR Unrecognized XCLAIM option '" + string(a) + "'"), nil
			}
		}
		if g.LastID.Less(lastID) {
			g.LastID = lastID
			if err := tx.PutStreamGroup(st, g); err != nil {
				return nil, err
			}
		}
		if delivery >= 0 && delivery <= now {
			cl.delivery = delivery
		}
		for _, id := range ids {
			p, found, err := tx.StreamPendingGet(st, group, id)
			if err != nil {
				return nil, err
			}
			if err := cl.claim(id, p, found); err != nil {
				return nil, err
			}
		}
		cl.emit()
		return cl.out, nil
	}), nil
}

func xautoclaimOp(args [][]byte) (mutex.Op, any) {
	key, group, consumer := args[1], args[2], args[3]
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		st, ok, err := tx.OpenStream(key)
		if err != nil {
			return nil, err
		}
		if !ok {
			return noGroup(key, group), nil
		}
		if _, ok, err := tx.StreamGroupGet(st, group); err != nil || !ok {
			return noGroup(key, group), err
		}
		minIdle, okN := ParseInt(args[4])
		if !okN {
			return Error("ERR Invalid min-idle-time argument for XAUTOCLAIM"), nil
		}
		minIdle = max(minIdle, 0)
		start, _, okID := parseID(args[5], 0, false, false)
		if !okID {
			return errInvalidStreamID, nil
		}
		count, justid := int64(100), false
		for j := 6; j < len(args); j++ {
			more := len(args) - 1 - j
			switch {
			case isOption(args[j], "COUNT") && more > 0:
				n, ok := ParseInt(args[j+1])
				if !ok {
					return ErrNotInteger, nil
				}
				if n < 1 || n > math.MaxInt64/16 {
					return Error("ERR COUNT must be > 0"), nil
				}
				count = n
				j++
			case isOption(args[j], "JUSTID"):
				justid = true
			default:
				return ErrSyntax, nil
			}
		}
		attempts := count * 10
		// The pending entries it may look at, and the one after them.
		var pend []mutex.StreamPending
		err = tx.StreamPendings(st, group, start, mutex.MaxStreamID, func(p mutex.StreamPending) bool {
			pend = append(pend, p)
			return int64(len(pend)) <= attempts
		})
		if err != nil {
			return nil, err
		}
		next := mutex.StreamID{}
		cl := newClaimer(tx, st, key, group, consumer)
		cl.minIdle, cl.justid = minIdle, justid
		for i, p := range pend {
			if int64(i) == attempts || int64(len(cl.out)) == count {
				next = p.ID
				break
			}
			if err := cl.claim(p.ID, p, true); err != nil {
				return nil, err
			}
		}
		cl.emit()
		deleted := make([]any, len(cl.gone)-1)
		for i, id := range cl.gone[1:] {
			deleted[i] = id
		}
		return []any{idReply(next), cl.out, deleted}, nil
	}), nil
}

func xgroupOp(args [][]byte) (mutex.Op, any) {
	sub := strings.ToLower(string(args[1]))
	syntax := Error("ERR unknown subcommand or wrong number of arguments for '" + clip(args[1]) + "'. Try XGROUP HELP.")
	arity := map[string]int{"create": -5, "setid": -5, "destroy": 4, "createconsumer": 5, "delconsumer": 5, "help": 2}
	if a := arity[sub]; a >= 0 && len(args) != a || a < 0 && len(args) < -a {
		return mutex.Op{}, ArityError("xgroup|" + sub)
	}
	if sub == "help" {
		return mutex.ReadOp(func(*mutex.Reader) (any, error) { return xgroupHelp, nil }), nil
	}
	key, group := args[2], args[3]
	mkstream := false
	entriesRead := int64(-1)
	if sub == "create" || sub == "setid" {
		for i := 5; i < len(args); {
			more := len(args) - 1 - i
			switch {
			case isOption(args[i], "MKSTREAM") && sub == "create":
				mkstream = true
				i++
			case isOption(args[i], "ENTRIESREAD") && more > 0:
				n, ok := ParseInt(args[i+1])
				if !ok {
					return mutex.Op{}, ErrNotInteger
				}
				if n < 0 && n != -1 {
					return mutex.Op{}, Error("ERR value for ENTRIESREAD must be positive or -1")
				}
				entriesRead = n
				i += 2
			default:
				return mutex.Op{}, syntax
			}
		}
	}
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		st, exists, err := tx.OpenStream(key)
		if err != nil {
			return nil, err
		}
		if !exists && mutex.IsFeedKey(key) {
			return errFeedEmpty, nil
		}
		if !exists && !mkstream {
			return Error("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."), nil
		}
		var g mutex.StreamGroup
		gok := false
		if exists {
			if g, gok, err = tx.StreamGroupGet(st, group); err != nil {
				return nil, err
			}
		}
		if !gok && (sub == "setid" || sub == "createconsumer" || sub == "delconsumer") {
			return Error("NOGROUP No such consumer group '" + string(group) + "' for key name '" + string(key) + "'"), nil
		}
		emit := func(items ...[]byte) {
			if !st.Feed {
				tx.Emit(mutex.Access{Op: "xgroup", Key: key, Items: append([][]byte{[]byte(sub), group}, items...)})
			}
		}
		switch sub {
		case "create":
			if len(args) > 8 {
				return syntax, nil
			}
			var id mutex.StreamID
			if string(args[4]) == "$" {
				if exists {
					id = st.Last
				}
			} else {
				var ok bool
				if id, ok = parseStrictID(args[4]); !ok {
					return errInvalidStreamID, nil
				}
			}
			if gok {
				return Error("BUSYGROUP Consumer Group name already exists"), nil
			}
			if !exists {
				st = tx.CreateStream(key)
				if err := tx.SaveStream(st); err != nil {
					return nil, err
				}
			}
			if err := tx.PutStreamGroup(st, mutex.StreamGroup{Name: group, LastID: id, EntriesRead: entriesRead}); err != nil {
				return nil, err
			}
			emit(idReply(id), strconv.AppendInt(nil, entriesRead, 10))
			notify(tx, notifyStream, "xgroup-create", key)
			return OK, nil
		case "setid":
			if len(args) != 5 && len(args) != 7 {
				return syntax, nil
			}
			var id mutex.StreamID
			if string(args[4]) == "$" {
				id = st.Last
			} else {
				var ok bool
				if id, _, ok = parseID(args[4], 0, false, false); !ok {
					return errInvalidStreamID, nil
				}
			}
			g.LastID, g.EntriesRead = id, entriesRead
			if err := tx.PutStreamGroup(st, g); err != nil {
				return nil, err
			}
			emit(idReply(id), strconv.AppendInt(nil, entriesRead, 10))
			notify(tx, notifyStream, "xgroup-setid", key)
			return OK, nil
		case "destroy":
			if !gok {
				return int64(0), nil
			}
			if err := tx.DelStreamGroup(st, group); err != nil {
				return nil, err
			}
			emit()
			notify(tx, notifyStream, "xgroup-destroy", key)
			return int64(1), nil
		case "createconsumer":
			if _, ok, err := tx.StreamConsumerGet(st, group, args[4]); err != nil || ok {
				return int64(0), err
			}
			if _, err := touchConsumer(tx, st, group, args[4], false); err != nil {
				return nil, err
			}
			emit(args[4])
			notify(tx, notifyStream, "xgroup-createconsumer", key)
			return int64(1), nil
		case "delconsumer":
			if _, ok, err := tx.StreamConsumerGet(st, group, args[4]); err != nil || !ok {
				return int64(0), err
			}
			n, err := tx.DelStreamConsumer(st, group, args[4])
			if err != nil {
				return nil, err
			}
			emit(args[4])
			notify(tx, notifyStream, "xgroup-delconsumer", key)
			return n, nil
		}
		return syntax, nil
	}), nil
}

var xgroupHelp = []any{
	Status("XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"),
	Status("CREATE <key> <groupname> <id|$> [option]"),
	Status("    Create a new consumer group. Options are:"),
	Status("    * MKSTREAM"),
	Status("      Create the empty stream if it does not exist."),
	Status("    * ENTRIESREAD entries_read"),
	Status("      Set the group's entries_read counter (internal use)."),
	Status("CREATECONSUMER <key> <groupname> <consumer>"),
	Status("    Create a new consumer in the specified group."),
	Status("DELCONSUMER <key> <groupname> <consumer>"),
	Status("    Remove the specified consumer."),
	Status("DESTROY <key> <groupname>"),
	Status("    Remove the specified group."),
	Status("SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]"),
	Status("    Set the current group ID and entries_read counter."),
	Status("HELP"),
	Status("    Print this help."),
}

var xinfoHelp = []any{
	Status("XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"),
	Status("CONSUMERS <key> <groupname>"),
	Status("    Show consumers of <groupname>."),
	Status("GROUPS <key>"),
	Status("    Show the stream consumer groups."),
	Status("STREAM <key> [FULL [COUNT <count>]"),
	Status("    Show information about the stream."),
	Status("HELP"),
	Status("    Print this help."),
}

// lagReply is Redis's streamReplyWithCGLag.
func lagReply(r *mutex.Reader, st *mutex.Stream, g mutex.StreamGroup) (any, error) {
	if st.EntriesAdded == 0 {
		return int64(0), nil
	}
	tomb, err := hasTombstones(r, st, g.LastID)
	if err != nil {
		return nil, err
	}
	if g.EntriesRead != -1 && !tomb {
		return int64(st.EntriesAdded) - g.EntriesRead, nil
	}
	n, err := estimateRead(r, st, g.LastID)
	if err != nil || n == -1 {
		return nil, err
	}
	return int64(st.EntriesAdded) - n, nil
}

func entriesReadReply(g mutex.StreamGroup) any {
	if g.EntriesRead == -1 {
		return nil
	}
	return g.EntriesRead
}

func xinfoOp(args [][]byte) (mutex.Op, any) {
	sub := strings.ToLower(string(args[1]))
	arity := map[string]int{"stream": -3, "groups": 3, "consumers": 4, "help": 2}
	if a := arity[sub]; a >= 0 && len(args) != a || a < 0 && len(args) < -a {
		return mutex.Op{}, ArityError("xinfo|" + sub)
	}
	if sub == "help" {
		return mutex.ReadOp(func(*mutex.Reader) (any, error) { return xinfoHelp, nil }), nil
	}
	key := args[2]
	full, count := false, int64(10)
	if sub == "stream" && len(args) > 3 {
		if !isOption(args[3], "FULL") {
			return mutex.Op{}, ErrSyntax
		}
		full = true
		if len(args) > 4 {
			if len(args) != 6 || !isOption(args[4], "COUNT") {
				return mutex.Op{}, ErrSyntax
			}
			n, ok := ParseInt(args[5])
			if !ok {
				return mutex.Op{}, ErrNotInteger
			}
			count = max(n, 0)
		}
	}
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		st, ok, err := r.OpenStream(key)
		if err != nil {
			return nil, err
		}
		if !ok {
			return ErrNoSuchKey, nil
		}
		switch sub {
		case "stream":
			return xinfoStream(r, st, full, count)
		case "groups":
			return xinfoGroups(r, st)
		}
		group := args[3]
		if _, ok, err := r.StreamGroupGet(st, group); err != nil || !ok {
			return Error("NOGROUP No such consumer group '" + string(group) + "' for key name '" + string(key) + "'"), err
		}
		per, err := pendingPerConsumer(r, st, group)
		if err != nil {
			return nil, err
		}
		out := []any{}
		now := r.Now()
		err = r.StreamConsumers(st, group, func(c mutex.StreamConsumer) bool {
			out = append(out, Map{"name", c.Name, "pending", per[string(c.Name)], "idle", max(now-c.SeenTime, 0)})
			return true
		})
		return out, err
	}), nil
}

func pendingPerConsumer(r *mutex.Reader, st *mutex.Stream, group []byte) (map[string]int64, error) {
	per := map[string]int64{}
	err := r.StreamPendings(st, group, mutex.StreamID{}, mutex.MaxStreamID, func(p mutex.StreamPending) bool {
		per[string(p.Consumer)]++
		return true
	})
	return per, err
}

func xinfoGroups(r *mutex.Reader, st *mutex.Stream) (any, error) {
	var groups []mutex.StreamGroup
	if err := r.StreamGroups(st, func(g mutex.StreamGroup) bool { groups = append(groups, g); return true }); err != nil {
		return nil, err
	}
	out := []any{}
	for _, g := range groups {
		var consumers int64
		if err := r.StreamConsumers(st, g.Name, func(mutex.StreamConsumer) bool { consumers++; return true }); err != nil {
			return nil, err
		}
		per, err := pendingPerConsumer(r, st, g.Name)
		if err != nil {
			return nil, err
		}
		var pending int64
		for _, n := range per {
			pending += n
		}
		lag, err := lagReply(r, st, g)
		if err != nil {
			return nil, err
		}
		out = append(out, Map{"name", g.Name, "consumers", consumers, "pending", pending,
			"last-delivered-id", idReply(g.LastID), "entries-read", entriesReadReply(g), "lag", lag})
	}
	return out, nil
}

func xinfoStream(r *mutex.Reader, st *mutex.Stream, full bool, count int64) (any, error) {
	first, hasFirst, err := r.StreamFirst(st)
	if err != nil {
		return nil, err
	}
	recordedFirst := mutex.StreamID{}
	if hasFirst {
		recordedFirst = first.ID
	}
	nodes := (st.Length + approxNode - 1) / approxNode
	out := Map{"length", st.Length, "radix-tree-keys", nodes, "radix-tree-nodes", nodes + 1,
		"last-generated-id", idReply(st.Last), "max-deleted-entry-id", idReply(st.MaxDeleted),
		"entries-added", int64(st.EntriesAdded), "recorded-first-entry-id", idReply(recordedFirst)}
	if !full {
		var ngroups int64
		if err := r.StreamGroups(st, func(mutex.StreamGroup) bool { ngroups++; return true }); err != nil {
			return nil, err
		}
		out = append(out, "groups", ngroups)
		var firstR, lastR any
		if hasFirst {
			firstR = entryReply(first)
			last, _, err := r.StreamLastEntry(st)
			if err != nil {
				return nil, err
			}
			lastR = entryReply(last)
		}
		return append(out, "first-entry", firstR, "last-entry", lastR), nil
	}
	entries := []any{}
	err = r.StreamRange(st, mutex.StreamID{}, mutex.MaxStreamID, false, func(e mutex.StreamEntry) bool {
		entries = append(entries, entryReply(e))
		return count == 0 || int64(len(entries)) < count
	})
	if err != nil {
		return nil, err
	}
	out = append(out, "entries", entries)
	var groups []mutex.StreamGroup
	if err := r.StreamGroups(st, func(g mutex.StreamGroup) bool { groups = append(groups, g); return true }); err != nil {
		return nil, err
	}
	gs := []any{}
	for _, g := range groups {
		var pel []mutex.StreamPending
		err := r.StreamPendings(st, g.Name, mutex.StreamID{}, mutex.MaxStreamID, func(p mutex.StreamPending) bool {
			pel = append(pel, p)
			return true
		})
		if err != nil {
			return nil, err
		}
		pending := []any{}
		byConsumer := map[string][]any{}
		for i, p := range pel {
			if count == 0 || int64(i) < count {
				pending = append(pending, []any{idReply(p.ID), p.Consumer, p.DeliveryTime, p.Deliveries})
			}
			if l := byConsumer[string(p.Consumer)]; count == 0 || int64(len(l)) < count {
				byConsumer[string(p.Consumer)] = append(l, []any{idReply(p.ID), p.DeliveryTime, p.Deliveries})
			}
		}
		per := map[string]int64{}
		for _, p := range pel {
			per[string(p.Consumer)]++
		}
		cons := []any{}
		err = r.StreamConsumers(st, g.Name, func(c mutex.StreamConsumer) bool {
			cp := byConsumer[string(c.Name)]
			if cp == nil {
				cp = []any{}
			}
			cons = append(cons, Map{"name", c.Name, "seen-time", c.SeenTime, "pel-count", per[string(c.Name)], "pending", cp})
			return true
		})
		if err != nil {
			return nil, err
		}
		lag, err := lagReply(r, st, g)
		if err != nil {
			return nil, err
		}
		gs = append(gs, Map{"name", g.Name, "last-delivered-id", idReply(g.LastID), "entries-read", entriesReadReply(g),
			"lag", lag, "pel-count", int64(len(pel)), "pending", pending, "consumers", cons})
	}
	return append(out, "groups", gs), nil
}
