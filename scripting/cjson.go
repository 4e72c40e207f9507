package scripting

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"

	lua "github.com/yuin/gopher-lua"
)

// openCjson is the part of lua-cjson 2.1 that Redis scripts use: encode,
// decode and null, with cjson's encoding rules (arrays for tables whose keys
// are 1…n, "\/" for slashes, %.14g numbers, errors for sparse arrays and
// unsupported types). The configuration functions are accepted and return
// their current settings; they change nothing.
func openCjson(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	null := L.NewUserData()
	t.RawSetString("null", null)
	t.RawSetString("encode", L.NewFunction(func(L *lua.LState) int {
		if L.GetTop() != 1 {
			L.RaiseError("bad argument #1 to 'encode' (expected 1 argument)")
		}
		var buf bytes.Buffer
		if err := cjsonEncode(&buf, L.Get(1), null, 0); err != nil {
			L.RaiseError("%s", err.Error())
		}
		L.Push(lua.LString(buf.String()))
		return 1
	}))
	t.RawSetString("decode", L.NewFunction(func(L *lua.LState) int {
		if L.GetTop() != 1 {
			L.RaiseError("bad argument #1 to 'decode' (expected 1 argument)")
		}
		s := L.CheckString(1)
		dec := json.NewDecoder(bytes.NewReader([]byte(s)))
		dec.UseNumber()
		v, err := cjsonDecode(L, dec, null, 0)
		if err == nil {
			if _, err2 := dec.Token(); err2 != io.EOF {
				err = fmt.Errorf("Expected the end but found invalid token at character %d", dec.InputOffset()+1)
			}
		}
		if err != nil {
			L.RaiseError("%s", err.Error())
		}
		L.Push(v)
		return 1
	}))
	for _, name := range []string{"encode_sparse_array", "encode_max_depth", "decode_max_depth",
		"encode_number_precision", "encode_keep_buffer", "encode_invalid_numbers", "decode_invalid_numbers"} {
		t.RawSetString(name, L.NewFunction(func(L *lua.LState) int { return 0 }))
	}
	return t
}

const cjsonMaxDepth = 1000

func cjsonEncode(buf *bytes.Buffer, v lua.LValue, null *lua.LUserData, depth int) error {
	switch v := v.(type) {
	case *lua.LNilType:
		buf.WriteString("null")
	case lua.LBool:
		if v {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case lua.LNumber:
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("Cannot serialise number: must not be NaN or Inf")
		}
		buf.WriteString(formatNumber(f))
	case lua.LString:
		cjsonString(buf, string(v))
	case *lua.LUserData:
		if v != null {
			return fmt.Errorf("Cannot serialise userdata: type not supported")
		}
		buf.WriteString("null")
	case *lua.LTable:
		depth++
		if depth > cjsonMaxDepth {
			return fmt.Errorf("Cannot serialise, excessive nesting (%d)", depth)
		}
		n, isArray := cjsonArrayLen(v)
		if n < 0 {
			return fmt.Errorf("Cannot serialise table: excessively sparse array")
		}
		if isArray && n > 0 {
			buf.WriteByte('[')
			for i := 1; i <= n; i++ {
				if i > 1 {
					buf.WriteByte(',')
				}
				if err := cjsonEncode(buf, v.RawGetInt(i), null, depth); err != nil {
					return err
				}
			}
			buf.WriteByte(']')
			return nil
		}
		buf.WriteByte('{')
		first := true
		var err error
		v.ForEach(func(k, e lua.LValue) {
			if err != nil {
				return
			}
			if !first {
				buf.WriteByte(',')
			}
			first = false
			switch k := k.(type) {
			case lua.LString:
				cjsonString(buf, string(k))
			case lua.LNumber:
				cjsonString(buf, formatNumber(float64(k)))
			default:
				err = fmt.Errorf("Cannot serialise table: table key must be a number or string")
				return
			}
			buf.WriteByte(':')
			err = cjsonEncode(buf, e, null, depth)
		})
		buf.WriteByte('}')
		return err
	default:
		return fmt.Errorf("Cannot serialise %s: type not supported", v.Type().String())
	}
	return nil
}

// cjsonArrayLen is lua-cjson's lua_array_length: n > 0 and true when the
// table's keys are exactly positive integers, -1 when it is an excessively
// sparse array, 0 and false for an object.
func cjsonArrayLen(t *lua.LTable) (int, bool) {
	maxKey, items := 0, 0
	isArray := true
	t.ForEach(func(k, _ lua.LValue) {
		if !isArray {
			return
		}
		n, ok := k.(lua.LNumber)
		if !ok || float64(n) != math.Floor(float64(n)) || n < 1 {
			isArray = false
			return
		}
		if int(n) > maxKey {
			maxKey = int(n)
		}
		items++
	})
	if !isArray {
		return 0, false
	}
	if maxKey > items*2 && maxKey > 10 {
		return -1, true
	}
	return maxKey, true
}

func cjsonString(buf *bytes.Buffer, s string) {
	buf.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			buf.WriteString(`\"`)
		case '\\':
			buf.WriteString(`\\`)
		case '/':
			buf.WriteString(`\/`)
		case '\b':
			buf.WriteString(`\b`)
		case '\f':
			buf.WriteString(`\f`)
		case '\n':
			buf.WriteString(`\n`)
		case '\r':
			buf.WriteString(`\r`)
		case '\t':
			buf.WriteString(`\t`)
		default:
			if c < 0x20 || c == 0x7f {
				fmt.Fprintf(buf, `\u%04x`, c)
			} else {
				buf.WriteByte(c)
			}
		}
	}
	buf.WriteByte('"')
}

func cjsonDecode(L *lua.LState, dec *json.Decoder, null *lua.LUserData, depth int) (lua.LValue, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("Expected value but found invalid token at character %d", dec.InputOffset()+1)
	}
	return cjsonValue(L, dec, tok, null, depth)
}

func cjsonValue(L *lua.LState, dec *json.Decoder, tok json.Token, null *lua.LUserData, depth int) (lua.LValue, error) {
	switch tok := tok.(type) {
	case nil:
		return null, nil
	case bool:
		return lua.LBool(tok), nil
	case json.Number:
		f, err := strconv.ParseFloat(string(tok), 64)
		if err != nil && !math.IsInf(f, 0) {
			return nil, fmt.Errorf("Expected value but found invalid number at character %d", dec.InputOffset())
		}
		return lua.LNumber(f), nil
	case string:
		return lua.LString(tok), nil
	case json.Delim:
		depth++
		if depth > cjsonMaxDepth {
			return nil, fmt.Errorf("Found too many nested data structures (%d) at character %d", depth, dec.InputOffset())
		}
		t := L.NewTable()
		switch tok {
		case '[':
			for i := 1; dec.More(); i++ {
				v, err := cjsonDecode(L, dec, null, depth)
				if err != nil {
					return nil, err
				}
				t.RawSetInt(i, v)
			}
		case '{':
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("Expected object key string but found invalid token at character %d", dec.InputOffset()+1)
				}
				ks, ok := k.(string)
				if !ok {
					return nil, fmt.Errorf("Expected object key string but found invalid token at character %d", dec.InputOffset())
				}
				v, err := cjsonDecode(L, dec, null, depth)
				if err != nil {
					return nil, err
				}
				t.RawSetString(ks, v)
			}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, fmt.Errorf("Expected comma or end but found invalid token at character %d", dec.InputOffset()+1)
		}
		return t, nil
	}
	return nil, fmt.Errorf("Expected value but found invalid token at character %d", dec.InputOffset()+1)
}
