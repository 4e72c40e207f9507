package commands

import (
	"bytes"
	clist "container/list"
	"context"
	"encoding/binary"
	"hash/crc32"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mutexredis/mutexredis/glob"
	"github.com/mutexredis/mutexredis/mutex"
	"github.com/mutexredis/mutexredis/scripting"
)

// Scripting: EVAL, EVALSHA, their _RO forms, SCRIPT, FUNCTION, FCALL and
// FCALL_RO. A script is one op of the connection's keyspace: EVAL and FCALL
// are one write op (every redis.call runs inside the write phase, sees every
// write queued before the script, and the script's writes commit with its
// batch before the reply); EVAL_RO, FCALL_RO and no-writes scripts are one
// read op. redis.call runs any command of the table as EXEC does (cmd.Op
// then RunIn), so every command works from Lua.
//
// The script cache lives in memory (NOSCRIPT after a restart, as Redis);
// function libraries are kept in the reserved keyspace "#functions", which
// SELECT cannot name, and loaded at start.

// functionsKeyspace holds one key per function library: name → code.
const functionsKeyspace = "#functions"

// Scripts is a server's script cache and function libraries.
type Scripts struct {
	engine *scripting.Engine

	mu    sync.Mutex
	cache map[string]*cachedScript
	// evalLRU orders the scripts only EVAL brought (not SCRIPT LOAD),
	// most recent first: past maxEvalScripts the oldest is forgotten, as
	// Redis 7.4 does, so clients sending ever new scripts cannot grow the
	// cache without bound.
	evalLRU *clist.List // of SHAs
	libs    map[string]*scripting.Library
	funcs   map[string]*scripting.Function

	loadOnce sync.Once
	loadErr  error
	fmu      sync.Mutex // serializes changes to the libraries

	runMu   sync.Mutex
	running map[*running]struct{}
	active  atomic.Int32 // len(running), read without the lock
	// busyAfter is busy-reply-threshold: how long a script runs before
	// its keyspace answers BUSY.
	busyAfter func() time.Duration
	log       func(level int, msg string)
}

// running is a script being run, for SCRIPT KILL and FUNCTION STATS.
type running struct {
	cancel   context.CancelFunc
	wrote    atomic.Bool
	function bool
	keyspace string
	name     string
	args     [][]byte
	started  time.Time
}

// maxEvalScripts is how many EVAL-only scripts the cache keeps (Redis 7.4's
// number).
const maxEvalScripts = 500

type cachedScript struct {
	s   *scripting.Script
	lru *clist.Element // in evalLRU while only EVAL used the script
}

// NewScripts returns an empty cache; busyAfter gives busy-reply-threshold
// and log receives redis.log lines.
func NewScripts(busyAfter func() time.Duration, log func(level int, msg string)) *Scripts {
	return &Scripts{
		busyAfter: busyAfter,
		log:       log,
		engine:    scripting.NewEngine(scripting.Options{Version: Version, Log: log}),
		cache:     map[string]*cachedScript{},
		evalLRU:   clist.New(),
		libs:      map[string]*scripting.Library{},
		funcs:     map[string]*scripting.Function{},
		running:   map[*running]struct{}{},
	}
}

// allowedFromScripts are the commands without a keyspace op that scripts
// may call; the others act on the connection or the server.
var allowedFromScripts = map[string]bool{"ping": true, "echo": true, "publish": true, "time": true}

func init() {
	register(
		&Command{Name: "eval", Arity: -3, OpCtx: evalCmd(false, false)},
		&Command{Name: "evalsha", Arity: -3, OpCtx: evalCmd(false, true)},
		&Command{Name: "eval_ro", Arity: -3, Flags: Read, OpCtx: evalCmd(true, false)},
		&Command{Name: "evalsha_ro", Arity: -3, Flags: Read, OpCtx: evalCmd(true, true)},
		&Command{Name: "fcall", Arity: -3, OpCtx: fcallCmd(false)},
		&Command{Name: "fcall_ro", Arity: -3, Flags: Read, OpCtx: fcallCmd(true)},
		&Command{Name: "script", Arity: -2, Run: scriptCmd,
			Subcommands: []string{"load", "exists", "flush", "kill", "help"}},
		&Command{Name: "function", Arity: -2, Run: functionCmd,
			Subcommands: []string{"load", "delete", "list", "flush", "dump", "restore", "stats", "kill", "help"}},
	)
}

// splitKeys reads numkeys and splits the rest into KEYS and ARGV.
func splitKeys(args [][]byte) (keys, argv [][]byte, bad any) {
	n, ok := ParseInt(args[0])
	switch {
	case !ok:
		return nil, nil, ErrNotInteger
	case n < 0:
		return nil, nil, Error("ERR Number of keys can't be negative")
	case n > int64(len(args)-1):
		return nil, nil, Error("ERR Number of keys can't be greater than number of args")
	}
	return args[1 : 1+n], args[1+n:], nil
}

// script returns the cached script of body, compiling it on first use;
// load (SCRIPT LOAD) keeps it until SCRIPT FLUSH, else it is in the LRU of
// EVAL scripts.
func (sc *Scripts) script(body []byte, load bool) (*scripting.Script, any) {
	sha := scripting.SHA1Hex(body)
	if s := sc.cached(sha, load); s != nil {
		return s, nil
	}
	s, err := scripting.Compile(bytes.Clone(body))
	if err != nil {
		return nil, Error(err.Error())
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if e := sc.cache[sha]; e != nil { // compiled meanwhile by another client
		sc.touch(e, load)
		return e.s, nil
	}
	e := &cachedScript{s: s}
	if !load {
		e.lru = sc.evalLRU.PushFront(sha)
		if sc.evalLRU.Len() > maxEvalScripts {
			oldest := sc.evalLRU.Back()
			sc.evalLRU.Remove(oldest)
			delete(sc.cache, oldest.Value.(string))
		}
	}
	sc.cache[sha] = e
	return s, nil
}

// cached looks sha up (lower case), nil if absent.
func (sc *Scripts) cached(sha string, load bool) *scripting.Script {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	e := sc.cache[sha]
	if e == nil {
		return nil
	}
	sc.touch(e, load)
	return e.s
}

// touch records a use of e; SCRIPT LOAD takes it out of the LRU. Caller
// holds mu.
func (sc *Scripts) touch(e *cachedScript, load bool) {
	switch {
	case e.lru == nil:
	case load:
		sc.evalLRU.Remove(e.lru)
		e.lru = nil
	default:
		sc.evalLRU.MoveToFront(e.lru)
	}
}

const errROWriteFlag = Error("ERR Can not execute a script with write flag using *_ro command.")

func evalCmd(ro, bySHA bool) func(c *Ctx) (mutex.Op, any) {
	return func(c *Ctx) (mutex.Op, any) {
		sc := c.Server.Scripts()
		keys, argv, bad := splitKeys(c.Args[2:])
		if bad != nil {
			return mutex.Op{}, bad
		}
		var s *scripting.Script
		if bySHA {
			if s = sc.cached(strings.ToLower(string(c.Args[1])), false); s == nil {
				return mutex.Op{}, Error("NOSCRIPT No matching script. Please use EVAL.")
			}
		} else if s, bad = sc.script(c.Args[1], false); bad != nil {
			return mutex.Op{}, bad
		}
		noWrites := s.Shebang && s.Flags&scripting.FlagNoWrites != 0
		if ro && s.Shebang && !noWrites {
			return mutex.Op{}, errROWriteFlag
		}
		r := &running{name: s.SHA, args: c.Args}
		return sc.op(c, ro || noWrites, r, func(ctx context.Context, call scripting.Caller) any {
			return sc.engine.Run(ctx, s, keys, argv, call)
		}), nil
	}
}

func fcallCmd(ro bool) func(c *Ctx) (mutex.Op, any) {
	return func(c *Ctx) (mutex.Op, any) {
		sc := c.Server.Scripts()
		if err := sc.load(c.Server); err != nil {
			return mutex.Op{}, ErrorReply(err)
		}
		keys, argv, bad := splitKeys(c.Args[2:])
		if bad != nil {
			return mutex.Op{}, bad
		}
		sc.mu.Lock()
		f := sc.funcs[string(c.Args[1])]
		sc.mu.Unlock()
		if f == nil {
			return mutex.Op{}, Error("ERR Function not found")
		}
		noWrites := f.Flags&scripting.FlagNoWrites != 0
		if ro && !noWrites {
			return mutex.Op{}, errROWriteFlag
		}
		r := &running{name: f.Name, args: c.Args, function: true}
		return sc.op(c, ro || noWrites, r, func(ctx context.Context, call scripting.Caller) any {
			return sc.engine.Call(ctx, f, keys, argv, call)
		}), nil
	}
}

// op is a script as one op of the connection's keyspace: a read op when
// readOnly, else a write op. Inside EXEC it runs in the transaction's batch
// (RunIn), like any op.
func (sc *Scripts) op(c *Ctx, readOnly bool, r *running, run func(context.Context, scripting.Caller) any) mutex.Op {
	body := func(tx *mutex.Tx, rd *mutex.Reader) any {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		sc.runMu.Lock()
		r.cancel, r.started, r.keyspace = cancel, time.Now(), rd.Keyspace()
		sc.running[r] = struct{}{}
		sc.active.Add(1)
		sc.runMu.Unlock()
		defer func() {
			sc.runMu.Lock()
			delete(sc.running, r)
			sc.active.Add(-1)
			sc.runMu.Unlock()
		}()
		return toReply(run(ctx, func(args [][]byte) any { return scriptCall(c, tx, rd, readOnly, r, args) }))
	}
	if readOnly {
		return mutex.ReadOp(func(rd *mutex.Reader) (any, error) { return body(nil, rd), nil })
	}
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) { return body(tx, &tx.Reader), nil })
}

// scriptCall is redis.call: one command run inside the script's op.
func scriptCall(c *Ctx, tx *mutex.Tx, rd *mutex.Reader, readOnly bool, r *running, args [][]byte) any {
	cmd := Lookup(args[0])
	if cmd == nil {
		return scripting.Error("ERR Unknown Redis command called from script")
	}
	if !cmd.CheckArity(len(args)) {
		return scripting.Error("ERR Wrong number of args calling Redis command from script")
	}
	if cmd.OpCtx != nil || cmd.Run != nil && !allowedFromScripts[cmd.Name] {
		return scripting.Error("ERR This Redis command is not allowed from script")
	}
	if cmd.Flags&Write != 0 {
		if readOnly {
			return scripting.Error("ERR Write commands are not allowed from read-only scripts.")
		}
		r.wrote.Store(true)
	}
	if cmd.Run != nil {
		return fromReply(cmd.Run(&Ctx{Args: args, Client: c.Client, Server: c.Server}))
	}
	op, bad := cmd.Op(args)
	if bad != nil {
		return fromReply(bad)
	}
	var res any
	var err error
	switch {
	case tx != nil:
		res, err = op.RunIn(tx)
	case op.Kind() != mutex.KindRead: // AFTERWRITE: a read phase has no batch to wait for
		return scripting.Error("ERR This Redis command is not allowed from read-only scripts")
	default:
		res, err = op.RunRead(rd)
	}
	if err != nil {
		return fromReply(ErrorReply(err))
	}
	return fromReply(NonBlocking(res)) // a script never blocks (BLPOP answers at once), as in Redis
}

// fromReply converts a command's reply to the scripting package's shapes.
func fromReply(v any) any {
	switch v := v.(type) {
	case nil:
		return nil
	case []byte:
		return v
	case string:
		return []byte(v)
	case int64:
		return v
	case int:
		return int64(v)
	case uint64:
		return int64(v)
	case Status:
		return scripting.Status(v)
	case Error:
		return scripting.Error(v)
	case NullArray:
		return scripting.NullArray{}
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = fromReply(e)
		}
		return out
	case Replies:
		return fromReply([]any(v))
	case Pairs: // flat, as Redis gives a RESP2 script
		return fromReply([]any(v))
	case Map:
		return scripting.Map(fromReply([]any(v)).([]any))
	case Set:
		return scripting.Set(fromReply([]any(v)).([]any))
	case Double:
		return scripting.Double(v)
	case Bool:
		return scripting.Bool(v)
	case Verbatim:
		return []byte(v)
	case error:
		return scripting.Error("ERR " + v.Error())
	}
	return nil
}

// toReply converts a script's result to a reply.
func toReply(v any) any {
	switch v := v.(type) {
	case scripting.Status:
		return Status(v)
	case scripting.Error:
		return Error(v)
	case scripting.NullArray:
		return NullArray{}
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = toReply(e)
		}
		return out
	case scripting.Map:
		return Map(toReply([]any(v)).([]any))
	case scripting.Set:
		return Set(toReply([]any(v)).([]any))
	case scripting.Double:
		return Double(v)
	case scripting.Bool:
		return Bool(v)
	case scripting.BigNumber:
		return []byte(v)
	}
	return v // []byte, int64, nil
}

func scriptCmd(c *Ctx) any {
	sc := c.Server.Scripts()
	sub := strings.ToLower(string(c.Args[1]))
	switch sub {
	case "load":
		if len(c.Args) != 3 {
			return ArityError("script|load")
		}
		s, bad := sc.script(c.Args[2], true)
		if bad != nil {
			return bad
		}
		return []byte(s.SHA)
	case "exists":
		if len(c.Args) < 3 {
			return ArityError("script|exists")
		}
		out := make([]any, 0, len(c.Args)-2)
		sc.mu.Lock()
		for _, a := range c.Args[2:] {
			if sc.cache[strings.ToLower(string(a))] != nil {
				out = append(out, int64(1))
			} else {
				out = append(out, int64(0))
			}
		}
		sc.mu.Unlock()
		return out
	case "flush":
		if bad := flushMode(c.Args[2:], "SCRIPT"); bad != nil {
			return bad
		}
		sc.mu.Lock()
		sc.cache, sc.evalLRU = map[string]*cachedScript{}, clist.New()
		sc.mu.Unlock()
		return OK
	case "kill":
		if len(c.Args) != 2 {
			return ArityError("script|kill")
		}
		return sc.kill(false)
	}
	return []any{
		Status("SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"),
		Status("EXISTS <sha1> [<sha1> ...]"), Status("    Return information about the existence of the scripts in the script cache."),
		Status("FLUSH [ASYNC|SYNC]"), Status("    Flush the Lua scripts cache. Very dangerous on replicas."),
		Status("KILL"), Status("    Kill the currently executing Lua script."),
		Status("LOAD <script>"), Status("    Load a script into the scripts cache without executing it."),
		Status("HELP"), Status("    Print this help."),
	}
}

func flushMode(args [][]byte, cmd string) any {
	switch {
	case len(args) == 0:
		return nil
	case len(args) == 1 && (strings.EqualFold(string(args[0]), "async") || strings.EqualFold(string(args[0]), "sync")):
		return nil
	case cmd == "SCRIPT":
		return Error("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
	}
	return Error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
}

// Busy is the BUSY error when a script has been running in keyspace for
// longer than busy-reply-threshold, else nil. Commands on that keyspace get
// it instead of waiting behind the script; other keyspaces never do.
func (sc *Scripts) Busy(keyspace string) any {
	if sc.active.Load() == 0 {
		return nil
	}
	sc.runMu.Lock()
	defer sc.runMu.Unlock()
	limit := time.Duration(-1)
	for r := range sc.running {
		if r.keyspace != keyspace {
			continue
		}
		if limit < 0 {
			limit = 5 * time.Second
			if sc.busyAfter != nil {
				limit = sc.busyAfter()
			}
		}
		if time.Since(r.started) >= limit {
			if r.function {
				return Error("BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.")
			}
			return Error("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
		}
	}
	return nil
}

// kill stops the running script (function when function), if it has not
// written yet.
func (sc *Scripts) kill(function bool) any {
	sc.runMu.Lock()
	defer sc.runMu.Unlock()
	var target *running
	for r := range sc.running {
		if r.function == function {
			target = r
			break
		}
	}
	if target == nil {
		return Error("NOTBUSY No scripts in execution right now.")
	}
	if target.wrote.Load() {
		return Error("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.")
	}
	target.cancel()
	return OK
}

// StopForShutdown stops every running script that has not written yet, as
// SCRIPT KILL would, so that a shutdown does not wait for it. A script that
// wrote runs to its end: stopping it would commit half of it.
func (sc *Scripts) StopForShutdown() {
	sc.runMu.Lock()
	defer sc.runMu.Unlock()
	for r := range sc.running {
		if !r.wrote.Load() {
			r.cancel()
		}
	}
}

// Load reads the function libraries from the store; the server calls it at
// start. Later calls do nothing (FUNCTION and FCALL call it too).
func (sc *Scripts) Load(srv Server) error { return sc.load(srv) }

// load reads the function libraries from the store, once.
func (sc *Scripts) load(srv Server) error {
	sc.loadOnce.Do(func() {
		ks, err := srv.Keyspace(functionsKeyspace)
		if err != nil {
			sc.loadErr = err
			return
		}
		var codes [][]byte
		ops := []mutex.Op{mutex.ReadOp(func(r *mutex.Reader) (any, error) {
			var names [][]byte
			if err := r.Scan(nil, func(k []byte, _ mutex.Type) bool { names = append(names, bytes.Clone(k)); return true }); err != nil {
				return nil, err
			}
			for _, n := range names {
				v, ok, err := r.Get(n)
				if err != nil {
					return nil, err
				}
				if ok {
					codes = append(codes, v)
				}
			}
			return nil, nil
		})}
		if err := ks.Do(context.Background(), ops); err != nil {
			sc.loadErr = err
			return
		}
		if ops[0].Err != nil {
			sc.loadErr = ops[0].Err
			return
		}
		sc.mu.Lock()
		defer sc.mu.Unlock()
		for _, code := range codes {
			lib, err := sc.engine.LoadLibrary(code)
			if err != nil {
				// A library this version cannot load stays stored, unused.
				if sc.log != nil {
					sc.log(3, "function library not loaded: "+err.Error())
				}
				continue
			}
			sc.install(lib)
		}
	})
	return sc.loadErr
}

// install adds lib, replacing a library of the same name. Caller holds mu.
func (sc *Scripts) install(lib *scripting.Library) {
	sc.uninstall(lib.Name)
	sc.libs[lib.Name] = lib
	for _, f := range lib.Functions {
		sc.funcs[f.Name] = f
	}
}

// uninstall removes a library. Caller holds mu.
func (sc *Scripts) uninstall(name string) {
	if old := sc.libs[name]; old != nil {
		for _, f := range old.Functions {
			delete(sc.funcs, f.Name)
		}
		delete(sc.libs, name)
	}
}

// persist applies fn to the functions keyspace as one write op.
func persist(srv Server, fn func(tx *mutex.Tx) error) error {
	ks, err := srv.Keyspace(functionsKeyspace)
	if err != nil {
		return err
	}
	ops := []mutex.Op{mutex.WriteOp(func(tx *mutex.Tx) (any, error) { return nil, fn(tx) })}
	if err := ks.Do(context.Background(), ops); err != nil {
		return err
	}
	return ops[0].Err
}

// conflict checks that lib can be added: its name is free (or replace) and
// none of its functions belongs to another library. Caller holds mu.
func (sc *Scripts) conflict(lib *scripting.Library, replace bool) any {
	if sc.libs[lib.Name] != nil && !replace {
		return Error("ERR Library '" + lib.Name + "' already exists")
	}
	for _, f := range lib.Functions {
		if other := sc.funcs[f.Name]; other != nil && other.Library.Name != lib.Name {
			return Error("ERR Function " + f.Name + " already exists")
		}
	}
	return nil
}

func functionCmd(c *Ctx) any {
	sc := c.Server.Scripts()
	if err := sc.load(c.Server); err != nil {
		return ErrorReply(err)
	}
	args := c.Args
	switch strings.ToLower(string(args[1])) {
	case "load":
		return sc.functionLoad(c.Server, args[2:])
	case "delete":
		if len(args) != 3 {
			return ArityError("function|delete")
		}
		sc.fmu.Lock()
		defer sc.fmu.Unlock()
		name := string(args[2])
		sc.mu.Lock()
		_, ok := sc.libs[name]
		sc.mu.Unlock()
		if !ok {
			return Error("ERR Library not found")
		}
		if err := persist(c.Server, func(tx *mutex.Tx) error { _, err := tx.Delete(args[2]); return err }); err != nil {
			return ErrorReply(err)
		}
		sc.mu.Lock()
		sc.uninstall(name)
		sc.mu.Unlock()
		return OK
	case "flush":
		if bad := flushMode(args[2:], "FUNCTION"); bad != nil {
			return bad
		}
		sc.fmu.Lock()
		defer sc.fmu.Unlock()
		if err := persist(c.Server, func(tx *mutex.Tx) error { return tx.Clear() }); err != nil {
			return ErrorReply(err)
		}
		sc.mu.Lock()
		sc.libs, sc.funcs = map[string]*scripting.Library{}, map[string]*scripting.Function{}
		sc.mu.Unlock()
		return OK
	case "list":
		return sc.functionList(args[2:])
	case "dump":
		if len(args) != 2 {
			return ArityError("function|dump")
		}
		return sc.dump()
	case "restore":
		return sc.restore(c.Server, args[2:])
	case "stats":
		if len(args) != 2 {
			return ArityError("function|stats")
		}
		return sc.stats()
	case "kill":
		if len(args) != 2 {
			return ArityError("function|kill")
		}
		return sc.kill(true)
	}
	return []any{
		Status("FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"),
		Status("LOAD [REPLACE] <FUNCTION CODE>"), Status("DELETE <LIBRARY NAME>"),
		Status("LIST [LIBRARYNAME PATTERN] [WITHCODE]"), Status("FLUSH [ASYNC|SYNC]"),
		Status("DUMP"), Status("RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]"),
		Status("STATS"), Status("KILL"), Status("HELP"),
	}
}

func (sc *Scripts) functionLoad(srv Server, args [][]byte) any {
	replace := false
	if len(args) > 0 && strings.EqualFold(string(args[0]), "replace") {
		replace, args = true, args[1:]
	}
	if len(args) != 1 {
		return ArityError("function|load")
	}
	lib, err := sc.engine.LoadLibrary(bytes.Clone(args[0]))
	if err != nil {
		return Error(err.Error())
	}
	sc.fmu.Lock()
	defer sc.fmu.Unlock()
	sc.mu.Lock()
	bad := sc.conflict(lib, replace)
	sc.mu.Unlock()
	if bad != nil {
		return bad
	}
	if err := persist(srv, func(tx *mutex.Tx) error { return tx.Set([]byte(lib.Name), lib.Code) }); err != nil {
		return ErrorReply(err)
	}
	sc.mu.Lock()
	sc.install(lib)
	sc.mu.Unlock()
	return []byte(lib.Name)
}

func (sc *Scripts) sortedLibs() []*scripting.Library {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	libs := make([]*scripting.Library, 0, len(sc.libs))
	for _, l := range sc.libs {
		libs = append(libs, l)
	}
	slices.SortFunc(libs, func(a, b *scripting.Library) int { return strings.Compare(a.Name, b.Name) })
	return libs
}

func (sc *Scripts) functionList(args [][]byte) any {
	pattern, withCode := "", false
	for i := 0; i < len(args); i++ {
		switch strings.ToLower(string(args[i])) {
		case "withcode":
			withCode = true
		case "libraryname":
			if i+1 >= len(args) {
				return Error("ERR library name argument was not given")
			}
			i++
			pattern = string(args[i])
		default:
			return Error("ERR Unknown argument " + clip(args[i]))
		}
	}
	out := []any{}
	for _, lib := range sc.sortedLibs() {
		if pattern != "" && !glob.Match(pattern, lib.Name) {
			continue
		}
		fns := make([]any, 0, len(lib.Functions))
		for _, f := range lib.Functions {
			var desc any
			if f.Description != nil {
				desc = *f.Description
			}
			flags := Set{}
			for _, n := range f.Flags.Names() {
				flags = append(flags, Status(n))
			}
			fns = append(fns, Map{"name", f.Name, "description", desc, "flags", flags})
		}
		m := Map{"library_name", lib.Name, "engine", "LUA", "functions", fns}
		if withCode {
			m = append(m, "library_code", lib.Code)
		}
		out = append(out, m)
	}
	return out
}

// The FUNCTION DUMP payload: a magic, then each library's code as a
// uvarint length and the bytes, then a CRC32 (IEEE) of everything before.
// It is mutexredis's own format: Redis's payload is an RDB fragment.
var dumpMagic = []byte("MRFN\x01")

func (sc *Scripts) dump() any {
	b := bytes.Clone(dumpMagic)
	for _, lib := range sc.sortedLibs() {
		b = binary.AppendUvarint(b, uint64(len(lib.Code)))
		b = append(b, lib.Code...)
	}
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

func (sc *Scripts) restore(srv Server, args [][]byte) any {
	if len(args) < 1 || len(args) > 2 {
		return ArityError("function|restore")
	}
	policy := "append"
	if len(args) == 2 {
		policy = strings.ToLower(string(args[1]))
		if policy != "append" && policy != "replace" && policy != "flush" {
			return Error("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
		}
	}
	p := args[0]
	badPayload := Error("ERR DUMP payload version or checksum are wrong")
	if len(p) < len(dumpMagic)+4 || !bytes.HasPrefix(p, dumpMagic) ||
		crc32.ChecksumIEEE(p[:len(p)-4]) != binary.BigEndian.Uint32(p[len(p)-4:]) {
		return badPayload
	}
	var libs []*scripting.Library
	body := p[len(dumpMagic) : len(p)-4]
	for len(body) > 0 {
		n, k := binary.Uvarint(body)
		if k <= 0 || n > uint64(len(body)-k) {
			return badPayload
		}
		lib, err := sc.engine.LoadLibrary(bytes.Clone(body[k : k+int(n)]))
		if err != nil {
			return Error(err.Error())
		}
		libs = append(libs, lib)
		body = body[k+int(n):]
	}
	sc.fmu.Lock()
	defer sc.fmu.Unlock()
	sc.mu.Lock()
	if policy != "flush" {
		for _, lib := range libs {
			if bad := sc.conflict(lib, policy == "replace"); bad != nil {
				sc.mu.Unlock()
				if policy == "append" && sc.libs[lib.Name] != nil {
					return Error("ERR Library " + lib.Name + " already exists")
				}
				return bad
			}
		}
	}
	sc.mu.Unlock()
	err := persist(srv, func(tx *mutex.Tx) error {
		if policy == "flush" {
			if err := tx.Clear(); err != nil {
				return err
			}
		}
		for _, lib := range libs {
			if err := tx.Set([]byte(lib.Name), lib.Code); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return ErrorReply(err)
	}
	sc.mu.Lock()
	if policy == "flush" {
		sc.libs, sc.funcs = map[string]*scripting.Library{}, map[string]*scripting.Function{}
	}
	for _, lib := range libs {
		sc.install(lib)
	}
	sc.mu.Unlock()
	return OK
}

func (sc *Scripts) stats() any {
	var runningScript any
	sc.runMu.Lock()
	for r := range sc.running {
		if r.function {
			cmd := make([]any, len(r.args))
			for i, a := range r.args {
				cmd[i] = a
			}
			runningScript = Map{"name", r.name, "command", cmd, "duration_ms", time.Since(r.started).Milliseconds()}
			break
		}
	}
	sc.runMu.Unlock()
	sc.mu.Lock()
	nlibs, nfuncs := len(sc.libs), len(sc.funcs)
	sc.mu.Unlock()
	return Map{"running_script", runningScript, "engines",
		Map{"LUA", Map{"libraries_count", int64(nlibs), "functions_count", int64(nfuncs)}}}
}
