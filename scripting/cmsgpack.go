package scripting

import (
	"encoding/binary"
	"math"

	lua "github.com/yuin/gopher-lua"
)

// openCmsgpack is antirez's lua-cmsgpack as Redis embeds it: pack(...),
// unpack(s), unpack_one(s [,offset]) and unpack_limit(s, limit [,offset]),
// with its encoding choices (integers in the smallest form, floats as
// float32 when exact, tables with keys 1…n as arrays, nesting past 16
// levels packed as nil).
func openCmsgpack(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("pack", L.NewFunction(func(L *lua.LState) int {
		n := L.GetTop()
		if n == 0 {
			L.RaiseError("MessagePack pack needs input.")
		}
		var buf []byte
		for i := 1; i <= n; i++ {
			buf = mpEncode(buf, L.Get(i), 0)
		}
		L.Push(lua.LString(buf))
		return 1
	}))
	unpack := func(L *lua.LState, limit, offset int, withOffset bool) int {
		s := L.CheckString(1)
		if offset < 0 || offset > len(s) {
			L.RaiseError("Start offset %d greater than input length %d.", offset, len(s))
		}
		data := []byte(s)[offset:]
		var vals []lua.LValue
		pos := 0
		for pos < len(data) && (limit <= 0 || len(vals) < limit) {
			v, n, err := mpDecode(L, data[pos:], 0)
			if err != "" {
				L.RaiseError("%s", err)
			}
			vals = append(vals, v)
			pos += n
		}
		if withOffset {
			next := offset + pos
			if next >= len(s) {
				next = -1
			}
			L.Push(lua.LNumber(next))
		}
		for _, v := range vals {
			L.Push(v)
		}
		if withOffset {
			return len(vals) + 1
		}
		return len(vals)
	}
	t.RawSetString("unpack", L.NewFunction(func(L *lua.LState) int { return unpack(L, 0, 0, false) }))
	t.RawSetString("unpack_one", L.NewFunction(func(L *lua.LState) int {
		return unpack(L, 1, L.OptInt(2, 0), true)
	}))
	t.RawSetString("unpack_limit", L.NewFunction(func(L *lua.LState) int {
		return unpack(L, L.CheckInt(2), L.OptInt(3, 0), true)
	}))
	return t
}

const mpMaxNesting = 16

func mpEncode(b []byte, v lua.LValue, depth int) []byte {
	switch v := v.(type) {
	case lua.LBool:
		if v {
			return append(b, 0xc3)
		}
		return append(b, 0xc2)
	case lua.LNumber:
		f := float64(v)
		if f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 && !math.IsInf(f, 0) {
			return mpInt(b, int64(f))
		}
		if float64(float32(f)) == f || math.IsNaN(f) {
			return binary.BigEndian.AppendUint32(append(b, 0xca), math.Float32bits(float32(f)))
		}
		return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(f))
	case lua.LString:
		n := len(v)
		switch {
		case n < 32:
			b = append(b, 0xa0|byte(n))
		case n <= 0xff:
			b = append(b, 0xd9, byte(n))
		case n <= 0xffff:
			b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
		default:
			b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
		}
		return append(b, v...)
	case *lua.LTable:
		if depth >= mpMaxNesting {
			return append(b, 0xc0)
		}
		if n, ok := mpArrayLen(v); ok {
			b = mpHeader(b, n, 0x90, 0xdc, 0xdd, 16)
			for i := 1; i <= n; i++ {
				b = mpEncode(b, v.RawGetInt(i), depth+1)
			}
			return b
		}
		n := 0
		v.ForEach(func(_, _ lua.LValue) { n++ })
		b = mpHeader(b, n, 0x80, 0xde, 0xdf, 16)
		v.ForEach(func(k, e lua.LValue) {
			b = mpEncode(b, k, depth+1)
			b = mpEncode(b, e, depth+1)
		})
		return b
	}
	return append(b, 0xc0)
}

func mpHeader(b []byte, n int, fix, b16, b32 byte, fixMax int) []byte {
	switch {
	case n < fixMax:
		return append(b, fix|byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, b16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, b32), uint32(n))
}

func mpInt(b []byte, n int64) []byte {
	switch {
	case n >= 0 && n <= 127:
		return append(b, byte(n))
	case n >= 0 && n <= 0xff:
		return append(b, 0xcc, byte(n))
	case n >= 0 && n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(n))
	case n >= 0 && n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(n))
	case n >= 0:
		return binary.BigEndian.AppendUint64(append(b, 0xcf), uint64(n))
	case n >= -32:
		return append(b, byte(int8(n)))
	case n >= -128:
		return append(b, 0xd0, byte(int8(n)))
	case n >= -32768:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(int16(n)))
	case n >= -2147483648:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(int32(n)))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(n))
}

// mpArrayLen: lua-cmsgpack's table_is_an_array (positive integer keys
// without holes; an empty table is an array).
func mpArrayLen(t *lua.LTable) (int, bool) {
	maxKey, count, ok := 0, 0, true
	t.ForEach(func(k, _ lua.LValue) {
		n, isNum := k.(lua.LNumber)
		if !isNum || n < 1 || float64(n) != math.Trunc(float64(n)) {
			ok = false
			return
		}
		count++
		maxKey = max(maxKey, int(n))
	})
	return maxKey, ok && maxKey == count
}

const (
	mpMissing = "Missing bytes in input."
	mpBad     = "Bad data format in input."
)

// mpDecode decodes one object from d: the value, the bytes used, or an error.
func mpDecode(L *lua.LState, d []byte, depth int) (lua.LValue, int, string) {
	if len(d) == 0 {
		return nil, 0, mpMissing
	}
	if depth > 1000 {
		return nil, 0, mpBad
	}
	need := func(n int) bool { return len(d) >= n }
	be16 := func(o int) int { return int(binary.BigEndian.Uint16(d[o:])) }
	be32 := func(o int) int { return int(binary.BigEndian.Uint32(d[o:])) }
	str := func(hdr, n int) (lua.LValue, int, string) {
		if n < 0 || !need(hdr+n) {
			return nil, 0, mpMissing
		}
		return lua.LString(d[hdr : hdr+n]), hdr + n, ""
	}
	arr := func(hdr, n int) (lua.LValue, int, string) {
		t := L.CreateTable(min(n, 1024), 0)
		pos := hdr
		for i := 1; i <= n; i++ {
			v, used, err := mpDecode(L, d[pos:], depth+1)
			if err != "" {
				return nil, 0, err
			}
			t.RawSetInt(i, v)
			pos += used
		}
		return t, pos, ""
	}
	mp := func(hdr, n int) (lua.LValue, int, string) {
		t := L.NewTable()
		pos := hdr
		for i := 0; i < n; i++ {
			k, used, err := mpDecode(L, d[pos:], depth+1)
			if err != "" {
				return nil, 0, err
			}
			pos += used
			v, used, err := mpDecode(L, d[pos:], depth+1)
			if err != "" {
				return nil, 0, err
			}
			pos += used
			if k != lua.LNil {
				t.RawSet(k, v)
			}
		}
		return t, pos, ""
	}
	c := d[0]
	switch {
	case c <= 0x7f:
		return lua.LNumber(c), 1, ""
	case c >= 0xe0:
		return lua.LNumber(int8(c)), 1, ""
	case c&0xe0 == 0xa0:
		return str(1, int(c&0x1f))
	case c&0xf0 == 0x90:
		return arr(1, int(c&0x0f))
	case c&0xf0 == 0x80:
		return mp(1, int(c&0x0f))
	}
	sizes := map[byte]int{0xcc: 2, 0xcd: 3, 0xce: 5, 0xcf: 9, 0xd0: 2, 0xd1: 3, 0xd2: 5, 0xd3: 9,
		0xca: 5, 0xcb: 9, 0xd9: 2, 0xda: 3, 0xdb: 5, 0xc4: 2, 0xc5: 3, 0xc6: 5, 0xdc: 3, 0xdd: 5, 0xde: 3, 0xdf: 5}
	if n, ok := sizes[c]; ok && !need(n) {
		return nil, 0, mpMissing
	}
	switch c {
	case 0xc0:
		return lua.LNil, 1, ""
	case 0xc2:
		return lua.LFalse, 1, ""
	case 0xc3:
		return lua.LTrue, 1, ""
	case 0xcc:
		return lua.LNumber(d[1]), 2, ""
	case 0xcd:
		return lua.LNumber(be16(1)), 3, ""
	case 0xce:
		return lua.LNumber(be32(1)), 5, ""
	case 0xcf:
		return lua.LNumber(binary.BigEndian.Uint64(d[1:])), 9, ""
	case 0xd0:
		return lua.LNumber(int8(d[1])), 2, ""
	case 0xd1:
		return lua.LNumber(int16(be16(1))), 3, ""
	case 0xd2:
		return lua.LNumber(int32(be32(1))), 5, ""
	case 0xd3:
		return lua.LNumber(int64(binary.BigEndian.Uint64(d[1:]))), 9, ""
	case 0xca:
		return lua.LNumber(math.Float32frombits(binary.BigEndian.Uint32(d[1:]))), 5, ""
	case 0xcb:
		return lua.LNumber(math.Float64frombits(binary.BigEndian.Uint64(d[1:]))), 9, ""
	case 0xd9, 0xc4:
		return str(2, int(d[1]))
	case 0xda, 0xc5:
		return str(3, be16(1))
	case 0xdb, 0xc6:
		return str(5, be32(1))
	case 0xdc:
		return arr(3, be16(1))
	case 0xdd:
		return arr(5, be32(1))
	case 0xde:
		return mp(3, be16(1))
	case 0xdf:
		return mp(5, be32(1))
	}
	return nil, 0, mpBad
}
