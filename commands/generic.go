package commands

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/mutexredis/mutexredis/mutex"
)

// The generic key commands (Redis's "generic" group): existence, type,
// deletion, renaming, copying and time to live, for keys of every type.
// A deadline is absolute (ms since the epoch) and is checked against the
// phase's one clock (mutex.Reader.Now); a deadline at or before now
// deletes the key at once, as Redis does.

func init() {
	key1 := func(c *Command) *Command { c.FirstKey, c.LastKey, c.Step = 1, 1, 1; return c }
	register(
		&Command{Name: "exists", Arity: -2, Flags: Read | Fast, FirstKey: 1, LastKey: -1, Step: 1, Op: existsOp},
		&Command{Name: "touch", Arity: -2, Flags: Read | Fast, FirstKey: 1, LastKey: -1, Step: 1, Op: existsOp},
		key1(&Command{Name: "type", Arity: 2, Flags: Read | Fast, Op: typeOp}),
		&Command{Name: "del", Arity: -2, Flags: Write, FirstKey: 1, LastKey: -1, Step: 1, Op: delOp},
		&Command{Name: "unlink", Arity: -2, Flags: Write | Fast, FirstKey: 1, LastKey: -1, Step: 1, Op: delOp},
		&Command{Name: "dbsize", Arity: 1, Flags: Read, Op: dbsizeOp},
		&Command{Name: "flushdb", Arity: -1, Flags: Write, Op: flushdbOp},
		&Command{Name: "randomkey", Arity: 1, Flags: Read, Op: randomkeyOp},
		&Command{Name: "rename", Arity: 3, Flags: Write, FirstKey: 1, LastKey: 2, Step: 1, Op: renameOp(false)},
		&Command{Name: "renamenx", Arity: 3, Flags: Write | Fast, FirstKey: 1, LastKey: 2, Step: 1, Op: renameOp(true)},
		&Command{Name: "copy", Arity: -3, Flags: Write, FirstKey: 1, LastKey: 2, Step: 1, Op: copyOp},
		key1(&Command{Name: "expire", Arity: -3, Flags: Write | Fast, Op: expireCmdOp("expire", 1000, false)}),
		key1(&Command{Name: "pexpire", Arity: -3, Flags: Write | Fast, Op: expireCmdOp("pexpire", 1, false)}),
		key1(&Command{Name: "expireat", Arity: -3, Flags: Write | Fast, Op: expireCmdOp("expireat", 1000, true)}),
		key1(&Command{Name: "pexpireat", Arity: -3, Flags: Write | Fast, Op: expireCmdOp("pexpireat", 1, true)}),
		key1(&Command{Name: "ttl", Arity: 2, Flags: Read | Fast, Op: ttlOp(false, false)}),
		key1(&Command{Name: "pttl", Arity: 2, Flags: Read | Fast, Op: ttlOp(true, false)}),
		key1(&Command{Name: "expiretime", Arity: 2, Flags: Read | Fast, Op: ttlOp(false, true)}),
		key1(&Command{Name: "pexpiretime", Arity: 2, Flags: Read | Fast, Op: ttlOp(true, true)}),
		key1(&Command{Name: "persist", Arity: 2, Flags: Write | Fast, Op: persistOp}),
		&Command{Name: "object", Arity: -2, Op: objectOp, // a container: its subcommands read key 2
			Subcommands: []string{"encoding", "freq", "idletime", "refcount", "help"}},
		&Command{Name: "move", Arity: 3, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: moveOp},
	)
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

func typeOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		t, err := r.TypeOf(key)
		return Status(t.String()), err
	}), nil
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

func dbsizeOp([][]byte) (mutex.Op, any) {
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) { return r.Count() }), nil
}

func flushdbOp(args [][]byte) (mutex.Op, any) {
	if len(args) > 2 || (len(args) == 2 && !isOption(args[1], "SYNC") && !isOption(args[1], "ASYNC")) {
		return mutex.Op{}, ErrSyntax
	}
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) { return OK, tx.Clear() }), nil
}

// randomkeyOp seeks to a random point of the key order and takes the
// first live key from there (wrapping around): every key can come out,
// though not with equal chances.
func randomkeyOp([][]byte) (mutex.Op, any) {
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		var found []byte
		take := func(key []byte, _ mutex.Type) bool { found = bytes.Clone(key); return false }
		start := make([]byte, 8)
		for i := range start {
			start[i] = byte(rand.UintN(256))
		}
		if err := r.Scan(start, take); err != nil || found != nil {
			return found, err
		}
		return found, r.Scan(nil, take)
	}), nil
}

// renameOp builds RENAME and RENAMENX (nx): one write op, so the key moves
// atomically with its time to live, with Redis's replies and
// rename_from/rename_to notifications. A collection moves element by
// element (O(N), where Redis's is O(1)).
func renameOp(nx bool) func([][]byte) (mutex.Op, any) {
	return func(args [][]byte) (mutex.Op, any) {
		src, dst := args[1], args[2]
		return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
			m, ok, err := tx.Lookup(src)
			if err != nil {
				return nil, err
			}
			if !ok {
				return ErrNoSuchKey, nil
			}
			if bytes.Equal(src, dst) {
				if nx {
					return int64(0), nil
				}
				return OK, nil
			}
			if nx {
				if exists, err := tx.Exists(dst); err != nil || exists {
					return int64(0), err
				}
			}
			if err := tx.CopyTo(tx, src, dst, &m); err != nil {
				return nil, err
			}
			if _, err := tx.Delete(src); err != nil {
				return nil, err
			}
			notify(tx, notifyGeneric, "rename_from", src)
			notify(tx, notifyGeneric, "rename_to", dst)
			if nx {
				return int64(1), nil
			}
			return OK, nil
		}), nil
	}
}

// copyOp is COPY source destination [DB db] [REPLACE]; DB may only name
// the connection's own keyspace (see moveOp).
func copyOp(args [][]byte) (mutex.Op, any) {
	src, dst := args[1], args[2]
	replace := false
	for i := 3; i < len(args); i++ {
		switch {
		case isOption(args[i], "REPLACE"):
			replace = true
		case isOption(args[i], "DB") && i+1 < len(args):
			return mutex.Op{}, Error("ERR COPY to another keyspace is not supported: each keyspace has its own mutex")
		default:
			return mutex.Op{}, ErrSyntax
		}
	}
	if bytes.Equal(src, dst) {
		return mutex.Op{}, Error("ERR source and destination objects are the same")
	}
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		m, ok, err := tx.Lookup(src)
		if err != nil || !ok {
			return int64(0), err
		}
		if exists, err := tx.Exists(dst); err != nil || (exists && !replace) {
			return int64(0), err
		}
		if err := tx.CopyTo(tx, src, dst, &m); err != nil {
			return nil, err
		}
		notify(tx, notifyGeneric, "copy_to", dst)
		return int64(1), nil
	}), nil
}

func moveOp(args [][]byte) (mutex.Op, any) {
	return mutex.Op{}, Error("ERR MOVE is not supported: each keyspace has its own mutex, and a move would not be atomic")
}

// expiryKind is which expiry option a command was given.
type expiryKind uint8

const (
	expiryNone    expiryKind = iota
	expiryIn                 // EX / PX: ms from now
	expiryAt                 // EXAT / PXAT: ms since the epoch
	expiryKeepTTL            // KEEPTTL: the key's current deadline
	expiryPersist            // PERSIST (GETEX): no deadline
)

// expiry is a parsed EX | PX | EXAT | PXAT | KEEPTTL | PERSIST option.
type expiry struct {
	kind expiryKind
	ms   int64
}

// expiryOptions says which of KEEPTTL (SET) and PERSIST (GETEX) a command
// takes besides EX, PX, EXAT and PXAT.
type expiryOptions uint8

const (
	expirySet expiryOptions = iota
	expiryGetex
)

func isExpiryOption(a []byte) bool {
	for _, o := range []string{"EX", "PX", "EXAT", "PXAT", "KEEPTTL"} {
		if isOption(a, o) {
			return true
		}
	}
	return false
}

// parse reads the option at args[i] (and its argument) for command name
// and returns how many arguments after args[i] it used.
func (e *expiry) parse(name string, args [][]byte, i int, opts expiryOptions) (int, any) {
	if e.kind != expiryNone {
		return 0, ErrSyntax
	}
	a := args[i]
	switch {
	case isOption(a, "KEEPTTL") && opts == expirySet:
		e.kind = expiryKeepTTL
		return 0, nil
	case isOption(a, "PERSIST") && opts == expiryGetex:
		e.kind = expiryPersist
		return 0, nil
	case isOption(a, "KEEPTTL"), isOption(a, "PERSIST"), i+1 >= len(args):
		return 0, ErrSyntax
	}
	unit, kind := int64(1), expiryIn
	switch {
	case isOption(a, "EX"):
		unit = 1000
	case isOption(a, "EXAT"):
		unit, kind = 1000, expiryAt
	case isOption(a, "PXAT"):
		kind = expiryAt
	}
	parsed, bad := parseTTLArg(name, args[i+1], unit)
	if bad != nil {
		return 0, bad
	}
	e.kind, e.ms = kind, parsed.ms
	return 1, nil
}

// parseTTLArg parses a positive time in unit ms (1000 for seconds), as
// Redis's getExpireMillisecondsOrReply: an expiry of zero or less, or one
// that overflows, is "invalid expire time in '<name>' command".
func parseTTLArg(name string, arg []byte, unit int64) (expiry, any) {
	n, ok := ParseInt(arg)
	if !ok {
		return expiry{}, ErrNotInteger
	}
	if n <= 0 || n > math.MaxInt64/unit {
		return expiry{}, invalidExpireTime(name)
	}
	e := expiry{kind: expiryIn, ms: n * unit}
	if e.ms > math.MaxInt64-time.Now().UnixMilli() {
		return expiry{}, invalidExpireTime(name)
	}
	return e, nil
}

func invalidExpireTime(name string) Error {
	return Error("ERR invalid expire time in '" + name + "' command")
}

// deadline is the absolute deadline the option sets at time now (0 for
// none); keep reports KEEPTTL.
func (e expiry) deadline(now int64) (deadline int64, keep bool) {
	switch e.kind {
	case expiryIn:
		return now + e.ms, false
	case expiryAt:
		return e.ms, false
	case expiryKeepTTL:
		return 0, true
	}
	return 0, false
}

// applyDeadline gives an existing key a deadline, or deletes it when the
// deadline is not in the future (Redis's checkAlreadyExpired), with
// Redis's "expire" or "del" notification.
func applyDeadline(tx *mutex.Tx, key []byte, deadline int64) (bool, error) {
	if deadline <= tx.Now() {
		return delKey(tx, key)
	}
	ok, err := tx.SetDeadline(key, deadline)
	if ok {
		notify(tx, notifyGeneric, "expire", key)
	}
	return ok, err
}

// persistKey removes key's deadline; false if it had none or is missing.
func persistKey(tx *mutex.Tx, key []byte) (bool, error) {
	m, ok, err := tx.Lookup(key)
	if !ok || err != nil || m.Deadline == 0 {
		return false, err
	}
	if _, err := tx.SetDeadline(key, 0); err != nil {
		return false, err
	}
	notify(tx, notifyGeneric, "persist", key)
	return true, nil
}

// expireFlags are EXPIRE's NX | XX | GT | LT.
type expireFlags struct{ nx, xx, gt, lt bool }

func parseExpireFlags(args [][]byte) (expireFlags, any) {
	var f expireFlags
	for _, a := range args {
		switch {
		case isOption(a, "NX"):
			f.nx = true
		case isOption(a, "XX"):
			f.xx = true
		case isOption(a, "GT"):
			f.gt = true
		case isOption(a, "LT"):
			f.lt = true
		default:
			return f, Error("ERR Unsupported option " + clip(a))
		}
	}
	if f.nx && (f.xx || f.gt || f.lt) {
		return f, Error("ERR NX and XX, GT or LT options at the same time are not compatible")
	}
	if f.gt && f.lt {
		return f, Error("ERR GT and LT options at the same time are not compatible")
	}
	return f, nil
}

// allows reports whether the flags let a key with deadline current (0:
// none, an infinite TTL for GT and LT) take the deadline when.
func (f expireFlags) allows(current, when int64) bool {
	switch {
	case f.nx && current != 0, f.xx && current == 0:
		return false
	case f.gt && (current == 0 || when <= current):
		return false
	case f.lt && current != 0 && when >= current:
		return false
	}
	return true
}

// expireCmdOp builds EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT: unit is 1000
// for seconds, absolute for the *AT forms.
func expireCmdOp(name string, unit int64, absolute bool) func([][]byte) (mutex.Op, any) {
	return func(args [][]byte) (mutex.Op, any) {
		key := args[1]
		flags, bad := parseExpireFlags(args[3:])
		if bad != nil {
			return mutex.Op{}, bad
		}
		when, ok := ParseInt(args[2])
		if !ok {
			return mutex.Op{}, ErrNotInteger
		}
		if when > math.MaxInt64/unit || when < math.MinInt64/unit {
			return mutex.Op{}, invalidExpireTime(name)
		}
		when *= unit
		return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
			deadline := when
			if !absolute {
				if when > math.MaxInt64-tx.Now() {
					return invalidExpireTime(name), nil
				}
				deadline += tx.Now()
			}
			m, ok, err := tx.Lookup(key)
			if !ok || err != nil {
				return int64(0), err
			}
			if !flags.allows(m.Deadline, deadline) {
				return int64(0), nil
			}
			if _, err := applyDeadline(tx, key, deadline); err != nil {
				return nil, err
			}
			return int64(1), nil
		}), nil
	}
}

// ttlOp builds TTL, PTTL (ms), EXPIRETIME and PEXPIRETIME (abs): -2 for a
// missing key, -1 for one without a deadline.
func ttlOp(ms, abs bool) func([][]byte) (mutex.Op, any) {
	return func(args [][]byte) (mutex.Op, any) {
		key := args[1]
		return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
			m, ok, err := r.Lookup(key)
			switch {
			case err != nil:
				return nil, err
			case !ok:
				return int64(-2), nil
			case m.Deadline == 0:
				return int64(-1), nil
			}
			t := m.Deadline
			if !abs {
				t = max(t-r.Now(), 0)
			}
			if !ms {
				t = (t + 500) / 1000
			}
			return t, nil
		}), nil
	}
}

func persistOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		ok, err := persistKey(tx, key)
		if ok {
			return int64(1), err
		}
		return int64(0), err
	}), nil
}

// objectOp is OBJECT ENCODING | FREQ | IDLETIME | REFCOUNT | HELP. The
// encoding is what Redis 7.0 would report for an equivalent value, so that
// tools printing it are not confused; values here are all stored the same
// way, in Pebble.
func objectOp(args [][]byte) (mutex.Op, any) {
	sub := string(bytes.ToLower(args[1]))
	if sub == "help" {
		return mutex.ReadOp(func(*mutex.Reader) (any, error) { return objectHelp, nil }), nil
	}
	if len(args) != 3 {
		return mutex.Op{}, Error("ERR unknown subcommand or wrong number of arguments for '" + clip(args[1]) + "'. Try OBJECT HELP.")
	}
	key := args[2]
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		m, ok, err := r.Lookup(key)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, nil
		}
		switch sub {
		case "encoding":
			return encodingName(r, key, &m)
		case "freq":
			return Error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."), nil
		case "idletime":
			return int64(0), nil
		}
		return int64(1), nil // refcount
	}), nil
}

var objectHelp = []any{
	Status("OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"),
	Status("ENCODING <key>"),
	Status("    Return the kind of internal representation used in order to store the value"),
	Status("    associated with a <key>."),
	Status("FREQ <key>"),
	Status("    Return the access frequency index of the <key>. The returned integer is"),
	Status("    proportional to the logarithm of the recent access frequency of the key."),
	Status("IDLETIME <key>"),
	Status("    Return the idle time of the <key>, that is the approximated number of"),
	Status("    seconds elapsed since the last access to the key."),
	Status("REFCOUNT <key>"),
	Status("    Return the number of references of the value associated with the specified"),
	Status("    <key>."),
	Status("HELP"),
	Status("    Print this help."),
}

// encodingName is Redis 7.0's encoding for a value like key's (m), with
// its default thresholds: a small set of integers is an intset, a small
// hash of short fields and values a listpack.
func encodingName(r *mutex.Reader, key []byte, m *mutex.Meta) (string, error) {
	// small reports whether the collection's elements all pass ok (it is
	// only walked when it has at most n of them).
	small := func(n int64, ok func(sub, val []byte) bool) (bool, error) {
		if m.Count > n {
			return false, nil
		}
		all := true
		err := r.Elems(key, m, mutex.ElemRange{}, func(sub, val []byte) bool { all = ok(sub, val); return all })
		return all, err
	}
	switch m.Type {
	case mutex.TypeString:
		if _, err := strconv.ParseInt(string(m.Value), 10, 64); err == nil && len(m.Value) <= 20 {
			return "int", nil
		}
		if len(m.Value) <= 44 {
			return "embstr", nil
		}
		return "raw", nil
	case mutex.TypeList:
		return "quicklist", nil
	case mutex.TypeSet:
		ints, err := small(512, func(sub, _ []byte) bool { _, ok := ParseInt(sub); return ok })
		if ints {
			return "intset", err
		}
		return "hashtable", err
	case mutex.TypeZSet:
		if m.Count <= 128 {
			return "listpack", nil
		}
		return "skiplist", nil
	case mutex.TypeHash:
		short, err := small(128, func(sub, val []byte) bool { return len(sub) <= 64 && len(val) <= 64 })
		if short {
			return "listpack", err
		}
		return "hashtable", err
	case mutex.TypeStream:
		return "stream", nil
	}
	return "unknown", nil
}
