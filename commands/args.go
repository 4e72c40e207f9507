package commands

import (
	"bytes"
	"strconv"

	"github.com/mutexredis/mutexredis/mutex"
)

// ParseInt parses an integer argument the way Redis's string2ll does: an
// optional minus sign, digits, no leading zeros, no spaces, within int64.
func ParseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	digits := b
	if b[0] == '-' {
		digits = b[1:]
	}
	if len(digits) == 0 || digits[0] < '1' || digits[0] > '9' {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}

// parseLexBound parses one end of a range in ZRANGEBYLEX syntax: "-", "+",
// "[key" or "(key". isMin says which end it is: "-" is only a minimum's
// open end and "+" only a maximum's, but as in Redis either sign is
// accepted at either end ("+" as a minimum makes an empty range).
func parseLexBound(b []byte, isMin bool) (mutex.Bound, bool) {
	if len(b) == 0 {
		return mutex.Bound{}, false
	}
	switch b[0] {
	case '-', '+':
		if len(b) != 1 {
			return mutex.Bound{}, false
		}
		if (b[0] == '-') == isMin {
			return mutex.Bound{Kind: mutex.Unbounded}, true
		}
		return mutex.Bound{Kind: mutex.Empty}, true
	case '[':
		return mutex.Bound{Kind: mutex.Inclusive, Key: b[1:]}, true
	case '(':
		return mutex.Bound{Kind: mutex.Exclusive, Key: b[1:]}, true
	}
	return mutex.Bound{}, false
}

// parseLexRange parses "min max", both defaulting to the whole keyspace.
func parseLexRange(args [][]byte) (mutex.Range, any) {
	rng := mutex.Range{}
	if len(args) == 0 {
		return rng, nil
	}
	var ok1, ok2 bool
	rng.Min, ok1 = parseLexBound(args[0], true)
	rng.Max, ok2 = parseLexBound(args[1], false)
	if !ok1 || !ok2 {
		return rng, ErrLexRange
	}
	return rng, nil
}

// isOption reports whether arg is the option name opt (upper case), case-insensitively.
func isOption(arg []byte, opt string) bool { return bytes.EqualFold(arg, []byte(opt)) }

// ValidKeyspaceName reports whether name may be selected by name: 1–64
// bytes of A-Z a-z 0-9 _ - . :
func ValidKeyspaceName(name []byte) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '_', c == '-', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// keyPairs checks that args (after the command name) are key value pairs.
func keyPairs(name string, args [][]byte) any {
	if len(args) == 0 || len(args)%2 != 0 {
		return ArityError(name)
	}
	return nil
}
