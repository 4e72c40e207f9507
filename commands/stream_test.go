package commands

import (
	"context"
	"math"
	"testing"

	"github.com/mutexredis/mutexredis/mutex"
)

func TestStreamParseID(t *testing.T) {
	max := uint64(math.MaxUint64)
	for _, c := range []struct {
		in       string
		missing  uint64
		strict   bool
		auto     bool
		want     mutex.StreamID
		wantAuto bool
		ok       bool
	}{
		{"1-2", 0, true, false, mutex.StreamID{Ms: 1, Seq: 2}, false, true},
		{"7", 0, true, false, mutex.StreamID{Ms: 7}, false, true},
		{"7", max, false, false, mutex.StreamID{Ms: 7, Seq: max}, false, true},
		{"-", 0, false, false, mutex.StreamID{}, false, true},
		{"+", 0, false, false, mutex.MaxStreamID, false, true},
		{"-", 0, true, false, mutex.StreamID{}, false, false},
		{"5-*", 0, true, true, mutex.StreamID{Ms: 5}, true, true},
		{"5-*", 0, true, false, mutex.StreamID{}, false, false},
		{"05-1", 0, true, false, mutex.StreamID{Ms: 5, Seq: 1}, false, true}, // strtoull takes leading zeros
		{"18446744073709551615-18446744073709551615", 0, true, false, mutex.MaxStreamID, false, true},
		{"18446744073709551616-0", 0, true, false, mutex.StreamID{}, false, false},
		{"1-2-3", 0, true, false, mutex.StreamID{}, false, false},
		{"1--2", 0, true, false, mutex.StreamID{}, false, false},
		{"x", 0, true, false, mutex.StreamID{}, false, false},
		{"", 0, true, false, mutex.StreamID{}, false, false},
	} {
		id, auto, ok := parseID([]byte(c.in), c.missing, c.strict, c.auto)
		if ok != c.ok || ok && (id != c.want || auto != c.wantAuto) {
			t.Errorf("parseID(%q) = %v %v %v, want %v %v %v", c.in, id, auto, ok, c.want, c.wantAuto, c.ok)
		}
	}
	if _, bad := parseRangeID([]byte("(18446744073709551615-18446744073709551615"), true); bad != errStartInterval {
		t.Errorf("exclusive start past the last ID: %v", bad)
	}
	if _, bad := parseRangeID([]byte("(0-0"), false); bad != errEndInterval {
		t.Errorf("exclusive end before 0-0: %v", bad)
	}
	if id, bad := parseRangeID([]byte("(3-5"), true); bad != nil || id != (mutex.StreamID{Ms: 3, Seq: 6}) {
		t.Errorf("(3-5 as a start: %v %v", id, bad)
	}
}

func TestStreamFeedWriteRefused(t *testing.T) {
	for _, c := range []struct {
		args    []string
		refused bool
	}{
		{[]string{"set", mutex.FeedKey, "v"}, true},
		{[]string{"del", "a", mutex.FeedKey}, true},
		{[]string{"mset", "a", mutex.FeedKey, mutex.FeedKey, "v"}, true},
		{[]string{"mset", "a", "1", "b", mutex.FeedKey}, false}, // a value, not a key
		{[]string{"xadd", mutex.FeedKey, "*", "f", "v"}, true},
		{[]string{"get", mutex.FeedKey}, false},
		{[]string{"xgroup", "create", mutex.FeedKey, "g", "0"}, false},
		{[]string{"xack", mutex.FeedKey, "g", "1-0"}, false},
		{[]string{"xreadgroup", "group", "g", "c", "streams", mutex.FeedKey, ">"}, false},
	} {
		args := make([][]byte, len(c.args))
		for i, a := range c.args {
			args[i] = []byte(a)
		}
		if got := FeedWriteRefused(Lookup(args[0]), args); got != c.refused {
			t.Errorf("FeedWriteRefused(%q) = %v, want %v", c.args, got, c.refused)
		}
	}
}

// run runs a command's op on k and returns its reply.
func runStreamCmd(t *testing.T, k *mutex.Keyspace, args ...string) any {
	t.Helper()
	bargs := make([][]byte, len(args))
	for i, a := range args {
		bargs[i] = []byte(a)
	}
	cmd := Lookup(bargs[0])
	if !cmd.CheckArity(len(bargs)) {
		return ArityError(cmd.Name)
	}
	op, bad := cmd.Op(bargs)
	if bad != nil {
		return bad
	}
	ops := []mutex.Op{op}
	if err := k.Do(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
	return OpReply(&ops[0])
}

// TestStreamGroupStateIsDurable: a delivery and an acknowledgement commit
// with their batches and are there after reopening the store.
func TestStreamGroupStateIsDurable(t *testing.T) {
	dir := t.TempDir()
	s, err := mutex.Open(dir, mutex.Options{})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := s.Keyspace("0")
	for _, args := range [][]string{
		{"xadd", "s", "1-1", "f", "v"}, {"xadd", "s", "2-1", "f", "v"}, {"xgroup", "create", "s", "g", "0"},
		{"xreadgroup", "group", "g", "c", "streams", "s", ">"}, {"xack", "s", "g", "1-1"},
	} {
		if r, ok := runStreamCmd(t, k, args...).(Error); ok {
			t.Fatalf("%v: %v", args, r)
		}
	}
	s.Close()
	s, err = mutex.Open(dir, mutex.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	k, _ = s.Keyspace("0")
	got := runStreamCmd(t, k, "xpending", "s", "g")
	want := []any{int64(1), []byte("2-1"), []byte("2-1"), []any{[]any{"c", "1"}}}
	if !equalReply(got, want) {
		t.Fatalf("XPENDING after reopen: %#v, want %#v", got, want)
	}
	if got := runStreamCmd(t, k, "xreadgroup", "group", "g", "c", "streams", "s", ">"); got != (NullArray{}) {
		t.Fatalf("nothing new after reopen: %#v", got)
	}
}

func equalReply(a, b any) bool {
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalReply(x[i], y[i]) {
				return false
			}
		}
		return true
	case []byte:
		y, ok := b.([]byte)
		return ok && string(x) == string(y)
	}
	return a == b
}

// TestStreamCommandsNeverPanic runs the stream commands with random
// argument lists from a vocabulary of their options, IDs and keys (the
// feed included), and checks that each answers a reply without panicking
// and that the store still serves afterwards.
func TestStreamCommandsNeverPanic(t *testing.T) {
	s, err := mutex.Open(t.TempDir(), mutex.Options{NoSync: true, FeedRetention: mutex.FeedRetention{Batches: 50}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	k, _ := s.Keyspace("0")
	vocab := []string{"s", "s", "t", "g", "c", "c2", "0", "-", "+", "$", ">", "*", "1-1", "2-*", "(1", "(0-0", "~", "=",
		"MAXLEN", "MINID", "LIMIT", "COUNT", "BLOCK", "STREAMS", "GROUP", "NOACK", "IDLE", "TIME", "RETRYCOUNT", "JUSTID",
		"FORCE", "LASTID", "-1", "5", "100", "x", mutex.FeedKey, "CREATE", "SETID", "DESTROY", "CREATECONSUMER",
		"DELCONSUMER", "MKSTREAM", "ENTRIESREAD", "NOMKSTREAM", "ENTRIESADDED", "MAXDELETEDID", "STREAM", "GROUPS",
		"CONSUMERS", "FULL", "HELP", "18446744073709551615-18446744073709551615", "f", "v"}
	names := []string{"xadd", "xlen", "xrange", "xrevrange", "xdel", "xtrim", "xsetid", "xread", "xreadgroup", "xack",
		"xpending", "xclaim", "xautoclaim", "xgroup", "xinfo"}
	rng := uint64(42)
	next := func(n int) int {
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		return int(rng % uint64(n))
	}
	runStreamCmd(t, k, "xadd", "s", "1-1", "f", "v")
	runStreamCmd(t, k, "xgroup", "create", "s", "g", "0")
	runStreamCmd(t, k, "xgroup", "create", mutex.FeedKey, "g", "0")
	served := 0
	for i := 0; i < 20000; i++ {
		args := []string{names[next(len(names))]}
		for n := next(9); n > 0; n-- {
			args = append(args, vocab[next(len(vocab))])
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("%q panicked: %v", args, r)
				}
			}()
			if _, isErr := runStreamCmd(t, k, args...).(Error); !isErr {
				served++
			}
		}()
	}
	t.Logf("%d of 20000 random commands answered without an error", served)
	if served < 1000 {
		t.Fatalf("only %d random commands got past their checks: the vocabulary misses the commands", served)
	}
	if got := runStreamCmd(t, k, "xadd", "u", "1-1", "f", "v"); !equalReply(got, []byte("1-1")) {
		t.Fatalf("after the random commands: %#v", got)
	}
}
