package scripting

import (
	"context"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Library is a FUNCTION library: its code and the functions it registers.
// A Library is immutable once loaded.
type Library struct {
	Name      string
	Code      []byte
	Functions []*Function // in registration order
	proto     *lua.FunctionProto
}

// Function is one function of a library.
type Function struct {
	Name        string
	Description *string // nil when none was given
	Flags       Flags
	Library     *Library
}

// loadTimeout bounds the run of a library's top-level code, as Redis's
// FUNCTION LOAD timeout does.
const loadTimeout = 5 * time.Second

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// LoadLibrary compiles and runs a library's code ("#!lua name=…" first),
// collecting the functions it registers. Its error is Redis's reply.
func (e *Engine) LoadLibrary(code []byte) (*Library, error) {
	src := string(code)
	if !strings.HasPrefix(src, "#!") {
		return nil, Error("ERR Missing library metadata")
	}
	line, rest, _ := strings.Cut(src, "\n")
	engine, opts, err := parseShebang(line)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(engine, "lua") {
		return nil, Error("ERR Engine '" + engine + "' not found")
	}
	lib := &Library{Code: code}
	for _, kv := range opts {
		k, v, _ := strings.Cut(kv, "=")
		if k != "name" {
			return nil, Error("ERR Invalid metadata value given: " + kv)
		}
		lib.Name = v
	}
	if lib.Name == "" {
		return nil, Error("ERR Library name was not given")
	}
	if !validName(lib.Name) {
		return nil, Error("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long")
	}
	proto, cerr := compileChunk("\n"+rest, "user_function")
	if cerr != nil {
		return nil, Error("ERR Error compiling function: " + cerr.Error())
	}
	lib.proto = proto
	m := e.get()
	defer e.put(m)
	if _, err := m.loadLibrary(lib, true); err != nil {
		return nil, err
	}
	if len(lib.Functions) == 0 {
		return nil, Error("ERR No functions registered")
	}
	return lib, nil
}

// loadLibrary runs lib's code in m and returns its functions; collect
// fills lib.Functions (the first load, from LoadLibrary).
func (m *vm) loadLibrary(lib *Library, collect bool) (map[string]*lua.LFunction, error) {
	if fns, ok := m.libs[lib]; ok {
		return fns, nil
	}
	L := m.L
	backing := L.NewTable()
	env := m.libraryEnv(backing)
	fns := map[string]*lua.LFunction{}
	var regErr error
	loadRedis := m.redisTable(Options{}, true)
	loadRedis.RawSetString("register_function", L.NewFunction(func(L *lua.LState) int {
		f, cb := m.registerArgs(L)
		if _, dup := fns[f.Name]; dup {
			raise(L, "Function already exists in the library")
		}
		fns[f.Name] = cb
		if collect {
			f.Library = lib
			lib.Functions = append(lib.Functions, f)
		}
		return 0
	}))
	backing.RawSetString("redis", m.readOnly(loadRedis, true))
	fn := L.NewFunctionFromProto(lib.proto)
	fn.Env = env
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	L.SetContext(ctx)
	L.Push(fn)
	err := L.PCall(0, 0, nil)
	L.RemoveContext()
	if err != nil {
		msg := err.Error()
		if ae, ok := err.(*lua.ApiError); ok {
			msg = lua.LVAsString(ae.Object)
			if t, ok := ae.Object.(*lua.LTable); ok {
				msg = lua.LVAsString(t.RawGetString("err"))
			}
		}
		if ctx.Err() != nil {
			msg = "FUNCTION LOAD timeout"
		}
		if !strings.HasPrefix(msg, "ERR ") {
			msg = "ERR " + msg
		}
		regErr = Error("ERR Error registering functions: " + oneLine(msg))
		m.guards = m.guards[:len(m.guards)-2] // the two proxies of this load
		return nil, regErr
	}
	// From now on the library's code sees the runtime redis table.
	backing.RawSetString("redis", m.G.RawGetString("redis"))
	m.guards = m.guards[:len(m.guards)-2]
	if m.libs == nil {
		m.libs = map[*Library]map[string]*lua.LFunction{}
	}
	if len(m.libs) >= 64 { // libraries replaced long ago
		clear(m.libs)
	}
	m.libs[lib] = fns
	return fns, nil
}

// libraryEnv is the globals a library's code runs with: read-only, reads
// going to backing (its redis table) then to the shared globals.
func (m *vm) libraryEnv(backing *lua.LTable) *lua.LTable {
	L := m.L
	proxy := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		k := L.Get(2)
		if v := backing.RawGet(k); v != lua.LNil {
			L.Push(v)
			return 1
		}
		if v := m.G.RawGet(k); v != lua.LNil && k != lua.LString("KEYS") && k != lua.LString("ARGV") {
			L.Push(v)
			return 1
		}
		L.RaiseError("Script attempted to access nonexistent global variable '%s'", lua.LVAsString(k))
		return 0
	}))
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("Attempt to modify a readonly table")
		return 0
	}))
	mt.RawSetString("__metatable", lua.LFalse)
	L.SetMetatable(proxy, mt)
	m.guards = append(m.guards, proxy)
	return proxy
}

// registerArgs reads redis.register_function's arguments: (name, callback)
// or a table {function_name=, callback=, flags=, description=}.
func (m *vm) registerArgs(L *lua.LState) (*Function, *lua.LFunction) {
	f := &Function{}
	var cb *lua.LFunction
	switch L.GetTop() {
	case 2:
		name, ok := L.Get(1).(lua.LString)
		if !ok {
			raise(L, "first argument to redis.register_function must be a string")
		}
		fn, ok := L.Get(2).(*lua.LFunction)
		if !ok {
			raise(L, "second argument to redis.register_function must be a function")
		}
		f.Name, cb = string(name), fn
	case 1:
		t, ok := L.Get(1).(*lua.LTable)
		if !ok {
			raise(L, "calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).")
		}
		t.ForEach(func(k, v lua.LValue) {
			switch lua.LVAsString(k) {
			case "function_name":
				s, ok := v.(lua.LString)
				if !ok {
					raise(L, "function_name argument given to redis.register_function must be a string")
				}
				f.Name = string(s)
			case "description":
				s, ok := v.(lua.LString)
				if !ok {
					raise(L, "description argument given to redis.register_function must be a string")
				}
				d := string(s)
				f.Description = &d
			case "callback":
				fn, ok := v.(*lua.LFunction)
				if !ok {
					raise(L, "callback argument given to redis.register_function must be a function")
				}
				cb = fn
			case "flags":
				ft, ok := v.(*lua.LTable)
				if !ok {
					raise(L, "flags argument to redis.register_function must be a table representing function flags")
				}
				for i := 1; ; i++ {
					e := ft.RawGetInt(i)
					if e == lua.LNil {
						break
					}
					fl, ok := flagByName(lua.LVAsString(e))
					if !ok || e.Type() != lua.LTString {
						raise(L, "unknown flag given")
					}
					f.Flags |= fl
				}
			default:
				raise(L, "unknown argument given to redis.register_function")
			}
		})
		if f.Name == "" {
			raise(L, "redis.register_function must get a function name argument")
		}
		if cb == nil {
			raise(L, "redis.register_function must get a callback argument")
		}
	default:
		raise(L, "wrong number of arguments to redis.register_function")
	}
	if !validName(f.Name) {
		raise(L, "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long")
	}
	return f, cb
}

// Call runs function f with keys and args, calling caller for redis.call.
func (e *Engine) Call(ctx context.Context, f *Function, keys, args [][]byte, caller Caller) any {
	m := e.get()
	defer e.put(m)
	fns, err := m.loadLibrary(f.Library, false)
	if err != nil {
		return err
	}
	fn := fns[f.Name]
	if fn == nil {
		return Error("ERR Function not found")
	}
	return m.run(ctx, fn, []lua.LValue{bytesTable(m.L, keys), bytesTable(m.L, args)}, caller, f.Name, "user_function")
}
