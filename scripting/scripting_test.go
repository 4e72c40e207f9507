package scripting

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// store is a tiny command executor for the tests: GET, SET, INCR, PING and
// replies of every shape, so that the conversions can be checked.
type store struct {
	mu sync.Mutex
	kv map[string]string
}

func (s *store) call(args [][]byte) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch strings.ToLower(string(args[0])) {
	case "get":
		v, ok := s.kv[string(args[1])]
		if !ok {
			return nil
		}
		return []byte(v)
	case "set":
		s.kv[string(args[1])] = string(args[2])
		return Status("OK")
	case "echo":
		return args[1]
	case "shapes":
		return []any{int64(1), []byte("b"), []byte(nil), Status("st"), Error("ERR e"), []any{int64(2)},
			NullArray{}, Map{[]byte("k"), int64(3)}, Set{[]byte("m")}, Double(1.5), Bool(true), Bool(false)}
	}
	return Error("ERR Unknown Redis command called from script")
}

func run(t *testing.T, e *Engine, s *store, src string, keys, args []string) any {
	t.Helper()
	sc, err := Compile([]byte(src))
	if err != nil {
		t.Fatalf("compile %q: %v", src, err)
	}
	return e.Run(context.Background(), sc, toBytes(keys), toBytes(args), s.call)
}

func toBytes(list []string) [][]byte {
	out := make([][]byte, len(list))
	for i, s := range list {
		out[i] = []byte(s)
	}
	return out
}

func TestScriptConversionsFromLua(t *testing.T) {
	e, s := NewEngine(Options{}), &store{kv: map[string]string{}}
	for _, c := range []struct {
		src  string
		want any
	}{
		{"return 7", int64(7)},
		{"return 3.99", int64(3)},
		{"return -3.99", int64(-3)},
		{"return 's'", []byte("s")},
		{"return true", int64(1)},
		{"return false", []byte(nil)},
		{"return nil", []byte(nil)},
		{"return {1, 'a', nil, 3}", []any{int64(1), []byte("a")}},
		{"return {ok='fine'}", Status("fine")},
		{"return {err='E bad'}", Error("E bad")},
		{"return {err='E a\\nb'}", Error("E a b")},
		{"return {double=2.5}", Double(2.5)},
		{"return {map={a=1}}", Map{[]byte("a"), int64(1)}},
		{"return {set={x=true}}", Set{[]byte("x")}},
		{"return {{ok='in'}, {1, {2}}}", []any{Status("in"), []any{int64(1), []any{int64(2)}}}},
		{"return redis.error_reply('plain')", Error("ERR plain")},
		{"return redis.error_reply('-WRONGTYPE x')", Error("WRONGTYPE x")},
		{"return redis.status_reply('QUEUED')", Status("QUEUED")},
		{"return {KEYS[1], ARGV[1], #KEYS, #ARGV}", []any{[]byte("k"), []byte("a"), int64(1), int64(1)}},
	} {
		if got := run(t, e, s, c.src, []string{"k"}, []string{"a"}); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.src, got, c.want)
		}
	}
}

func TestScriptConversionsToLua(t *testing.T) {
	e, s := NewEngine(Options{}), &store{kv: map[string]string{}}
	// RESP2: null → false, status → {ok}, error → {err}, map/set → arrays,
	// double → string, bool → 1/0.
	got := run(t, e, s, `local r = redis.call('shapes')
		return {type(r[1]), r[2], tostring(r[3]), r[4].ok, r[5].err, r[6][1], tostring(r[7]),
		        #r[8], #r[9], r[10], r[11], r[12]}`, nil, nil)
	want := []any{[]byte("number"), []byte("b"), []byte("false"), []byte("st"), []byte("ERR e"), int64(2), []byte("false"),
		int64(2), int64(1), []byte("1.5"), int64(1), int64(0)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RESP2 shapes: got %#v\nwant %#v", got, want)
	}
	got = run(t, e, s, `redis.setresp(3) local r = redis.call('shapes')
		return {type(r[3]), type(r[7]), r[8].map.k, tostring(r[9].set.m), r[10].double, tostring(r[11]), tostring(r[12])}`, nil, nil)
	want = []any{[]byte("nil"), []byte("nil"), int64(3), []byte("true"), int64(1), []byte("true"), []byte("false")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RESP3 shapes: got %#v\nwant %#v", got, want)
	}
	// The next run starts in RESP2 again.
	if got := run(t, e, s, `return tostring(redis.call('get', 'nokey'))`, nil, nil); !reflect.DeepEqual(got, []byte("false")) {
		t.Errorf("resp after setresp(3): %#v", got)
	}
	// Numbers passed to redis.call are formatted as Redis does (%.17g).
	got = run(t, e, s, `redis.call('set', 'a', 0.1) redis.call('set', 'b', 1e15) redis.call('set', 'c', -7)
		return {redis.call('get','a'), redis.call('get','b'), redis.call('get','c')}`, nil, nil)
	if want := []any{[]byte("0.10000000000000001"), []byte("1000000000000000"), []byte("-7")}; !reflect.DeepEqual(got, want) {
		t.Errorf("numeric args: got %#v", got)
	}
}

func TestScriptErrors(t *testing.T) {
	e, s := NewEngine(Options{}), &store{kv: map[string]string{}}
	sha := func(src string) string { return SHA1Hex([]byte(src)) }
	for _, c := range []struct{ src, want string }{
		{"return x", "ERR user_script:1: Script attempted to access nonexistent global variable 'x' script: " + sha("return x") + ", on @user_script:1."},
		{"x = 1", "ERR user_script:1: Attempt to modify a readonly table script: " + sha("x = 1") + ", on @user_script:1."},
		{"\n\nreturn redis.call('nosuch')", "ERR Unknown Redis command called from script script: " + sha("\n\nreturn redis.call('nosuch')") + ", on @user_script:3."},
		{"return redis.pcall('nosuch')", "ERR Unknown Redis command called from script"},
		{"error('boom')", "ERR user_script:1: boom script: " + sha("error('boom')") + ", on @user_script:1."},
		{"error({err='X boom'})", "X boom script: " + sha("error({err='X boom'})") + ", on @user_script:1."},
		{"local ok, e = pcall(redis.call, 'nosuch') return {err=e}", "ERR Unknown Redis command called from script"},
		{"return redis.call({})", "ERR Lua redis lib command arguments must be strings or integers script: " + sha("return redis.call({})") + ", on @user_script:1."},
		{"local function f() return f() + 1 end return f()", ""}, // a stack overflow is an error, not a crash
		{"return string.rep('x', 1e12)", "ERR user_script:1: resulting string too large script: " + sha("return string.rep('x', 1e12)") + ", on @user_script:1."},
	} {
		got, ok := run(t, e, s, c.src, nil, nil).(Error)
		if !ok || (c.want != "" && string(got) != c.want) {
			t.Errorf("%q:\n got  %#v\n want %q", c.src, got, c.want)
		}
	}
	if _, err := Compile([]byte("return 'a' ..")); err == nil || err.Error() != "ERR Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'" {
		t.Errorf("compile error: %v", err)
	}
}

// TestScriptGlobalsIsolated: what one script does to the environment, even
// with rawset, the next one does not see.
func TestScriptGlobalsIsolated(t *testing.T) {
	e, s := NewEngine(Options{}), &store{kv: map[string]string{}}
	for _, src := range []string{"rawset(_G, 'leak', 1) return 1", "rawset(string, 'leak', 1) return 1", "rawset(redis, 'leak', 1) return 1"} {
		run(t, e, s, src, nil, nil)
		for _, check := range []string{"return rawget(_G, 'leak') == nil", "return string.leak == nil", "return redis.leak == nil"} {
			if got := run(t, e, s, check, nil, nil); !reflect.DeepEqual(got, int64(1)) {
				t.Fatalf("after %q, %q = %#v", src, check, got)
			}
		}
	}
	for _, src := range []string{"setmetatable(_G, nil)", "getmetatable('').__index.upper = nil", "redis.call = nil", "cjson.encode = nil"} {
		if _, ok := run(t, e, s, src, nil, nil).(Error); !ok {
			t.Errorf("%q was allowed", src)
		}
	}
	if got := run(t, e, s, "return ('x'):upper()", nil, nil); !reflect.DeepEqual(got, []byte("X")) {
		t.Errorf("string methods: %#v", got)
	}
}

// TestScriptCancel: a cancelled context stops a script that loops forever,
// even one that catches errors with pcall.
func TestScriptCancel(t *testing.T) {
	e, s := NewEngine(Options{}), &store{kv: map[string]string{}}
	for _, src := range []string{"while true do end", "while true do pcall(function() while true do end end) end"} {
		// The loop is reached once redis.call has been called.
		sc, err := Compile([]byte("redis.call('echo', 'x') " + src))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		started, done := make(chan struct{}), make(chan any)
		go func() {
			done <- e.Run(ctx, sc, nil, nil, func(args [][]byte) any { close(started); return s.call(args) })
		}()
		<-started
		cancel()
		got, ok := (<-done).(Error)
		if !ok || !strings.HasPrefix(string(got), "ERR Script killed by user with SCRIPT KILL... script: "+sc.SHA) {
			t.Errorf("%q: %#v", src, got)
		}
		// The VM goes back to the pool and serves the next script.
		if got := run(t, e, s, "return redis.call('echo', 'next')", nil, nil); !reflect.DeepEqual(got, []byte("next")) {
			t.Errorf("after a kill: %#v", got)
		}
	}
}

func TestScriptLibraries(t *testing.T) {
	e, s := NewEngine(Options{}), &store{kv: map[string]string{}}
	for _, c := range []struct {
		src  string
		want any
	}{
		{`return cjson.encode({1, 'a/b', {x=true}})`, []byte(`[1,"a\/b",{"x":true}]`)},
		{`return cjson.encode({[1]=1, [20]=2})`, nil}, // excessively sparse: an error
		{`local t = cjson.decode('{"a":[1,2,{"b":null}]}') return {t.a[2], tostring(t.a[3].b == cjson.null)}`, []any{int64(2), []byte("true")}},
		{`return cjson.decode('[1,')`, nil},
		{`return {string.byte(cmsgpack.pack(1, -1, 200, -200, 'ab', {1,2}, {a=1}, true, 0.5), 1, -1)}`,
			[]any{int64(1), int64(0xff), int64(0xcc), int64(200), int64(0xd1), int64(0xff), int64(0x38), int64(0xa2), int64('a'), int64('b'),
				int64(0x92), int64(1), int64(2), int64(0x81), int64(0xa1), int64('a'), int64(1), int64(0xc3), int64(0xca), int64(0x3f), int64(0), int64(0), int64(0)}},
		{`local a, b = cmsgpack.unpack(cmsgpack.pack({1, {2, 'x'}}, 70000)) return {a[2][2], b}`, []any{[]byte("x"), int64(70000)}},
		{`return cmsgpack.unpack('\217')`, nil}, // missing bytes
		{`return {bit.band(0xff, 0x0f), bit.bnot(0), bit.lshift(1, 31), bit.tohex(-1, -4), bit.tobit(2^32 + 5)}`,
			[]any{int64(15), int64(-1), int64(-2147483648), []byte("FFFF"), int64(5)}},
		{`return {struct.pack('>I2', 513), struct.size('>iI2d'), struct.unpack('<i4', struct.pack('<i4', -2))}`,
			[]any{[]byte{2, 1}, int64(14), int64(-2), int64(5)}},
	} {
		got := run(t, e, s, c.src, nil, nil)
		if c.want == nil {
			if _, ok := got.(Error); !ok {
				t.Errorf("%s: got %#v, want an error", c.src, got)
			}
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got  %#v\n want %#v", c.src, got, c.want)
		}
	}
}

func TestScriptFunctions(t *testing.T) {
	e, s := NewEngine(Options{}), &store{kv: map[string]string{}}
	lib, err := e.LoadLibrary([]byte("#!lua name=lib\n" +
		"local function helper(x) return x .. '!' end\n" +
		"redis.register_function('shout', function(keys, args) return helper(args[1]) end)\n" +
		"redis.register_function{function_name='ro', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='d'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if lib.Name != "lib" || len(lib.Functions) != 2 || lib.Functions[1].Flags != FlagNoWrites || *lib.Functions[1].Description != "d" {
		t.Fatalf("library: %+v", lib)
	}
	s.kv["k"] = "v"
	if got := e.Call(context.Background(), lib.Functions[0], nil, [][]byte{[]byte("hi")}, s.call); !reflect.DeepEqual(got, []byte("hi!")) {
		t.Errorf("shout: %#v", got)
	}
	if got := e.Call(context.Background(), lib.Functions[1], [][]byte{[]byte("k")}, nil, s.call); !reflect.DeepEqual(got, []byte("v")) {
		t.Errorf("ro: %#v", got)
	}
	for code, want := range map[string]string{
		"return 1":                      "ERR Missing library metadata",
		"#!lua\nreturn 1":               "ERR Library name was not given",
		"#!lua name=x\nreturn 1":        "ERR No functions registered",
		"#!lua name=x\nredis.call('x')": "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'call'",
		"#!lua name=x\nredis.register_function('a', function() end)\nredis.register_function('a', function() end)": "ERR Error registering functions: ERR Function already exists in the library",
	} {
		if _, err := e.LoadLibrary([]byte(code)); err == nil || err.Error() != want {
			t.Errorf("%q: %v, want %q", code, err, want)
		}
	}
}

func TestScriptNumberFormat(t *testing.T) {
	for f, want := range map[float64]string{1: "1", -2.5: "-2.5", 1e14: "1e+14", 0.1: "0.1", 123456789012: "123456789012"} {
		if got := formatNumber(f); got != want {
			t.Errorf("formatNumber(%v) = %q, want %q", f, got, want)
		}
	}
	L := lua.NewState()
	defer L.Close()
	if got := fromLua(lua.LNumber(-0.9)); got != int64(0) {
		t.Errorf("-0.9 → %#v", got)
	}
}

// TestScriptCoroutineCancel: a loop inside a coroutine stops too.
func TestScriptCoroutineCancel(t *testing.T) {
	e, s := NewEngine(Options{}), &store{kv: map[string]string{}}
	if got := run(t, e, s, "local co = coroutine.create(function(a) coroutine.yield(a + 1) end) local ok, v = coroutine.resume(co, 1) return v", nil, nil); !reflect.DeepEqual(got, int64(2)) {
		t.Fatalf("coroutine: %#v", got)
	}
	sc, err := Compile([]byte("redis.call('echo', 'x') coroutine.resume(coroutine.create(function() while true do end end))"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	started, done := make(chan struct{}), make(chan any)
	go func() {
		done <- e.Run(ctx, sc, nil, nil, func(args [][]byte) any { close(started); return s.call(args) })
	}()
	<-started
	cancel()
	if got, ok := (<-done).(Error); !ok {
		t.Fatalf("coroutine loop: %#v", got)
	}
}
