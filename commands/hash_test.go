package commands

import (
	"context"
	"fmt"
	"testing"

	"github.com/mutexredis/mutexredis/mutex"
)

// TestLongDouble: HINCRBYFLOAT's arithmetic and formatting give what
// Redis 7.0 (x87 long double, "%.17Lf" trimmed) answers; the expected
// values are redis-server's replies.
func TestLongDouble(t *testing.T) {
	for _, c := range []struct{ a, b, want string }{
		{"0", "10.5", "10.5"},
		{"10.5", "0.1", "10.6"},
		{"1", "1000.1", "1001.09999999999999998"},
		{"0.1", "1000", "1000.09999999999999998"},
		{"1000.10000000000000001", "-1000.1", "0.00000000000000006"},
		{"0", "-0", "0"},
		{"3.0", "0", "3"},
		{"5.0e3", "0", "5000"},
		{"0x10", "0", "16"},
		{"7", "-0x1p-2", "6.75"},
		{"1e-20", "0", "0"},
	} {
		a, ok1 := parseLongDouble([]byte(c.a))
		b, ok2 := parseLongDouble([]byte(c.b))
		if !ok1 || !ok2 {
			t.Fatalf("parse %q or %q failed", c.a, c.b)
		}
		if got := string(formatLongDouble(a.Add(a, b))); got != c.want {
			t.Errorf("%s + %s = %s, want %s", c.a, c.b, got, c.want)
		}
	}
	for _, bad := range []string{"", "abc", " 1", "1 ", "1_0", "0b1", "nan", "1e5000", "1e-5000", "1.2.3"} {
		if _, ok := parseLongDouble([]byte(bad)); ok {
			t.Errorf("parseLongDouble(%q) accepted", bad)
		}
	}
	for _, inf := range []string{"inf", "-inf", "+inf"} {
		if z, ok := parseLongDouble([]byte(inf)); !ok || !z.IsInf() {
			t.Errorf("parseLongDouble(%q) = %v, %v", inf, z, ok)
		}
	}
	if z, ok := parseLongDouble([]byte("1e400")); !ok || z.IsInf() {
		t.Errorf("1e400 is within long double's range: %v, %v", z, ok)
	}
}

// TestHashCommandsInTable: every hash and set command is in the table
// with the flags its kind needs (writes go through write phases).
func TestHashCommandsInTable(t *testing.T) {
	writes := map[string]bool{"hset": true, "hmset": true, "hsetnx": true, "hdel": true, "hincrby": true, "hincrbyfloat": true,
		"sadd": true, "srem": true, "spop": true, "smove": true, "sinterstore": true, "sunionstore": true, "sdiffstore": true}
	for _, name := range []string{"hset", "hsetnx", "hget", "hmget", "hmset", "hdel", "hexists", "hlen", "hstrlen", "hgetall",
		"hkeys", "hvals", "hincrby", "hincrbyfloat", "hrandfield", "hscan", "sadd", "srem", "sismember", "smismember", "smembers",
		"scard", "spop", "srandmember", "smove", "sinter", "sintercard", "sinterstore", "sunion", "sunionstore", "sdiff",
		"sdiffstore", "sscan"} {
		c := Lookup([]byte(name))
		if c == nil || (c.Op == nil && c.OpCtx == nil) {
			t.Errorf("%s: not a keyspace op", name)
			continue
		}
		if got := c.Flags&Write != 0; got != writes[name] {
			t.Errorf("%s: write flag %v", name, got)
		}
		if (c.FirstKey == 0 && name != "sintercard") || c.Summary == "" { // SINTERCARD's keys follow numkeys
			t.Errorf("%s: key positions or summary missing", name)
		}
	}
}

// BenchmarkHSetBatch: pipelined HSETs of one hash, as redis-benchmark -t
// hset -P 16 sends them, 256 per Do.
func BenchmarkHSetBatch(b *testing.B) {
	ks, _ := testKeyspace(b)
	cmd := Lookup([]byte("hset"))
	ops := make([]mutex.Op, 256)
	b.ResetTimer()
	for i := 0; i < b.N; i += len(ops) {
		for j := range ops {
			ops[j], _ = cmd.Op([][]byte{[]byte("hset"), []byte("myhash"), []byte(fmt.Sprintf("element:%012d", (i+j)%100000)), []byte("value")})
		}
		if err := ks.Do(context.Background(), ops); err != nil {
			b.Fatal(err)
		}
	}
}
