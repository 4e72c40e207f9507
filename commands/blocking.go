package commands

import (
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/mutexredis/mutexredis/mutex"
)

// Blocking commands (BLPOP, BZPOPMIN, XREAD BLOCK …) are ops like any
// other: they first try inside the write phase, in pipeline order. One
// that finds nothing answers a *Blocking, and the server then blocks the
// client with mutex.Keyspace.Block: it waits outside the mutex, and each
// committed batch that writes one of Keys queues a new Attempt, the
// longest-waiting client first. Inside MULTI and scripts they never block:
// a *Blocking becomes its TimeoutReply at once (NonBlocking).

// Blocking is the reply of a blocking command that must wait.
type Blocking struct {
	Keys    [][]byte
	Attempt mutex.Attempt
	// Timeout is how long to wait; 0 waits forever.
	Timeout time.Duration
	// TimeoutReply answers a client whose wait timed out.
	TimeoutReply any
	// NowReply, when HasNowReply, is what the command answers where it
	// may not block, instead of TimeoutReply (Redis's BLMOVE: a null bulk
	// inside MULTI, a null array on timeout).
	NowReply    any
	HasNowReply bool
}

// NonBlocking turns a *Blocking reply into its timeout reply: what a
// blocking command answers where it may not block.
func NonBlocking(reply any) any {
	if b, ok := reply.(*Blocking); ok {
		if b.HasNowReply {
			return b.NowReply
		}
		return b.TimeoutReply
	}
	return reply
}

// ParseTimeout parses a blocking command's timeout in seconds (a float, 0
// for ever), with Redis 7.0's rules: the wait is ceil(seconds × 1000) ms,
// so a tiny negative timeout waits for ever, and one too large for a
// 64-bit count of milliseconds (inf included) is negative for Redis.
func ParseTimeout(arg []byte) (time.Duration, any) {
	f, err := strconv.ParseFloat(string(arg), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) || math.IsNaN(f) {
		return 0, Error("ERR timeout is not a float or out of range")
	}
	ms := math.Ceil(f * 1000)
	if ms < 0 || ms >= math.MaxInt64 {
		return 0, Error("ERR timeout is negative")
	}
	if ms >= float64(math.MaxInt64/int64(time.Millisecond)) {
		return math.MaxInt64, nil // some 292 years
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// ParseTimeoutMillis parses XREAD's BLOCK milliseconds (an integer, 0 for
// ever).
func ParseTimeoutMillis(arg []byte) (time.Duration, any) {
	n, ok := ParseInt(arg)
	if !ok {
		return 0, Error("ERR timeout is not an integer or out of range")
	}
	if n < 0 {
		return 0, Error("ERR timeout is negative")
	}
	if n > math.MaxInt64/int64(time.Millisecond) {
		return 0, Error("ERR timeout is out of range")
	}
	return time.Duration(n) * time.Millisecond, nil
}

// blockingOp builds a blocking command's op: one attempt in the write
// phase, answering served replies at once and a *Blocking otherwise.
func blockingOp(keys [][]byte, timeout time.Duration, timeoutReply any, attempt mutex.Attempt) mutex.Op {
	return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		res, ok, err := attempt(tx)
		if ok || err != nil {
			return res, err
		}
		return &Blocking{Keys: keys, Attempt: attempt, Timeout: timeout, TimeoutReply: timeoutReply}, nil
	})
}
