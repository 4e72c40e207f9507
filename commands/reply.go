package commands

import (
	"fmt"

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
type (
	Status    string
	Error     string
	NullArray struct{}
	Replies   []any
	NoReply   struct{}
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
