package integration

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// streamScripts are compared byte for byte with redis-server 7.0. They use
// explicit IDs and avoid idle times, so that both servers must answer the
// same.
var streamScripts = []script{
	{"xadd ids", []step{
		cmd("XADD", "s", "1-1", "a", "1"), cmd("XADD", "s", "1-1", "a", "1"), cmd("XADD", "s", "1-0", "a", "1"),
		cmd("XADD", "s", "1-*", "b", "2"), cmd("XADD", "s", "2-*", "c", "3"), cmd("XADD", "s", "2", "x", "y"),
		cmd("XADD", "s", "0-0", "a", "1"), cmd("XADD", "z", "0-0", "a", "1"), cmd("XADD", "z", "0", "a", "1"),
		cmd("XADD", "z", "0-*", "a", "1"), cmd("XADD", "z", "0-*", "a", "1"), cmd("XADD", "s", "x", "a", "1"),
		cmd("XADD", "s", "1-x", "a", "1"), cmd("XADD", "s", "-", "a", "1"), cmd("XADD", "s", "+", "a", "1"),
		cmd("XADD", "s", "9-1", "a"), cmd("XADD", "s", "9-1", "a", "1", "b"), cmd("XADD", "s"),
		cmd("XADD", "s", "18446744073709551615-18446744073709551615", "a", "1"), cmd("XADD", "s", "*", "a", "1"),
		cmd("XADD", "s", "18446744073709551616-0", "a", "1"), cmd("XADD", "s", "05-1", "a", "1"),
		cmd("XLEN", "s"), cmd("XLEN", "nokey"), cmd("XRANGE", "s", "-", "+"),
		cmd("SET", "str", "v"), cmd("XADD", "str", "1-1", "a", "1"), cmd("XLEN", "str"), cmd("XRANGE", "str", "-", "+"),
		cmd("XADD", "nomk", "NOMKSTREAM", "1-1", "a", "1"), cmd("EXISTS", "nomk"), cmd("TYPE", "s"), cmd("TYPE", "z"),
	}},
	{"xadd trim", []step{
		cmd("XADD", "s", "1-1", "a", "1"), cmd("XADD", "s", "2-1", "a", "1"), cmd("XADD", "s", "3-1", "a", "1"),
		cmd("XADD", "s", "MAXLEN", "2", "4-1", "a", "1"), cmd("XRANGE", "s", "-", "+"),
		cmd("XADD", "s", "MAXLEN", "=", "1", "5-1", "a", "1"), cmd("XRANGE", "s", "-", "+"),
		cmd("XADD", "s", "MAXLEN", "~", "0", "6-1", "a", "1"), cmd("XLEN", "s"),
		cmd("XADD", "s", "MINID", "6", "7-1", "a", "1"), cmd("XRANGE", "s", "-", "+"),
		cmd("XADD", "s", "MAXLEN", "-1", "8-1", "a", "1"), cmd("XADD", "s", "MAXLEN", "x", "8-1", "a", "1"),
		cmd("XADD", "s", "LIMIT", "5", "8-1", "a", "1"), cmd("XADD", "s", "MAXLEN", "5", "LIMIT", "5", "8-1", "a", "1"),
		cmd("XADD", "s", "MAXLEN", "~", "5", "LIMIT", "-1", "8-1", "a", "1"), cmd("XADD", "s", "MINID", "bad", "8-1", "a", "1"),
		cmd("XADD", "s", "MAXLEN", "~", "1", "LIMIT", "10", "8-1", "a", "1"), cmd("XLEN", "s"),
		cmd("XTRIM", "s", "MAXLEN", "1"), cmd("XRANGE", "s", "-", "+"), cmd("XTRIM", "s", "MINID", "9"), cmd("XLEN", "s"),
		cmd("XTRIM", "nokey", "MAXLEN", "1"), cmd("XTRIM", "nokey", "garbage"), cmd("XTRIM", "s", "garbage"),
		cmd("XTRIM", "s", "LIMIT", "1"), cmd("XTRIM", "s", "MAXLEN", "~", "1", "LIMIT", "1"),
		cmd("XTRIM", "s"), cmd("XTRIM", "s", "MAXLEN"), cmd("SET", "str", "v"), cmd("XTRIM", "str", "MAXLEN", "1"),
		cmd("XINFO", "STREAM", "s"),
	}},
	{"xrange", []step{
		cmd("XADD", "s", "1-1", "a", "1"), cmd("XADD", "s", "1-2", "b", "2", "c", "3"), cmd("XADD", "s", "5-0", "d", "4"),
		cmd("XADD", "s", "7-3", "e", "5"),
		cmd("XRANGE", "s", "-", "+"), cmd("XRANGE", "s", "1", "1"), cmd("XRANGE", "s", "1-2", "5"), cmd("XRANGE", "s", "(1-1", "(7-3"),
		cmd("XRANGE", "s", "(1", "+"), cmd("XRANGE", "s", "-", "+", "COUNT", "2"), cmd("XRANGE", "s", "-", "+", "COUNT", "0"),
		cmd("XRANGE", "s", "-", "+", "COUNT", "-1"), cmd("XRANGE", "s", "-", "+", "COUNT"), cmd("XRANGE", "s", "-", "+", "COUNT", "x"),
		cmd("XRANGE", "s", "-", "+", "FOO", "1"), cmd("XRANGE", "s", "+", "-"), cmd("XRANGE", "s", "(-", "+"), cmd("XRANGE", "s", "-", "(+"),
		cmd("XRANGE", "s", "(18446744073709551615-18446744073709551615", "+"), cmd("XRANGE", "s", "-", "(0-0"),
		cmd("XRANGE", "s", "x", "+"), cmd("XRANGE", "nokey", "-", "+"), cmd("XRANGE", "s", "-"),
		cmd("XREVRANGE", "s", "+", "-"), cmd("XREVRANGE", "s", "+", "-", "COUNT", "1"), cmd("XREVRANGE", "s", "(7-3", "(1-1"),
		cmd("XREVRANGE", "s", "-", "+"), cmd("XREVRANGE", "s", "5", "1-2"),
		cmd("SET", "str", "v"), cmd("XRANGE", "str", "-", "+"), cmd("XREVRANGE", "str", "+", "-"),
	}},
	{"xdel xsetid", []step{
		cmd("XADD", "s", "1-1", "a", "1"), cmd("XADD", "s", "2-1", "a", "1"), cmd("XADD", "s", "3-1", "a", "1"),
		cmd("XDEL", "s", "2-1", "9-9", "2-1"), cmd("XDEL", "s", "bad"), cmd("XDEL", "s", "1-1", "bad"), cmd("XLEN", "s"),
		cmd("XDEL", "nokey", "1-1"), cmd("XINFO", "STREAM", "s"), cmd("XDEL", "s", "1-1", "3-1"), cmd("XINFO", "STREAM", "s"),
		cmd("XADD", "s", "2-5", "a", "1"), cmd("XADD", "s", "4-0", "a", "1"),
		cmd("XSETID", "s", "3-0"), cmd("XSETID", "s", "5-0"), cmd("XSETID", "s", "5-0", "ENTRIESADDED", "0"),
		cmd("XSETID", "s", "5-0", "ENTRIESADDED", "-1"), cmd("XSETID", "s", "5-0", "MAXDELETEDID", "6-0"),
		cmd("XSETID", "s", "9-0", "ENTRIESADDED", "10", "MAXDELETEDID", "4-5"), cmd("XSETID", "s", "4-6"),
		cmd("XSETID", "s", "9-0", "FOO"), cmd("XSETID", "nokey", "1-1"), cmd("XSETID", "s", "bad"),
		cmd("XINFO", "STREAM", "s"), cmd("XADD", "s", "9-0", "a", "1"), cmd("XADD", "s", "9-*", "a", "1"),
		cmd("SET", "str", "v"), cmd("XDEL", "str", "1-1"), cmd("XSETID", "str", "1-1"),
	}},
	{"xread", []step{
		cmd("XADD", "s", "1-1", "a", "1"), cmd("XADD", "s", "2-1", "b", "2"), cmd("XADD", "t", "1-5", "c", "3"),
		cmd("XREAD", "STREAMS", "s", "0"), cmd("XREAD", "COUNT", "1", "STREAMS", "s", "t", "0", "0"),
		cmd("XREAD", "STREAMS", "s", "t", "1-1", "1-5"), cmd("XREAD", "STREAMS", "s", "$"), cmd("XREAD", "STREAMS", "nokey", "0"),
		cmd("XREAD", "STREAMS", "s", "t", "0"), cmd("XREAD", "STREAMS", "s", ">"), cmd("XREAD", "STREAMS", "s", "bad"),
		cmd("XREAD", "COUNT", "x", "STREAMS", "s", "0"), cmd("XREAD", "BLOCK", "x", "STREAMS", "s", "0"),
		cmd("XREAD", "BLOCK", "-1", "STREAMS", "s", "0"), cmd("XREAD", "FOO", "STREAMS", "s", "0"), cmd("XREAD", "COUNT", "1", "s", "0"),
		cmd("XREAD", "BLOCK", "10", "STREAMS", "s", "0"), cmd("XREAD", "COUNT", "0", "STREAMS", "s", "0"),
		cmd("XREAD", "COUNT", "-5", "STREAMS", "s", "0"), cmd("XREAD", "STREAMS", "s", "-"),
		cmd("SET", "str", "v"), cmd("XREAD", "STREAMS", "str", "0"), cmd("XREAD", "STREAMS"),
	}},
	{"groups", []step{
		cmd("XADD", "s", "1-1", "a", "1"), cmd("XADD", "s", "2-1", "b", "2"), cmd("XADD", "s", "3-1", "c", "3"),
		cmd("XGROUP", "CREATE", "s", "g", "0"), cmd("XGROUP", "CREATE", "s", "g", "0"), cmd("XGROUP", "CREATE", "s", "g2", "$"),
		cmd("XGROUP", "CREATE", "nokey", "g", "0"), cmd("XGROUP", "CREATE", "mk", "g", "$", "MKSTREAM"), cmd("XLEN", "mk"),
		cmd("XGROUP", "CREATE", "s", "g3", "bad"), cmd("XGROUP", "CREATE", "s", "g3", "0", "FOO"),
		cmd("XGROUP", "CREATE", "s", "g4", "0", "ENTRIESREAD", "2"), cmd("XGROUP", "CREATE", "s", "g5", "0", "ENTRIESREAD", "-2"),
		cmd("XGROUP", "CREATE", "s"), cmd("XGROUP", "FOO", "s", "g"), cmd("XGROUP", "SETID", "s", "nog", "0"),
		cmd("XINFO", "GROUPS", "s"),
		cmd("XREADGROUP", "GROUP", "g", "c1", "COUNT", "1", "STREAMS", "s", ">"),
		cmd("XREADGROUP", "GROUP", "g", "c2", "STREAMS", "s", ">"), cmd("XREADGROUP", "GROUP", "g", "c2", "STREAMS", "s", ">"),
		cmd("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", "0"), cmd("XREADGROUP", "GROUP", "g", "c3", "STREAMS", "s", "0"),
		cmd("XREADGROUP", "GROUP", "nog", "c1", "STREAMS", "s", ">"), cmd("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "nokey", ">"),
		cmd("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", "$"), cmd("XREADGROUP", "STREAMS", "s", ">", "x", "y"),
		cmd("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s"), cmd("XREADGROUP", "GROUP", "g4", "c", "NOACK", "STREAMS", "s", ">"),
		cmd("XINFO", "GROUPS", "s"), cmd("XPENDING", "s", "g"), cmd("XPENDING", "s", "g4"), cmd("XPENDING", "s", "nog"),
		cmd("XPENDING", "nokey", "g"), cmd("XPENDING", "s", "g", "-", "+"), cmd("XPENDING", "s", "g", "-", "+", "x"),
		cmd("XPENDING", "s", "g", "bad", "+", "10"),
		cmd("XACK", "s", "g", "1-1", "1-1", "9-9"), cmd("XACK", "s", "g", "bad"), cmd("XACK", "s", "nog", "1-1"),
		cmd("XACK", "nokey", "g", "1-1"), cmd("XPENDING", "s", "g"),
		cmd("XCLAIM", "s", "g", "c3", "0", "2-1", "JUSTID"), cmd("XCLAIM", "s", "g", "c3", "x", "2-1"),
		cmd("XCLAIM", "s", "nog", "c3", "0", "2-1"), cmd("XCLAIM", "s", "g", "c3", "0", "2-1", "FOO"),
		cmd("XCLAIM", "s", "g", "c3", "0", "1-1"), cmd("XCLAIM", "s", "g", "c4", "0", "1-1", "FORCE", "JUSTID"),
		cmd("XCLAIM", "s", "g", "c4", "0", "3-1", "RETRYCOUNT", "7", "JUSTID"), cmd("XPENDING", "s", "g"),
		cmd("XAUTOCLAIM", "s", "g", "c5", "0", "0", "COUNT", "1", "JUSTID"), cmd("XAUTOCLAIM", "s", "g", "c5", "0", "0", "COUNT", "0"),
		cmd("XAUTOCLAIM", "s", "g", "c5", "x", "0"), cmd("XAUTOCLAIM", "s", "g", "c5", "0", "bad"),
		cmd("XAUTOCLAIM", "s", "nog", "c5", "0", "0"), cmd("XAUTOCLAIM", "s", "g", "c5", "0", "0", "FOO"),
		cmd("XDEL", "s", "3-1"), cmd("XAUTOCLAIM", "s", "g", "c6", "0", "-", "JUSTID"), cmd("XPENDING", "s", "g"),
		// One claim loop for both: deleted entries dropped, FORCE, IDLE/TIME/RETRYCOUNT/LASTID, entries replied.
		cmd("XADD", "s", "8-1", "f", "8"), cmd("XADD", "s", "9-1", "f", "9"), cmd("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", ">"),
		cmd("XDEL", "s", "8-1"), cmd("XCLAIM", "s", "g", "c7", "0", "8-1", "9-1", "IDLE", "100000000", "RETRYCOUNT", "3"),
		cmd("XPENDING", "s", "g"), cmd("XCLAIM", "s", "g", "c8", "0", "9-1", "TIME", "0", "LASTID", "9-5"), cmd("XINFO", "GROUPS", "s"),
		cmd("XCLAIM", "s", "g", "c8", "0", "9-1", "7-7", "FORCE", "JUSTID"), cmd("XADD", "s", "10-1", "f", "10"),
		cmd("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", ">"), cmd("XDEL", "s", "9-1"),
		cmd("XAUTOCLAIM", "s", "g", "c9", "0", "0"), cmd("XPENDING", "s", "g"), cmd("XAUTOCLAIM", "s", "g", "c9", "3600000", "0"),
		cmd("XINFO", "CONSUMERS", "s", "nog"), cmd("XINFO", "GROUPS", "nokey"),
		cmd("XGROUP", "CREATECONSUMER", "s", "g", "c9"), cmd("XGROUP", "CREATECONSUMER", "s", "g", "c9"),
		cmd("XGROUP", "DELCONSUMER", "s", "g", "c6"), cmd("XGROUP", "DELCONSUMER", "s", "g", "nobody"),
		cmd("XGROUP", "SETID", "s", "g", "$"), cmd("XGROUP", "SETID", "s", "g", "1-1", "ENTRIESREAD", "1"),
		cmd("XGROUP", "SETID", "s", "g", "bad"), cmd("XINFO", "GROUPS", "s"),
		cmd("XGROUP", "DESTROY", "s", "g"), cmd("XGROUP", "DESTROY", "s", "g"), cmd("XINFO", "GROUPS", "s"),
		cmd("SET", "str", "v"), cmd("XGROUP", "CREATE", "str", "g", "0"), cmd("XREADGROUP", "GROUP", "g", "c", "STREAMS", "str", ">"),
		cmd("XINFO", "STREAM", "str"), cmd("XINFO", "STREAM", "nokey"), cmd("XINFO", "STREAM"), cmd("XINFO", "FOO", "s"),
		cmd("XACK", "str", "g", "1-1"), cmd("XPENDING", "str", "g"),
	}},
	{"stream generic", []step{
		cmd("XADD", "s", "1-1", "a", "1"), cmd("EXPIRE", "s", "100"), cmd("TTL", "s"), cmd("COPY", "s", "s2"),
		cmd("XRANGE", "s2", "-", "+"), cmd("RENAME", "s2", "s3"), cmd("XLEN", "s3"), cmd("DEL", "s3"), cmd("XLEN", "s3"),
		cmd("SET", "s", "x"), cmd("XLEN", "s"), cmd("TYPE", "s"),
		cmd("MULTI"), cmd("XADD", "m", "1-1", "a", "1"), cmd("XADD", "m", "1-1", "a", "1"), cmd("XLEN", "m"), cmd("EXEC"),
	}},
}

// approxTrimScript adds 250 entries and trims with "~", which removes
// whole nodes of 100 entries only.
func approxTrimScript() script {
	var steps []step
	for i := 1; i <= 250; i++ {
		steps = append(steps, cmd("XADD", "s", strconv.Itoa(i)+"-1", "f", "v"))
	}
	steps = append(steps,
		cmd("XTRIM", "s", "MAXLEN", "~", "200"), cmd("XLEN", "s"), cmd("XTRIM", "s", "MAXLEN", "~", "140"), cmd("XLEN", "s"),
		cmd("XDEL", "s", "120-1", "121-1"), cmd("XTRIM", "s", "MINID", "~", "150"), cmd("XLEN", "s"),
		cmd("XTRIM", "s", "MINID", "~", "205"), cmd("XLEN", "s"), cmd("XRANGE", "s", "-", "+", "COUNT", "1"),
		cmd("XADD", "s", "MAXLEN", "~", "10", "LIMIT", "20", "300-1", "f", "v"), cmd("XLEN", "s"),
		cmd("XTRIM", "s", "MAXLEN", "=", "3"), cmd("XRANGE", "s", "-", "+"), cmd("XINFO", "STREAM", "s"))
	return script{"approximate trim", steps}
}

func TestStreamCompareWithRedis(t *testing.T) {
	t.Parallel()
	raddr := realRedis(t)
	s := startServer(t)
	for _, sc := range append(streamScripts, approxTrimScript()) {
		t.Run(sc.name, func(t *testing.T) {
			mine, theirs := dialRaw(t, s.Addr), dialRaw(t, raddr)
			for _, c := range []*rconn{mine, theirs} {
				c.do("SELECT", "14") // a database of Redis's no other test uses
				c.do("FLUSHDB")
			}
			for i, st := range sc.steps {
				mine.send(st.args...)
				theirs.send(st.args...)
				if got, want := mine.read(), theirs.read(); got != want {
					t.Errorf("step %d %q:\n mutexredis: %s\n redis:      %s", i, st.args, got, want)
				}
			}
		})
	}
}

// TestStreamResp3CompareWithRedis: the RESP3 shapes of the stream replies
// (XREAD's and XREADGROUP's maps, XINFO's maps) as redis-server 7.0's.
func TestStreamResp3CompareWithRedis(t *testing.T) {
	t.Parallel()
	raddr := realRedis(t)
	s := startServer(t)
	mine, theirs := dialRaw(t, s.Addr), dialRaw(t, raddr)
	for _, c := range []*rconn{mine, theirs} {
		c.hello3()
		c.do3("SELECT", "6") // a database of Redis's no other test uses
		c.do3("FLUSHDB")
	}
	for i, args := range [][]string{
		{"XADD", "s", "1-1", "a", "1"}, {"XADD", "t", "1-1", "b", "2"}, {"XREAD", "STREAMS", "s", "t", "0", "0"},
		{"XREAD", "STREAMS", "s", "$"}, {"XGROUP", "CREATE", "s", "g", "0"},
		{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"}, {"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0"},
		{"XINFO", "STREAM", "s"}, {"XINFO", "GROUPS", "s"}, {"XPENDING", "s", "g", "-", "+", "0"}, {"XRANGE", "s", "-", "+"},
		{"XRANGE", "s", "-", "+", "COUNT", "0"}, {"XADD", "s", "NOMKSTREAM", "2-1", "a", "1"}, {"XADD", "n", "NOMKSTREAM", "2-1", "a", "1"},
		{"XAUTOCLAIM", "s", "g", "c2", "0", "0", "JUSTID"},
	} {
		mine.send(args...)
		theirs.send(args...)
		if got, want := mine.read3(), theirs.read3(); got != want {
			t.Errorf("step %d %q:\n mutexredis: %s\n redis:      %s", i, args, got, want)
		}
	}
}

// TestStreamBlockingRead checks that XREAD BLOCK and XREADGROUP BLOCK wait
// outside the mutex and are served by the XADD that follows, and that a
// timeout answers a null array.
func TestStreamBlockingRead(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	reader, writer := s.client(t, nil), s.client(t, nil)
	got := make(chan []redis.XStream, 1)
	errs := make(chan error, 1)
	go func() {
		res, err := reader.XRead(ctx, &redis.XReadArgs{Streams: []string{"s", "5-0"}, Block: 0}).Result()
		got <- res
		errs <- err
	}()
	if err := writer.XAdd(ctx, &redis.XAddArgs{Stream: "s", ID: "5-1", Values: []string{"f", "v"}}).Err(); err != nil {
		t.Fatal(err)
	}
	res := <-got
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].Messages) != 1 || res[0].Messages[0].ID != "5-1" || res[0].Messages[0].Values["f"] != "v" {
		t.Fatalf("XREAD BLOCK got %+v", res)
	}
	// Timeout: a null reply.
	if _, err := reader.XRead(ctx, &redis.XReadArgs{Streams: []string{"s", "$"}, Block: 20 * time.Millisecond}).Result(); err != redis.Nil {
		t.Fatalf("XREAD BLOCK timeout: %v, want redis.Nil", err)
	}
	// XREADGROUP BLOCK: each of two consumers gets one entry.
	if err := writer.XGroupCreate(ctx, "s", "g", "9-0").Err(); err != nil {
		t.Fatal(err)
	}
	type result struct {
		ids []string
		err error
	}
	out := make(chan result, 2)
	for _, c := range []string{"c1", "c2"} {
		cl := s.client(t, nil)
		go func() {
			res, err := cl.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: c, Streams: []string{"s", ">"}, Count: 1, Block: 0}).Result()
			var ids []string
			for _, st := range res {
				for _, m := range st.Messages {
					ids = append(ids, m.ID)
				}
			}
			out <- result{ids, err}
		}()
	}
	for i := 0; i < 2; i++ {
		if err := writer.XAdd(ctx, &redis.XAddArgs{Stream: "s", ID: strconv.Itoa(10+i) + "-0", Values: []string{"n", strconv.Itoa(i)}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for i := 0; i < 2; i++ {
		r := <-out
		if r.err != nil || len(r.ids) != 1 {
			t.Fatalf("XREADGROUP BLOCK: %v %v", r.ids, r.err)
		}
		seen[r.ids[0]] = true
	}
	if !seen["10-0"] || !seen["11-0"] {
		t.Fatalf("entries delivered: %v", seen)
	}
	if n := writer.XPending(ctx, "s", "g").Val().Count; n != 2 {
		t.Fatalf("pending %d, want 2", n)
	}
}

// TestStreamCrash: streams and their consumer-group state commit with their
// batches. With producers and a consumer group running, the server is
// killed -9; after the restart every acknowledged XADD is there, every
// acknowledged delivery is pending or was acknowledged, every
// acknowledged XACK is gone from the PEL, and the group's position is at
// or past every delivery.
func TestStreamCrash(t *testing.T) {
	t.Parallel()
	cycles := 2
	if feedLong() {
		cycles = 10
	}
	dir := t.TempDir()
	ctx := context.Background()
	added := map[string]bool{}
	delivered := map[string]bool{} // ID → never acknowledged by the consumer
	ackedIDs := map[string]bool{}
	var mu sync.Mutex
	groupMade := false
	for cycle := 0; cycle < cycles; cycle++ {
		srv := ownStartPlain(t, dir)
		c := srv.client(t, nil)
		if !groupMade {
			if err := c.XGroupCreateMkStream(ctx, "s", "g", "0").Err(); err != nil {
				t.Fatal(err)
			}
			groupMade = true
		}
		// Check what the last cycle left.
		mu.Lock()
		checkStreamState(t, c, added, delivered, ackedIDs)
		mu.Unlock()
		wctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		var ops atomic.Int64
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pc := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
				defer pc.Close()
				for wctx.Err() == nil {
					id, err := pc.XAdd(wctx, &redis.XAddArgs{Stream: "s", Values: []string{"w", strconv.Itoa(w)}}).Result()
					if err != nil {
						return
					}
					mu.Lock()
					added[id] = true
					mu.Unlock()
					ops.Add(1)
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cc := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
			defer cc.Close()
			for wctx.Err() == nil {
				res, err := cc.XReadGroup(wctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{"s", ">"}, Count: 10, Block: 50 * time.Millisecond}).Result()
				if err != nil && !errors.Is(err, redis.Nil) {
					return
				}
				for _, st := range res {
					for i, m := range st.Messages {
						mu.Lock()
						delivered[m.ID] = i%2 == 1 // odd positions are never acknowledged
						mu.Unlock()
						if i%2 == 0 {
							if n, err := cc.XAck(wctx, "s", "g", m.ID).Result(); err == nil && n == 1 {
								mu.Lock()
								ackedIDs[m.ID] = true
								mu.Unlock()
							} else if err != nil {
								return
							}
						}
					}
				}
				ops.Add(1)
			}
		}()
		for ops.Load() < 200 {
			time.Sleep(time.Millisecond) // polling the workers' progress
		}
		stop()
		srv.sigkill(t)
		wg.Wait()
	}
	srv := ownStartPlain(t, dir)
	mu.Lock()
	defer mu.Unlock()
	checkStreamState(t, srv.client(t, nil), added, delivered, ackedIDs)
	t.Logf("%d entries acknowledged, %d deliveries, %d acks over %d kill -9", len(added), len(delivered), len(ackedIDs), cycles)
}

func checkStreamState(t *testing.T, c *redis.Client, added, delivered, acked map[string]bool) {
	t.Helper()
	ctx := context.Background()
	msgs, err := c.XRange(ctx, "s", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, m := range msgs {
		have[m.ID] = true
	}
	for id := range added {
		if !have[id] {
			t.Fatalf("acknowledged XADD %s lost", id)
		}
	}
	pend, err := c.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: "s", Group: "g", Start: "-", End: "+", Count: 1 << 30}).Result()
	if err != nil {
		t.Fatal(err)
	}
	pending := map[string]bool{}
	for _, p := range pend {
		pending[p.ID] = true
	}
	for id, kept := range delivered {
		// Entries the consumer never acknowledges stay pending; the others
		// may be gone with an XACK whose reply the kill swallowed.
		if kept && !pending[id] {
			t.Fatalf("acknowledged delivery of %s lost from the PEL", id)
		}
	}
	for id := range acked {
		if pending[id] {
			t.Fatalf("acknowledged XACK of %s undone: still pending", id)
		}
	}
	groups, err := c.XInfoGroups(ctx, "s").Result()
	if err != nil || len(groups) != 1 {
		t.Fatalf("groups %v %v", groups, err)
	}
	last := groups[0].LastDeliveredID
	for id := range delivered {
		if streamIDLess(last, id) {
			t.Fatalf("delivery of %s acknowledged, but the group's last-delivered-id is %s", id, last)
		}
	}
}

func streamIDLess(a, b string) bool {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	ams, _ := strconv.ParseUint(am, 10, 64)
	bms, _ := strconv.ParseUint(bm, 10, 64)
	if ams != bms {
		return ams < bms
	}
	asq, _ := strconv.ParseUint(as, 10, 64)
	bsq, _ := strconv.ParseUint(bs, 10, 64)
	return asq < bsq
}

// TestStreamNotificationsLikeRedis: the stream commands publish Redis's
// keyspace notifications (class t), in Redis's order. Not parallel: it
// changes the shared redis-server's notify-keyspace-events.
func TestStreamNotificationsLikeRedis(t *testing.T) {
	raddr := realRedis(t)
	s := startServer(t)
	for _, a := range []string{s.Addr, raddr} {
		if err := newClient(t, a, nil).Del(context.Background(), "ntfx:s", "ntfx:m").Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { ntfSetBoth(t, "", raddr) })
	ntfSetBoth(t, "KEA", s.Addr, raddr)
	mine := newNtfSide(t, "mutexredis", s.Addr, true, 0)
	theirs := newNtfSide(t, "redis", raddr, false, 0)
	ntfCompare(t, mine, theirs,
		ntfQ("XADD", "ntfx:s", "1-1", "f", "v"),
		ntfQ("XADD", "ntfx:s", "2-1", "f", "v"),
		ntfQ("XADD", "ntfx:s", "MAXLEN", "1", "3-1", "f", "v"),
		ntfQ("XADD", "ntfx:s", "1-1", "f", "v"), // an error: nothing
		ntfQ("XADD", "ntfx:s", "4-1", "f", "v"),
		ntfQ("XTRIM", "ntfx:s", "MAXLEN", "1"),
		ntfQ("XTRIM", "ntfx:s", "MAXLEN", "1"), // nothing trimmed
		ntfQ("XDEL", "ntfx:s", "4-1"),
		ntfQ("XDEL", "ntfx:s", "4-1"), // nothing deleted
		ntfQ("XSETID", "ntfx:s", "9-0"),
		ntfQ("XGROUP", "CREATE", "ntfx:s", "g", "0"),
		ntfQ("XGROUP", "CREATE", "ntfx:m", "g", "$", "MKSTREAM"),
		ntfQ("XGROUP", "SETID", "ntfx:s", "g", "0"),
		ntfQ("XGROUP", "CREATECONSUMER", "ntfx:s", "g", "c"),
		ntfQ("XADD", "ntfx:s", "10-1", "f", "v"),
		ntfQ("XREADGROUP", "GROUP", "g", "c2", "STREAMS", "ntfx:s", ">"),
		ntfQ("XGROUP", "DELCONSUMER", "ntfx:s", "g", "c"),
		ntfQ("XGROUP", "DESTROY", "ntfx:s", "g"),
		ntfQ("EXPIRE", "ntfx:s", "100"),
		ntfQ("DEL", "ntfx:s", "ntfx:m"),
	)
}
