package mutex

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"
)

// AppendJSON renders a as one op of the reads and writes events (and of
// the change feed): {"op":…} with, where set, "key", "value", "to", "at",
// "items" (an array) or "fields" (an object of Pairs), and "min"/"max" for
// a range. A key, value or item list that is not valid UTF-8 is written
// base64-encoded under the name with "_b64" appended (for items and
// fields: all of them, so a consumer decodes one way per op).
func (a *Access) AppendJSON(b []byte) []byte {
	b = append(b, `{"op":`...)
	b = AppendJSONString(b, a.Op)
	if a.Key != nil || a.Op == "get" || a.Op == "exists" || a.Op == "del" || a.Op == "set" {
		b = appendBytesField(b, "key", a.Key)
	}
	if a.Value != nil || a.Op == "set" {
		b = appendBytesField(b, "value", a.Value)
	}
	if a.To != nil {
		b = appendBytesField(b, "to", a.To)
	}
	if a.At != 0 {
		b = append(b, `,"at":`...)
		b = strconv.AppendInt(b, a.At, 10)
	}
	if a.Items != nil {
		b = appendItems(b, a.Items, a.Pairs)
	}
	if a.Range != nil {
		b = appendBytesField(b, "min", boundText(a.Range.Min, true))
		b = appendBytesField(b, "max", boundText(a.Range.Max, false))
	}
	return append(b, '}')
}

func appendItems(b []byte, items [][]byte, pairs bool) []byte {
	valid := true
	for _, it := range items {
		valid = valid && utf8.Valid(it)
	}
	name := "items"
	open, close := byte('['), byte(']')
	if pairs {
		name, open, close = "fields", '{', '}'
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	if !valid {
		b = append(b, "_b64"...)
	}
	b = append(b, '"', ':', open)
	for i, it := range items {
		switch {
		case i == 0:
		case pairs && i%2 == 1:
			b = append(b, ':')
		default:
			b = append(b, ',')
		}
		if valid {
			b = AppendJSONString(b, string(it))
		} else {
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, it)
			b = append(b, '"')
		}
	}
	return append(b, close)
}

// boundText writes a range bound back in ZRANGEBYLEX syntax.
func boundText(bd Bound, isMin bool) []byte {
	switch bd.Kind {
	case Inclusive:
		return append([]byte{'['}, bd.Key...)
	case Exclusive:
		return append([]byte{'('}, bd.Key...)
	case Empty:
		if isMin {
			return []byte{'+'}
		}
		return []byte{'-'}
	}
	if isMin {
		return []byte{'-'}
	}
	return []byte{'+'}
}

// appendBytesField adds ,"name":"v", or ,"name_b64":"…" when v is not UTF-8.
func appendBytesField(b []byte, name string, v []byte) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	if utf8.Valid(v) {
		b = append(b, `":`...)
		return AppendJSONString(b, string(v))
	}
	b = append(b, `_b64":"`...)
	b = base64.StdEncoding.AppendEncode(b, v)
	return append(b, '"')
}

// AppendJSONString quotes a valid UTF-8 string for JSON.
func AppendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
