package scripting

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// Caller runs one command for redis.call/redis.pcall and returns its reply
// (an Error reply for a command that failed or was refused).
type Caller func(args [][]byte) any

// Options configure an Engine.
type Options struct {
	// Version is REDIS_VERSION ("7.2.0").
	Version string
	// Log receives redis.log messages: level is 0 (debug) … 3 (warning).
	Log func(level int, msg string)
}

// Engine runs scripts and functions. It keeps a pool of prepared VMs.
type Engine struct {
	opts Options
	mu   sync.Mutex
	pool []*vm
}

const maxPooled = 16

// Limits of one VM: Redis's Lua has LUAI_MAXCCALLS 200 and a C stack; these
// bound gopher-lua's call stack and value registry the same way.
const (
	callStackSize   = 256
	registrySize    = 1024 * 4
	registryMaxSize = 1024 * 256
)

// NewEngine returns an engine.
func NewEngine(opts Options) *Engine {
	if opts.Version == "" {
		opts.Version = "7.2.0"
	}
	return &Engine{opts: opts}
}

// Flags are a script's or function's shebang/registration flags.
type Flags uint8

const (
	FlagNoWrites Flags = 1 << iota
	FlagAllowOOM
	FlagAllowStale
	FlagNoCluster
	FlagAllowCrossSlot
)

var flagNames = []struct {
	name string
	f    Flags
}{
	{"no-writes", FlagNoWrites}, {"allow-oom", FlagAllowOOM}, {"allow-stale", FlagAllowStale},
	{"no-cluster", FlagNoCluster}, {"allow-cross-slot-keys", FlagAllowCrossSlot},
}

// Names lists the flags' Redis names.
func (f Flags) Names() []string {
	var out []string
	for _, n := range flagNames {
		if f&n.f != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

func flagByName(name string) (Flags, bool) {
	for _, n := range flagNames {
		if n.name == name {
			return n.f, true
		}
	}
	return 0, false
}

// Script is a compiled EVAL script.
type Script struct {
	SHA  string // lower-case hex SHA1 of Body
	Body []byte
	// Shebang is true when the script starts with "#!lua"; Flags then holds
	// its flags. A script without one may write (Redis's compatibility mode).
	Shebang bool
	Flags   Flags
	proto   *lua.FunctionProto
}

// SHA1Hex is the lower-case hex SHA1 of b, as redis.sha1hex and SCRIPT LOAD.
func SHA1Hex(b []byte) string {
	sum := sha1.Sum(b)
	return hex.EncodeToString(sum[:])
}

// Compile compiles an EVAL script. Its error is the reply Redis gives.
func Compile(body []byte) (*Script, error) {
	s := &Script{SHA: SHA1Hex(body), Body: body}
	src := string(body)
	if strings.HasPrefix(src, "#!") {
		line, rest, _ := strings.Cut(src, "\n")
		engine, flags, err := parseShebang(line)
		if err != nil {
			return nil, err
		}
		if engine != "lua" {
			return nil, Error("ERR Unexpected engine in script shebang: " + line)
		}
		s.Shebang = true
		for _, kv := range flags {
			k, v, _ := strings.Cut(kv, "=")
			if k != "flags" {
				return nil, Error("ERR Unknown lua shebang option: " + kv)
			}
			for _, name := range strings.Split(v, ",") {
				if name == "" {
					continue
				}
				f, ok := flagByName(name)
				if !ok {
					return nil, Error("ERR Unexpected flag in script shebang: " + name)
				}
				s.Flags |= f
			}
		}
		src = "\n" + rest // keep line numbers
	}
	proto, err := compileChunk(src, "user_script")
	if err != nil {
		return nil, Error("ERR Error compiling script (new function): " + err.Error())
	}
	s.proto = proto
	return s, nil
}

// parseShebang splits "#!lua name=x flags=y" into the engine and options.
func parseShebang(line string) (engine string, opts []string, err error) {
	fields := strings.Fields(strings.TrimPrefix(line, "#!"))
	if len(fields) == 0 {
		return "", nil, Error("ERR Invalid engine in script shebang")
	}
	return fields[0], fields[1:], nil
}

// compileChunk compiles Lua source, giving syntax errors in Lua's own
// "chunk:line: message near 'token'" form.
func compileChunk(src, name string) (*lua.FunctionProto, error) {
	chunk, err := parse.Parse(strings.NewReader(src), name)
	if err != nil {
		var pe *parse.Error
		if errors.As(err, &pe) {
			tok, line := pe.Token, pe.Pos.Line
			if tok == "EOF" || tok == "" || line < 1 {
				tok, line = "<eof>", strings.Count(src, "\n")+1
			}
			msg := pe.Message
			if msg == "syntax error" {
				msg = "unexpected symbol"
			}
			return nil, fmt.Errorf("%s:%d: %s near '%s'", name, line, msg, tok)
		}
		return nil, fmt.Errorf("%s: %s", name, oneLine(err.Error()))
	}
	proto, err := lua.Compile(chunk, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", name, oneLine(err.Error()))
	}
	// A Lua 5.1 main chunk is vararg without the compatibility "arg" table
	// (gopher-lua would build one on every run).
	proto.IsVarArg &^= lua.VarArgNeedsArg
	return proto, nil
}

// Run runs script with KEYS and ARGV, calling caller for redis.call. Its
// result is the script's reply, an Error when the script failed. ctx stops
// the script at its next instruction once done (SCRIPT KILL); the reply is
// then Redis's "script killed" error.
func (e *Engine) Run(ctx context.Context, s *Script, keys, argv [][]byte, caller Caller) any {
	m := e.get()
	defer e.put(m)
	m.G.RawSetString("KEYS", bytesTable(m.L, keys))
	m.G.RawSetString("ARGV", bytesTable(m.L, argv))
	fn := m.L.NewFunctionFromProto(s.proto)
	fn.Env = m.env
	return m.run(ctx, fn, nil, caller, s.SHA, "user_script")
}

func bytesTable(L *lua.LState, list [][]byte) *lua.LTable {
	t := L.CreateTable(len(list), 0)
	for i, b := range list {
		t.RawSetInt(i+1, lua.LString(b))
	}
	return t
}

// ErrKilled is the reply of a script stopped by SCRIPT KILL.
const errKilledText = "ERR Script killed by user with SCRIPT KILL..."

func (e *Engine) get() *vm {
	e.mu.Lock()
	if n := len(e.pool); n > 0 {
		m := e.pool[n-1]
		e.pool = e.pool[:n-1]
		e.mu.Unlock()
		return m
	}
	e.mu.Unlock()
	return newVM(e.opts)
}

func (e *Engine) put(m *vm) {
	m.caller = nil
	m.G.RawSetString("KEYS", lua.LNil)
	m.G.RawSetString("ARGV", lua.LNil)
	if m.tampered() {
		m.L.Close()
		return
	}
	m.L.SetTop(0)
	e.mu.Lock()
	if len(e.pool) < maxPooled {
		e.pool = append(e.pool, m)
		m = nil
	}
	e.mu.Unlock()
	if m != nil {
		m.L.Close()
	}
}
