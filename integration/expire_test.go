package integration

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// far is a deadline years ahead, so that absolute expiries compare
// exactly between the two servers; farMs is the same in ms.
const far, farMs = "4102444800", "4102444800000"

// Every expiry command and option, against redis-server: replies, errors,
// and which commands keep or clear a time to live. Relative TTLs are
// compared in seconds (both servers round the same within a second).
var expireScripts = []script{
	{"set expiry options", []step{
		cmd("SET", "k", "v", "EX", "100"), cmd("TTL", "k"), cmd("SET", "k", "v", "PX", "100000"), cmd("TTL", "k"),
		cmd("SET", "k", "v", "EXAT", far), cmd("EXPIRETIME", "k"), cmd("SET", "k", "v", "PXAT", farMs), cmd("PEXPIRETIME", "k"),
		cmd("SET", "k", "v2", "KEEPTTL"), cmd("PEXPIRETIME", "k"), cmd("GET", "k"), cmd("SET", "k", "v3"), cmd("TTL", "k"),
		cmd("SET", "k", "v", "EX", "0"), cmd("SET", "k", "v", "EX", "-1"), cmd("SET", "k", "v", "PX", "0"),
		cmd("SET", "k", "v", "EX", "x"), cmd("SET", "k", "v", "EX"), cmd("SET", "k", "v", "EX", "10", "PX", "10"),
		cmd("SET", "k", "v", "KEEPTTL", "EX", "10"), cmd("SET", "k", "v", "EX", "10", "KEEPTTL"),
		cmd("SET", "k", "v", "EX", "9223372036854775807"), cmd("SET", "k", "v", "PX", "9223372036854775807"),
		cmd("SET", "k", "v", "EXAT", "9223372036854775807"), cmd("SET", "k", "v", "PXAT", "1"), cmd("GET", "k"), cmd("EXISTS", "k"),
		cmd("SET", "k", "v", "NX", "EX", "100"), cmd("TTL", "k"), cmd("SET", "k", "w", "XX", "GET", "EX", "200"), cmd("TTL", "k"),
		cmd("SET", "k", "v", "ex", "100", "nx"),
	}},
	{"setex psetex", []step{
		cmd("SETEX", "k", "100", "v"), cmd("TTL", "k"), cmd("GET", "k"), cmd("PSETEX", "p", "100000", "v"), cmd("TTL", "p"),
		cmd("SETEX", "k", "0", "v"), cmd("SETEX", "k", "-5", "v"), cmd("PSETEX", "k", "0", "v"), cmd("SETEX", "k", "x", "v"),
		cmd("SETEX", "k", "10"), cmd("SETEX", "k", "9223372036854775807", "v"), cmd("GET", "k"),
	}},
	{"getex", []step{
		cmd("SET", "k", "v"), cmd("GETEX", "k"), cmd("TTL", "k"), cmd("GETEX", "k", "EX", "100"), cmd("TTL", "k"),
		cmd("GETEX", "k", "PXAT", farMs), cmd("PEXPIRETIME", "k"), cmd("GETEX", "k", "PERSIST"), cmd("TTL", "k"),
		cmd("GETEX", "nokey", "EX", "10"), cmd("GETEX", "k", "EX", "0"), cmd("GETEX", "k", "EX"), cmd("GETEX", "k", "FOO"),
		cmd("GETEX", "k", "EX", "10", "PX", "10"), cmd("GETEX", "k", "PERSIST", "EX", "10"), cmd("GETEX", "k", "KEEPTTL"),
		cmd("GETEX", "k", "EXAT", "1"), cmd("EXISTS", "k"), cmd("GETEX"),
	}},
	{"expire family", []step{
		cmd("SET", "k", "v"), cmd("EXPIRE", "k", "100"), cmd("TTL", "k"), cmd("EXPIRE", "nokey", "100"),
		cmd("PEXPIRE", "k", "200000"), cmd("TTL", "k"), cmd("EXPIREAT", "k", far), cmd("EXPIRETIME", "k"),
		cmd("PEXPIREAT", "k", farMs), cmd("PEXPIRETIME", "k"), cmd("EXPIRE", "k", "x"), cmd("EXPIRE", "k"),
		cmd("EXPIRE", "k", "100", "NX"), cmd("EXPIRE", "k", "100", "XX"), cmd("TTL", "k"),
		cmd("EXPIRE", "k", "50", "GT"), cmd("TTL", "k"), cmd("EXPIRE", "k", "500", "GT"), cmd("TTL", "k"),
		cmd("EXPIRE", "k", "1000", "LT"), cmd("EXPIRE", "k", "10", "LT"), cmd("TTL", "k"),
		cmd("EXPIRE", "k", "10", "NX", "XX"), cmd("EXPIRE", "k", "10", "GT", "LT"), cmd("EXPIRE", "k", "10", "NX", "GT"),
		cmd("EXPIRE", "k", "10", "FOO"), cmd("EXPIRE", "k", "5", "xx", "gt"), // 5 s: below the TTL left whatever the clock did since
		cmd("PERSIST", "k"), cmd("TTL", "k"), cmd("PERSIST", "k"), cmd("PERSIST", "nokey"),
		cmd("EXPIRE", "k", "10", "XX"), cmd("EXPIRE", "k", "10", "GT"), cmd("EXPIRE", "k", "10", "LT"), cmd("TTL", "k"),
		cmd("EXPIRE", "k", "9223372036854775807"), cmd("EXPIRE", "k", "-9223372036854775808"),
		cmd("PEXPIRE", "k", "9223372036854775807"), cmd("EXPIREAT", "k", "9223372036854775807"),
		cmd("EXPIRE", "k", "0"), cmd("EXISTS", "k"), cmd("SET", "k", "v"), cmd("EXPIRE", "k", "-10"), cmd("GET", "k"),
		cmd("SET", "k", "v"), cmd("PEXPIREAT", "k", "1"), cmd("EXISTS", "k"), cmd("SET", "k", "v"), cmd("EXPIREAT", "k", "0"), cmd("TYPE", "k"),
	}},
	{"ttl family", []step{
		cmd("TTL", "nokey"), cmd("PTTL", "nokey"), cmd("EXPIRETIME", "nokey"), cmd("PEXPIRETIME", "nokey"),
		cmd("SET", "k", "v"), cmd("TTL", "k"), cmd("PTTL", "k"), cmd("EXPIRETIME", "k"), cmd("PEXPIRETIME", "k"),
		cmd("TTL"), cmd("PTTL", "a", "b"), cmd("EXPIRETIME"), cmd("PERSIST"),
	}},
	{"what keeps a ttl", []step{
		cmd("SET", "n", "1", "EXAT", far), cmd("INCR", "n"), cmd("EXPIRETIME", "n"), cmd("INCRBY", "n", "5"), cmd("DECR", "n"),
		cmd("INCRBYFLOAT", "n", "1.5"), cmd("EXPIRETIME", "n"), cmd("APPEND", "n", "x"), cmd("SETRANGE", "n", "0", "y"),
		cmd("EXPIRETIME", "n"), cmd("GETSET", "n", "z"), cmd("EXPIRETIME", "n"),
		cmd("SET", "m", "1", "EXAT", far), cmd("MSET", "m", "2"), cmd("EXPIRETIME", "m"),
		cmd("SET", "r", "1", "EXAT", far), cmd("RENAME", "r", "r2"), cmd("EXPIRETIME", "r2"), cmd("EXISTS", "r"),
		cmd("SET", "r3", "x"), cmd("RENAME", "r3", "r2"), cmd("EXPIRETIME", "r2"),
		cmd("SET", "c", "1", "EXAT", far), cmd("COPY", "c", "c2"), cmd("EXPIRETIME", "c2"), cmd("COPY", "c", "c2"),
		cmd("COPY", "c", "c2", "REPLACE"), cmd("COPY", "c", "c"), cmd("COPY", "nokey", "c3"),
		cmd("SET", "g", "v", "EXAT", far), cmd("GETDEL", "g"), cmd("EXPIRETIME", "g"),
		cmd("SET", "s", "v", "EXAT", far), cmd("SETNX", "s", "w"), cmd("EXPIRETIME", "s"),
	}},
}

func TestCompareExpiryWithRedis(t *testing.T) {
	t.Parallel()
	compareScripts(t, expireScripts)
}

// waitFor polls cond until it holds, failing the test after waitTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A key past its deadline does not exist for any command, before the
// expirer deletes it.
func TestExpiredKeyIsGoneForEveryCommand(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := newClient(t, s.Addr, nil)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		if err := c.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// PXAT in the past: the key is written expired; nothing may see it.
	if err := c.Do(ctx, "SET", "b", "old", "PXAT", "1").Err(); err != nil {
		t.Fatal(err)
	}
	check := func(what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("GET b", c.Get(ctx, "b").Err(), redis.Nil)
	check("EXISTS b", c.Exists(ctx, "b").Val(), 0)
	check("MGET", c.MGet(ctx, "a", "b", "c").Val(), []any{"v", nil, "v"})
	check("KEYS", c.Keys(ctx, "*").Val(), []string{"a", "c"})
	keys, _ := c.Scan(ctx, 0, "*", 100).Val()
	check("SCAN", keys, []string{"a", "c"})
	check("DBSIZE", c.DBSize(ctx).Val(), 2)
	check("TYPE b", c.Type(ctx, "b").Val(), "none")
	check("TTL b", c.TTL(ctx, "b").Val(), time.Duration(-2))
	check("PEEKFIRST (a", c.Do(ctx, "PEEKFIRST", "(a", "+").Val(), []any{"c", "v"})
	check("PEEKLAST [b", c.Do(ctx, "PEEKLAST", "-", "[b").Val(), []any{"a", "v"})
	check("RENAME b", c.Rename(ctx, "b", "x").Err(), "ERR no such key")
	check("SET b NX", c.SetNX(ctx, "b", "new", 0).Val(), true)
	check("GET b", c.Get(ctx, "b").Val(), "new")
	c.Do(ctx, "SET", "b", "old", "PXAT", "1")
	check("SET b IFEQ old", c.Do(ctx, "SET", "b", "x", "IFEQ", "old").Err(), redis.Nil)
	check("INCR b", c.Incr(ctx, "b").Val(), 1)
}

// 100,000 keys with deadlines spread over 2 s are all deleted by the
// expirer, with nobody reading them, and each deletion is announced.
func TestActiveExpiry(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := newClient(t, s.Addr, nil)
	ctx := context.Background()
	const n = 100_000
	base := time.Now().Add(500 * time.Millisecond).UnixMilli()
	pipe := c.Pipeline()
	for i := range n {
		pipe.Do(ctx, "SET", "k"+strconv.Itoa(i), "v", "PXAT", strconv.FormatInt(base+int64(i%2000), 10))
		if i%5000 == 4999 {
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "live", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// DBSIZE counts live keys, which deadlines alone decide: it must fall to 1
	// once the last deadline passes; the INFO figure counts real deletions.
	waitFor(t, "every key expired and deleted", func() bool {
		return expiredKeys(t, c) >= n
	})
	if got := c.DBSize(ctx).Val(); got != 1 {
		t.Fatalf("DBSIZE = %d after expiry, want 1", got)
	}
	if got := c.Get(ctx, "live").Val(); got != "v" {
		t.Fatalf("live key = %q", got)
	}
}

// expiredKeys reads INFO's expired_keys.
func expiredKeys(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	info := c.Info(context.Background(), "stats").Val()
	var n int64
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "expired_keys:"); ok {
			n, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return n
}

// WATCH: a watched key that expires before EXEC makes EXEC fail, as in
// Redis 7.
func TestWatchSeesExpiry(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := newClient(t, s.Addr, nil)
	ctx := context.Background()
	if err := c.Set(ctx, "w", "v", 300*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	err := c.Watch(ctx, func(tx *redis.Tx) error {
		waitFor(t, "w to expire", func() bool { return c.Exists(ctx, "w").Val() == 0 })
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "after", "1", 0)
			return nil
		})
		return err
	}, "w")
	if err != redis.TxFailedErr {
		t.Fatalf("EXEC after the watched key expired: %v, want TxFailedErr", err)
	}
	if c.Exists(ctx, "after").Val() != 0 {
		t.Fatal("the transaction ran")
	}
}

// kill -9 while keys are expiring: after each restart every live key is
// there with its deadline, and no key past its deadline is visible again.
func TestExpiryAcrossKill(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	const cycles, perCycle = 3, 2000
	type key struct {
		name     string
		deadline int64 // ms; 0: none
	}
	var keys []key
	for cycle := range cycles {
		s := ownStartPlain(t, dir)
		c := newClient(t, s.Addr, nil)
		// What the previous cycles wrote: live keys intact, expired ones gone.
		now := time.Now().UnixMilli()
		for _, k := range keys {
			pt, err := c.Do(ctx, "PEXPIRETIME", k.name).Int64()
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case k.deadline == 0 && pt != -1:
				t.Fatalf("cycle %d: %s has PEXPIRETIME %d, want -1 (live, no TTL)", cycle, k.name, pt)
			case k.deadline != 0 && k.deadline < now && pt != -2:
				t.Fatalf("cycle %d: %s, deadline %d passed, is visible (PEXPIRETIME %d)", cycle, k.name, k.deadline, pt)
			case k.deadline > now+1000 && pt != k.deadline:
				t.Fatalf("cycle %d: %s has PEXPIRETIME %d, want %d", cycle, k.name, pt, k.deadline)
			}
		}
		// New keys: a third without TTL, the rest due within the next
		// 300 ms or in an hour; kill while the short ones are expiring.
		pipe := c.Pipeline()
		base := time.Now().UnixMilli()
		for i := range perCycle {
			k := key{name: fmt.Sprintf("c%d:%d", cycle, i)}
			switch i % 3 {
			case 1:
				k.deadline = base + int64(i%300)
			case 2:
				k.deadline = base + 3600_000
			}
			if k.deadline == 0 {
				pipe.Set(ctx, k.name, "v", 0)
			} else {
				pipe.Do(ctx, "SET", k.name, "v", "PXAT", strconv.FormatInt(k.deadline, 10))
			}
			keys = append(keys, k)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "some keys expired", func() bool { return expiredKeys(t, c) > 0 })
		s.sigkill(t)
	}
}

// INFO's keyspace line counts keys with a deadline and their mean TTL.
func TestInfoKeyspaceExpires(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := newClient(t, s.Addr, nil)
	ctx := context.Background()
	c.Set(ctx, "a", "v", 0)
	c.Set(ctx, "b", "v", time.Hour)
	c.Set(ctx, "c", "v", 2*time.Hour)
	info := c.Info(ctx, "keyspace").Val()
	var keys, expires, avg int64
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "db0:"); ok {
			fmt.Sscanf(v, "keys=%d,expires=%d,avg_ttl=%d", &keys, &expires, &avg)
		}
	}
	if keys != 3 || expires != 2 || avg < 5000_000 || avg > 5400_000 {
		t.Fatalf("db0 line gives keys=%d expires=%d avg_ttl=%d; want 3, 2, about 5400000 (1.5 h)", keys, expires, avg)
	}
}

// The expired keyspace notification and the writes event's "expired" op.
func TestExpiredEvents(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--notify-keyspace-events", "Ex")
	c := newClient(t, s.Addr, nil)
	ctx := context.Background()
	sub := c.Subscribe(ctx, "__keyevent@0__:expired", "__mutex@0__:writes")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "k", "v", 50*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	var sawNote, sawOp bool
	for !sawNote || !sawOp {
		ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		msg, err := sub.ReceiveMessage(ctx)
		cancel()
		if err != nil {
			t.Fatalf("waiting for the expiry events: %v (notification %v, writes op %v)", err, sawNote, sawOp)
		}
		switch msg.Channel {
		case "__keyevent@0__:expired":
			sawNote = sawNote || msg.Payload == "k"
		case "__mutex@0__:writes":
			sawOp = sawOp || strings.Contains(msg.Payload, `{"op":"expired","key":"k"}`)
		}
	}
}
