package scripting

import (
	"math"
	"strconv"

	lua "github.com/yuin/gopher-lua"
)

// Replies exchanged with the Caller and returned by a run, the same shapes
// as Redis's:
//
//	[]byte     bulk string (nil: null bulk)
//	int64      integer
//	Status     simple string
//	Error      error reply
//	[]any      array
//	NullArray  null array
//	Map, Set, Double, Bool, BigNumber  RESP3 shapes
//	nil        null
type (
	Status    string
	Error     string
	NullArray struct{}
	Map       []any // key, value, key, value …
	Set       []any
	Double    float64
	Bool      bool
	BigNumber string
)

func (e Error) Error() string { return string(e) }

// toLua converts a command's reply to a Lua value as Redis does for
// redis.call, under protocol resp (2 or 3).
func toLua(L *lua.LState, v any, resp int) lua.LValue {
	switch v := v.(type) {
	case nil:
		if resp == 3 {
			return lua.LNil
		}
		return lua.LFalse
	case []byte:
		if v == nil {
			if resp == 3 {
				return lua.LNil
			}
			return lua.LFalse
		}
		return lua.LString(v)
	case string:
		return lua.LString(v)
	case int64:
		return lua.LNumber(v)
	case Status:
		t := L.CreateTable(0, 1)
		t.RawSetString("ok", lua.LString(v))
		return t
	case Error:
		t := L.CreateTable(0, 1)
		t.RawSetString("err", lua.LString(v))
		return t
	case NullArray:
		if resp == 3 {
			return lua.LNil
		}
		return lua.LFalse
	case []any:
		t := L.CreateTable(len(v), 0)
		for i, e := range v {
			t.RawSetInt(i+1, toLua(L, e, resp))
		}
		return t
	case Map:
		if resp == 2 {
			return toLua(L, []any(v), resp)
		}
		m := L.CreateTable(0, len(v)/2)
		for i := 0; i+1 < len(v); i += 2 {
			m.RawSet(toLua(L, v[i], resp), toLua(L, v[i+1], resp))
		}
		t := L.CreateTable(0, 1)
		t.RawSetString("map", m)
		return t
	case Set:
		if resp == 2 {
			return toLua(L, []any(v), resp)
		}
		m := L.CreateTable(0, len(v))
		for _, e := range v {
			m.RawSet(toLua(L, e, resp), lua.LTrue)
		}
		t := L.CreateTable(0, 1)
		t.RawSetString("set", m)
		return t
	case Double:
		if resp == 2 {
			return lua.LString(formatDouble(float64(v)))
		}
		t := L.CreateTable(0, 1)
		t.RawSetString("double", lua.LNumber(v))
		return t
	case Bool:
		if resp == 2 {
			if v {
				return lua.LNumber(1)
			}
			return lua.LNumber(0)
		}
		return lua.LBool(v)
	case BigNumber:
		if resp == 2 {
			return lua.LString(v)
		}
		t := L.CreateTable(0, 1)
		t.RawSetString("big_number", lua.LString(v))
		return t
	}
	return lua.LFalse
}

// formatDouble is Redis 7.0's RESP2 form of a double: %.17g, inf, -inf.
func formatDouble(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'g', 17, 64)
}

// fromLua converts a script's return value to a reply as Redis does.
func fromLua(v lua.LValue) any { return fromLuaDepth(v, 0) }

// maxReplyDepth bounds nesting so a self-referencing table cannot recurse
// forever (Redis stops at the C stack; it answers an error the same way).
const maxReplyDepth = 1000

func fromLuaDepth(v lua.LValue, depth int) any {
	switch v := v.(type) {
	case lua.LString:
		return []byte(string(v))
	case lua.LNumber:
		return luaToInt(float64(v))
	case lua.LBool:
		if v {
			return int64(1)
		}
		return []byte(nil)
	case *lua.LTable:
		if depth > maxReplyDepth {
			return Error("ERR reached lua stack limit")
		}
		if e, ok := v.RawGetString("err").(lua.LString); ok {
			return Error(oneLine(string(e)))
		}
		if s, ok := v.RawGetString("ok").(lua.LString); ok {
			return Status(oneLine(string(s)))
		}
		if d, ok := v.RawGetString("double").(lua.LNumber); ok {
			return Double(d)
		}
		if b, ok := v.RawGetString("big_number").(lua.LString); ok {
			return BigNumber(b)
		}
		if m, ok := v.RawGetString("map").(*lua.LTable); ok {
			out := Map{}
			m.ForEach(func(k, val lua.LValue) {
				out = append(out, fromLuaDepth(k, depth+1), fromLuaDepth(val, depth+1))
			})
			return out
		}
		if s, ok := v.RawGetString("set").(*lua.LTable); ok {
			out := Set{}
			s.ForEach(func(k, _ lua.LValue) { out = append(out, fromLuaDepth(k, depth+1)) })
			return out
		}
		out := []any{}
		for i := 1; ; i++ {
			e := v.RawGetInt(i)
			if e == lua.LNil {
				break
			}
			out = append(out, fromLuaDepth(e, depth+1))
		}
		return out
	}
	return []byte(nil)
}

// luaToInt is C's (long long) cast of a lua_Number: truncation toward zero.
func luaToInt(f float64) int64 {
	switch {
	case math.IsNaN(f):
		return math.MinInt64
	case f >= math.MaxInt64:
		return math.MinInt64 // what x86's cvttsd2si gives Redis
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}

// formatNumber is Lua 5.1's tostring of a number (%.14g), which is how
// redis.call passes numeric arguments.
func formatNumber(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		if math.Signbit(f) {
			return "-nan"
		}
		return "nan"
	case f == 0 && math.Signbit(f):
		return "-0"
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e14 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', 14, 64)
}

func oneLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\r' || c == '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}
