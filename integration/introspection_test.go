package integration

import (
	"context"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// introspectionScripts run on RESP2 and on RESP3 connections to mutexredis
// and redis-server; replies must be identical, types included. Only
// deterministic replies are compared (formats with addresses, times and
// ids are compared field by field in the tests below).
var introspectionScripts = []script{
	{"client errors", []step{
		cmd("CLIENT", "LIST", "TYPE", "foo"), cmd("CLIENT", "LIST", "ID", "abc"), cmd("CLIENT", "LIST", "ID", "0"),
		cmd("CLIENT", "LIST", "FOO"), cmd("CLIENT", "LIST", "ID", "999999"), cmd("CLIENT", "LIST", "TYPE", "master"),
		cmd("CLIENT", "KILL", "1.2.3.4:5"), cmd("CLIENT", "KILL", "ID", "abc"), cmd("CLIENT", "KILL", "ID", "999999"),
		cmd("CLIENT", "KILL", "FOO", "x"), cmd("CLIENT", "KILL", "ID"), cmd("CLIENT", "KILL", "ADDR", "1.2.3.4:5"),
		cmd("CLIENT", "KILL", "SKIPME", "maybe"), cmd("CLIENT", "KILL", "TYPE", "bar"), cmd("CLIENT", "KILL"),
		cmd("CLIENT", "PAUSE", "abc"), cmd("CLIENT", "PAUSE", "-1"), cmd("CLIENT", "PAUSE", "0", "FOO"), cmd("CLIENT", "PAUSE"),
		cmd("CLIENT", "UNPAUSE", "x"), cmd("CLIENT", "REPLY", "FOO"), cmd("CLIENT", "NO-EVICT", "maybe"), cmd("CLIENT", "NO-EVICT", "on"),
		cmd("CLIENT", "UNBLOCK", "abc"), cmd("CLIENT", "UNBLOCK", "999999"),
		cmd("CLIENT", "UNBLOCK", "999999", "FOO"), cmd("CLIENT", "UNBLOCK", "999999", "ERROR"),
		// NO-TOUCH and SETINFO are Redis 7.2's: redis-server 7.0 does not have them.
	}},
	{"tracking errors", []step{
		cmd("CLIENT", "TRACKINGINFO"), cmd("CLIENT", "GETREDIR"), cmd("CLIENT", "CACHING", "YES"),
		cmd("CLIENT", "TRACKING", "MAYBE"), cmd("CLIENT", "TRACKING", "ON", "FOO"), cmd("CLIENT", "TRACKING", "ON", "REDIRECT", "999999"),
		cmd("CLIENT", "TRACKING", "ON", "REDIRECT", "x"), cmd("CLIENT", "TRACKING", "ON", "PREFIX", "a"),
		cmd("CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"), cmd("CLIENT", "TRACKING", "ON", "BCAST", "OPTIN"),
		cmd("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a", "PREFIX", "ab"),
		cmd("CLIENT", "TRACKING", "ON", "OPTIN"), cmd("CLIENT", "TRACKINGINFO"), cmd("CLIENT", "GETREDIR"),
		cmd("CLIENT", "CACHING", "NO"), cmd("CLIENT", "CACHING", "FOO"), cmd("CLIENT", "CACHING", "YES"), cmd("CLIENT", "TRACKINGINFO"),
		cmd("CLIENT", "TRACKING", "ON", "OPTOUT"), cmd("CLIENT", "TRACKING", "ON", "BCAST"),
		cmd("CLIENT", "TRACKING", "OFF"), cmd("CLIENT", "TRACKINGINFO"),
		cmd("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a", "PREFIX", "b", "NOLOOP"), cmd("CLIENT", "TRACKINGINFO"),
		cmd("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "ax"), cmd("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "c", "PREFIX", "c"),
		cmd("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "c"), cmd("CLIENT", "TRACKINGINFO"), cmd("CLIENT", "TRACKING", "OFF"),
	}},
	{"slowlog latency memory", []step{
		cmd("SLOWLOG", "GET", "x"), cmd("SLOWLOG", "FOO"), cmd("SLOWLOG", "LEN", "x"), cmd("SLOWLOG", "GET", "-2"),
		cmd("SLOWLOG", "RESET", "x"), cmd("SLOWLOG"),
		cmd("LATENCY", "FOO"), cmd("LATENCY", "HISTORY"), cmd("LATENCY", "HISTORY", "nosuch-event"), cmd("LATENCY", "GRAPH", "x"),
		cmd("LATENCY", "RESET", "nosuch-event"),
		cmd("MEMORY", "USAGE"), cmd("MEMORY", "USAGE", "nokey"), cmd("MEMORY", "USAGE", "nokey", "SAMPLES"),
		cmd("MEMORY", "USAGE", "nokey", "SAMPLES", "x"), cmd("MEMORY", "FOO"), cmd("MEMORY", "HELP"), cmd("LATENCY", "LATEST"),
		cmd("MULTI"), cmd("MEMORY", "USAGE", "nokey"), cmd("TIME", "x"), cmd("EXEC"),
	}},
	{"server commands", []step{
		cmd("TIME", "x"), cmd("FLUSHALL", "x"), cmd("FLUSHALL", "SYNC", "x"),
		cmd("SWAPDB", "0"), cmd("SWAPDB", "0", "99"), cmd("SWAPDB", "a", "1"), cmd("SWAPDB", "1", "b"),
		cmd("WAIT", "0", "0"), cmd("WAIT", "x", "0"), cmd("WAIT", "0", "x"), cmd("WAIT", "0", "-1"), cmd("WAIT", "0"),
		cmd("MONITOR", "x"), cmd("ECHO", "e"),
	}},
	{"command getkeys", []step{
		cmd("COMMAND", "GETKEYS"), cmd("COMMAND", "GETKEYS", "nosuch", "a"), cmd("COMMAND", "GETKEYS", "get"),
		cmd("COMMAND", "GETKEYS", "ping", "x"), cmd("COMMAND", "GETKEYS", "get", "a", "b"), cmd("COMMAND", "GETKEYS", "get", "a"),
		cmd("COMMAND", "GETKEYS", "mset", "a", "1", "b", "2"), cmd("COMMAND", "GETKEYS", "del", "a", "b", "c"),
		cmd("COMMAND", "GETKEYSANDFLAGS", "set", "a", "b"), cmd("COMMAND", "GETKEYSANDFLAGS", "get", "a"),
		cmd("COMMAND", "GETKEYSANDFLAGS", "del", "a", "b"), cmd("COMMAND", "GETKEYSANDFLAGS", "rename", "a", "b"),
		cmd("COMMAND", "GETKEYSANDFLAGS", "incr", "a"), cmd("COMMAND", "GETKEYSANDFLAGS", "exists", "a"),
	}},
	{"client reply", []step{
		cmd("CLIENT", "REPLY", "SKIP").replies(0), cmd("SET", "k", "skipped").replies(0), cmd("GET", "k"),
		cmd("CLIENT", "REPLY", "OFF").replies(0), cmd("SET", "k", "off").replies(0), cmd("GET", "k").replies(0),
		cmd("CLIENT", "REPLY", "ON"), cmd("GET", "k"),
	}},
}

// TestIntrospectionCompareWithRedis runs introspectionScripts in RESP2 and
// RESP3 against mutexredis and redis-server.
func TestIntrospectionCompareWithRedis(t *testing.T) {
	t.Parallel()
	raddr := realRedis(t)
	s := startServer(t)
	for _, proto := range []int{2, 3} {
		for _, sc := range introspectionScripts {
			t.Run("RESP"+strconv.Itoa(proto)+" "+sc.name, func(t *testing.T) {
				mine, theirs := dialRaw(t, s.Addr), dialRaw(t, raddr)
				read := (*rconn).read
				if proto == 3 {
					read = (*rconn).read3
				}
				for _, c := range []*rconn{mine, theirs} {
					if proto == 3 {
						c.hello3()
					}
					c.send("SELECT", "13") // other tests use Redis's db 0, 1, 9, 10, 12
					read(c)
					c.send("FLUSHDB")
					read(c)
				}
				for i, st := range sc.steps {
					mine.send(st.args...)
					theirs.send(st.args...)
					for r := 0; r < st.n; r++ {
						got, want := read(mine), read(theirs)
						if got != want {
							t.Errorf("step %d %q reply %d:\n mutexredis: %s\n redis:      %s", i, st.args, r, got, want)
						}
					}
				}
			})
		}
	}
}

// clientFields returns the field names of a CLIENT LIST/INFO line.
func clientFields(line string) []string {
	var names []string
	for _, f := range strings.Fields(line) {
		name, _, _ := strings.Cut(f, "=")
		names = append(names, name)
	}
	return names
}

// TestClientListFormat compares CLIENT LIST's and CLIENT INFO's fields with
// redis-server's (Redis 7.0 has no lib-name and lib-ver, 7.2 adds them
// last), and checks the values mutexredis reports.
func TestClientListFormat(t *testing.T) {
	t.Parallel()
	raddr := realRedis(t)
	s := startServer(t)
	mine, theirs := dialRaw(t, s.Addr), dialRaw(t, raddr)
	for _, c := range []*rconn{mine, theirs} {
		c.do("CLIENT", "SETNAME", "lister")
	}
	unquote := func(r string) string {
		v, err := strconv.Unquote(r)
		if err != nil {
			t.Fatalf("not a bulk string: %s", r)
		}
		return v
	}
	got, want := unquote(mine.do("CLIENT", "INFO")), unquote(theirs.do("CLIENT", "INFO"))
	gf, wf := clientFields(got), append(clientFields(want), "lib-name", "lib-ver")
	if strings.Join(gf, " ") != strings.Join(wf, " ") {
		t.Errorf("CLIENT INFO fields:\n mutexredis: %v\n redis:      %v", gf, wf)
	}
	id := mine.do("CLIENT", "ID")
	for _, want := range []string{"id=" + id[1:] + " ", " addr=" + mine.nc.LocalAddr().String() + " ", " laddr=" + s.Addr + " ",
		" name=lister ", " flags=N ", " db=0 ", " multi=-1 ", " cmd=client|info ", " user=default ", " resp=2 "} {
		if !strings.Contains(got, want) {
			t.Errorf("CLIENT INFO %q lacks %q", got, want)
		}
	}
	if !strings.HasSuffix(got, "\n") {
		t.Errorf("CLIENT INFO does not end in a newline: %q", got)
	}

	// Another connection, subscribed and in a keyspace, as seen by CLIENT LIST.
	other := dialRaw(t, s.Addr)
	other.do("SELECT", "tenant-a")
	other.do("CLIENT", "SETNAME", "sub")
	other.do("SUBSCRIBE", "ch")
	otherID := ""
	list := unquote(mine.do("CLIENT", "LIST"))
	for _, line := range strings.Split(strings.TrimSuffix(list, "\n"), "\n") {
		if strings.Contains(line, " name=sub ") {
			for _, want := range []string{" flags=P ", " db=tenant-a ", " sub=1 ", " cmd=subscribe "} {
				if !strings.Contains(line, want) {
					t.Errorf("CLIENT LIST line %q lacks %q", line, want)
				}
			}
			otherID = strings.TrimPrefix(strings.Fields(line)[0], "id=")
		}
	}
	if otherID == "" {
		t.Fatalf("CLIENT LIST does not show the subscriber:\n%s", list)
	}
	if l := unquote(mine.do("CLIENT", "LIST", "TYPE", "pubsub")); strings.Count(l, "\n") != 1 || !strings.Contains(l, " name=sub ") {
		t.Errorf("CLIENT LIST TYPE pubsub: %q", l)
	}
	if l := unquote(mine.do("CLIENT", "LIST", "ID", otherID, "999999")); strings.Count(l, "\n") != 1 || !strings.Contains(l, "id="+otherID+" ") {
		t.Errorf("CLIENT LIST ID %s: %q", otherID, l)
	}
	// KILL closes it; the old form answers +OK, the new one counts.
	if got := mine.do("CLIENT", "KILL", "ID", otherID); got != ":1" {
		t.Errorf("CLIENT KILL ID: %s", got)
	}
	other.expectClosed()
	if got := mine.do("CLIENT", "KILL", "ID", otherID); got != ":0" {
		t.Errorf("CLIENT KILL ID again: %s", got)
	}
	third := dialRaw(t, s.Addr)
	third.do("PING")
	if got := mine.do("CLIENT", "KILL", third.nc.LocalAddr().String()); got != "+OK" {
		t.Errorf("CLIENT KILL addr: %s", got)
	}
	third.expectClosed()
	// SKIPME no kills the caller too, after its reply.
	if got := mine.do("CLIENT", "KILL", "ID", id[1:], "SKIPME", "yes"); got != ":0" {
		t.Errorf("CLIENT KILL own id, SKIPME yes: %s", got)
	}
	if got := mine.do("CLIENT", "KILL", "ID", id[1:], "SKIPME", "no"); got != ":1" {
		t.Errorf("CLIENT KILL own id, SKIPME no: %s", got)
	}
	mine.expectClosed()
}

// monitorPattern is a MONITOR line with its time and address masked.
var monitorTime = regexp.MustCompile(`^\+\d+\.\d{6} \[(\S+) \S+\] `)

// TestMonitorFormat runs the same commands with a MONITOR attached to
// mutexredis and to redis-server and compares the lines (time and client
// address masked).
func TestMonitorFormat(t *testing.T) {
	t.Parallel()
	raddr := realRedis(t)
	s := startServer(t)
	cmds := [][]string{
		{"SELECT", "13"}, {"SET", "mon", "a \"quoted\"\r\n\x01\xff value"}, {"GET", "mon"}, {"MULTI"}, {"SET", "a", "1"},
		{"GET", "a"}, {"EXEC"}, {"AUTH", "secret"}, {"HELLO", "2", "AUTH", "default", "pw"}, {"NOSUCHCOMMAND"}, {"GET"}, {"CONFIG", "GET", "port"},
		{"PING", "last"},
	}
	lines := func(addr string) []string {
		mon, c := dialRaw(t, addr), dialRaw(t, addr)
		if got := mon.do("MONITOR"); got != "+OK" {
			t.Fatalf("MONITOR: %s", got)
		}
		c.do("PING", "first") // MONITOR is in force once a later command shows
		for {
			if l := mon.read(); strings.HasSuffix(l, `"first"`) {
				break
			}
		}
		for _, args := range cmds {
			c.do(args...)
		}
		var out []string
		for {
			l := mon.read()
			masked := monitorTime.ReplaceAllString(l, "+T [$1 addr] ")
			if masked == l {
				t.Fatalf("MONITOR line %q does not have Redis's format", l)
			}
			out = append(out, masked)
			if strings.HasSuffix(l, `"last"`) {
				return out
			}
		}
	}
	got, want := lines(s.Addr), lines(raddr)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("MONITOR:\n mutexredis:\n%s\n redis:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestSlowlogFormat logs every command (slowlog-log-slower-than 0) on both
// servers and compares SLOWLOG GET's entries, times masked.
func TestSlowlogFormat(t *testing.T) {
	t.Parallel()
	raddr := realRedis(t)
	s := startServer(t)
	long := strings.Repeat("x", 200)
	many := []string{"DEL"}
	for i := 0; i < 40; i++ {
		many = append(many, "k"+strconv.Itoa(i))
	}
	entries := func(addr string) []string {
		c := dialRaw(t, addr)
		c.do("SELECT", "13")
		c.do("CLIENT", "SETNAME", "slow")
		c.do("CONFIG", "SET", "slowlog-log-slower-than", "0")
		defer c.do("CONFIG", "SET", "slowlog-log-slower-than", "10000")
		c.do("SLOWLOG", "RESET")
		c.do("SET", "slowkey", long)
		c.do(many...)
		c.do("GET", "slowkey")
		r := c.do("SLOWLOG", "GET", "3")
		if got := c.do("SLOWLOG", "LEN"); got == ":0" {
			t.Errorf("SLOWLOG LEN %s", got)
		}
		// [[id, time, micros, [args], "addr", "name"], …]: mask id, time, micros, addr.
		re := regexp.MustCompile(`\[:\d+, :\d+, :\d+, (\[[^\]]*\]), "[^"]*", ("[^"]*")\]`)
		var out []string
		for _, m := range re.FindAllStringSubmatch(r, -1) {
			out = append(out, m[1]+" "+m[2])
		}
		if len(out) != 3 {
			t.Errorf("SLOWLOG GET 3: %s", r)
		}
		return out
	}
	got, want := entries(s.Addr), entries(raddr)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("SLOWLOG GET:\n mutexredis: %s\n redis:      %s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestFlushAllEveryKeyspace checks that FLUSHALL empties every keyspace,
// numbered and named, including those of a previous run not opened since.
func TestFlushAllEveryKeyspace(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := dialRaw(t, s.Addr)
	for _, ks := range []string{"0", "3", "tenant-x"} {
		c.do("SELECT", ks)
		if got := c.do("SET", "k-"+ks, "v"); got != "+OK" {
			t.Fatalf("SET in %s: %s", ks, got)
		}
	}
	s = s.restart(t) // "3" and "tenant-x" exist in the store, not yet opened
	rdb := s.client(t, nil)
	if err := rdb.Do(ctx, "FLUSHALL").Err(); err != nil {
		t.Fatal(err)
	}
	c = dialRaw(t, s.Addr)
	for _, ks := range []string{"0", "3", "tenant-x"} {
		c.do("SELECT", ks)
		if got := c.do("DBSIZE"); got != ":0" {
			t.Errorf("DBSIZE of %s after FLUSHALL: %s", ks, got)
		}
	}
}

// TestSwapDBRefused checks that a valid SWAPDB is refused with its reason
// and changes nothing (the argument errors are compared with Redis in
// TestIntrospectionCompareWithRedis).
func TestSwapDBRefused(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := dialRaw(t, s.Addr)
	c.do("SET", "k", "in-0")
	c.do("SELECT", "1")
	c.do("SET", "k", "in-1")
	if got := c.do("SWAPDB", "0", "1"); !strings.HasPrefix(got, "-ERR SWAPDB is not supported: ") {
		t.Errorf("SWAPDB 0 1: %s", got)
	}
	if got := c.do("GET", "k"); got != `"in-1"` {
		t.Errorf("db 1 after a refused SWAPDB: %s", got)
	}
	c.do("SELECT", "0")
	if got := c.do("GET", "k"); got != `"in-0"` {
		t.Errorf("db 0 after a refused SWAPDB: %s", got)
	}
}

// TestServerCommands checks TIME, WAIT, WAITAOF and CLIENT PAUSE.
func TestServerCommands(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := dialRaw(t, s.Addr)
	before := time.Now().Unix()
	r := c.do("TIME")
	var secs, micros int64
	if _, err := fmtSscan(r, &secs, &micros); err != nil || secs < before || micros < 0 || micros > 999999 {
		t.Errorf("TIME: %s", r)
	}
	c.do("SET", "k", "v")
	if got := c.do("MEMORY", "USAGE", "k"); got != ":18" { // key, value and a 16-byte header
		t.Errorf("MEMORY USAGE: %s", got)
	}
	// Inside a transaction MEMORY USAGE reads the transaction's batch.
	c.do("MULTI")
	c.do("SET", "k2", "value")
	c.do("MEMORY", "USAGE", "k2")
	if got := c.do("EXEC"); got != "[+OK, :23]" {
		t.Errorf("MULTI SET MEMORY USAGE EXEC: %s", got)
	}
	if got := c.do("WAIT", "1", "0"); got != ":0" {
		t.Errorf("WAIT: %s", got)
	}
	if got := c.do("WAITAOF", "1", "0", "0"); got != "[:1, :0]" {
		t.Errorf("WAITAOF: %s", got)
	}

	// CLIENT PAUSE WRITE lets reads through and holds writes until UNPAUSE.
	p, w := dialRaw(t, s.Addr), dialRaw(t, s.Addr)
	if got := p.do("CLIENT", "PAUSE", "100000", "WRITE"); got != "+OK" {
		t.Fatalf("CLIENT PAUSE: %s", got)
	}
	if got := w.do("GET", "k"); got != `"v"` {
		t.Errorf("GET while writes are paused: %s", got)
	}
	w.send("SET", "k", "paused")
	if got := p.do("GET", "k"); got != `"v"` {
		t.Errorf("a write applied while paused: GET %s", got)
	}
	if got := p.do("CLIENT", "UNPAUSE"); got != "+OK" {
		t.Fatalf("CLIENT UNPAUSE: %s", got)
	}
	if got := w.read(); got != "+OK" {
		t.Errorf("SET after UNPAUSE: %s", got)
	}
	if got := p.do("GET", "k"); got != `"paused"` {
		t.Errorf("GET after UNPAUSE: %s", got)
	}
}

// fmtSscan parses TIME's ["secs", "micros"].
func fmtSscan(r string, secs, micros *int64) (int, error) {
	parts := strings.Split(strings.Trim(r, "[]"), ", ")
	if len(parts) != 2 {
		return 0, strconv.ErrSyntax
	}
	for i, dst := range []*int64{secs, micros} {
		v, err := strconv.Unquote(parts[i])
		if err != nil {
			return i, err
		}
		if *dst, err = strconv.ParseInt(v, 10, 64); err != nil {
			return i, err
		}
	}
	return 2, nil
}

// TestCommandDocsCompareWithRedis compares COMMAND DOCS, argument specs
// included, with redis-server 7.0 for a sample of commands (key specs,
// oneofs, blocks, tokens, history, deprecation), in RESP2 and RESP3, and
// the help redis-cli builds from it. Container commands are compared by
// one subcommand: Redis lists a container's subcommands in hash order.
func TestCommandDocsCompareWithRedis(t *testing.T) {
	t.Parallel()
	raddr := realRedis(t)
	s := startServer(t)
	sample := [][]string{
		{"get"}, {"set"}, {"zadd"}, {"zrange"}, {"xadd"}, {"xautoclaim"}, {"blmpop"}, {"lpos"},
		{"rpoplpush"}, {"hmset"}, {"eval"}, {"sintercard"}, {"eval_ro"}, {"xgroup|create"}, {"CONFIG|GET"}, {"config|get"}, {"client|tracking"},
		{"get", "nosuchcommand", "del"}, {"ping", "echo"},
	}
	for _, proto := range []int{2, 3} {
		mine, theirs := dialRaw(t, s.Addr), dialRaw(t, raddr)
		read := (*rconn).read
		if proto == 3 {
			mine.hello3()
			theirs.hello3()
			read = (*rconn).read3
		}
		for _, names := range sample {
			args := append([]string{"COMMAND", "DOCS"}, names...)
			mine.send(args...)
			theirs.send(args...)
			if got, want := read(mine), read(theirs); got != want {
				t.Errorf("RESP%d %q:\n mutexredis: %s\n redis:      %s", proto, args, got, want)
			}
		}
	}
	needCLI(t)
	_, port, _ := net.SplitHostPort(raddr)
	rs := &srv{}
	rs.Port, _ = strconv.Atoi(port)
	for _, cmd := range []string{"set", "zadd", "xclaim", "client tracking"} {
		got, _, err1 := s.cli(t, "help "+cmd+"\n")
		want, _, err2 := rs.cli(t, "help "+cmd+"\n")
		if err1 != nil || err2 != nil || got != want || !strings.Contains(got, "summary:") {
			t.Errorf("redis-cli help %s:\n mutexredis: %q (%v)\n redis:      %q (%v)", cmd, got, err1, want, err2)
		}
	}
}
