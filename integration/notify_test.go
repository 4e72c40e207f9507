package integration

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis keyspace notifications (notify-keyspace-events): the same commands
// run on mutexredis and on a real redis-server 7, and the notifications
// each one publishes are compared. Redis publishes them synchronously, in
// the command; mutexredis once the batch has committed, before the batch's
// __mutex@<ks>__:flushed event. So after each command the collector waits,
// on mutexredis, for the flushed event of the last batch (AFTERWRITE), and
// on Redis, for a sentinel message published after the command.

// ntfSide is one server's command client and notification subscriber.
type ntfSide struct {
	t        *testing.T
	name     string
	mine     bool
	db       int
	c        *redis.Client
	ps       *redis.PubSub
	batch    int64 // mutexredis: the last batch whose notifications were collected
	sentinel int   // redis: sentinel messages sent
	seen     int   // notifications collected
}

const ntfSentinel = "ntf.sentinel"

// newNtfSide subscribes to __key*@<db>__:* (and, on mutexredis, to the
// flushed events; on Redis, to the sentinel channel).
func newNtfSide(t *testing.T, name, addr string, mine bool, db int) *ntfSide {
	t.Helper()
	ctx := context.Background()
	sd := &ntfSide{t: t, name: name, mine: mine, db: db}
	sd.c = newClient(t, addr, &redis.Options{DB: db, Protocol: 2})
	sub := newClient(t, addr, &redis.Options{DB: db, Protocol: 2})
	sd.ps = sub.PSubscribe(ctx, fmt.Sprintf("__key*@%d__:*", db))
	t.Cleanup(func() { sd.ps.Close() })
	extra := ntfSentinel
	if mine {
		extra = fmt.Sprintf("__mutex@%d__:flushed", db)
	}
	if err := sd.ps.Subscribe(ctx, extra); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := sd.ps.Receive(ctx); err != nil {
			t.Fatalf("%s: subscribe: %v", name, err)
		}
	}
	if mine {
		sd.batch = afterwriteOn(t, sd.c)
	}
	return sd
}

func afterwriteOn(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	n, err := c.Do(context.Background(), "AFTERWRITE").Int64()
	if err != nil {
		t.Fatalf("AFTERWRITE: %v", err)
	}
	return n
}

// collect returns the notifications published since the last collect, as
// "channel payload" lines in the order received.
func (sd *ntfSide) collect() []string {
	sd.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []string
	defer func() { sd.seen += len(out) }()
	if sd.mine {
		n := afterwriteOn(sd.t, sd.c)
		if n == sd.batch {
			return nil // no batch: nothing was published (a stray message shows up at the next collect)
		}
		flushed := fmt.Sprintf("__mutex@%d__:flushed", sd.db)
		for {
			m, err := sd.ps.ReceiveMessage(ctx)
			if err != nil {
				sd.t.Fatalf("%s: waiting for the flushed event of batch %d: %v (so far %q)", sd.name, n, err, out)
			}
			if m.Channel == flushed {
				if b, ok := psBatchOf(m.Payload); ok && int64(b) >= n {
					sd.batch = n
					return out
				}
				continue
			}
			out = append(out, fmt.Sprintf("%q %q", m.Channel, m.Payload))
		}
	}
	sd.sentinel++
	want := strconv.Itoa(sd.sentinel)
	if err := sd.c.Publish(ctx, ntfSentinel, want).Err(); err != nil {
		sd.t.Fatal(err)
	}
	for {
		m, err := sd.ps.ReceiveMessage(ctx)
		if err != nil {
			sd.t.Fatalf("%s: waiting for sentinel %s: %v (so far %q)", sd.name, want, err, out)
		}
		if m.Channel == ntfSentinel && m.Payload == want {
			return out
		}
		out = append(out, fmt.Sprintf("%q %q", m.Channel, m.Payload))
	}
}

// ntfReply renders a command's result for comparison.
func ntfReply(v any, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("%q", v)
}

// ntfCompare runs each command on both sides and compares replies and
// notifications.
func ntfCompare(t *testing.T, mine, theirs *ntfSide, cmds ...[]any) {
	t.Helper()
	ctx := context.Background()
	for _, args := range cmds {
		var replies [2]string
		var notes [2][]string
		for i, sd := range []*ntfSide{mine, theirs} {
			if len(args) > 0 && args[0] == "MULTI" {
				cmds, err := sd.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
					for _, a := range args[1:] {
						p.Do(ctx, a.([]any)...)
					}
					return nil
				})
				var parts []string
				for _, c := range cmds {
					parts = append(parts, ntfReply(c.(*redis.Cmd).Result()))
				}
				replies[i] = fmt.Sprint(parts, errText(err))
			} else {
				replies[i] = ntfReply(sd.c.Do(ctx, args...).Result())
			}
			notes[i] = sd.collect()
		}
		if replies[0] != replies[1] {
			t.Errorf("%q: reply\n mutexredis: %s\n redis:      %s", args, replies[0], replies[1])
		}
		if got, want := strings.Join(notes[0], "\n\t"), strings.Join(notes[1], "\n\t"); got != want {
			t.Errorf("%q: notifications\n mutexredis:\n\t%s\n redis:\n\t%s", args, got, want)
		}
	}
}

// ntfExpect runs commands on mutexredis only (commands Redis 7 lacks) and
// checks the notifications of each against want.
func ntfExpect(t *testing.T, sd *ntfSide, args []any, want ...string) {
	t.Helper()
	if _, err := sd.c.Do(context.Background(), args...).Result(); err != nil && !errors.Is(err, redis.Nil) {
		t.Fatalf("%q: %v", args, err)
	}
	got := sd.collect()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%q: notifications\n got:  %q\n want: %q", args, got, want)
	}
}

// ntfSetBoth sets notify-keyspace-events on both servers.
func ntfSetBoth(t *testing.T, classes string, addrs ...string) {
	t.Helper()
	for _, a := range addrs {
		c := dialRaw(t, a)
		if got := c.do("CONFIG", "SET", "notify-keyspace-events", classes); got != "+OK" {
			t.Fatalf("%s: CONFIG SET notify-keyspace-events %q: %s", a, classes, got)
		}
		c.nc.Close()
	}
}

// ntfQ builds a command.
func ntfQ(args ...any) []any { return args }

// TestKeyspaceNotificationsLikeRedis: every write command mutexredis and
// Redis 7 both have publishes the same notifications, in the same order,
// with notify-keyspace-events KEA; none for a write that does not apply.
// It does not run in parallel: notify-keyspace-events is global to the
// shared redis-server.
func TestKeyspaceNotificationsLikeRedis(t *testing.T) {
	raddr := realRedis(t)
	s := startServer(t)
	keys := []any{"DEL"}
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "n", "s", "x", "f1", "t1", "t2", "\xff\xfe", "sp ace"} {
		keys = append(keys, "ntf:"+k)
	}
	for _, a := range []string{s.Addr, raddr} {
		c := newClient(t, a, nil)
		if err := c.Do(context.Background(), keys...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { ntfSetBoth(t, "", raddr) })
	ntfSetBoth(t, "KEA", s.Addr, raddr)
	mine := newNtfSide(t, "mutexredis", s.Addr, true, 0)
	theirs := newNtfSide(t, "redis", raddr, false, 0)

	ntfCompare(t, mine, theirs,
		ntfQ("SET", "ntf:a", "1"),
		ntfQ("SET", "ntf:a", "1"), // same value: still a set event
		ntfQ("SETNX", "ntf:b", "1"),
		ntfQ("SETNX", "ntf:b", "2"),     // not applied: nothing
		ntfQ("SET", "ntf:a", "2", "NX"), // not applied: nothing
		ntfQ("SET", "ntf:x", "2", "XX"), // not applied: nothing
		ntfQ("SET", "ntf:a", "3", "XX"), // applied
		ntfQ("MSET", "ntf:c", "1", "ntf:d", "2", "ntf:c", "3"),
		ntfQ("MSETNX", "ntf:e", "1", "ntf:f", "2"),
		ntfQ("MSETNX", "ntf:e", "3", "ntf:g", "4"), // not applied
		ntfQ("GETSET", "ntf:a", "4"),
		ntfQ("GETSET", "ntf:g", "new"),
		ntfQ("SET", "ntf:a", "5", "GET"),
		ntfQ("SET", "ntf:x", "5", "XX", "GET"), // not applied
		ntfQ("INCR", "ntf:n"),
		ntfQ("DECR", "ntf:n"),
		ntfQ("INCRBY", "ntf:n", "5"),
		ntfQ("DECRBY", "ntf:n", "2"),
		ntfQ("INCRBYFLOAT", "ntf:f1", "1.5"),
		ntfQ("INCR", "ntf:a"),             // an error: nothing
		ntfQ("INCRBYFLOAT", "ntf:a", "x"), // an error: nothing
		ntfQ("APPEND", "ntf:s", "hello"),
		ntfQ("APPEND", "ntf:s", " world"),
		ntfQ("SETRANGE", "ntf:s", "1", "EY"),
		ntfQ("SETRANGE", "ntf:s", "0", ""), // nothing written
		ntfQ("SETRANGE", "ntf:x", "0", ""), // nothing written
		ntfQ("SET", "ntf:\xff\xfe", "bin"),
		ntfQ("SET", "ntf:sp ace", "v"),
		ntfQ("DEL", "ntf:a", "ntf:nokey", "ntf:b"),
		ntfQ("DEL", "ntf:nokey"), // nothing
		ntfQ("UNLINK", "ntf:c", "ntf:d", "ntf:\xff\xfe"),
		ntfQ("GETDEL", "ntf:e"),
		ntfQ("GETDEL", "ntf:nokey"), // nothing
		// A transaction: its notifications in order, failed commands none.
		ntfQ("MULTI", ntfQ("SET", "ntf:t1", "1"), ntfQ("INCR", "ntf:t1"), ntfQ("SET", "ntf:t2", "x", "NX"),
			ntfQ("INCR", "ntf:t2"), ntfQ("DEL", "ntf:t1"), ntfQ("APPEND", "ntf:t2", "y"), ntfQ("SETNX", "ntf:t2", "z")),
		ntfQ("SET", "ntf:x", "last"), // anything left over would show here
	)

	// The new-key class 'n', with everything else.
	ntfSetBoth(t, "AKEn", s.Addr, raddr)
	ntfCompare(t, mine, theirs,
		ntfQ("DEL", "ntf:a", "ntf:b", "ntf:c", "ntf:n", "ntf:s", "ntf:f1", "ntf:g", "ntf:e", "ntf:f"),
		ntfQ("SET", "ntf:a", "v"),
		ntfQ("SET", "ntf:a", "v2"),
		ntfQ("INCR", "ntf:n"),
		ntfQ("APPEND", "ntf:s", "x"),
		ntfQ("SETRANGE", "ntf:b", "2", "x"),
		ntfQ("MSET", "ntf:a", "1", "ntf:c", "2"),
		ntfQ("GETSET", "ntf:g", "v"),
		ntfQ("INCRBYFLOAT", "ntf:f1", "2"),
		ntfQ("SETNX", "ntf:e", "v"),
		ntfQ("MSETNX", "ntf:f", "1", "ntf:d", "2"),
		ntfQ("SET", "ntf:a", "3", "NX"),
		ntfQ("SET", "ntf:x", "y"),
	)

	// Only some classes and channel kinds.
	for _, classes := range []string{"K$", "Eg", "Kg", "E$", "KEn", "n", "KA"} {
		ntfSetBoth(t, classes, s.Addr, raddr)
		ntfCompare(t, mine, theirs,
			ntfQ("SET", "ntf:a", classes),
			ntfQ("DEL", "ntf:a"),
			ntfQ("INCR", "ntf:n"),
			ntfQ("SET", "ntf:x", classes),
		)
	}
	ntfSetBoth(t, "", s.Addr, raddr)
	ntfCompare(t, mine, theirs, ntfQ("SET", "ntf:a", "off"), ntfQ("DEL", "ntf:a"))

	// Commands Redis 7.0 does not have: DELEX and SET … IFEQ.
	ntfSetBoth(t, "KEA", s.Addr)
	ks := func(k, ev string) []string {
		return []string{fmt.Sprintf("%q %q", "__keyspace@0__:"+k, ev), fmt.Sprintf("%q %q", "__keyevent@0__:"+ev, k)}
	}
	ntfExpect(t, mine, ntfQ("SET", "ntf:y", "v1"), ks("ntf:y", "set")...)
	ntfExpect(t, mine, ntfQ("SET", "ntf:y", "v2", "IFEQ", "v1"), ks("ntf:y", "set")...)
	ntfExpect(t, mine, ntfQ("SET", "ntf:y", "v3", "IFEQ", "wrong"))
	ntfExpect(t, mine, ntfQ("DELEX", "ntf:y", "IFEQ", "wrong"))
	ntfExpect(t, mine, ntfQ("DELEX", "ntf:y", "IFEQ", "v2"), ks("ntf:y", "del")...)
	ntfExpect(t, mine, ntfQ("DELEX", "ntf:y"))
	ntfExpect(t, mine, ntfQ("SET", "ntf:y", "v4"), ks("ntf:y", "set")...)
	ntfExpect(t, mine, ntfQ("DELEX", "ntf:y"), ks("ntf:y", "del")...)
	ntfSetBoth(t, "KEAn", s.Addr)
	ntfExpect(t, mine, ntfQ("SET", "ntf:y", "v5", "IFEQ", "v4")) // missing key: not applied
	ntfExpect(t, mine, ntfQ("SET", "ntf:y", "v5"), append([]string{fmt.Sprintf("%q %q", "__keyspace@0__:ntf:y", "new"), fmt.Sprintf("%q %q", "__keyevent@0__:new", "ntf:y")}, ks("ntf:y", "set")...)...)
	ntfExpect(t, mine, ntfQ("SET", "ntf:z", "v"), append([]string{fmt.Sprintf("%q %q", "__keyspace@0__:ntf:z", "new"), fmt.Sprintf("%q %q", "__keyevent@0__:new", "ntf:z")}, ks("ntf:z", "set")...)...)
	ntfExpect(t, mine, ntfQ("DEL", "ntf:y", "ntf:x"), append(ks("ntf:y", "del"), ks("ntf:x", "del")...)...)
	// FLUSHDB publishes no keyspace notification in Redis 7.0.
	ntfExpect(t, mine, ntfQ("FLUSHDB"))
	ntfSetBoth(t, "", s.Addr)
	t.Logf("%d notifications compared with Redis's, %d checked on mutexredis alone", theirs.seen, mine.seen-theirs.seen)
}

// TestKeyspaceNotificationsFlag: --notify-keyspace-events at start, the
// channels of numbered and named keyspaces, and turning them off.
func TestKeyspaceNotificationsFlag(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--notify-keyspace-events", "KE$g")
	ctx := context.Background()
	c := s.client(t, nil)
	if v, err := c.ConfigGet(ctx, "notify-keyspace-events").Result(); err != nil || v["notify-keyspace-events"] != "g$KE" {
		t.Errorf("CONFIG GET notify-keyspace-events: %v %v, want g$KE", v, err)
	}
	ps := s.client(t, nil).PSubscribe(ctx, "__key*@*__:*", "__mutex@*__:flushed")
	defer ps.Close()
	for i := 0; i < 2; i++ {
		if _, err := ps.Receive(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// next returns the notifications up to the flushed event of the next
	// batch of keyspace ks.
	next := func(ks string) []string {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		var out []string
		for {
			m, err := ps.ReceiveMessage(rctx)
			if err != nil {
				t.Fatalf("waiting for a flushed event of %s: %v (so far %q)", ks, err, out)
			}
			if m.Channel == "__mutex@"+ks+"__:flushed" {
				return out
			}
			if strings.HasPrefix(m.Channel, "__mutex@") {
				t.Fatalf("unexpected event %s %s", m.Channel, m.Payload)
			}
			out = append(out, m.Channel+"="+m.Payload)
		}
	}
	check := func(got []string, want ...string) {
		t.Helper()
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("notifications %q, want %q", got, want)
		}
	}
	db3 := s.client(t, &redis.Options{DB: 3})
	tenant := named(t, s, "tenant-n", nil)
	c.Set(ctx, "k", "v", 0)
	check(next("0"), "__keyspace@0__:k=set", "__keyevent@0__:set=k")
	db3.Set(ctx, "k3", "v", 0)
	check(next("3"), "__keyspace@3__:k3=set", "__keyevent@3__:set=k3")
	tenant.Incr(ctx, "cnt")
	check(next("tenant-n"), "__keyspace@tenant-n__:cnt=incrby", "__keyevent@tenant-n__:incrby=cnt")
	tenant.Del(ctx, "cnt", "none")
	check(next("tenant-n"), "__keyspace@tenant-n__:cnt=del", "__keyevent@tenant-n__:del=cnt")
	// Off: the batch comes, with no notification before it.
	if err := c.ConfigSet(ctx, "notify-keyspace-events", "").Err(); err != nil {
		t.Fatal(err)
	}
	c.Set(ctx, "k", "v2", 0)
	check(next("0"))
	// Keyevent only, generic only.
	if err := c.ConfigSet(ctx, "notify-keyspace-events", "Eg").Err(); err != nil {
		t.Fatal(err)
	}
	c.Set(ctx, "k", "v3", 0)
	check(next("0"))
	c.Del(ctx, "k")
	check(next("0"), "__keyevent@0__:del=k")
}

// TestKeyspaceNotificationsEnabledAfterSubscribe: a client that subscribes
// to keyspace notifications first and has them enabled afterwards (CONFIG
// SET) receives them, as with Redis, even though nobody follows the
// keyspace's mutex events.
func TestKeyspaceNotificationsEnabledAfterSubscribe(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, nil)
	if err := c.Set(ctx, "warm", "1", 0).Err(); err != nil { // keyspace 0 is open
		t.Fatal(err)
	}
	for _, sub := range []struct {
		name    string
		pattern bool
		channel string
	}{
		{"pattern", true, "__key*@0__:*"},
		{"channel", false, "__keyevent@0__:set"},
	} {
		t.Run(sub.name, func(t *testing.T) {
			if err := c.ConfigSet(ctx, "notify-keyspace-events", "").Err(); err != nil {
				t.Fatal(err)
			}
			var ps *redis.PubSub
			if sub.pattern {
				ps = s.client(t, nil).PSubscribe(ctx, sub.channel)
			} else {
				ps = s.client(t, nil).Subscribe(ctx, sub.channel)
			}
			defer ps.Close()
			if _, err := ps.Receive(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.ConfigSet(ctx, "notify-keyspace-events", "KEA").Err(); err != nil {
				t.Fatal(err)
			}
			if err := c.Set(ctx, "k-"+sub.name, "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			m, err := ps.ReceiveMessage(rctx)
			if err != nil {
				t.Fatalf("subscribed to %s before CONFIG SET notify-keyspace-events KEA: no notification for SET (%v)", sub.channel, err)
			}
			if m.Channel != "__keyspace@0__:k-"+sub.name && m.Channel != "__keyevent@0__:set" {
				t.Errorf("got %s %s", m.Channel, m.Payload)
			}
		})
	}
}

// TestNotifyKeyspaceEventsConfigLikeRedis: CONFIG SET/GET
// notify-keyspace-events gives Redis's canonical form and Redis's error
// for an unknown letter (which changes nothing).
func TestNotifyKeyspaceEventsConfigLikeRedis(t *testing.T) {
	raddr := realRedis(t)
	s := startServer(t)
	t.Cleanup(func() { ntfSetBoth(t, "", raddr) })
	mine, theirs := dialRaw(t, s.Addr), dialRaw(t, raddr)
	for _, v := range []string{
		"KEA", "Kg$", "AKE", "E$n", "KEn", "gK", "Km", "$lshzxetd", "g$lshzxetdKE", "EEgg", "A", "K", "E", "xeK", "",
		"KEQ", "A ", "kea",
	} {
		for _, c := range []*rconn{mine, theirs} {
			c.do("CONFIG", "SET", "notify-keyspace-events", "Kg") // a known state
		}
		set := [2]string{mine.do("CONFIG", "SET", "notify-keyspace-events", v), theirs.do("CONFIG", "SET", "notify-keyspace-events", v)}
		get := [2]string{mine.do("CONFIG", "GET", "notify-keyspace-events"), theirs.do("CONFIG", "GET", "notify-keyspace-events")}
		if set[0] != set[1] || get[0] != get[1] {
			t.Errorf("CONFIG SET notify-keyspace-events %q:\n mutexredis: %s then %s\n redis:      %s then %s", v, set[0], get[0], set[1], get[1])
		}
	}
}
