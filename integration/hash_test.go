package integration

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Hashes (and, through the shared runner below, sets), compared with a real
// redis-server 7.0: every command's replies and errors, with the replies
// whose order Redis does not define (HGETALL, SMEMBERS …) compared as
// sets, and random ones (HRANDFIELD, SRANDMEMBER) by shape.

// collOrder says how a reply is compared.
type collOrder uint8

const (
	exact    collOrder = iota
	anyOrder           // an array whose order is not defined: sorted first
	pairs              // an array of field/value pairs in any order
	shape              // random content: only the kind and length compare
	scanAll            // a SCAN-like command: iterated to the end, the union compared
)

type collStep struct {
	args  []string
	order collOrder
}

func ex(args ...string) collStep  { return collStep{args, exact} }
func uno(args ...string) collStep { return collStep{args, anyOrder} }
func prs(args ...string) collStep { return collStep{args, pairs} }
func shp(args ...string) collStep { return collStep{args, shape} }

// scn is an HSCAN/SSCAN/ZSCAN from cursor 0 (args[2] is replaced by each cursor);
// pairsToo says the elements are field/value pairs.
func scn(args ...string) collStep { return collStep{args, scanAll} }

type collScript struct {
	name  string
	steps []collStep
}

// readTree reads one RESP2 reply as a tree: string for simple strings,
// errors ("-…"), integers (":…") and bulk strings (quoted), nil for a
// null, []any for an array.
func readTree(rd *bufio.Reader) (any, error) {
	line, err := readLine(rd)
	if err != nil {
		return nil, err
	}
	if line == "" {
		return nil, errors.New("empty reply line")
	}
	switch line[0] {
	case '+', '-', ':':
		return line, nil
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return nil, fmt.Errorf("bad bulk length %q", line)
		}
		if n < 0 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return nil, err
		}
		return strconv.Quote(string(buf[:n])), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return nil, fmt.Errorf("bad array length %q", line)
		}
		if n < 0 {
			return "(nil-array)", nil
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = readTree(rd); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected reply line %q", line)
}

func renderTree(v any) string {
	switch v := v.(type) {
	case nil:
		return "(nil)"
	case string:
		return v
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = renderTree(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprintf("?%T", v)
}

// normalize renders a reply for comparison under order.
func normalize(v any, order collOrder) string {
	arr, ok := v.([]any)
	if !ok {
		return renderTree(v)
	}
	switch order {
	case anyOrder:
		parts := make([]string, len(arr))
		for i, e := range arr {
			parts[i] = renderTree(e)
		}
		slices.Sort(parts)
		return "{" + strings.Join(parts, ", ") + "}"
	case pairs:
		var parts []string
		for i := 0; i+1 < len(arr); i += 2 {
			parts = append(parts, renderTree(arr[i])+": "+renderTree(arr[i+1]))
		}
		slices.Sort(parts)
		return "{" + strings.Join(parts, ", ") + "}"
	case shape:
		return fmt.Sprintf("array of %d", len(arr))
	}
	return renderTree(v)
}

// do runs one step on c and returns its normalized reply.
func (c *rconn) collDo(st collStep) string {
	c.t.Helper()
	if st.order != scanAll {
		c.send(st.args...)
		v, err := readTree(c.rd)
		if err != nil {
			c.t.Fatalf("%q: %v", st.args, err)
		}
		if st.order == shape {
			if s, ok := v.(string); ok && !strings.HasPrefix(s, "-") && !strings.HasPrefix(s, ":") {
				return "a bulk string" // a random element
			}
		}
		return normalize(v, st.order)
	}
	// HSCAN key cursor [options]: iterate, collecting every element.
	args := slices.Clone(st.args)
	args[2] = "0"
	var all []string
	hash := strings.EqualFold(args[0], "ZSCAN") || // member, score
		strings.EqualFold(args[0], "HSCAN") && !slices.ContainsFunc(args, func(a string) bool { return strings.EqualFold(a, "NOVALUES") })
	for round := 0; ; round++ {
		if round > 100000 {
			c.t.Fatalf("%q: the scan does not end", st.args)
		}
		c.send(args...)
		v, err := readTree(c.rd)
		if err != nil {
			c.t.Fatalf("%q: %v", st.args, err)
		}
		r, ok := v.([]any)
		if !ok || len(r) != 2 {
			return renderTree(v) // an error
		}
		elems := r[1].([]any)
		for i := 0; i < len(elems); i++ {
			e := renderTree(elems[i])
			if hash {
				i++
				e += ": " + renderTree(elems[i])
			}
			all = append(all, e)
		}
		cur, _ := strconv.Unquote(r[0].(string))
		if cur == "0" {
			break
		}
		args[2] = cur
	}
	slices.Sort(all)
	return "scanned {" + strings.Join(all, ", ") + "}"
}

// runCollScripts runs each script on a fresh connection to mutexredis and
// to the real Redis (database 9 on both, flushed first) and compares every
// reply.
func runCollScripts(t *testing.T, scripts []collScript) {
	t.Helper()
	raddr := realRedis(t)
	s := startServer(t)
	for _, sc := range scripts {
		t.Run(sc.name, func(t *testing.T) {
			mine, theirs := dialRaw(t, s.Addr), dialRaw(t, raddr)
			for _, c := range []*rconn{mine, theirs} {
				c.do("SELECT", "9")
				c.do("FLUSHDB")
			}
			for i, st := range sc.steps {
				got, want := mine.collDo(st), theirs.collDo(st)
				if got != want {
					t.Errorf("step %d %q:\n mutexredis: %s\n redis:      %s", i, st.args, got, want)
				}
			}
		})
	}
}

var hashScripts = []collScript{
	{"hset hget", []collStep{
		ex("HSET", "h", "f1", "v1"), ex("HSET", "h", "f1", "v2", "f2", "x"), ex("HGET", "h", "f1"), ex("HGET", "h", "nof"),
		ex("HGET", "nokey", "f"), ex("HSET", "h", "f3", "a", "f3", "b"), ex("HGET", "h", "f3"), ex("HLEN", "h"),
		ex("HSET", "h"), ex("HSET", "h", "f"), ex("HSET", "h", "a", "1", "b"), ex("HGET", "h"), ex("HGET", "h", "a", "b"),
		ex("HSET", "h", "", ""), ex("HGET", "h", ""), ex("HSTRLEN", "h", ""), ex("HEXISTS", "h", ""),
		ex("HSET", "h", "bin\x00\xff", "\x00\x01"), ex("HGET", "h", "bin\x00\xff"), prs("HGETALL", "h"),
		ex("HMSET", "h", "m1", "1", "m2", "2"), ex("HMSET", "h", "m1"), ex("HMSET", "h"), ex("HMGET", "h", "m1", "nof", "m2"),
		ex("HMGET", "nokey", "a", "b"), ex("HMGET", "h"), ex("TYPE", "h"), ex("OBJECT", "ENCODING", "h"),
	}},
	{"hsetnx hdel hexists", []collStep{
		ex("HSETNX", "h", "f", "1"), ex("HSETNX", "h", "f", "2"), ex("HGET", "h", "f"), ex("HSETNX", "h", "f"), ex("HSETNX", "h", "f", "1", "x"),
		ex("HEXISTS", "h", "f"), ex("HEXISTS", "h", "g"), ex("HEXISTS", "nokey", "f"), ex("HEXISTS", "h"),
		ex("HSET", "h", "g", "1", "k", "2"), ex("HDEL", "h", "g", "g", "nof"), ex("HDEL", "h", "nof"), ex("HDEL", "nokey", "f"),
		ex("HLEN", "h"), ex("HDEL", "h", "f", "k"), ex("EXISTS", "h"), ex("HLEN", "h"), ex("HDEL", "h"), ex("HLEN"), ex("HLEN", "a", "b"),
	}},
	{"hgetall hkeys hvals hstrlen", []collStep{
		uno("HGETALL", "nokey"), uno("HKEYS", "nokey"), uno("HVALS", "nokey"),
		ex("HSET", "h", "a", "1", "b", "22", "c", "333", "d", ""),
		prs("HGETALL", "h"), uno("HKEYS", "h"), uno("HVALS", "h"), ex("HSTRLEN", "h", "c"), ex("HSTRLEN", "h", "d"),
		ex("HSTRLEN", "h", "nof"), ex("HSTRLEN", "nokey", "a"), ex("HGETALL"), ex("HKEYS", "h", "x"), ex("HVALS"), ex("HSTRLEN", "h"),
	}},
	{"hincrby", []collStep{
		ex("HINCRBY", "h", "n", "5"), ex("HINCRBY", "h", "n", "-7"), ex("HGET", "h", "n"), ex("HINCRBY", "h", "n", "x"),
		ex("HINCRBY", "h", "n", "1.5"), ex("HINCRBY", "h", "n", ""), ex("HINCRBY", "nokey", "n", "abc"),
		ex("HSET", "h", "s", "abc", "sp", " 1", "z", "007", "e", "", "big", "9223372036854775807", "small", "-9223372036854775808"),
		ex("HINCRBY", "h", "s", "1"), ex("HINCRBY", "h", "sp", "1"), ex("HINCRBY", "h", "z", "1"), ex("HINCRBY", "h", "e", "1"),
		ex("HINCRBY", "h", "big", "1"), ex("HINCRBY", "h", "small", "-1"), ex("HINCRBY", "h", "big", "0"), ex("HINCRBY", "h", "n", "9223372036854775807"),
		ex("HINCRBY", "h", "n"), ex("HINCRBY", "h", "n", "1", "2"), ex("HLEN", "h"),
	}},
	{"hincrbyfloat", []collStep{
		ex("HINCRBYFLOAT", "h", "f", "10.5"), ex("HINCRBYFLOAT", "h", "f", "0.1"), ex("HINCRBYFLOAT", "h", "f", "-0.6"), ex("HGET", "h", "f"),
		ex("HINCRBYFLOAT", "h", "f", "abc"), ex("HINCRBYFLOAT", "h", "f", "inf"), ex("HINCRBYFLOAT", "h", "f", "-inf"), ex("HINCRBYFLOAT", "h", "f", "nan"),
		ex("HINCRBYFLOAT", "h", "f", "1e3"), ex("HINCRBYFLOAT", "h", "f", "5.0e3"), ex("HINCRBYFLOAT", "h", "f", " 1"),
		ex("HSET", "h", "s", "abc", "i", "7"), ex("HINCRBYFLOAT", "h", "s", "1"), ex("HINCRBYFLOAT", "h", "i", "1.25"),
		ex("HINCRBYFLOAT", "nokey", "f", "x"), ex("HINCRBYFLOAT", "h", "f"), ex("HGET", "h", "f"),
		ex("HINCRBYFLOAT", "h", "g", "0.1"), ex("HINCRBYFLOAT", "h", "g", "1000"), ex("HINCRBYFLOAT", "h", "g", "-1000.1"),
		ex("HINCRBYFLOAT", "h", "x", "1e400"), ex("HINCRBYFLOAT", "h", "x", "1e5000"), ex("HINCRBYFLOAT", "h", "y", "0x10"),
		ex("HINCRBYFLOAT", "h", "y", "-0x1p-2"), ex("HINCRBYFLOAT", "h", "z", "-0"), ex("HINCRBYFLOAT", "h", "z", "1e-20"),
		ex("HINCRBYFLOAT", "h", "w", "3.0"), ex("HINCRBYFLOAT", "h", "w", "1_0"), ex("HINCRBYFLOAT", "h", "w", "0b1"),
		ex("HINCRBYFLOAT", "h", "w", "Infinity"), ex("HINCRBYFLOAT", "h", "w", "1e-5000"), ex("HINCRBYFLOAT", "h", "w", "123456789012345678901234567890"),
	}},
	{"hrandfield", []collStep{
		ex("HRANDFIELD", "nokey"), ex("HRANDFIELD", "nokey", "3"), ex("HRANDFIELD", "nokey", "-3", "WITHVALUES"),
		ex("HSET", "h", "a", "1", "b", "2", "c", "3"),
		shp("HRANDFIELD", "h"), shp("HRANDFIELD", "h", "2"), shp("HRANDFIELD", "h", "-5"), shp("HRANDFIELD", "h", "2", "WITHVALUES"),
		shp("HRANDFIELD", "h", "-5", "withvalues"), prs("HRANDFIELD", "h", "3", "WITHVALUES"), prs("HRANDFIELD", "h", "10", "WITHVALUES"),
		uno("HRANDFIELD", "h", "3"), uno("HRANDFIELD", "h", "100"), ex("HRANDFIELD", "h", "0"), ex("HRANDFIELD", "h", "0", "WITHVALUES"),
		ex("HRANDFIELD", "h", "x"), ex("HRANDFIELD", "h", "1", "FOO"), ex("HRANDFIELD", "h", "1", "WITHVALUES", "x"),
		ex("HRANDFIELD", "h", "-9223372036854775808"), ex("HRANDFIELD", "h", "9223372036854775807", "WITHVALUES"),
		ex("HRANDFIELD", "h", "-9223372036854775807", "WITHVALUES"), ex("HRANDFIELD"),
	}},
	{"hscan", []collStep{
		ex("HSCAN", "nokey", "0"), ex("HSCAN", "nokey", "0", "COUNT", "x"), ex("HSCAN", "h", "x"), ex("HSCAN", "nokey", "-1"),
		ex("HSCAN", "nokey", ""), ex("HSCAN", "nokey", "+3"), ex("HSCAN", "nokey", " 1"), ex("HSCAN", "nokey", "18446744073709551616"),
		ex("HSCAN", "nokey", "18446744073709551615"), ex("HSCAN", "nokey", "-"), ex("HSCAN", "nokey", "1.5"),
		ex("HSET", "h", "a1", "1", "a2", "2", "b1", "3"),
		scn("HSCAN", "h", "0"), scn("HSCAN", "h", "0", "MATCH", "a*"), scn("HSCAN", "h", "0", "COUNT", "1"),
		scn("HSCAN", "h", "0", "match", "*1", "count", "100"),
		ex("HSCAN", "h", "0", "COUNT", "0"), ex("HSCAN", "h", "0", "COUNT", "x"), ex("HSCAN", "h", "0", "COUNT"),
		ex("HSCAN", "h", "0", "FOO", "x"), ex("HSCAN", "h"), ex("HSCAN", "h", "0", "MATCH"),
	}},
	{"hash wrongtype", []collStep{
		ex("SET", "str", "x"), ex("SADD", "set", "m"),
		ex("HSET", "str", "f", "v"), ex("HMSET", "str", "f", "v"), ex("HSETNX", "str", "f", "v"), ex("HGET", "str", "f"),
		ex("HMGET", "str", "f"), ex("HDEL", "str", "f"), ex("HEXISTS", "str", "f"), ex("HLEN", "str"), ex("HSTRLEN", "str", "f"),
		ex("HGETALL", "set"), ex("HKEYS", "set"), ex("HVALS", "set"), ex("HINCRBY", "str", "f", "1"), ex("HINCRBY", "str", "f", "x"),
		ex("HINCRBYFLOAT", "set", "f", "1"), ex("HRANDFIELD", "str"), ex("HRANDFIELD", "str", "2"), ex("HRANDFIELD", "str", "x"),
		ex("HSCAN", "str", "0"), ex("HSCAN", "str", "x"), ex("HSCAN", "str", "0", "COUNT", "x"),
		ex("HSET", "h", "f", "v"), ex("GET", "h"), ex("INCR", "h"), ex("APPEND", "h", "x"), ex("STRLEN", "h"), ex("SADD", "h", "m"),
		ex("MGET", "h", "str"), ex("SET", "h", "now a string"), ex("GET", "h"), ex("HGET", "h", "f"),
	}},
	{"hash generic", []collStep{
		ex("HSET", "h", "a", "1", "b", "2"), ex("TYPE", "h"), ex("EXISTS", "h"), ex("TTL", "h"), ex("EXPIRE", "h", "100"), ex("TTL", "h"),
		ex("HSET", "h", "c", "3"), ex("TTL", "h"), ex("HINCRBY", "h", "c", "1"), ex("TTL", "h"), ex("HDEL", "h", "a"), ex("TTL", "h"),
		ex("PERSIST", "h"), ex("TTL", "h"), ex("RENAME", "h", "h2"), prs("HGETALL", "h2"), ex("EXISTS", "h"),
		ex("COPY", "h2", "h3"), prs("HGETALL", "h3"), ex("HSET", "h3", "z", "9"), ex("HLEN", "h2"), ex("HLEN", "h3"),
		ex("RENAMENX", "h2", "h3"), ex("DEL", "h2", "h3"), ex("EXISTS", "h2", "h3"), ex("PEXPIRE", "h3", "1"),
	}},
	{"hash multi", []collStep{
		ex("MULTI"), ex("HSET", "h", "a", "1"), ex("HINCRBY", "h", "a", "2"), ex("HGET", "h", "a"), ex("HINCRBY", "h", "a", "x"),
		ex("HSET", "h", "b"), ex("EXEC"), ex("HGET", "h", "a"),
		ex("MULTI"), ex("HSET", "h", "x", "1"), ex("HINCRBY", "h", "x", "y"), ex("HGET", "h", "x"), ex("EXEC"), ex("HGET", "h", "x"),
	}},
}

func TestHashCompareWithRedis(t *testing.T) {
	t.Parallel()
	runCollScripts(t, hashScripts)
}

// TestHashScanBig: HSCAN over a hash larger than a whole-hash reply visits
// every field exactly once, with small and large COUNTs, with fields whose
// cursors fit in the number and fields sharing long prefixes (cursors the
// server keeps), and a field added or removed meanwhile does not disturb
// the fields present throughout.
func TestHashScanBig(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--fsync", "never")
	c := s.client(t, nil)
	ctx := context.Background()
	want := map[string]string{}
	args := []any{"HSET", "h"}
	for i := 0; i < 1000; i++ {
		f := fmt.Sprintf("%x", i*7919)
		if i%2 == 0 {
			f = "a-long-common-prefix:" + strconv.Itoa(i)
		}
		want[f] = strconv.Itoa(i)
		args = append(args, f, strconv.Itoa(i))
	}
	if err := c.Do(ctx, args...).Err(); err != nil {
		t.Fatal(err)
	}
	for _, count := range []int64{1, 7, 100, 5000} {
		seen := map[string]int{}
		var cursor uint64
		for round := 0; ; round++ {
			if round > 2000 {
				t.Fatalf("COUNT %d: the scan does not end", count)
			}
			kv, next, err := c.HScan(ctx, "h", cursor, "*", count).Result()
			if err != nil {
				t.Fatalf("COUNT %d, cursor %d: %v", count, cursor, err)
			}
			if count >= 100 && round == 0 && len(kv) < 2*100 {
				t.Errorf("COUNT %d: first batch had only %d fields", count, len(kv)/2)
			}
			for i := 0; i < len(kv); i += 2 {
				seen[kv[i]]++
				if want[kv[i]] != kv[i+1] && !strings.HasSuffix(kv[i], "-meanwhile") {
					t.Errorf("field %q: value %q, want %q", kv[i], kv[i+1], want[kv[i]])
				}
			}
			if round == 3 { // change the hash mid-iteration
				c.HSet(ctx, "h", "added-meanwhile", "x")
				c.HDel(ctx, "h", "removed-meanwhile")
			}
			if next == 0 {
				break
			}
			cursor = next
		}
		for f := range want {
			if seen[f] != 1 {
				t.Errorf("COUNT %d: field %q seen %d times", count, f, seen[f])
			}
		}
		c.HDel(ctx, "h", "added-meanwhile")
		c.HSet(ctx, "h", "removed-meanwhile", "r") // may or may not be seen by the next scan
	}
	// NOVALUES (Redis 7.4): fields only.
	keys, err := c.Do(ctx, "HSCAN", "h", "0", "COUNT", "5", "NOVALUES").Slice()
	if err != nil || len(keys) == 0 {
		t.Fatalf("HSCAN NOVALUES: %v %v", keys, err)
	}
	if got := keys[1].([]any); len(got) < 5 || len(got) > 6 {
		t.Errorf("HSCAN COUNT 5 NOVALUES returned %d fields: %q", len(got), got)
	}
}

// TestHashConcurrentIncrements: many clients HINCRBY the same fields at
// once, pipelined and not; no increment is lost, and the HINCRBY replies
// of each field are all different (each saw the ones before it).
func TestHashConcurrentIncrements(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	const clients, per = 16, 50
	var mu sync.Mutex
	replies := map[string]map[int64]bool{"a": {}, "b": {}}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := s.client(t, nil)
			for i := 0; i < per; i++ {
				cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
					p.HIncrBy(ctx, "counters", "a", 1)
					p.HIncrBy(ctx, "counters", "b", 2)
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for j, f := range []string{"a", "b"} {
					n := cmds[j].(*redis.IntCmd).Val()
					if replies[f][n] {
						errs <- fmt.Errorf("HINCRBY %s answered %d twice", f, n)
					}
					replies[f][n] = true
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c := s.client(t, nil)
	got, err := c.HGetAll(ctx, "counters").Result()
	if err != nil {
		t.Fatal(err)
	}
	if got["a"] != strconv.Itoa(clients*per) || got["b"] != strconv.Itoa(2*clients*per) || len(got) != 2 {
		t.Fatalf("counters = %v, want a=%d b=%d", got, clients*per, 2*clients*per)
	}
}

// TestHashWatch: WATCH on a hash key aborts EXEC when another client
// changes the hash (a field overwritten or added, a delete of a field, an
// expiry), and a WATCH/HGET/MULTI/HSET loop of many clients loses no update.
func TestHashWatch(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c, other := s.client(t, nil), s.client(t, nil)
	c.HSet(ctx, "doc", "rev", "1")
	for _, change := range [][]any{{"HSET", "doc", "rev", "2"}, {"HSET", "doc", "other", "x"}, {"HDEL", "doc", "other"}, {"HINCRBY", "doc", "rev", "1"}} {
		err := c.Watch(ctx, func(tx *redis.Tx) error {
			if err := other.Do(ctx, change...).Err(); err != nil {
				return err
			}
			_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.HSet(ctx, "doc", "rev", "100")
				return nil
			})
			return err
		}, "doc")
		if !errors.Is(err, redis.TxFailedErr) {
			t.Errorf("%q after WATCH: EXEC gave %v, want a failed transaction", change, err)
		}
	}
	// A change to another hash does not abort.
	err := c.Watch(ctx, func(tx *redis.Tx) error {
		other.HSet(ctx, "unrelated", "f", "v")
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, "doc", "rev", "100")
			return nil
		})
		return err
	}, "doc")
	if err != nil {
		t.Fatalf("unrelated write aborted the transaction: %v", err)
	}

	// Optimistic increments of a field through WATCH: none is lost.
	const clients, per = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := s.client(t, nil)
			for i := 0; i < per; {
				err := cl.Watch(ctx, func(tx *redis.Tx) error {
					n, err := tx.HGet(ctx, "doc", "count").Int()
					if err != nil && !errors.Is(err, redis.Nil) {
						return err
					}
					_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
						p.HSet(ctx, "doc", "count", n+1)
						return nil
					})
					return err
				}, "doc")
				if errors.Is(err, redis.TxFailedErr) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				i++
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n, err := c.HGet(ctx, "doc", "count").Int(); err != nil || n != clients*per {
		t.Fatalf("count = %d, %v; want %d", n, err, clients*per)
	}
}

// TestHashExpiry: a hash with a deadline is gone once it passes, for every
// command (HGET, HLEN, EXISTS …), its expiry is a write (the "expired" op
// on the writes event), and it survives a restart until then.
func TestHashExpiry(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, nil)
	args := []any{"HSET", "h"}
	for i := 0; i < 5000; i++ {
		args = append(args, "f"+strconv.Itoa(i), "v")
	}
	if err := c.Do(ctx, args...).Err(); err != nil {
		t.Fatal(err)
	}
	c.SAdd(ctx, "s", "a", "b")
	if err := c.PExpire(ctx, "h", 300*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expire(ctx, "s", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	s = s.restart(t)
	c = s.client(t, nil)
	if ttl := c.TTL(ctx, "s").Val(); ttl <= 0 {
		t.Fatalf("TTL of s after restart = %v", ttl)
	}
	ev := rawWrites(t, s.client(t, nil), "0")
	// Wait for the expirer's write (no sleep: the event says when), unless
	// it happened before the subscription.
	for c.Exists(ctx, "h").Val() == 1 {
		if p := ev(); strings.Contains(p, `{"op":"expired","key":"h"}`) {
			break
		}
	}
	if n := c.Exists(ctx, "h").Val(); n != 0 {
		t.Fatalf("EXISTS h after expiry = %d", n)
	}
	if n := c.HLen(ctx, "h").Val(); n != 0 {
		t.Fatalf("HLEN h after expiry = %d", n)
	}
	if v, err := c.HGet(ctx, "h", "f1").Result(); !errors.Is(err, redis.Nil) {
		t.Fatalf("HGET after expiry = %q, %v", v, err)
	}
	// A new hash at the same key starts empty (the old fields are unreachable).
	c.HSet(ctx, "h", "new", "1")
	if got := c.HGetAll(ctx, "h").Val(); len(got) != 1 || got["new"] != "1" {
		t.Fatalf("new hash = %v", got)
	}
	if ttl := c.TTL(ctx, "h").Val(); ttl != -1 {
		t.Fatalf("new hash TTL = %v", ttl)
	}
	if got := c.SMembers(ctx, "s").Val(); len(got) != 2 {
		t.Fatalf("s = %v", got)
	}
}

// rawWrites subscribes to keyspace ks's writes event and returns a function
// that waits for the next payload.
func rawWrites(t *testing.T, c *redis.Client, ks string) func() string {
	t.Helper()
	ctx := context.Background()
	ps := c.Subscribe(ctx, "__mutex@"+ks+"__:writes")
	t.Cleanup(func() { ps.Close() })
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	return func() string {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		m, err := ps.ReceiveMessage(ctx)
		if err != nil {
			t.Fatalf("no writes event: %v", err)
		}
		return m.Payload
	}
}

// TestHashWritesEvent: the writes event and the change feed's ops describe
// hash and set mutations so that replaying them rebuilds the keyspace.
func TestHashWritesEvent(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, nil)
	ev := rawWrites(t, s.client(t, nil), "0")
	steps := []struct {
		cmd  []any
		want string
	}{
		{[]any{"HSET", "h", "f", "v", "g", "1", "f", "w"}, `[{"op":"hset","key":"h","fields":{"g":"1","f":"w"}}]`},
		{[]any{"HINCRBY", "h", "g", "2"}, `[{"op":"hset","key":"h","fields":{"g":"3"}}]`},
		{[]any{"HDEL", "h", "f", "nof"}, `[{"op":"hdel","key":"h","items":["f"]}]`},
		{[]any{"HSET", "h", "\xff", "x"}, `[{"op":"hset","key":"h","fields_b64":{"/w==":"eA=="}}]`},
		{[]any{"SADD", "s", "a", "b", "a"}, `[{"op":"sadd","key":"s","items":["a","b"]}]`},
		{[]any{"SREM", "s", "a", "z"}, `[{"op":"srem","key":"s","items":["a"]}]`},
		{[]any{"SMOVE", "s", "t", "b"}, `[{"op":"srem","key":"s","items":["b"]},{"op":"sadd","key":"t","items":["b"]}]`},
		{[]any{"SADD", "u", "b", "c"}, `[{"op":"sadd","key":"u","items":["b","c"]}]`},
		{[]any{"SUNIONSTORE", "t", "t", "u"}, `[{"op":"del","key":"t"},{"op":"sadd","key":"t","items":["b","c"]}]`},
		{[]any{"SPOP", "u", "5"}, `[{"op":"srem","key":"u","items":["b","c"]}]`},
	}
	for _, st := range steps {
		if err := c.Do(ctx, st.cmd...).Err(); err != nil {
			t.Fatalf("%q: %v", st.cmd, err)
		}
		p := ev()
		i := strings.Index(p, `"ops":`)
		if i < 0 || p[i+6:len(p)-1] != st.want {
			t.Errorf("%q: writes event %s, want ops %s", st.cmd, p, st.want)
		}
	}
}

// TestHashPropertyLikeRedis: random sequences of hash and set commands
// over a few keys, fields and members give the same replies and the same
// final state on mutexredis and Redis.
func TestHashPropertyLikeRedis(t *testing.T) {
	t.Parallel()
	raddr := realRedis(t)
	s := startServer(t, "--fsync", "never")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	mine, theirs := dialRaw(t, s.Addr), dialRaw(t, raddr)
	for _, c := range []*rconn{mine, theirs} {
		c.do("SELECT", "10")
		c.do("FLUSHDB")
	}
	keys := []string{"h1", "h2", "s1", "s2", "s3", "str"}
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	key := func() string { return keys[rng.IntN(len(keys))] }
	field := func() string { return pick("a", "b", "c", "d", "e", "", "\xff") }
	num := func() string { return pick("1", "-2", "10", "x", "0", "9223372036854775807", "1.5") }
	some := func(gen func() string, pairs bool) []string {
		var out []string
		for n := 1 + rng.IntN(4); n > 0; n-- {
			out = append(out, gen())
			if pairs {
				out = append(out, num())
			}
		}
		return out
	}
	gens := []func() collStep{
		func() collStep { return ex(append([]string{"HSET", key()}, some(field, true)...)...) },
		func() collStep { return ex("HSETNX", key(), field(), num()) },
		func() collStep { return ex(append([]string{"HDEL", key()}, some(field, false)...)...) },
		func() collStep { return ex("HINCRBY", key(), field(), num()) },
		func() collStep { return ex("HINCRBYFLOAT", key(), "fl", pick("1", "-2.5", "0.1", "x", "1e3")) },
		func() collStep { return ex("HGET", key(), field()) },
		func() collStep { return ex(append([]string{"HMGET", key()}, some(field, false)...)...) },
		func() collStep { return ex("HLEN", key()) },
		func() collStep { return ex("HEXISTS", key(), field()) },
		func() collStep { return ex("HSTRLEN", key(), field()) },
		func() collStep { return prs("HGETALL", key()) },
		func() collStep { return uno("HKEYS", key()) },
		func() collStep { return ex(append([]string{"SADD", key()}, some(field, false)...)...) },
		func() collStep { return ex(append([]string{"SREM", key()}, some(field, false)...)...) },
		func() collStep { return ex("SISMEMBER", key(), field()) },
		func() collStep { return ex(append([]string{"SMISMEMBER", key()}, some(field, false)...)...) },
		func() collStep { return uno("SMEMBERS", key()) },
		func() collStep { return ex("SCARD", key()) },
		func() collStep { return ex("SMOVE", key(), key(), field()) },
		func() collStep { return uno("SINTER", key(), key()) },
		func() collStep { return uno("SUNION", key(), key(), key()) },
		func() collStep { return uno("SDIFF", key(), key()) },
		func() collStep { return ex("SINTERCARD", "2", key(), key()) },
		func() collStep { return ex(pick("SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"), key(), key(), key()) },
		func() collStep { return ex("DEL", key()) },
		func() collStep { return ex("SET", "str", num()) },
		func() collStep { return ex("TYPE", key()) },
		func() collStep { return uno("SPOP", key(), "10") },
		func() collStep { return ex("RENAME", key(), key()) },
		func() collStep { // (COPY of a key onto itself: generic.go answers 0 where Redis errs)
			i := rng.IntN(len(keys))
			return ex("COPY", keys[i], keys[(i+1+rng.IntN(len(keys)-1))%len(keys)], "REPLACE")
		},
	}
	for i := 0; i < 1500; i++ {
		st := gens[rng.IntN(len(gens))]()
		got, want := mine.collDo(st), theirs.collDo(st)
		if got != want {
			t.Fatalf("seed %d, step %d %q:\n mutexredis: %s\n redis:      %s", seed, i, st.args, got, want)
		}
	}
	for _, k := range keys {
		for _, st := range []collStep{ex("TYPE", k), prs("HGETALL", k), uno("SMEMBERS", k)} {
			if got, want := mine.collDo(st), theirs.collDo(st); got != want {
				t.Errorf("final %q: mutexredis %s, redis %s", st.args, got, want)
			}
		}
	}
}

// TestHashSetNotificationsLikeRedis: the hash and set commands publish
// Redis's keyspace notifications (hset, hdel, hincrby, hincrbyfloat, sadd,
// srem, spop, smove's srem/sadd, s*store, del when emptied, new …), in
// Redis's order, and none when they change nothing. Not parallel:
// notify-keyspace-events is global to the shared redis-server.
func TestHashSetNotificationsLikeRedis(t *testing.T) {
	raddr := realRedis(t)
	s := startServer(t)
	keys := []any{"DEL"}
	for _, k := range []string{"h", "h2", "s", "t", "u", "d", "one", "str"} {
		keys = append(keys, "ntf:"+k)
	}
	for _, a := range []string{s.Addr, raddr} {
		if err := newClient(t, a, nil).Do(context.Background(), keys...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { ntfSetBoth(t, "", raddr) })
	ntfSetBoth(t, "KEAn", s.Addr, raddr)
	mine := newNtfSide(t, "mutexredis", s.Addr, true, 0)
	theirs := newNtfSide(t, "redis", raddr, false, 0)
	ntfCompare(t, mine, theirs,
		ntfQ("HSET", "ntf:h", "a", "1", "b", "2"),
		ntfQ("HSET", "ntf:h", "a", "1"), // no new field: still an hset event
		ntfQ("HMSET", "ntf:h", "c", "3"),
		ntfQ("HSETNX", "ntf:h", "a", "x"), // not applied
		ntfQ("HSETNX", "ntf:h", "d", "4"),
		ntfQ("HINCRBY", "ntf:h", "n", "5"),
		ntfQ("HINCRBY", "ntf:h", "a", "x"), // an error: nothing
		ntfQ("HINCRBYFLOAT", "ntf:h", "f", "1.5"),
		ntfQ("HINCRBYFLOAT", "ntf:h2", "f", "1.5"), // creates the hash: new
		ntfQ("HDEL", "ntf:h", "nofield"),
		ntfQ("HDEL", "ntf:h", "a", "b"),
		ntfQ("HDEL", "ntf:h2", "f"), // empties it: hdel, del
		ntfQ("HSET", "ntf:str", "f", "v"),
		ntfQ("SADD", "ntf:s", "a", "b", "c"),
		ntfQ("SADD", "ntf:s", "a"), // nothing added
		ntfQ("SREM", "ntf:s", "zz"),
		ntfQ("SREM", "ntf:s", "a"),
		ntfQ("SMOVE", "ntf:s", "ntf:t", "b"),
		ntfQ("SMOVE", "ntf:s", "ntf:t", "zz"),
		ntfQ("SMOVE", "ntf:s", "ntf:t", "c"), // empties the source
		ntfQ("SADD", "ntf:u", "b", "x"),
		ntfQ("SMOVE", "ntf:t", "ntf:u", "b"), // already in the destination
		ntfQ("SINTERSTORE", "ntf:d", "ntf:t", "ntf:u"),
		ntfQ("SUNIONSTORE", "ntf:d", "ntf:t", "ntf:u"),
		ntfQ("SDIFFSTORE", "ntf:d", "ntf:u", "ntf:t"),
		ntfQ("SINTERSTORE", "ntf:d", "ntf:nokey", "ntf:u"), // empty: deletes d
		ntfQ("SINTERSTORE", "ntf:d", "ntf:nokey", "ntf:u"), // nothing to delete
		ntfQ("SADD", "ntf:one", "x"),
		ntfQ("SPOP", "ntf:one"),
		ntfQ("SADD", "ntf:one", "x"),
		ntfQ("SPOP", "ntf:one", "5"), // (one member: the reply's order is Redis's)
		ntfQ("SPOP", "ntf:nokey"),
		ntfQ("SPOP", "ntf:u", "0"),
		ntfQ("MULTI", ntfQ("HSET", "ntf:h", "m", "1"), ntfQ("SADD", "ntf:s", "m"), ntfQ("DEL", "ntf:h")),
	)
}

// TestHashSetWritesReplay: while clients run hash and set commands
// concurrently (and DEL, RENAME, COPY, EXPIRE, FLUSHDB over them), a
// subscriber records the writes and flushed events; replaying the ops of
// every committed batch in order rebuilds every hash and set exactly.
// (Deadlines are an hour away or in the past, so that nothing depends on
// when the expirer runs; TestHashExpiry covers it.)
func TestHashSetWritesReplay(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	const writesCh, flushedCh = "__mutex@0__:writes", "__mutex@0__:flushed"
	rec := psRecord(t, s.client(t, nil), writesCh, flushedCh)
	wc := s.client(t, &redis.Options{PoolSize: 16})
	keys := []string{"rh:0", "rh:1", "rh:2", "rs:0", "rs:1", "rs:2", "r\xffbin"}
	members := []string{"a", "b", "c", "d", "\xfe\xff", "é", ""}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(w), 7))
			key := func() string { return keys[rnd.IntN(len(keys))] }
			mem := func() string { return members[rnd.IntN(len(members))] }
			for i := 0; i < 150; i++ {
				var err error
				switch r := rnd.IntN(100); {
				case w == 3 && i == 75:
					err = wc.FlushDB(ctx).Err()
				case r < 20:
					err = wc.HSet(ctx, key(), mem(), strconv.Itoa(i), mem(), "x"+mem()).Err()
				case r < 28:
					err = wc.HDel(ctx, key(), mem(), mem()).Err()
				case r < 36:
					err = wc.HIncrBy(ctx, key(), "n", 3).Err()
				case r < 56:
					err = wc.SAdd(ctx, key(), mem(), mem()).Err()
				case r < 64:
					err = wc.SRem(ctx, key(), mem()).Err()
				case r < 70:
					err = wc.SPop(ctx, key()).Err()
				case r < 76:
					err = wc.SMove(ctx, key(), key(), mem()).Err()
				case r < 82:
					err = wc.SUnionStore(ctx, key(), key(), key()).Err()
				case r < 85:
					err = wc.SInterStore(ctx, key(), key(), key()).Err()
				case r < 88:
					err = wc.SDiffStore(ctx, key(), key(), key()).Err()
				case r < 91:
					err = wc.Rename(ctx, key(), key()).Err()
				case r < 94:
					err = wc.Do(ctx, "COPY", key(), key(), "REPLACE").Err()
				case r < 95:
					err = wc.Expire(ctx, key(), time.Hour).Err()
				case r < 96:
					err = wc.Do(ctx, "PEXPIREAT", key(), "1").Err() // in the past: deletes
				default:
					err = wc.Del(ctx, key()).Err()
				}
				if err != nil && !errors.Is(err, redis.Nil) && !strings.HasPrefix(err.Error(), "WRONGTYPE") &&
					err.Error() != "ERR no such key" && err.Error() != "ERR hash value is not an integer" &&
					err.Error() != "ERR source and destination objects are the same" {
					errs <- fmt.Errorf("writer %d: %v", w, err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	last := uint64(afterwrite(t, wc))
	psWaitFlushed(t, rec, flushedCh, last)

	type val struct {
		hash map[string]string
		set  map[string]bool
	}
	model := map[string]*val{}
	decode := func(op map[string]any, name string) string {
		if v, ok := op[name].(string); ok {
			return v
		}
		b, err := base64.StdEncoding.DecodeString(op[name+"_b64"].(string))
		if err != nil {
			t.Fatalf("%s_b64: %v", name, err)
		}
		return string(b)
	}
	items := func(op map[string]any, name string) []any {
		if v, ok := op[name]; ok {
			return v.([]any)
		}
		var out []any
		for _, x := range op[name+"_b64"].([]any) {
			b, _ := base64.StdEncoding.DecodeString(x.(string))
			out = append(out, string(b))
		}
		return out
	}
	writes := map[uint64][]map[string]any{}
	failed := map[uint64]bool{}
	for _, m := range rec.snapshot() {
		var e struct {
			Batch uint64           `json:"batch"`
			Ops   []map[string]any `json:"ops"`
			Error *string          `json:"error"`
		}
		if err := json.Unmarshal([]byte(m.Payload), &e); err != nil {
			t.Fatal(err)
		}
		if m.Channel == writesCh {
			writes[e.Batch] = e.Ops
		} else if e.Error != nil {
			failed[e.Batch] = true
		}
	}
	var nops int
	for b := uint64(1); b <= last; b++ {
		if failed[b] {
			continue
		}
		for _, op := range writes[b] {
			nops++
			k := ""
			if _, ok := op["key"]; ok || op["key_b64"] != nil {
				k = decode(op, "key")
			}
			get := func() *val {
				if model[k] == nil {
					model[k] = &val{hash: map[string]string{}, set: map[string]bool{}}
				}
				return model[k]
			}
			switch op["op"] {
			case "hset":
				fields, ok := op["fields"].(map[string]any)
				if !ok {
					fields = map[string]any{}
					for f, v := range op["fields_b64"].(map[string]any) {
						fb, _ := base64.StdEncoding.DecodeString(f)
						vb, _ := base64.StdEncoding.DecodeString(v.(string))
						fields[string(fb)] = string(vb)
					}
				}
				for f, v := range fields {
					get().hash[f] = v.(string)
				}
			case "hdel":
				for _, f := range items(op, "items") {
					delete(get().hash, f.(string))
				}
			case "sadd":
				for _, x := range items(op, "items") {
					get().set[x.(string)] = true
				}
			case "srem":
				for _, x := range items(op, "items") {
					delete(get().set, x.(string))
				}
			case "del", "expired":
				delete(model, k)
			case "copy":
				src, dst := model[k], decode(op, "to")
				model[dst] = &val{hash: maps.Clone(src.hash), set: maps.Clone(src.set)}
			case "flushdb":
				clear(model)
			case "pexpireat", "persist":
			default:
				t.Fatalf("unexpected op %v", op)
			}
		}
	}
	for _, k := range keys {
		want := model[k]
		typ := wc.Type(ctx, k).Val()
		switch {
		case want == nil || len(want.hash)+len(want.set) == 0:
			if typ != "none" {
				t.Errorf("%q: replay has nothing, the keyspace a %s", k, typ)
			}
		case len(want.hash) > 0:
			if got := wc.HGetAll(ctx, k).Val(); typ != "hash" || !maps.Equal(got, want.hash) {
				t.Errorf("%q: keyspace %s %v, replay %v", k, typ, got, want.hash)
			}
		default:
			got := map[string]bool{}
			for _, m := range wc.SMembers(ctx, k).Val() {
				got[m] = true
			}
			if typ != "set" || !maps.Equal(got, want.set) {
				t.Errorf("%q: keyspace %s %v, replay %v", k, typ, got, want.set)
			}
		}
	}
	t.Logf("%d batches, %d ops replayed", last, nops)
}
