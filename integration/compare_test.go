package integration

import (
	"strings"
	"testing"
)

// step is one command of a script and the number of replies it gets
// (SUBSCRIBE a b gets two).
type step struct {
	args []string
	n    int
}

func cmd(args ...string) step { return step{args: args, n: 1} }

// replies sets the number of replies of a step.
func (s step) replies(n int) step { s.n = n; return s }

// script is a sequence of commands run on one fresh connection to each
// server; the keys it uses are flushed first.
type script struct {
	name  string
	steps []step
}

var long100 = strings.Repeat("a", 100)

// scripts are run against mutexredis and a real redis-server 7.0 and the
// raw replies compared. They cover only commands both have.
var scripts = []script{
	{"ping", []step{cmd("PING"), cmd("ping"), cmd("PING", "hello"), cmd("PING", "a", "b"), cmd("PiNg", "")}},
	{"echo", []step{cmd("ECHO", "hi"), cmd("ECHO", ""), cmd("ECHO"), cmd("ECHO", "a", "b"), cmd("ECHO", "bin\x00\xff\r\n")}},
	{"select numbers", []step{
		cmd("SELECT", "0"), cmd("SELECT", "15"), cmd("SELECT", "16"), cmd("SELECT", "-1"),
		cmd("SELECT", "01"), cmd("SELECT", " 1"), cmd("SELECT", "1 "), cmd("SELECT", "-0"), cmd("SELECT", "1.5"),
		cmd("SELECT", "99999999999999999999"), cmd("SELECT", "9223372036854775807"), cmd("SELECT", "-9223372036854775808"),
		cmd("SELECT"), cmd("SELECT", "1", "2"),
		// Names are a mutexredis extension; what is not a name is Redis's error.
		cmd("SELECT", "has space"), cmd("SELECT", "a/b"), cmd("SELECT", strings.Repeat("n", 65)), cmd("SELECT", "é"),
	}},
	{"type ttl rename", []step{
		cmd("SET", "k", "v"), cmd("TYPE", "k"), cmd("TYPE", "nokey"), cmd("TTL", "k"), cmd("TTL", "nokey"),
		cmd("PTTL", "k"), cmd("PTTL", "nokey"), cmd("TYPE"), cmd("TTL", "a", "b"),
		cmd("RENAME", "nokey", "x"), cmd("RENAME", "k", "k2"), cmd("GET", "k"), cmd("GET", "k2"),
		cmd("RENAME", "k2", "k2"), cmd("GET", "k2"), cmd("SET", "other", "o"), cmd("RENAMENX", "k2", "other"),
		cmd("RENAMENX", "k2", "k3"), cmd("GET", "k3"), cmd("RENAMENX", "nokey", "z"), cmd("RENAME", "k3"),
	}},
	{"get set", []step{
		cmd("SET", "k", "v"), cmd("GET", "k"), cmd("GET", "nokey"), cmd("GET"), cmd("GET", "a", "b"),
		cmd("SET", "k"), cmd("SET"), cmd("set", "k", "v2"), cmd("get", "k"),
		cmd("SET", "bin\x00\xff", "\x00\x01\xfe"), cmd("GET", "bin\x00\xff"),
		cmd("SET", "", "empty key"), cmd("GET", ""), cmd("SET", "ev", ""), cmd("GET", "ev"), cmd("STRLEN", "k"), cmd("STRLEN", "nokey"),
	}},
	{"set options", []step{
		cmd("SET", "k", "v1", "NX"), cmd("SET", "k", "v2", "NX"), cmd("GET", "k"),
		cmd("SET", "k", "v3", "XX"), cmd("GET", "k"), cmd("SET", "nokey", "v", "XX"), cmd("GET", "nokey"),
		cmd("SET", "k", "v4", "GET"), cmd("SET", "new1", "v", "GET"), cmd("GET", "new1"),
		cmd("SET", "k", "v5", "NX", "GET"), cmd("SET", "new2", "v", "NX", "GET"),
		cmd("SET", "k", "v6", "XX", "GET"), cmd("SET", "nokey2", "v", "XX", "GET"),
		cmd("SET", "k", "v", "nx", "xx"), cmd("SET", "k", "v", "XX", "NX"), cmd("SET", "k", "v", "FOO"),
		cmd("SET", "k", "v7", "nx", "nx"), cmd("SET", "k", "v8", "xx", "get", "get"), cmd("SET", "k", "v9", "KEEPTTL"), cmd("GET", "k"),
	}},
	{"setnx", []step{cmd("SETNX", "k", "v"), cmd("SETNX", "k", "v2"), cmd("GET", "k"), cmd("SETNX", "k"), cmd("SETNX", "k", "v", "x")}},
	{"mget mset", []step{
		cmd("MSET", "a", "1", "b", "2"), cmd("MGET", "a", "nokey", "b"), cmd("MGET", "a"), cmd("MGET"),
		cmd("MSET", "a"), cmd("MSET", "a", "1", "b"), cmd("MSET"), cmd("MSET", "a", "x", "a", "y"), cmd("GET", "a"),
	}},
	{"exists del", []step{
		cmd("MSET", "a", "1", "b", "2"), cmd("EXISTS", "a", "a", "nokey", "b"), cmd("EXISTS"),
		cmd("DEL", "a", "b", "c"), cmd("DEL", "a"), cmd("DEL"), cmd("SET", "x", "1"), cmd("DEL", "x", "x"),
		cmd("SET", "u", "1"), cmd("UNLINK", "u", "nokey"), cmd("UNLINK"), cmd("EXISTS", "u"),
	}},
	{"dbsize flushdb", []step{
		cmd("DBSIZE"), cmd("MSET", "a", "1", "b", "2", "c", "3"), cmd("DBSIZE"), cmd("DBSIZE", "x"),
		cmd("FLUSHDB", "foo"), cmd("FLUSHDB", "a", "b"), cmd("DBSIZE"), cmd("FLUSHDB", "ASYNC"), cmd("DBSIZE"),
		cmd("SET", "a", "1"), cmd("FLUSHDB", "sync"), cmd("GET", "a"), cmd("FLUSHDB"), cmd("DBSIZE"),
	}},
	{"unknown and arity", []step{
		cmd("FOO"), cmd("FOO", "a", "b"), cmd("foo", "x y"), cmd("FOO", "line\r\nbreak"),
		cmd("FOO", long100, long100, long100),
		cmd(strings.Repeat("z", 200), "a"),
		cmd("GET"), cmd("MULTI", "x"), cmd("EXEC", "x"), cmd("DISCARD", "x"), cmd("WATCH"), cmd("UNWATCH", "x"),
		cmd("PUBLISH", "ch"), cmd("SUBSCRIBE"), cmd("PSUBSCRIBE"), cmd("CLIENT"), cmd("CONFIG"), cmd("PUBSUB"),
		cmd("DBSIZE", "x"), cmd("RESET", "x"), cmd("STRLEN"),
	}},
	{"client", []step{
		cmd("CLIENT", "GETNAME"), cmd("CLIENT", "SETNAME", "foo"), cmd("CLIENT", "GETNAME"),
		cmd("CLIENT", "SETNAME", "a b"), cmd("CLIENT", "SETNAME", "a\nb"), cmd("CLIENT", "GETNAME"),
		cmd("CLIENT", "SETNAME"), cmd("CLIENT", "GETNAME", "x"), cmd("CLIENT", "ID", "x"),
		cmd("CLIENT", "FOO"), cmd("CLIENT", "SETNAME", ""), cmd("CLIENT", "GETNAME"),
	}},
	{"hello errors", []step{
		cmd("HELLO", "4"), cmd("HELLO", "1"), cmd("HELLO", "abc"), cmd("HELLO", "2", "FOO"),
		cmd("HELLO", "2", "SETNAME", "a b"), cmd("HELLO", "2", "SETNAME"),
	}},
	{"command errors", []step{cmd("COMMAND", "FOO"), cmd("COMMAND", "INFO", "nosuchcommand"), cmd("COMMAND", "DOCS", "nosuchcommand")}},
	{"config errors", []step{
		cmd("CONFIG", "FOO"), cmd("CONFIG", "GET"), cmd("CONFIG", "SET", "nosuch", "x"), cmd("CONFIG", "SET", "port"),
		cmd("CONFIG", "GET", "nosuch*"),
	}},
	{"multi exec", []step{
		cmd("MULTI"), cmd("SET", "a", "1"), cmd("GET", "a"), cmd("EXEC"), cmd("GET", "a"),
	}},
	{"multi exec basic", []step{
		cmd("MULTI"), cmd("SET", "a", "1", "NX"), cmd("SET", "a", "2", "NX"), cmd("GET", "a"), cmd("DEL", "a", "a"),
		cmd("MSET", "a", "1", "b"), cmd("SET", "k", "v", "FOO"), cmd("PING"), cmd("ECHO", "e"), cmd("EXEC"), cmd("GET", "a"),
	}},
	{"multi empty", []step{cmd("MULTI"), cmd("EXEC"), cmd("EXEC"), cmd("DISCARD")}},
	{"multi nested discard", []step{
		cmd("MULTI"), cmd("SET", "a", "1"), cmd("MULTI"), cmd("DISCARD"), cmd("GET", "a"), cmd("DISCARD"),
	}},
	{"multi abort arity", []step{cmd("MULTI"), cmd("SET", "a", "1"), cmd("GET"), cmd("EXEC"), cmd("GET", "a")}},
	{"multi abort unknown", []step{cmd("MULTI"), cmd("SET", "a", "1"), cmd("NOSUCH", "x"), cmd("EXEC"), cmd("GET", "a")}},
	{"multi watch inside", []step{cmd("MULTI"), cmd("WATCH", "x"), cmd("SET", "a", "1"), cmd("EXEC"), cmd("GET", "a")}},
	{"multi select", []step{
		cmd("SELECT", "1"), cmd("FLUSHDB"), cmd("SELECT", "0"),
		cmd("MULTI"), cmd("SELECT", "1"), cmd("SET", "a", "in1"), cmd("SELECT", "0"), cmd("GET", "a"), cmd("EXEC"),
		cmd("GET", "a"), cmd("SELECT", "1"), cmd("GET", "a"), cmd("FLUSHDB"),
	}},
	{"multi select bad", []step{
		cmd("MULTI"), cmd("SELECT", "99"), cmd("SET", "a", "1"), cmd("EXEC"), cmd("GET", "a"),
	}},
	{"watch changed", []step{
		cmd("SET", "w", "1"), cmd("WATCH", "w"), cmd("SET", "w", "2"), cmd("MULTI"), cmd("GET", "w"), cmd("EXEC"),
		cmd("WATCH", "w"), cmd("MULTI"), cmd("SET", "w", "3"), cmd("EXEC"), cmd("GET", "w"),
		cmd("WATCH", "w"), cmd("UNWATCH"), cmd("SET", "w", "4"), cmd("MULTI"), cmd("GET", "w"), cmd("EXEC"),
		cmd("WATCH", "w", "nokey"), cmd("DEL", "nokey"), cmd("MULTI"), cmd("GET", "w"), cmd("EXEC"),
		cmd("WATCH", "w"), cmd("FLUSHDB"), cmd("MULTI"), cmd("PING"), cmd("EXEC"),
		cmd("SET", "w", "5"), cmd("WATCH", "w"), cmd("MULTI"), cmd("PING"), cmd("DISCARD"), cmd("SET", "w", "6"), cmd("MULTI"), cmd("PING"), cmd("EXEC"),
	}},
	{"pubsub mode", []step{
		cmd("PUBLISH", "nobody", "x"),
		cmd("SUBSCRIBE", "a", "b").replies(2), cmd("PING"), cmd("PING", "x"), cmd("GET", "x"), cmd("SET", "x", "1"),
		cmd("SUBSCRIBE", "a").replies(1),
		cmd("PSUBSCRIBE", "p*").replies(1), cmd("UNSUBSCRIBE", "a").replies(1), cmd("UNSUBSCRIBE", "nosub").replies(1),
		cmd("PUNSUBSCRIBE").replies(1), cmd("UNSUBSCRIBE").replies(1), cmd("UNSUBSCRIBE").replies(1), cmd("PUNSUBSCRIBE").replies(1),
		cmd("GET", "x"),
	}},
	{"pubsub introspection", []step{
		cmd("PUBSUB", "NUMSUB", "zz-none"), cmd("PUBSUB", "NUMSUB"), cmd("PUBSUB", "NUMPAT"), cmd("PUBSUB", "CHANNELS", "zz-none*"),
		cmd("PUBSUB", "FOO"), cmd("PUBSUB", "NUMPAT", "x"),
	}},
	{"counters", []step{
		cmd("SET", "n", "10"), cmd("INCR", "n"), cmd("INCRBY", "n", "5"), cmd("DECR", "n"), cmd("DECRBY", "n", "3"),
		cmd("INCR", "nokey"), cmd("DECRBY", "nokey2", "-7"), cmd("INCRBY", "n", "abc"), cmd("INCRBY", "n", ""), cmd("INCRBY", "n", "1.5"),
		cmd("SET", "s", "abc"), cmd("INCR", "s"), cmd("SET", "sp", " 1"), cmd("INCR", "sp"), cmd("SET", "z", "007"), cmd("INCR", "z"),
		cmd("SET", "big", "9223372036854775807"), cmd("INCR", "big"), cmd("INCRBY", "n", "9223372036854775807"),
		cmd("SET", "small", "-9223372036854775808"), cmd("DECR", "small"), cmd("DECRBY", "n", "-9223372036854775808"),
		cmd("INCRBYFLOAT", "f", "10.5"), cmd("INCRBYFLOAT", "f", "0.1"), cmd("INCRBYFLOAT", "f", "-0.6"), cmd("GET", "f"),
		cmd("INCRBYFLOAT", "f", "abc"), cmd("INCRBYFLOAT", "s", "1"), cmd("INCRBYFLOAT", "n", "1e3"), cmd("INCRBYFLOAT", "f", "inf"),
		cmd("INCR"), cmd("INCRBY", "n"), cmd("DECR", "a", "b"),
	}},
	{"string commands", []step{
		cmd("APPEND", "a", "hello"), cmd("APPEND", "a", " world"), cmd("GET", "a"), cmd("STRLEN", "a"),
		cmd("GETRANGE", "a", "0", "4"), cmd("GETRANGE", "a", "-5", "-1"), cmd("GETRANGE", "a", "5", "1"), cmd("GETRANGE", "a", "0", "100"),
		cmd("GETRANGE", "a", "-100", "2"), cmd("GETRANGE", "nokey", "0", "1"), cmd("GETRANGE", "a", "x", "1"), cmd("SUBSTR", "a", "0", "2"),
		cmd("SETRANGE", "a", "6", "WORLD"), cmd("GET", "a"), cmd("SETRANGE", "nk", "3", "x"), cmd("GET", "nk"),
		cmd("SETRANGE", "a", "-1", "x"), cmd("SETRANGE", "nk2", "0", ""), cmd("EXISTS", "nk2"), cmd("SETRANGE", "a", "536870912", "x"),
		cmd("GETSET", "a", "new"), cmd("GETSET", "nokey", "v"), cmd("GETDEL", "a"), cmd("GETDEL", "a"),
		cmd("MSETNX", "m1", "1", "m2", "2"), cmd("MSETNX", "m2", "x", "m3", "y"), cmd("MGET", "m1", "m2", "m3"), cmd("MSETNX", "m1"),
		cmd("MSETNX", "m4", "1", "m4", "2"), cmd("GET", "m4"),
	}},
	{"auth without a password", []step{cmd("AUTH", "x"), cmd("AUTH", "default", "x"), cmd("AUTH", "a", "b"), cmd("AUTH")}},
	{"reset", []step{cmd("SELECT", "3"), cmd("CLIENT", "SETNAME", "n"), cmd("MULTI"), cmd("RESET"), cmd("CLIENT", "GETNAME"), cmd("EXEC")}},
}

// TestCompareWithRedis runs the scripts against mutexredis and a real
// redis-server and compares the raw replies.
func TestCompareWithRedis(t *testing.T) {
	t.Parallel()
	compareScripts(t, scripts)
}

// compareScripts runs each script on a fresh connection to a new
// mutexredis and to the real redis-server, and compares every raw reply.
func compareScripts(t *testing.T, scripts []script) {
	raddr := realRedis(t)
	s := startServer(t)
	for _, sc := range scripts {
		t.Run(sc.name, func(t *testing.T) {
			mine, theirs := dialRaw(t, s.Addr), dialRaw(t, raddr)
			for _, c := range []*rconn{mine, theirs} {
				c.do("SELECT", "0")
				c.do("FLUSHDB")
			}
			for i, st := range sc.steps {
				for r := 0; r < st.n; r++ {
					if r == 0 {
						mine.send(st.args...)
						theirs.send(st.args...)
					}
					got, want := mine.read(), theirs.read()
					if got != want {
						t.Errorf("step %d %q reply %d:\n mutexredis: %s\n redis:      %s", i, st.args, r, got, want)
					}
				}
			}
		})
	}
}
