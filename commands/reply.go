package commands

import (
	"fmt"
	"math"
	"strconv"

	"github.com/mutexredis/mutexredis/mutex"
	"github.com/tidwall/redcon"
)

// Replies are plain Go values, written by AppendReply:
//
//	[]byte        bulk string (nil: null bulk)
//	string        bulk string
//	int64, int    integer
//	Status        simple string (+OK)
//	Error         error (-ERR …)
//	[]any         array (nil: empty array)
//	NullArray     null array (*-1)
//	Replies       several top-level replies (SUBSCRIBE a b answers twice)
//	NoReply       nothing at all (SHUTDOWN closes the connection instead)
//
// and the RESP3 shapes, which RESP2 connections receive as Redis 7 sends
// them to RESP2 clients:
//
//	Map           key, value, key, value … (RESP2: a flat array)
//	PairMap       key, value, key, value … (RESP2: an array of [key, value] pairs, as XREAD's)
//	Set           an unordered collection (RESP2: an array)
//	Double        a float (RESP2: a bulk string, Redis's %.17g form)
//	Bool          true/false (RESP2: integer 1/0)
//	Verbatim      a text blob, INFO and CLIENT LIST (RESP2: a bulk string)
//	Push          an out-of-band message: pub/sub, invalidations (RESP2: an array)
//	Pairs         member, score, member, score … (RESP2: a flat array; RESP3:
//	              an array of two-element arrays, Redis 7's WITHSCORES)
//
// RESP3 connections (HELLO 3) get them as RESP3 types (AppendReply3), and
// every null (nil, []byte(nil), NullArray) as RESP3's null "_".
type (
	Status    string
	Error     string
	NullArray struct{}
	Replies   []any
	NoReply   struct{}
	Map       []any
	PairMap   []any
	Set       []any
	Double    float64
	Bool      bool
	Verbatim  string
	Push      []any
	Pairs     []any
)

// OK is the usual +OK.
const OK = Status("OK")

func (e Error) Error() string { return string(e) }

// Redis's error texts, shared by every command that can hit them.
const (
	ErrSyntax      = Error("ERR syntax error")
	ErrNotInteger  = Error("ERR value is not an integer or out of range")
	ErrNotFloat    = Error("ERR value is not a valid float")
	ErrLexRange    = Error("ERR min or max not valid string range item")
	ErrDBIndex     = Error("ERR DB index is out of range")
	ErrOverflow    = Error("ERR increment or decrement would overflow")
	ErrWrongType   = Error("WRONGTYPE Operation against a key holding the wrong kind of value")
	ErrNoSuchKey   = Error("ERR no such key")
	ErrExecAbort   = Error("EXECABORT Transaction discarded because of previous errors.")
	ErrNestedMulti = Error("ERR MULTI calls can not be nested")
)

// ArityError is Redis's text for a wrong number of arguments.
func ArityError(name string) Error {
	return Error("ERR wrong number of arguments for '" + name + "' command")
}

// AppendReplyProto appends v to b in RESP3 when resp3 is set, else RESP2.
func AppendReplyProto(b []byte, v any, resp3 bool) []byte {
	if resp3 {
		return AppendReply3(b, v)
	}
	return AppendReply(b, v)
}

// AppendReply3 appends v in RESP3 to b, as Redis 7.0 answers a HELLO 3
// connection.
func AppendReply3(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil, NullArray:
		return append(b, "_\r\n"...)
	case []byte:
		if v == nil {
			return append(b, "_\r\n"...)
		}
		return redcon.AppendBulk(b, v)
	case []any:
		return appendAggregate3(b, '*', len(v), v)
	case Map:
		return appendAggregate3(b, '%', len(v)/2, v)
	case PairMap:
		return appendAggregate3(b, '%', len(v)/2, v)
	case Set:
		return appendAggregate3(b, '~', len(v), v)
	case Push:
		return appendAggregate3(b, '>', len(v), v)
	case Pairs:
		b = redcon.AppendArray(b, len(v)/2)
		for i := 0; i+1 < len(v); i += 2 {
			b = appendAggregate3(b, '*', 2, v[i:i+2])
		}
		return b
	case Double:
		b = append(b, ',')
		b = append(b, FormatDouble(float64(v))...)
		return append(b, '\r', '\n')
	case Bool:
		if v {
			return append(b, "#t\r\n"...)
		}
		return append(b, "#f\r\n"...)
	case Verbatim:
		b = append(b, '=')
		b = strconv.AppendInt(b, int64(len(v)+4), 10)
		b = append(b, "\r\ntxt:"...)
		b = append(b, v...)
		return append(b, '\r', '\n')
	case Replies:
		for _, e := range v {
			b = AppendReply3(b, e)
		}
		return b
	}
	return AppendReply(b, v)
}

func appendAggregate3(b []byte, kind byte, n int, elems []any) []byte {
	b = append(b, kind)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, '\r', '\n')
	for _, e := range elems {
		b = AppendReply3(b, e)
	}
	return b
}

// AppendReply appends v in RESP2 to b.
func AppendReply(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return redcon.AppendNull(b)
	case []byte:
		if v == nil {
			return redcon.AppendNull(b)
		}
		return redcon.AppendBulk(b, v)
	case string:
		return redcon.AppendBulkString(b, v)
	case int64:
		return redcon.AppendInt(b, v)
	case int:
		return redcon.AppendInt(b, int64(v))
	case uint64:
		return redcon.AppendUint(b, v)
	case Status:
		return redcon.AppendString(b, string(v))
	case Error:
		return redcon.AppendError(b, string(v))
	case NullArray:
		return append(b, "*-1\r\n"...)
	case NoReply:
		return b
	case []any:
		b = redcon.AppendArray(b, len(v))
		for _, e := range v {
			b = AppendReply(b, e)
		}
		return b
	case Map:
		return AppendReply(b, []any(v))
	case PairMap:
		b = redcon.AppendArray(b, len(v)/2)
		for i := 0; i+1 < len(v); i += 2 {
			b = redcon.AppendArray(b, 2)
			b = AppendReply(AppendReply(b, v[i]), v[i+1])
		}
		return b
	case Set:
		return AppendReply(b, []any(v))
	case Push:
		return AppendReply(b, []any(v))
	case Pairs:
		return AppendReply(b, []any(v))
	case Double:
		return redcon.AppendBulk(b, FormatDouble(float64(v)))
	case Bool:
		if v {
			return redcon.AppendInt(b, 1)
		}
		return redcon.AppendInt(b, 0)
	case Verbatim:
		return redcon.AppendBulkString(b, string(v))
	case Replies:
		for _, e := range v {
			b = AppendReply(b, e)
		}
		return b
	case error:
		return redcon.AppendError(b, "ERR "+v.Error())
	}
	return redcon.AppendError(b, fmt.Sprintf("ERR internal error: unknown reply type %T", v))
}

// FormatDouble formats f as Redis 7.0 replies with a score or a double:
// C's %.17g, and "inf" and "-inf" for the infinities.
func FormatDouble(f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return []byte("inf")
	case math.IsInf(f, -1):
		return []byte("-inf")
	case math.IsNaN(f):
		return []byte("nan")
	}
	return strconv.AppendFloat(nil, f, 'g', 17, 64)
}

// replyBudget counts the bytes a read copies out of a collection for one
// reply, against client-output-buffer-limit normal's hard limit
// (Reader.MaxReply): past it the command answers ErrReplyTooLarge instead
// of building the rest, so a reply's memory is bounded however large the
// collection. Each element also costs its slot in the reply.
type replyBudget struct{ left, max int64 }

const replySlotBytes = 32

func newReplyBudget(r *mutex.Reader) replyBudget {
	return replyBudget{left: r.MaxReply(), max: r.MaxReply()}
}

// take reports whether n more bytes fit.
func (b *replyBudget) take(n int) bool {
	if b.max <= 0 {
		return true
	}
	b.left -= int64(n) + replySlotBytes
	return b.left >= 0
}

// err is the reply of a command whose reply did not fit.
func (b *replyBudget) err() error {
	return Error("ERR reply exceeds client-output-buffer-limit normal (" + strconv.FormatInt(b.max, 10) + " bytes): read it in parts (SCAN, ranges, COUNT)")
}
