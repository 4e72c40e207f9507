package scripting

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// maxStringLen is Redis's proto-max-bulk-len default: the largest string
// string.rep builds.
const maxStringLen = 512 << 20

// vm is one prepared Lua state.
type vm struct {
	L       *lua.LState
	G       *lua.LTable // the real globals (libraries, KEYS, ARGV)
	env     *lua.LTable // what scripts see as their globals: a read-only proxy of G
	redis   *lua.LTable // the runtime redis table (behind its proxy)
	guards  []*lua.LTable
	caller  Caller
	resp    int
	onError *lua.LFunction // errorInfo
	// libs caches the functions of the libraries loaded in this VM.
	libs map[*Library]map[string]*lua.LFunction
}

func newVM(opts Options) *vm {
	L := lua.NewState(lua.Options{
		SkipOpenLibs:    true,
		CallStackSize:   callStackSize,
		RegistrySize:    registrySize,
		RegistryMaxSize: registryMaxSize,
	})
	m := &vm{L: L, resp: 2, onError: L.NewFunction(errorInfo)}
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath},
		{lua.CoroutineLibName, lua.OpenCoroutine},
	} {
		L.Push(L.NewFunction(lib.fn))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	G := L.G.Global
	m.G = G
	// string.rep cannot make a string larger than a bulk reply may be (a
	// one-line script would otherwise allocate without bound).
	strlib := G.RawGetString("string").(*lua.LTable)
	strlib.RawSetString("rep", L.NewFunction(func(L *lua.LState) int {
		str, n := L.CheckString(1), L.CheckInt64(2)
		if n <= 0 || len(str) == 0 {
			L.Push(lua.LString(""))
			return 1
		}
		if n > maxStringLen/int64(len(str)) {
			L.RaiseError("resulting string too large")
		}
		L.Push(lua.LString(strings.Repeat(str, int(n))))
		return 1
	}))
	for _, name := range []string{"dofile", "loadfile", "require", "module", "print", "_printregs", "newproxy", "package",
		"getfenv", "setfenv", "_GOPHER_LUA_VERSION"} {
		G.RawSetString(name, lua.LNil)
	}
	// tostring and tonumber of Lua 5.1 (numbers as %.14g; strtod's syntax,
	// hex included), where gopher-lua's differ.
	baseToString := G.RawGetString("tostring").(*lua.LFunction)
	G.RawSetString("tostring", L.NewFunction(func(L *lua.LState) int {
		if n, ok := L.Get(1).(lua.LNumber); ok && L.GetTop() >= 1 {
			L.Push(lua.LString(formatNumber(float64(n))))
			return 1
		}
		L.Push(baseToString)
		L.Insert(baseToString, 1)
		L.Pop(1)
		L.Call(L.GetTop()-1, 1)
		return 1
	}))
	G.RawSetString("tonumber", L.NewFunction(luaToNumber))
	G.RawSetString("pcall", L.NewFunction(pcall))
	G.RawSetString("error", L.NewFunction(luaError))
	// collectgarbage exists (scripts call it) but leaves Go's GC alone.
	zero := L.NewFunction(func(L *lua.LState) int { L.Push(lua.LNumber(0)); return 1 })
	G.RawSetString("collectgarbage", zero)
	G.RawSetString("gcinfo", zero)
	G.RawSetString("cjson", openCjson(L))
	G.RawSetString("cmsgpack", openCmsgpack(L))
	G.RawSetString("bit", openBit(L))
	G.RawSetString("struct", openStruct(L))
	m.redis = m.redisTable(opts, false)
	G.RawSetString("redis", m.redis)

	// Every library table becomes a read-only proxy, then the globals.
	for _, name := range []string{"string", "math", "table", "coroutine", "cjson", "cmsgpack", "bit", "struct", "redis"} {
		G.RawSetString(name, m.readOnly(G.RawGetString(name).(*lua.LTable), false))
	}
	// String methods ("x"):upper() go through the read-only string table.
	if mt, ok := L.GetMetatable(lua.LString("")).(*lua.LTable); ok {
		mt.RawSetString("__index", G.RawGetString("string"))
		mt.RawSetString("__metatable", lua.LFalse)
	}
	G.RawSetString("_G", lua.LNil)
	m.env = m.readOnly(G, true)
	G.RawSetString("_G", m.env)
	return m
}

// readOnly returns an empty proxy whose reads go to t and whose writes are
// refused; strict also refuses reads of missing keys, as Redis does for
// globals.
func (m *vm) readOnly(t *lua.LTable, strict bool) *lua.LTable {
	L := m.L
	proxy := L.NewTable()
	mt := L.NewTable()
	index := lua.LValue(t)
	if strict {
		// Reads go to t (no Go call on the fast path); t's own metatable
		// turns a miss into Redis's error.
		tmt := L.NewTable()
		tmt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
			L.RaiseError("Script attempted to access nonexistent global variable '%s'", lua.LVAsString(L.Get(2)))
			return 0
		}))
		tmt.RawSetString("__metatable", lua.LFalse)
		L.SetMetatable(t, tmt)
	}
	mt.RawSetString("__index", index)
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("Attempt to modify a readonly table")
		return 0
	}))
	mt.RawSetString("__metatable", lua.LFalse)
	L.SetMetatable(proxy, mt)
	m.guards = append(m.guards, proxy)
	return proxy
}

// tampered reports whether a script wrote into a read-only proxy with
// rawset: such a VM is not reused.
func (m *vm) tampered() bool {
	for _, g := range m.guards {
		if k, _ := g.Next(lua.LNil); k != lua.LNil {
			return true
		}
	}
	return false
}

// redisTable builds the redis library; loading is the restricted one
// FUNCTION LOAD runs library code with.
func (m *vm) redisTable(opts Options, loading bool) *lua.LTable {
	L := m.L
	t := L.NewTable()
	set := func(name string, fn lua.LGFunction) { t.RawSetString(name, L.NewFunction(fn)) }
	if !loading {
		set("call", func(L *lua.LState) int { return m.call(L, true) })
		set("pcall", func(L *lua.LState) int { return m.call(L, false) })
		set("setresp", func(L *lua.LState) int {
			if L.GetTop() != 1 {
				raise(L, "redis.setresp() requires one argument.")
			}
			n := L.CheckInt(1)
			if n != 2 && n != 3 {
				raise(L, "RESP version must be 2 or 3.")
			}
			m.resp = n
			return 0
		})
		set("set_repl", func(L *lua.LState) int {
			if L.GetTop() != 1 {
				raise(L, "redis.set_repl() requires one argument.")
			}
			if n := L.CheckInt(1); n&^3 != 0 {
				raise(L, "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.")
			}
			return 0
		})
		set("replicate_commands", func(L *lua.LState) int { L.Push(lua.LTrue); return 1 })
		set("breakpoint", func(L *lua.LState) int { L.Push(lua.LFalse); return 1 })
		set("debug", func(L *lua.LState) int { return 0 })
		set("acl_check_cmd", func(L *lua.LState) int {
			if L.GetTop() == 0 {
				raise(L, "Please specify at least one argument for this redis lib call")
			}
			L.Push(lua.LTrue)
			return 1
		})
	}
	set("error_reply", func(L *lua.LState) int {
		if L.GetTop() != 1 || L.Get(1).Type() != lua.LTString {
			raise(L, "wrong number or type of arguments")
		}
		r := L.CreateTable(0, 1)
		r.RawSetString("err", lua.LString(errorText(string(L.Get(1).(lua.LString)))))
		L.Push(r)
		return 1
	})
	set("status_reply", func(L *lua.LState) int {
		if L.GetTop() != 1 || L.Get(1).Type() != lua.LTString {
			raise(L, "wrong number or type of arguments")
		}
		r := L.CreateTable(0, 1)
		r.RawSetString("ok", L.Get(1))
		L.Push(r)
		return 1
	})
	set("sha1hex", func(L *lua.LState) int {
		if L.GetTop() != 1 {
			raise(L, "wrong number of arguments")
		}
		L.Push(lua.LString(SHA1Hex([]byte(L.ToString(1)))))
		return 1
	})
	set("log", func(L *lua.LState) int {
		n := L.GetTop()
		if n < 2 {
			raise(L, "redis.log() requires two arguments or more.")
		}
		lv, ok := L.Get(1).(lua.LNumber)
		if !ok {
			raise(L, "First argument must be a number (log level).")
		}
		if lv < 0 || lv > 3 {
			raise(L, "Invalid debug level.")
		}
		parts := make([]string, 0, n-1)
		for i := 2; i <= n; i++ {
			parts = append(parts, L.ToString(i))
		}
		if opts.Log != nil {
			opts.Log(int(lv), strings.Join(parts, " "))
		}
		return 0
	})
	for name, v := range map[string]int{
		"LOG_DEBUG": 0, "LOG_VERBOSE": 1, "LOG_NOTICE": 2, "LOG_WARNING": 3,
		"REPL_NONE": 0, "REPL_AOF": 1, "REPL_SLAVE": 2, "REPL_REPLICA": 2, "REPL_ALL": 3,
	} {
		t.RawSetString(name, lua.LNumber(v))
	}
	t.RawSetString("REDIS_VERSION", lua.LString(opts.Version))
	t.RawSetString("REDIS_VERSION_NUM", lua.LNumber(versionNum(opts.Version)))
	return t
}

// raise raises a Redis error without a Lua position, as Redis's
// luaPushError and lua_error do.
func raise(L *lua.LState, msg string) {
	t := L.CreateTable(0, 1)
	t.RawSetString("err", lua.LString("ERR "+msg))
	L.Error(t, 0)
}

// errorText is Redis's luaPushErrorBuff: "-CODE msg" and "CODE msg" keep
// their code, a message without a space gets ERR; trailing newlines go.
func errorText(s string) string {
	s = strings.TrimPrefix(s, "-")
	if !strings.Contains(s, " ") {
		s = "ERR " + s
	}
	return strings.TrimRight(s, "\r\n")
}

// pcall is Redis 7's pcall: an error table with an err field is caught as
// its err string.
func pcall(L *lua.LState) int {
	n := L.GetTop()
	if n == 0 {
		L.ArgError(1, "value expected")
	}
	if err := L.PCall(n-1, lua.MultRet, nil); err != nil {
		obj := lua.LValue(lua.LString(err.Error()))
		if ae, ok := err.(*lua.ApiError); ok {
			obj = ae.Object
		}
		if t, ok := obj.(*lua.LTable); ok {
			if e, ok := t.RawGetString("err").(lua.LString); ok {
				obj = e
			}
		}
		L.SetTop(0)
		L.Push(lua.LFalse)
		L.Push(obj)
		return 2
	}
	L.Insert(lua.LTrue, 1)
	return L.GetTop()
}

// luaError is Lua's error(), which gopher-lua refuses without an argument.
func luaError(L *lua.LState) int {
	v, level := L.Get(1), L.OptInt(2, 1)
	if msg, ok := v.(lua.LString); ok && level > 0 {
		// Lua's position: the function at that level, none for a Go one.
		if dbg, ok := L.GetStack(level); ok {
			if _, err := L.GetInfo("Sl", dbg, lua.LNil); err == nil && dbg.What != "G" && dbg.CurrentLine >= 0 {
				msg = lua.LString(fmt.Sprintf("%s:%d: %s", dbg.Source, dbg.CurrentLine, msg))
			}
		}
		v = msg
	}
	L.Error(v, 0)
	return 0
}

func versionNum(v string) int {
	var a, b, c int
	fmt.Sscanf(v, "%d.%d.%d", &a, &b, &c)
	return a<<16 | b<<8 | c
}

// call is redis.call (raise) and redis.pcall.
func (m *vm) call(L *lua.LState, raise bool) int {
	n := L.GetTop()
	if n == 0 {
		return m.callError(L, raise, "ERR Please specify at least one argument for this redis lib call")
	}
	args := make([][]byte, n)
	for i := 1; i <= n; i++ {
		switch v := L.Get(i).(type) {
		case lua.LString:
			args[i-1] = []byte(string(v))
		case lua.LNumber:
			args[i-1] = strconv.AppendFloat(nil, float64(v), 'g', 17, 64) // Redis's %.17g
		default:
			return m.callError(L, raise, "ERR Lua redis lib command arguments must be strings or integers")
		}
	}
	if m.caller == nil {
		return m.callError(L, raise, "ERR redis.call is not available here")
	}
	reply := m.caller(args)
	if e, ok := reply.(Error); ok {
		return m.callError(L, raise, string(e))
	}
	L.Push(toLua(L, reply, m.resp))
	return 1
}

func (m *vm) callError(L *lua.LState, raise bool, msg string) int {
	t := L.CreateTable(0, 1)
	t.RawSetString("err", lua.LString(msg))
	if raise {
		L.Error(t, 0)
		return 0
	}
	L.Push(t)
	return 1
}

// errorInfo is the error handler of a run: as Redis's __redis__err__handler
// it turns the error into a table {err=…, source=…, line=…} naming the Lua
// line where the error happened.
func errorInfo(L *lua.LState) int {
	v := L.Get(1)
	t, ok := v.(*lua.LTable)
	if !ok {
		t = L.CreateTable(0, 3)
		t.RawSetString("err", lua.LString("ERR "+quoteArgError(luaToString(v))))
	} else if _, ok := t.RawGetString("err").(lua.LString); !ok {
		t2 := L.CreateTable(0, 3)
		t2.RawSetString("err", lua.LString("ERR "+v.String()))
		t = t2
	}
	for level := 0; ; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			break
		}
		if _, err := L.GetInfo("Sl", dbg, lua.LNil); err != nil {
			break
		}
		if dbg.What == "G" || dbg.CurrentLine < 0 {
			continue
		}
		t.RawSetString("source", lua.LString("@"+strings.TrimPrefix(dbg.Source, "@")))
		t.RawSetString("line", lua.LNumber(dbg.CurrentLine))
		break
	}
	L.Push(t)
	return 1
}

// run calls fn with args and converts its result; name is what Redis's
// error suffix names (the script's SHA or the function's name).
func (m *vm) run(ctx context.Context, fn *lua.LFunction, args []lua.LValue, caller Caller, name, chunk string) any {
	L := m.L
	m.caller, m.resp = caller, 2
	L.SetContext(ctx)
	defer L.RemoveContext()
	L.Push(fn)
	for _, a := range args {
		L.Push(a)
	}
	err := L.PCall(len(args), 1, m.onError)
	if err != nil {
		if ctx.Err() != nil {
			// Where the script was when it was stopped, with Redis's text.
			e := string(scriptError(err, name, chunk))
			return Error(errKilledText + e[strings.LastIndex(e, " script: "):])
		}
		return scriptError(err, name, chunk)
	}
	ret := L.Get(-1)
	L.Pop(1)
	return fromLua(ret)
}

// scriptError formats a failed run as Redis 7.0: "<msg> script: <name>,
// on <source>:<line>."
func scriptError(err error, name, chunk string) Error {
	var obj lua.LValue = lua.LString(err.Error())
	if ae, ok := err.(*lua.ApiError); ok {
		obj = ae.Object
	}
	msg, source, line := "", "@"+chunk, "0"
	if t, ok := obj.(*lua.LTable); ok {
		if e, ok := t.RawGetString("err").(lua.LString); ok {
			msg = string(e)
		}
		if s, ok := t.RawGetString("source").(lua.LString); ok {
			source = string(s)
		}
		if l, ok := t.RawGetString("line").(lua.LNumber); ok {
			line = fmt.Sprint(int(l))
		}
	} else {
		msg = "ERR " + lua.LVAsString(obj)
	}
	if msg == "" {
		msg = "ERR unknown error"
	}
	return Error(oneLine(msg + " script: " + name + ", on " + source + ":" + line + "."))
}

// luaToString is Lua's tostring for an error value.
func luaToString(v lua.LValue) string {
	switch v := v.(type) {
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return formatNumber(float64(v))
	}
	return v.String()
}

// luaToNumber is Lua 5.1's tonumber.
func luaToNumber(L *lua.LState) int {
	v := L.CheckAny(1)
	base := L.OptInt(2, 10)
	if base == 10 {
		if n, ok := v.(lua.LNumber); ok {
			L.Push(n)
			return 1
		}
	}
	str, ok := v.(lua.LString)
	if !ok {
		if base != 10 {
			L.ArgError(1, "string expected")
		}
		L.Push(lua.LNil)
		return 1
	}
	if base < 2 || base > 36 {
		L.ArgError(2, "base out of range")
	}
	t := strings.Trim(string(str), " \t\n\v\f\r")
	if base == 10 {
		if f, ok := parseLuaNumber(t); ok {
			L.Push(lua.LNumber(f))
			return 1
		}
		L.Push(lua.LNil)
		return 1
	}
	n, err := strconv.ParseUint(strings.ToLower(t), base, 64)
	if err != nil || t == "" {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(lua.LNumber(n))
	return 1
}

// parseLuaNumber is Lua 5.1's luaO_str2d: strtod, or a hex integer after
// "0x".
func parseLuaNumber(s string) (float64, bool) {
	if s == "" || strings.ContainsRune(s, '_') {
		return 0, false
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		return f, true
	}
	h := strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	if len(h) > 2 && (h[:2] == "0x" || h[:2] == "0X") {
		n, err := strconv.ParseUint(h[2:], 16, 64)
		if err != nil {
			return 0, false
		}
		if s[0] == '-' {
			return -float64(n), true
		}
		return float64(n), true
	}
	return 0, false
}

var argError = regexp.MustCompile(`bad argument #(\d+) to ([A-Za-z_][\w.:]*) \(`)

// quoteArgError gives gopher-lua's "bad argument #1 to f (…)" Lua's quotes:
// "bad argument #1 to 'f' (…)".
func quoteArgError(msg string) string {
	return argError.ReplaceAllString(msg, "bad argument #$1 to '$2' (")
}
