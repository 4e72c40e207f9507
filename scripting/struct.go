package scripting

import (
	"encoding/binary"
	"math"
	"strconv"

	lua "github.com/yuin/gopher-lua"
)

// openStruct is Roberto Ierusalimschy's struct library as Redis embeds it:
// pack(fmt, ...), unpack(fmt, s [,pos]) and size(fmt), with the formats
// < > = (endianness), ! (alignment), x (padding), b B h H l L T i I (integers,
// i and I take a size 1…8), f d (floats), s (zero-terminated string), c
// (fixed-size string; c0 takes its size from the previous number).
func openStruct(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("pack", L.NewFunction(structPack))
	t.RawSetString("unpack", L.NewFunction(structUnpack))
	t.RawSetString("size", L.NewFunction(func(L *lua.LState) int {
		f := L.CheckString(1)
		st := structState{little: true, align: 1}
		size := 0
		for i := 0; i < len(f); {
			opt := f[i]
			i++
			n := st.optSize(L, opt, f, &i)
			if opt == 's' || (opt == 'c' && n == 0) {
				L.ArgError(1, "options 'c0' - 's' have undefined sizes")
			}
			size += st.padding(size, n, opt) + n
		}
		L.Push(lua.LNumber(size))
		return 1
	}))
	return t
}

type structState struct {
	little bool
	align  int
}

func structNum(f string, i *int, def int) int {
	start := *i
	for *i < len(f) && f[*i] >= '0' && f[*i] <= '9' {
		*i++
	}
	if start == *i {
		return def
	}
	n, _ := strconv.Atoi(f[start:*i])
	return n
}

// optSize reads option opt (its count follows at *i) and returns the size
// of one item; options that are not items return 0.
func (st *structState) optSize(L *lua.LState, opt byte, f string, i *int) int {
	switch opt {
	case 'B', 'b':
		return 1
	case 'H', 'h':
		return 2
	case 'L', 'l', 'T':
		return 8
	case 'f':
		return 4
	case 'd':
		return 8
	case 'x':
		return 1
	case 'c':
		return structNum(f, i, 1)
	case 'i', 'I':
		n := structNum(f, i, 4)
		if n < 1 || n > 8 {
			L.RaiseError("integral size %d is larger than limit of 8", n)
		}
		return n
	case 's', ' ':
		return 0
	case '<':
		st.little = true
	case '>':
		st.little = false
	case '=':
		st.little = true
	case '!':
		st.align = structNum(f, i, 8)
	default:
		L.RaiseError("invalid format option '%c'", opt)
	}
	return 0
}

func (st *structState) padding(offset, size int, opt byte) int {
	if opt == 'c' || opt == 's' || opt == 'x' || size <= 1 || st.align <= 1 {
		return 0
	}
	a := min(size, st.align)
	return (a - offset%a) % a
}

func putInt(b []byte, v uint64, little bool) {
	n := len(b)
	for k := 0; k < n; k++ {
		if little {
			b[k] = byte(v >> (8 * k))
		} else {
			b[n-1-k] = byte(v >> (8 * k))
		}
	}
}

func structPack(L *lua.LState) int {
	f := L.CheckString(1)
	st := structState{little: true, align: 1}
	var out []byte
	arg := 2
	for i := 0; i < len(f); {
		opt := f[i]
		i++
		size := st.optSize(L, opt, f, &i)
		out = append(out, make([]byte, st.padding(len(out), size, opt))...)
		switch opt {
		case 'b', 'B', 'h', 'H', 'l', 'L', 'T', 'i', 'I':
			v := int64(L.CheckNumber(arg))
			arg++
			b := make([]byte, size)
			putInt(b, uint64(v), st.little)
			out = append(out, b...)
		case 'x':
			out = append(out, 0)
		case 'f':
			b := make([]byte, 4)
			bits := math.Float32bits(float32(L.CheckNumber(arg)))
			arg++
			putInt(b, uint64(bits), st.little)
			out = append(out, b...)
		case 'd':
			b := make([]byte, 8)
			putInt(b, math.Float64bits(float64(L.CheckNumber(arg))), st.little)
			arg++
			out = append(out, b...)
		case 'c', 's':
			s := L.CheckString(arg)
			arg++
			l := len(s)
			if opt == 'c' && size != 0 {
				if l < size {
					L.ArgError(arg-1, "string too short")
				}
				l = size
			}
			out = append(out, s[:l]...)
			if opt == 's' {
				out = append(out, 0)
			}
		}
	}
	L.Push(lua.LString(out))
	return 1
}

func getInt(b []byte, little, signed bool) float64 {
	var v uint64
	n := len(b)
	for k := 0; k < n; k++ {
		if little {
			v |= uint64(b[k]) << (8 * k)
		} else {
			v |= uint64(b[n-1-k]) << (8 * k)
		}
	}
	if signed && n < 8 && v&(1<<(uint(n)*8-1)) != 0 {
		v |= ^uint64(0) << (uint(n) * 8)
	}
	if signed {
		return float64(int64(v))
	}
	return float64(v)
}

func structUnpack(L *lua.LState) int {
	f := L.CheckString(1)
	data := L.CheckString(2)
	pos := L.OptInt(3, 1) - 1
	if pos < 0 || pos > len(data) {
		L.ArgError(3, "offset must be 1 or greater")
	}
	st := structState{little: true, align: 1}
	n := 0
	prev := 0.0
	for i := 0; i < len(f); {
		opt := f[i]
		i++
		size := st.optSize(L, opt, f, &i)
		pos += st.padding(pos, size, opt)
		if pos+size > len(data) {
			L.ArgError(2, "data string too short")
		}
		switch opt {
		case 'b', 'h', 'l', 'i':
			prev = getInt([]byte(data[pos:pos+size]), st.little, true)
			L.Push(lua.LNumber(prev))
			n++
		case 'B', 'H', 'L', 'T', 'I':
			prev = getInt([]byte(data[pos:pos+size]), st.little, false)
			L.Push(lua.LNumber(prev))
			n++
		case 'f':
			bits := uint32(getInt([]byte(data[pos:pos+4]), st.little, false))
			L.Push(lua.LNumber(math.Float32frombits(bits)))
			n++
		case 'd':
			var b [8]byte
			copy(b[:], data[pos:pos+8])
			var bits uint64
			if st.little {
				bits = binary.LittleEndian.Uint64(b[:])
			} else {
				bits = binary.BigEndian.Uint64(b[:])
			}
			L.Push(lua.LNumber(math.Float64frombits(bits)))
			n++
		case 'c':
			if size == 0 {
				if n == 0 {
					L.RaiseError("format 'c0' needs a previous size")
				}
				L.Pop(1)
				n--
				size = int(prev)
				if size < 0 || pos+size > len(data) {
					L.ArgError(2, "data string too short")
				}
			}
			L.Push(lua.LString(data[pos : pos+size]))
			n++
		case 's':
			end := pos
			for end < len(data) && data[end] != 0 {
				end++
			}
			if end >= len(data) {
				L.RaiseError("unfinished string in data")
			}
			L.Push(lua.LString(data[pos:end]))
			n++
			size = end - pos + 1
		}
		pos += size
	}
	L.Push(lua.LNumber(pos + 1))
	return n + 1
}
