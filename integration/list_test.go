package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The list commands against a real redis-server 7.0: scripts of commands
// (errors, edge cases, WRONGTYPE, MULTI) whose raw replies must be equal,
// and random command sequences after which both servers hold the same
// lists.

// listDB is the database the list tests use on both servers (other tests
// use other databases of the shared redis-server).
const listDB = "13"

// runListScripts runs each script on a fresh connection to mutexredis and
// to the real Redis (database listDB on both, flushed first) and compares
// every raw reply.
func runListScripts(t *testing.T, scripts []script) {
	t.Helper()
	raddr := realRedis(t)
	s := startServer(t)
	for _, sc := range scripts {
		t.Run(sc.name, func(t *testing.T) {
			mine, theirs := dialRaw(t, s.Addr), dialRaw(t, raddr)
			for _, c := range []*rconn{mine, theirs} {
				c.do("SELECT", listDB)
				c.do("FLUSHDB")
			}
			for i, st := range sc.steps {
				got, want := mine.do(st.args...), theirs.do(st.args...)
				if got != want {
					t.Errorf("step %d %q:\n mutexredis: %s\n redis:      %s", i, st.args, got, want)
				}
			}
		})
	}
}

var listScripts = []script{
	{"push pop", []step{
		cmd("LPUSH", "l", "a"), cmd("LPUSH", "l", "b", "c"), cmd("RPUSH", "l", "x", "y"), cmd("LRANGE", "l", "0", "-1"),
		cmd("LLEN", "l"), cmd("LLEN", "nokey"), cmd("LPOP", "l"), cmd("RPOP", "l"), cmd("LPOP", "l", "2"), cmd("RPOP", "l", "5"),
		cmd("EXISTS", "l"), cmd("LPOP", "l"), cmd("RPOP", "l"), cmd("LPOP", "l", "2"), cmd("RPOP", "nokey", "0"),
		cmd("RPUSH", "l", "1", "2", "3"), cmd("LPOP", "l", "0"), cmd("RPOP", "l", "0"), cmd("LPOP", "l", "-1"), cmd("LPOP", "l", "x"),
		cmd("LPOP", "l", "1", "2"), cmd("LPOP"), cmd("LPUSH", "l"), cmd("RPUSH"), cmd("LLEN"), cmd("LLEN", "a", "b"),
		cmd("RPOP", "l", "9223372036854775807"), cmd("EXISTS", "l"), cmd("RPOP", "l", "9223372036854775808"),
		cmd("RPUSH", "bin", "\x00\xff", "", "\r\n"), cmd("LRANGE", "bin", "0", "-1"), cmd("LPOP", "bin", "3"),
	}},
	{"pushx", []step{
		cmd("LPUSHX", "l", "a"), cmd("RPUSHX", "l", "a", "b"), cmd("EXISTS", "l"), cmd("RPUSH", "l", "m"),
		cmd("LPUSHX", "l", "a", "b"), cmd("RPUSHX", "l", "y", "z"), cmd("LRANGE", "l", "0", "-1"), cmd("LPUSHX", "l"),
	}},
	{"lrange lindex", []step{
		cmd("RPUSH", "l", "a", "b", "c", "d", "e"),
		cmd("LRANGE", "l", "0", "0"), cmd("LRANGE", "l", "1", "3"), cmd("LRANGE", "l", "-2", "-1"), cmd("LRANGE", "l", "-100", "100"),
		cmd("LRANGE", "l", "3", "1"), cmd("LRANGE", "l", "5", "10"), cmd("LRANGE", "l", "-1", "-2"), cmd("LRANGE", "l", "4", "4"),
		cmd("LRANGE", "l", "-9223372036854775808", "9223372036854775807"), cmd("LRANGE", "l", "0", "-6"), cmd("LRANGE", "l", "0", "-5"),
		cmd("LRANGE", "nokey", "0", "-1"), cmd("LRANGE", "l", "a", "1"), cmd("LRANGE", "l", "0", "1.5"), cmd("LRANGE", "nokey", "x", "1"),
		cmd("LRANGE", "l", "0"), cmd("LRANGE", "l", " 1", "2"), cmd("LRANGE", "l", "01", "2"),
		cmd("LINDEX", "l", "0"), cmd("LINDEX", "l", "4"), cmd("LINDEX", "l", "5"), cmd("LINDEX", "l", "-1"), cmd("LINDEX", "l", "-5"),
		cmd("LINDEX", "l", "-6"), cmd("LINDEX", "nokey", "0"), cmd("LINDEX", "l", "x"), cmd("LINDEX", "nokey", "x"), cmd("LINDEX", "l"),
		cmd("LINDEX", "l", "-9223372036854775808"), cmd("LINDEX", "l", "9223372036854775807"),
	}},
	{"lset", []step{
		cmd("LSET", "nokey", "0", "x"), cmd("LSET", "nokey", "abc", "x"), cmd("RPUSH", "l", "a", "b", "c"),
		cmd("LSET", "l", "0", "A"), cmd("LSET", "l", "-1", "C"), cmd("LSET", "l", "1", ""), cmd("LRANGE", "l", "0", "-1"),
		cmd("LSET", "l", "3", "x"), cmd("LSET", "l", "-4", "x"), cmd("LSET", "l", "abc", "x"), cmd("LSET", "l", "0"),
		cmd("LSET", "l", "9223372036854775807", "x"), cmd("LSET", "l", "-9223372036854775808", "x"),
		cmd("LPUSH", "l", "z"), cmd("LSET", "l", "0", "Z"), cmd("LRANGE", "l", "0", "-1"),
	}},
	{"linsert", []step{
		cmd("LINSERT", "nokey", "BEFORE", "a", "b"), cmd("LINSERT", "nokey", "middle", "a", "b"), cmd("RPUSH", "l", "a", "b", "c", "b"),
		cmd("LINSERT", "l", "BEFORE", "b", "x"), cmd("LINSERT", "l", "after", "b", "y"), cmd("LINSERT", "l", "AFTER", "c", "z"),
		cmd("LINSERT", "l", "before", "a", "first"), cmd("LINSERT", "l", "after", "b", "again"), cmd("LINSERT", "l", "BEFORE", "nope", "x"),
		cmd("LRANGE", "l", "0", "-1"), cmd("LINSERT", "l", "MIDDLE", "a", "x"), cmd("LINSERT", "l", "BEFORE", "a"),
		cmd("LINSERT", "l", "AFTER", "c", "q"), cmd("LINSERT", "l", "BEFORE", "first", "q0"), cmd("LRANGE", "l", "0", "-1"), cmd("LLEN", "l"),
	}},
	{"lrem", []step{
		cmd("LREM", "nokey", "0", "a"), cmd("LREM", "nokey", "x", "a"), cmd("RPUSH", "l", "a", "b", "a", "c", "a", "b", "a"),
		cmd("LREM", "l", "1", "a"), cmd("LRANGE", "l", "0", "-1"), cmd("LREM", "l", "-2", "a"), cmd("LRANGE", "l", "0", "-1"),
		cmd("LREM", "l", "0", "b"), cmd("LRANGE", "l", "0", "-1"), cmd("LREM", "l", "0", "nope"), cmd("LREM", "l", "x", "a"),
		cmd("RPUSH", "l", "x", "a", "x", "x", "a"), cmd("LREM", "l", "-9223372036854775808", "x"), cmd("LRANGE", "l", "0", "-1"),
		cmd("LREM", "l", "9223372036854775807", "a"), cmd("EXISTS", "l"), cmd("LREM", "l", "0"),
		cmd("RPUSH", "m", "k", "1", "2", "3", "4", "5", "6", "7", "8", "k"), cmd("LREM", "m", "-1", "k"), cmd("LRANGE", "m", "0", "-1"),
		cmd("LREM", "m", "1", "k"), cmd("LRANGE", "m", "0", "-1"), cmd("RPUSH", "m", "2"), cmd("LREM", "m", "0", "2"), cmd("LRANGE", "m", "0", "-1"),
		cmd("LPUSH", "m", "9"), cmd("LREM", "m", "1", "7"), cmd("LRANGE", "m", "0", "-1"), cmd("LINDEX", "m", "0"), cmd("LINDEX", "m", "-1"),
	}},
	{"ltrim", []step{
		cmd("LTRIM", "nokey", "0", "1"), cmd("LTRIM", "nokey", "x", "1"), cmd("RPUSH", "l", "a", "b", "c", "d", "e", "f"),
		cmd("LTRIM", "l", "1", "-2"), cmd("LRANGE", "l", "0", "-1"), cmd("LTRIM", "l", "0", "-1"), cmd("LTRIM", "l", "-100", "100"),
		cmd("LRANGE", "l", "0", "-1"), cmd("LTRIM", "l", "1", "1"), cmd("LRANGE", "l", "0", "-1"), cmd("LTRIM", "l", "1", "0"),
		cmd("EXISTS", "l"), cmd("RPUSH", "l", "a", "b", "c"), cmd("LTRIM", "l", "5", "10"), cmd("EXISTS", "l"),
		cmd("RPUSH", "l", "a", "b", "c"), cmd("LTRIM", "l", "-1", "-2"), cmd("EXISTS", "l"), cmd("RPUSH", "l", "a", "b", "c"),
		cmd("LTRIM", "l", "0", "-3"), cmd("LRANGE", "l", "0", "-1"), cmd("LTRIM", "l", "a", "b"), cmd("LTRIM", "l", "0"),
		cmd("LPUSH", "l", "z"), cmd("RPUSH", "l", "y"), cmd("LRANGE", "l", "0", "-1"),
	}},
	{"lpos", []step{
		cmd("LPOS", "nokey", "a"), cmd("LPOS", "nokey", "a", "COUNT", "0"), cmd("LPOS", "nokey", "a", "RANK", "0"),
		cmd("RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"),
		cmd("LPOS", "l", "c"), cmd("LPOS", "l", "x"), cmd("LPOS", "l", "c", "RANK", "2"), cmd("LPOS", "l", "c", "RANK", "-1"),
		cmd("LPOS", "l", "c", "RANK", "-3"), cmd("LPOS", "l", "c", "RANK", "4"), cmd("LPOS", "l", "c", "RANK", "-4"),
		cmd("LPOS", "l", "c", "COUNT", "0"), cmd("LPOS", "l", "c", "COUNT", "2"), cmd("LPOS", "l", "c", "COUNT", "2", "RANK", "-1"),
		cmd("LPOS", "l", "c", "COUNT", "0", "RANK", "2"), cmd("LPOS", "l", "x", "COUNT", "0"), cmd("LPOS", "l", "c", "MAXLEN", "3"),
		cmd("LPOS", "l", "c", "MAXLEN", "2"), cmd("LPOS", "l", "c", "MAXLEN", "7", "COUNT", "0"), cmd("LPOS", "l", "c", "RANK", "-1", "MAXLEN", "1"),
		cmd("LPOS", "l", "c", "RANK", "-1", "MAXLEN", "1", "COUNT", "0"), cmd("LPOS", "l", "c", "maxlen", "0", "count", "1", "rank", "1"),
		cmd("LPOS", "l", "c", "RANK", "0"), cmd("LPOS", "l", "c", "RANK", "x"), cmd("LPOS", "l", "c", "COUNT", "-1"),
		cmd("LPOS", "l", "c", "COUNT", "x"), cmd("LPOS", "l", "c", "MAXLEN", "-1"), cmd("LPOS", "l", "c", "MAXLEN", "x"),
		cmd("LPOS", "l", "c", "RANK"), cmd("LPOS", "l", "c", "FOO", "1"), cmd("LPOS", "l", "c", "COUNT"), cmd("LPOS", "l"),
		cmd("LPOS", "l", "c", "RANK", "-9223372036854775808"), cmd("LPOS", "l", "c", "RANK", "-9223372036854775808", "COUNT", "1"),
		cmd("LPOS", "l", "c", "RANK", "9223372036854775807"), cmd("LPOS", "l", "c", "RANK", "1", "RANK", "2"),
	}},
	{"lmove rpoplpush", []step{
		cmd("LMOVE", "nokey", "d", "LEFT", "RIGHT"), cmd("EXISTS", "d"), cmd("RPUSH", "s", "a", "b", "c"),
		cmd("LMOVE", "s", "d", "LEFT", "RIGHT"), cmd("LMOVE", "s", "d", "right", "left"), cmd("LRANGE", "s", "0", "-1"), cmd("LRANGE", "d", "0", "-1"),
		cmd("LMOVE", "s", "d", "LEFT", "LEFT"), cmd("EXISTS", "s"), cmd("LRANGE", "d", "0", "-1"), cmd("LMOVE", "d", "d", "LEFT", "RIGHT"),
		cmd("LRANGE", "d", "0", "-1"), cmd("LMOVE", "d", "d", "RIGHT", "RIGHT"), cmd("LRANGE", "d", "0", "-1"),
		cmd("LMOVE", "d", "x", "MIDDLE", "LEFT"), cmd("LMOVE", "d", "x", "LEFT", "UP"), cmd("LMOVE", "d", "x", "LEFT"),
		cmd("RPOPLPUSH", "d", "e"), cmd("RPOPLPUSH", "nokey", "e"), cmd("LRANGE", "e", "0", "-1"), cmd("RPOPLPUSH", "e", "e"),
		cmd("RPOPLPUSH", "d"), cmd("RPUSH", "one", "x"), cmd("LMOVE", "one", "one", "LEFT", "LEFT"), cmd("LRANGE", "one", "0", "-1"),
		cmd("RPOPLPUSH", "one", "two"), cmd("EXISTS", "one"), cmd("LRANGE", "two", "0", "-1"),
	}},
	{"lmpop", []step{
		cmd("LMPOP", "1", "nokey", "LEFT"), cmd("RPUSH", "b", "1", "2", "3"), cmd("RPUSH", "c", "x"),
		cmd("LMPOP", "2", "a", "b", "LEFT"), cmd("LMPOP", "2", "a", "b", "RIGHT", "COUNT", "10"), cmd("LMPOP", "3", "a", "b", "c", "left", "count", "2"),
		cmd("EXISTS", "b", "c"), cmd("RPUSH", "b", "1", "2", "3"), cmd("LMPOP", "1", "b", "RIGHT", "COUNT", "2"),
		cmd("LMPOP", "0", "b", "LEFT"), cmd("LMPOP", "-1", "b", "LEFT"), cmd("LMPOP", "x", "b", "LEFT"), cmd("LMPOP", "2", "b", "LEFT"),
		cmd("LMPOP", "1", "b", "MIDDLE"), cmd("LMPOP", "1", "b", "LEFT", "COUNT", "0"), cmd("LMPOP", "1", "b", "LEFT", "COUNT", "x"),
		cmd("LMPOP", "1", "b", "LEFT", "COUNT"), cmd("LMPOP", "1", "b", "LEFT", "COUNT", "1", "COUNT", "1"), cmd("LMPOP", "1", "b", "LEFT", "FOO"),
		cmd("LMPOP", "9223372036854775807", "b", "LEFT"), cmd("LMPOP", "9223372036854775808", "b", "LEFT"), cmd("LMPOP", "1", "b"),
		cmd("LMPOP", "1", "b", "LEFT", "COUNT", "9223372036854775807"), cmd("EXISTS", "b"),
	}},
	{"blocking without waiting", []step{
		cmd("RPUSH", "a", "1", "2"), cmd("BLPOP", "nokey", "a", "0"), cmd("BRPOP", "a", "nokey", "0"), cmd("EXISTS", "a"),
		cmd("BLPOP", "a", "0.01"), cmd("BRPOP", "nokey", "0.01"), cmd("RPUSH", "b", "x", "y", "z"),
		cmd("BLMPOP", "0", "2", "nokey", "b", "RIGHT", "COUNT", "2"), cmd("BLMPOP", "0.01", "1", "nokey", "LEFT"),
		cmd("BLMOVE", "b", "c", "LEFT", "RIGHT", "0"), cmd("BLMOVE", "b", "c", "LEFT", "RIGHT", "0.01"), cmd("LRANGE", "c", "0", "-1"),
		cmd("BRPOPLPUSH", "c", "d", "0"), cmd("BRPOPLPUSH", "c", "d", "0.01"), cmd("LRANGE", "d", "0", "-1"),
		cmd("BLPOP", "a", "-1"), cmd("BLPOP", "a", "x"), cmd("BLPOP", "a", "inf"), cmd("BLPOP", "a", "nan"), cmd("BLPOP", "a"), cmd("BLPOP"),
		cmd("BLMPOP", "0", "0", "a", "LEFT"), cmd("BLMPOP", "x", "1", "a", "LEFT"), cmd("BLMPOP", "x", "1", "a", "MIDDLE"),
		cmd("BLMPOP", "-1", "1", "a", "LEFT", "COUNT", "0"), cmd("BLMPOP", "-1", "1", "a", "LEFT"), cmd("BLMPOP", "0", "1", "a"),
		cmd("BLMOVE", "a", "b", "LEFT", "RIGHT", "-1"), cmd("BLMOVE", "a", "b", "MIDDLE", "RIGHT", "x"), cmd("BLMOVE", "a", "b", "LEFT", "RIGHT"),
		cmd("BRPOPLPUSH", "a", "b", "x"), cmd("BRPOPLPUSH", "a", "b"), cmd("BLPOP", "a", "99999999999999999999"),
	}},
	{"blocking in multi", []step{
		cmd("MULTI"), cmd("BLPOP", "nokey", "0"), cmd("BRPOP", "nokey", "0"), cmd("BLMOVE", "nokey", "x", "LEFT", "LEFT", "0"),
		cmd("BRPOPLPUSH", "nokey", "x", "0"), cmd("BLMPOP", "0", "1", "nokey", "LEFT"), cmd("RPUSH", "nokey", "v"),
		cmd("BLPOP", "nokey", "0"), cmd("EXEC"), cmd("EXISTS", "nokey"),
	}},
	{"list wrongtype", []step{
		cmd("SET", "str", "x"), cmd("LPUSH", "str", "a"), cmd("RPUSH", "str", "a"), cmd("LPUSHX", "str", "a"), cmd("RPUSHX", "str", "a"),
		cmd("LPOP", "str"), cmd("RPOP", "str", "0"), cmd("LPOP", "str", "x"), cmd("LLEN", "str"), cmd("LRANGE", "str", "0", "-1"),
		cmd("LRANGE", "str", "x", "1"), cmd("LINDEX", "str", "0"), cmd("LSET", "str", "0", "x"), cmd("LSET", "str", "x", "x"),
		cmd("LINSERT", "str", "BEFORE", "a", "b"), cmd("LREM", "str", "0", "a"), cmd("LTRIM", "str", "0", "1"), cmd("LPOS", "str", "a"),
		cmd("LPOS", "str", "a", "RANK", "0"), cmd("LMOVE", "str", "l", "LEFT", "LEFT"), cmd("RPOPLPUSH", "str", "l"),
		cmd("LMOVE", "nokey", "str", "LEFT", "LEFT"), cmd("RPUSH", "l", "a"), cmd("LMOVE", "l", "str", "LEFT", "LEFT"), cmd("LRANGE", "l", "0", "-1"),
		cmd("LMPOP", "2", "nokey", "str", "LEFT"), cmd("LMPOP", "2", "l", "str", "LEFT"), cmd("RPUSH", "l", "a"), cmd("LMPOP", "2", "str", "l", "LEFT"),
		cmd("BLPOP", "str", "0"), cmd("BLPOP", "nokey", "str", "0"), cmd("BLMPOP", "0", "1", "str", "LEFT"), cmd("BLMOVE", "str", "l", "LEFT", "LEFT", "0"),
		cmd("BRPOPLPUSH", "l", "str", "0"), cmd("LRANGE", "l", "0", "-1"),
		cmd("GET", "l"), cmd("INCR", "l"), cmd("APPEND", "l", "x"), cmd("STRLEN", "l"), cmd("MGET", "l", "str"), cmd("SET", "l", "s"), cmd("LLEN", "l"),
	}},
	{"list generic", []step{
		cmd("RPUSH", "l", "a", "b", "c"), cmd("TYPE", "l"), cmd("OBJECT", "ENCODING", "l"), cmd("EXISTS", "l"), cmd("TTL", "l"),
		cmd("EXPIRE", "l", "100"), cmd("RPUSH", "l", "d"), cmd("TTL", "l"), cmd("LPOP", "l"), cmd("LSET", "l", "0", "B"), cmd("TTL", "l"),
		cmd("LINSERT", "l", "BEFORE", "c", "x"), cmd("LREM", "l", "1", "x"), cmd("LTRIM", "l", "0", "-2"), cmd("TTL", "l"),
		cmd("LMOVE", "l", "m", "LEFT", "LEFT"), cmd("TTL", "m"), cmd("TTL", "l"), cmd("PERSIST", "l"), cmd("TTL", "l"),
		cmd("RENAME", "l", "l2"), cmd("LRANGE", "l2", "0", "-1"), cmd("COPY", "l2", "l3"), cmd("RPUSH", "l3", "z"),
		cmd("LRANGE", "l2", "0", "-1"), cmd("LRANGE", "l3", "0", "-1"), cmd("DEL", "l2", "l3"), cmd("EXISTS", "l2", "l3"),
		cmd("RPUSH", "e", "x"), cmd("PEXPIRE", "e", "1"), cmd("SET", "l", "x"), cmd("RPUSH", "l", "y"), cmd("DEL", "l"),
		cmd("RPUSH", "l", "y"), cmd("LRANGE", "l", "0", "-1"),
	}},
	{"list multi", []step{
		cmd("MULTI"), cmd("RPUSH", "l", "a", "b"), cmd("LPUSH", "l", "z"), cmd("LRANGE", "l", "0", "-1"), cmd("LPOP", "l", "x"),
		cmd("LSET", "l", "9", "x"), cmd("RPOPLPUSH", "l", "m"), cmd("LLEN", "l"), cmd("LINDEX", "m", "0"), cmd("EXEC"),
		cmd("LRANGE", "l", "0", "-1"), cmd("WATCH", "l"), cmd("LPUSH", "l", "w"), cmd("MULTI"), cmd("LPOP", "l"), cmd("EXEC"),
		cmd("WATCH", "l"), cmd("LPUSHX", "nokey", "w"), cmd("MULTI"), cmd("LPOP", "l"), cmd("EXEC"), cmd("LRANGE", "l", "0", "-1"),
	}},
}

func TestListCompareWithRedis(t *testing.T) {
	t.Parallel()
	runListScripts(t, listScripts)
}

// TestListRandomLikeRedis is the property test: random sequences of list
// commands (pushes, pops, moves, inserts, removals, trims, sets) over a few
// keys give the same replies on mutexredis and Redis, and leave the same
// lists. MUTEXREDIS_LIST_OPS sets the number of commands (default 3000),
// MUTEXREDIS_LIST_SEED replays a run.
func TestListRandomLikeRedis(t *testing.T) {
	t.Parallel()
	raddr := realRedis(t)
	s := startServer(t, "--fsync", "never")
	n := int(crashEnvInt(t, "MUTEXREDIS_LIST_OPS", 3000))
	seed := uint64(crashEnvInt(t, "MUTEXREDIS_LIST_SEED", time.Now().UnixNano()))
	t.Logf("seed %d (MUTEXREDIS_LIST_SEED replays it), %d commands", seed, n)
	rng := rand.New(rand.NewPCG(seed, 13))
	const db = "14"
	mine, theirs := dialRaw(t, s.Addr), dialRaw(t, raddr)
	for _, c := range []*rconn{mine, theirs} {
		c.do("SELECT", db)
		c.do("FLUSHDB")
	}
	keys := []string{"p:a", "p:b", "p:c", "p:str"}
	mine.do("SET", "p:str", "x")
	theirs.do("SET", "p:str", "x")
	key := func() string {
		if rng.IntN(20) == 0 {
			return keys[3]
		}
		return keys[rng.IntN(3)]
	}
	elem := func() string { return strconv.Itoa(rng.IntN(8)) }
	idx := func() string { return strconv.Itoa(rng.IntN(30) - 15) }
	end := func() string { return []string{"LEFT", "RIGHT"}[rng.IntN(2)] }
	gen := func() []string {
		switch rng.IntN(16) {
		case 0, 1:
			a := []string{"LPUSH", key()}
			for range 1 + rng.IntN(4) {
				a = append(a, elem())
			}
			return a
		case 2, 3:
			a := []string{"RPUSH", key()}
			for range 1 + rng.IntN(4) {
				a = append(a, elem())
			}
			return a
		case 4:
			return []string{[]string{"LPUSHX", "RPUSHX"}[rng.IntN(2)], key(), elem()}
		case 5:
			if rng.IntN(2) == 0 {
				return []string{[]string{"LPOP", "RPOP"}[rng.IntN(2)], key()}
			}
			return []string{[]string{"LPOP", "RPOP"}[rng.IntN(2)], key(), strconv.Itoa(rng.IntN(5))}
		case 6:
			return []string{"LSET", key(), idx(), elem()}
		case 7:
			return []string{"LINSERT", key(), []string{"BEFORE", "AFTER"}[rng.IntN(2)], elem(), elem()}
		case 8:
			return []string{"LREM", key(), strconv.Itoa(rng.IntN(7) - 3), elem()}
		case 9:
			return []string{"LTRIM", key(), idx(), idx()}
		case 10:
			return []string{"LMOVE", key(), key(), end(), end()}
		case 11:
			return []string{"RPOPLPUSH", key(), key()}
		case 12:
			a := []string{"LMPOP", "2", key(), key(), end()}
			if rng.IntN(2) == 0 {
				a = append(a, "COUNT", strconv.Itoa(1+rng.IntN(4)))
			}
			return a
		case 13:
			a := []string{"LPOS", key(), elem()}
			if rng.IntN(2) == 0 {
				a = append(a, "RANK", strconv.Itoa([]int{1, 2, -1, -2}[rng.IntN(4)]))
			}
			if rng.IntN(2) == 0 {
				a = append(a, "COUNT", strconv.Itoa(rng.IntN(3)))
			}
			if rng.IntN(3) == 0 {
				a = append(a, "MAXLEN", strconv.Itoa(rng.IntN(6)))
			}
			return a
		case 14:
			return []string{"LINDEX", key(), idx()}
		default:
			return []string{"LRANGE", key(), idx(), idx()}
		}
	}
	var history []string
	for i := 0; i < n; i++ {
		args := gen()
		history = append(history, strings.Join(args, " "))
		got, want := mine.do(args...), theirs.do(args...)
		if got != want {
			t.Fatalf("command %d %q (seed %d):\n mutexredis: %s\n redis:      %s\nlast commands:\n%s", i, args, seed, got, want,
				strings.Join(history[max(0, len(history)-15):], "\n"))
		}
		if i%50 == 49 || i == n-1 {
			for _, k := range keys[:3] {
				got, want := mine.do("LRANGE", k, "0", "-1"), theirs.do("LRANGE", k, "0", "-1")
				if got != want {
					t.Fatalf("after command %d (seed %d), %s:\n mutexredis: %s\n redis:      %s", i, seed, k, got, want)
				}
			}
		}
	}
	// And the same after a restart: the lists are durable.
	s = s.restart(t)
	mine = dialRaw(t, s.Addr)
	mine.do("SELECT", db)
	for _, k := range keys {
		if got, want := mine.do("LRANGE", k, "0", "-1"), theirs.do("LRANGE", k, "0", "-1"); got != want {
			t.Errorf("after restart, %s:\n mutexredis: %s\n redis:      %s", k, got, want)
		}
	}
}

// TestListNotificationsLikeRedis: the list commands publish Redis's
// keyspace notifications, in Redis's order ("new" first, "del" when a
// list is emptied). Not parallel: notify-keyspace-events is global to the
// shared redis-server.
func TestListNotificationsLikeRedis(t *testing.T) {
	raddr := realRedis(t)
	s := startServer(t)
	del := []any{"DEL"}
	for _, k := range []string{"a", "b", "c", "s"} {
		del = append(del, "ntfl:"+k)
	}
	for _, a := range []string{s.Addr, raddr} {
		if err := newClient(t, a, nil).Do(context.Background(), del...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { ntfSetBoth(t, "", raddr) })
	ntfSetBoth(t, "KEAn", s.Addr, raddr)
	mine := newNtfSide(t, "mutexredis", s.Addr, true, 0)
	theirs := newNtfSide(t, "redis", raddr, false, 0)
	ntfCompare(t, mine, theirs,
		ntfQ("RPUSH", "ntfl:a", "1", "2", "3"), ntfQ("LPUSH", "ntfl:a", "0"), ntfQ("LPUSHX", "ntfl:b", "x"), ntfQ("RPUSHX", "ntfl:a", "4"),
		ntfQ("LPUSHX", "ntfl:a", "-1"), ntfQ("LPOP", "ntfl:a"), ntfQ("RPOP", "ntfl:a", "2"), ntfQ("LPOP", "ntfl:b"),
		ntfQ("LSET", "ntfl:a", "0", "z"), ntfQ("LSET", "ntfl:a", "9", "z"), ntfQ("LINSERT", "ntfl:a", "BEFORE", "z", "y"),
		ntfQ("LINSERT", "ntfl:a", "BEFORE", "nope", "y"), ntfQ("LREM", "ntfl:a", "0", "nope"), ntfQ("LREM", "ntfl:a", "1", "y"),
		ntfQ("RPUSH", "ntfl:a", "5", "6"), ntfQ("LTRIM", "ntfl:a", "1", "-1"),
		ntfQ("LMOVE", "ntfl:a", "ntfl:b", "LEFT", "RIGHT"), ntfQ("LMOVE", "ntfl:a", "ntfl:b", "RIGHT", "LEFT"),
		ntfQ("RPOPLPUSH", "ntfl:a", "ntfl:a"), ntfQ("RPOPLPUSH", "ntfl:a", "ntfl:c"), ntfQ("RPOPLPUSH", "ntfl:nokey", "ntfl:c"),
		ntfQ("LMPOP", "2", "ntfl:nokey", "ntfl:b", "LEFT", "COUNT", "5"), ntfQ("RPUSH", "ntfl:a", "1", "2"),
		ntfQ("BLPOP", "ntfl:a", "0"), ntfQ("BRPOP", "ntfl:a", "0"), ntfQ("RPUSH", "ntfl:a", "1", "2", "3"),
		ntfQ("BLMOVE", "ntfl:a", "ntfl:s", "LEFT", "LEFT", "0"), ntfQ("BRPOPLPUSH", "ntfl:a", "ntfl:s", "0"),
		ntfQ("BLMPOP", "0", "1", "ntfl:a", "RIGHT", "COUNT", "3"), ntfQ("LREM", "ntfl:s", "0", "1"), ntfQ("LREM", "ntfl:s", "0", "3"),
		ntfQ("RPUSH", "ntfl:a", "1", "2"), ntfQ("LTRIM", "ntfl:a", "5", "6"), ntfQ("RPUSH", "ntfl:a", "x"),
		ntfQ("MULTI", ntfQ("RPUSH", "ntfl:b", "1"), ntfQ("LPOP", "ntfl:b"), ntfQ("BLPOP", "ntfl:b", "0"), ntfQ("LPUSH", "ntfl:b", "2")),
		ntfQ("SET", "ntfl:c", "last"),
	)
}

// TestListBig: a list of many elements answers reads at either end and in
// its middle, LREM and LINSERT in the middle shift the right elements, and
// after DEL a new list under the same key sees none of the old elements.
func TestListBig(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--fsync", "never")
	c := s.client(t, nil)
	ctx := context.Background()
	const n = 20000
	p := c.Pipeline()
	for i := 0; i < n; i += 500 {
		args := []any{"RPUSH", "big"}
		for j := i; j < i+500; j++ {
			args = append(args, strconv.Itoa(j))
		}
		p.Do(ctx, args...)
	}
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.LLen(ctx, "big").Val(); got != n {
		t.Fatalf("LLEN = %d", got)
	}
	for _, i := range []int64{0, 1, n / 2, n - 1, -1, -n} {
		want := strconv.FormatInt((i+n)%n, 10)
		if got := c.LIndex(ctx, "big", i).Val(); got != want {
			t.Errorf("LINDEX %d = %q, want %q", i, got, want)
		}
	}
	got := c.LRange(ctx, "big", n/2, n/2+2).Val()
	if want := []string{strconv.Itoa(n / 2), strconv.Itoa(n/2 + 1), strconv.Itoa(n/2 + 2)}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("LRANGE middle = %v, want %v", got, want)
	}
	if got := c.LPos(ctx, "big", strconv.Itoa(n-5), redis.LPosArgs{}).Val(); got != n-5 {
		t.Errorf("LPOS = %d", got)
	}
	if got := c.LRem(ctx, "big", 0, strconv.Itoa(n/3)).Val(); got != 1 {
		t.Errorf("LREM = %d", got)
	}
	if got := c.LIndex(ctx, "big", n/3).Val(); got != strconv.Itoa(n/3+1) {
		t.Errorf("after LREM, LINDEX %d = %q", n/3, got)
	}
	if err := c.LInsert(ctx, "big", "AFTER", strconv.Itoa(n-10), "ins").Err(); err != nil {
		t.Fatal(err)
	}
	if got := c.LIndex(ctx, "big", n-10).Val(); got != "ins" {
		t.Errorf("after LINSERT, LINDEX %d = %q", n-10, got)
	}
	if got := c.LLen(ctx, "big").Val(); got != n {
		t.Errorf("LLEN after LREM and LINSERT = %d", got)
	}
	if got := c.Del(ctx, "big").Val(); got != 1 {
		t.Errorf("DEL = %d", got)
	}
	if got := c.Exists(ctx, "big").Val(); got != 0 {
		t.Errorf("EXISTS after DEL = %d", got)
	}
	if got := c.RPush(ctx, "big", "fresh").Val(); got != 1 {
		t.Errorf("RPUSH after DEL = %d: old elements visible", got)
	}
	if got := c.LRange(ctx, "big", 0, -1).Val(); len(got) != 1 || got[0] != "fresh" {
		t.Errorf("LRANGE after DEL and RPUSH = %v", got)
	}
}
