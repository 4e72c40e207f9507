package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// readReply3 reads one RESP3 reply and renders it keeping every type
// distinction RESP3 adds (RESP2 types render as readReply does):
//
//	_ (null)   #t #f   (double) 1.5   {k: v}   ~[a]   >[push]   =txt:…
func readReply3(rd *bufio.Reader) (string, error) {
	line, err := readLine(rd)
	if err != nil {
		return "", err
	}
	if line == "" {
		return "", fmt.Errorf("empty reply line")
	}
	switch line[0] {
	case '+', '-', ':', '#', '(':
		return line, nil
	case '_':
		return "(null)", nil
	case ',':
		return "(double) " + line[1:], nil
	case '$', '=':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			if line == "$-1" {
				return "(nil)", nil
			}
			return "", fmt.Errorf("bad length %q", line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return "", err
		}
		if line[0] == '=' {
			return "=" + strconv.Quote(string(buf[:n])), nil
		}
		return strconv.Quote(string(buf[:n])), nil
	case '*', '~', '>', '%':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("bad aggregate length %q", line)
		}
		if n < 0 {
			return "(nil-array)", nil
		}
		if line[0] == '%' {
			parts := make([]string, n)
			for i := range parts {
				k, err := readReply3(rd)
				if err != nil {
					return "", err
				}
				v, err := readReply3(rd)
				if err != nil {
					return "", err
				}
				parts[i] = k + ": " + v
			}
			return "{" + strings.Join(parts, ", ") + "}", nil
		}
		parts := make([]string, n)
		for i := range parts {
			if parts[i], err = readReply3(rd); err != nil {
				return "", err
			}
		}
		prefix := ""
		if line[0] != '*' {
			prefix = line[:1]
		}
		return prefix + "[" + strings.Join(parts, ", ") + "]", nil
	}
	return "", fmt.Errorf("unexpected reply line %q", line)
}

// read3 reads one RESP3 reply from c.
func (c *rconn) read3() string {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	s, err := readReply3(c.rd)
	if err != nil {
		c.t.Fatalf("read RESP3 reply: %v", err)
	}
	return s
}

func (c *rconn) do3(args ...string) string {
	c.t.Helper()
	c.send(args...)
	return c.read3()
}

// hello3 switches c to RESP3 and returns HELLO's reply.
func (c *rconn) hello3() string {
	c.t.Helper()
	return c.do3("HELLO", "3")
}

// resp3Scripts run on a RESP3 connection to both servers; replies must be
// identical, types included.
var resp3Scripts = []script{
	{"nulls and scalars", []step{
		cmd("GET", "nokey"), cmd("SET", "k", "v"), cmd("GET", "k"), cmd("MGET", "k", "nokey"),
		cmd("SET", "k", "v2", "GET"), cmd("SET", "k", "v3", "NX"), cmd("GETDEL", "nokey"),
		cmd("INCR", "n"), cmd("INCRBYFLOAT", "f", "1.5"), cmd("TTL", "k"), cmd("TYPE", "k"),
		cmd("PEXPIRETIME_NOSUCH"), cmd("ECHO", "e"), cmd("PING"), cmd("PING", "x"),
	}},
	{"transactions", []step{
		cmd("MULTI"), cmd("GET", "nokey"), cmd("SET", "a", "1"), cmd("INCRBYFLOAT", "f2", "2"), cmd("EXEC"),
		cmd("WATCH", "a"), cmd("SET", "a", "2"), cmd("MULTI"), cmd("GET", "a"), cmd("EXEC"),
	}},
	{"config and pubsub introspection", []step{
		cmd("CONFIG", "GET", "databases"), cmd("CONFIG", "GET", "nosuch*"),
		cmd("PUBSUB", "NUMSUB", "zz-none", "zz-none2"), cmd("PUBSUB", "NUMSUB"), cmd("PUBSUB", "CHANNELS", "zz-none*"),
		cmd("PUBSUB", "NUMPAT"),
	}},
	{"subscribed mode", []step{
		cmd("SUBSCRIBE", "r3a", "r3b").replies(2), cmd("PING"), cmd("PING", "x"), cmd("SET", "x", "1"), cmd("GET", "x"),
		cmd("PUBLISH", "r3a", "hello").replies(2), cmd("PSUBSCRIBE", "r3p*").replies(1),
		cmd("PUBLISH", "r3pq", "m").replies(2),
		cmd("UNSUBSCRIBE", "r3a", "r3b").replies(2), cmd("PUNSUBSCRIBE").replies(1), cmd("UNSUBSCRIBE").replies(1), cmd("GET", "x"),
	}},
	{"hello back to 2", []step{cmd("HELLO", "4"), cmd("HELLO", "2", "FOO"), cmd("HELLO", "3", "SETNAME", "a b"), cmd("CLIENT", "GETNAME")}},
	{"keys and scan", []step{
		cmd("MSET", "k1", "1", "k2", "2"), cmd("KEYS", "k[0-9]"), cmd("SCAN", "0", "MATCH", "k[0-9]", "COUNT", "1000"),
		cmd("EXISTS", "k1"), cmd("DBSIZE"), cmd("STRLEN", "k1"),
	}},
}

// sortedIfUnordered makes KEYS/SCAN replies comparable: their order is the
// server's choice. It sorts the elements of the rendered top array or of
// SCAN's key list.
func sortedIfUnordered(args []string, reply string) string {
	name := strings.ToUpper(args[0])
	if name != "KEYS" && name != "SCAN" {
		return reply
	}
	if name == "SCAN" { // [cursor, [keys]]: the cursor is the server's own
		i := strings.Index(reply, ", [")
		if i < 0 {
			return reply
		}
		return "[cursor, " + sortedIfUnordered([]string{"KEYS"}, reply[i+2:len(reply)-1]) + "]"
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(reply, "["), "]")
	if inner == "" {
		return reply
	}
	parts := strings.Split(inner, ", ")
	slicesSort(parts)
	return "[" + strings.Join(parts, ", ") + "]"
}

func slicesSort(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestResp3CompareWithRedis runs resp3Scripts on HELLO 3 connections to
// mutexredis and redis-server and compares the raw RESP3 replies.
func TestResp3CompareWithRedis(t *testing.T) {
	t.Parallel()
	raddr := realRedis(t)
	s := startServer(t)
	for _, sc := range resp3Scripts {
		t.Run(sc.name, func(t *testing.T) {
			mine, theirs := dialRaw(t, s.Addr), dialRaw(t, raddr)
			for _, c := range []*rconn{mine, theirs} {
				c.hello3()
				c.do3("SELECT", "12") // other tests use Redis's db 0, 1, 9, 10
				c.do3("FLUSHDB")
			}
			for i, st := range sc.steps {
				for r := 0; r < st.n; r++ {
					if r == 0 {
						mine.send(st.args...)
						theirs.send(st.args...)
					}
					got, want := sortedIfUnordered(st.args, mine.read3()), sortedIfUnordered(st.args, theirs.read3())
					if got != want {
						t.Errorf("step %d %q reply %d:\n mutexredis: %s\n redis:      %s", i, st.args, r, got, want)
					}
				}
			}
		})
	}
}

// TestResp3Hello checks HELLO's map in both protocols against redis-server's
// keys and types, and that the protocol switches back and forth.
func TestResp3Hello(t *testing.T) {
	t.Parallel()
	raddr := realRedis(t)
	s := startServer(t)
	shape := func(reply string) string {
		// {"server": "redis", "version": "7.0.15", "proto": :3, "id": :5, …}: keep keys and types.
		out := []string{}
		inner := strings.TrimSuffix(strings.TrimPrefix(reply, "{"), "}")
		for _, kv := range strings.Split(inner, ", ") {
			k, v, _ := strings.Cut(kv, ": ")
			switch k {
			case `"version"`, `"id"`:
				v = v[:1]
			}
			out = append(out, k+": "+v)
		}
		return strings.Join(out, ", ")
	}
	mine, theirs := dialRaw(t, s.Addr), dialRaw(t, raddr)
	got, want := shape(mine.hello3()), shape(theirs.hello3())
	if got != want {
		t.Errorf("HELLO 3:\n mutexredis: %s\n redis:      %s", got, want)
	}
	if !strings.Contains(got, `"proto": :3`) {
		t.Errorf("HELLO 3 reports %s", got)
	}
	for _, c := range []*rconn{mine, theirs} {
		c.send("HELLO")
	}
	if got, want := shape(mine.read3()), shape(theirs.read3()); got != want {
		t.Errorf("HELLO:\n mutexredis: %s\n redis:      %s", got, want)
	}
	// HELLO 2 answers in RESP2 already: a flat array.
	for _, c := range []*rconn{mine, theirs} {
		c.send("HELLO", "2")
	}
	got, want = mine.read(), theirs.read()
	if !strings.HasPrefix(got, `["server", "redis", "version", `) || !strings.Contains(got, `"proto", :2`) {
		t.Errorf("HELLO 2 after 3: %s (redis: %s)", got, want)
	}
	if g, w := mine.do("GET", "nokey"), theirs.do("GET", "nokey"); g != w {
		t.Errorf("GET after HELLO 2: %s, redis %s", g, w)
	}
}

// TestResp3Pipeline checks that a pipeline that switches protocol midway
// answers each command in the protocol in force when it ran.
func TestResp3Pipeline(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := dialRaw(t, s.Addr)
	var b []byte
	for _, args := range [][]string{{"GET", "nokey"}, {"HELLO", "3"}, {"GET", "nokey"}, {"HELLO", "2"}, {"GET", "nokey"}} {
		b = encodeCommand(b, args...)
	}
	if _, err := c.nc.Write(b); err != nil {
		t.Fatal(err)
	}
	if got := c.read(); got != "(nil)" {
		t.Errorf("GET before HELLO 3: %s", got)
	}
	if got := c.read3(); !strings.HasPrefix(got, "{") {
		t.Errorf("HELLO 3: %s", got)
	}
	if got := c.read3(); got != "(null)" {
		t.Errorf("GET after HELLO 3: %s", got)
	}
	if got := c.read(); !strings.HasPrefix(got, "[") {
		t.Errorf("HELLO 2: %s", got)
	}
	if got := c.read(); got != "(nil)" {
		t.Errorf("GET after HELLO 2: %s", got)
	}
}

// TestResp3GoRedis uses go-redis v9 with default options, which opens every
// connection with HELLO 3, and checks that the connection really is RESP3
// and that maps, nulls and pub/sub push messages work through it.
func TestResp3GoRedis(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	rdb := s.client(t, nil)
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	info, err := rdb.Do(ctx, "CLIENT", "INFO").Text()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info, " resp=3") {
		t.Errorf("go-redis default options: CLIENT INFO %q, want resp=3", info)
	}
	hello, err := rdb.Do(ctx, "HELLO", "3").Result()
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := hello.(map[any]any); !ok || m["proto"] != int64(3) {
		t.Errorf("HELLO 3 through go-redis: %#v, want a map with proto 3", hello)
	}
	cfg, err := rdb.ConfigGet(ctx, "databases").Result()
	if err != nil || cfg["databases"] != "16" {
		t.Errorf("CONFIG GET databases: %v %v", cfg, err)
	}
	if _, err := rdb.Get(ctx, "nokey").Result(); err != redis.Nil {
		t.Errorf("GET nokey: %v, want redis.Nil", err)
	}
	if v, err := rdb.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Errorf("GET k: %q %v", v, err)
	}
	f, err := rdb.IncrByFloat(ctx, "f", 1.25).Result()
	if err != nil || f != 1.25 {
		t.Errorf("INCRBYFLOAT: %v %v", f, err)
	}

	sub := rdb.Subscribe(ctx, "ch")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscribe confirmation
		t.Fatal(err)
	}
	if err := rdb.Publish(ctx, "ch", "hello").Err(); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.ReceiveMessage(ctx)
	if err != nil || msg.Channel != "ch" || msg.Payload != "hello" {
		t.Errorf("message: %v %v", msg, err)
	}
}

// TestResp3SubscribedCommands checks that a RESP3 connection runs ordinary
// commands while subscribed, messages arriving as pushes in between.
func TestResp3SubscribedCommands(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c, p := dialRaw(t, s.Addr), dialRaw(t, s.Addr)
	c.hello3()
	if got := c.do3("SUBSCRIBE", "ch"); got != `>["subscribe", "ch", :1]` {
		t.Fatalf("SUBSCRIBE: %s", got)
	}
	if got := c.do3("SET", "k", "v"); got != "+OK" {
		t.Errorf("SET while subscribed: %s", got)
	}
	if got := p.do("PUBLISH", "ch", "m1"); got != ":1" {
		t.Fatalf("PUBLISH: %s", got)
	}
	if got := c.read3(); got != `>["message", "ch", "m1"]` {
		t.Errorf("message: %s", got)
	}
	if got := c.do3("GET", "k"); got != `"v"` {
		t.Errorf("GET while subscribed: %s", got)
	}
	if got := c.do3("PING"); got != "+PONG" {
		t.Errorf("PING while subscribed: %s", got)
	}
}

// TestResp3RedisCLI runs redis-cli -3 (formatted output, which shows the
// RESP3 types: 1# for maps, 1~ for sets) against both servers.
func TestResp3RedisCLI(t *testing.T) {
	t.Parallel()
	raddr := realRedis(t)
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("no redis-cli")
	}
	s := startServer(t)
	_, rport, _ := net.SplitHostPort(raddr)
	run := func(port string, args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "redis-cli", append([]string{"-3", "--no-raw", "-p", port, "-n", "12"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %v: %v %s", args, err, out)
		}
		return string(out)
	}
	for _, args := range [][]string{
		{"CONFIG", "GET", "databases"}, {"CLIENT", "TRACKINGINFO"}, {"GET", "cli3:nokey"}, {"PUBSUB", "NUMSUB", "cli3:none"},
		{"COMMAND", "GETKEYSANDFLAGS", "set", "a", "b"}, {"MEMORY", "USAGE", "cli3:nokey"}, {"ECHO", "x"},
	} {
		if got, want := run(strconv.Itoa(s.Port), args...), run(rport, args...); got != want {
			t.Errorf("redis-cli -3 %q:\n mutexredis: %s\n redis:      %s", args, got, want)
		}
	}
}
