package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// expect runs each command on c and compares the rendered reply.
func expect(t *testing.T, c *rconn, cases ...[2]any) {
	t.Helper()
	for _, tc := range cases {
		args := tc[0].([]string)
		want := tc[1].(string)
		if got := c.do(args...); got != want {
			t.Errorf("%q: got %s, want %s", args, got, want)
		}
	}
}

func q(args ...string) []string { return args }

func TestPingEchoQuit(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := dialRaw(t, s.Addr)
	expect(t, c,
		[2]any{q("PING"), "+PONG"},
		[2]any{q("PING", "hi"), `"hi"`},
		[2]any{q("ECHO", "x\x00y"), `"x\x00y"`},
		[2]any{q("ECHO"), "-ERR wrong number of arguments for 'echo' command"},
	)
	// QUIT answers +OK and closes; nothing pipelined after it runs.
	c.nc.Write(append(encodeCommand(nil, "QUIT"), encodeCommand(nil, "SET", "afterquit", "1")...))
	if got := c.read(); got != "+OK" {
		t.Fatalf("QUIT: %s", got)
	}
	c.expectClosed()
	c2 := dialRaw(t, s.Addr)
	expect(t, c2, [2]any{q("GET", "afterquit"), "(nil)"})
}

func TestSelect(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--databases", "4")
	c := dialRaw(t, s.Addr)
	expect(t, c,
		[2]any{q("SELECT", "3"), "+OK"},
		[2]any{q("SELECT", "4"), "-ERR DB index is out of range"},
		[2]any{q("SELECT", "-1"), "-ERR DB index is out of range"},
		[2]any{q("SELECT", "0"), "+OK"},
		// Names (PRODUCT §2): 1–64 bytes of A-Z a-z 0-9 _ - . :
		[2]any{q("SELECT", "tenant-a"), "+OK"},
		[2]any{q("SELECT", "Tenant_B.x:y"), "+OK"},
		[2]any{q("SELECT", strings.Repeat("n", 64)), "+OK"},
		[2]any{q("SELECT", strings.Repeat("n", 65)), "-ERR value is not an integer or out of range"},
		[2]any{q("SELECT", "bad name"), "-ERR value is not an integer or out of range"},
		[2]any{q("SELECT", "bad/name"), "-ERR value is not an integer or out of range"},
		[2]any{q("SELECT", "bad\x00"), "-ERR value is not an integer or out of range"},
		[2]any{q("SELECT", "ü"), "-ERR value is not an integer or out of range"},
		[2]any{q("SELECT", "01"), "-ERR value is not an integer or out of range"},
		[2]any{q("SELECT", "1.0"), "-ERR value is not an integer or out of range"},
		[2]any{q("SELECT"), "-ERR wrong number of arguments for 'select' command"},
	)
	// A failed SELECT leaves the selection alone.
	expect(t, c,
		[2]any{q("SELECT", "tenant-a"), "+OK"},
		[2]any{q("SET", "k", "in-a"), "+OK"},
		[2]any{q("SELECT", "99"), "-ERR DB index is out of range"},
		[2]any{q("GET", "k"), `"in-a"`},
	)
	if info := c.do("CLIENT", "INFO"); !strings.Contains(info, " db=tenant-a ") {
		t.Errorf("CLIENT INFO after SELECT tenant-a: %s", info)
	}
}

// TestSelectEmptyArgument: SELECT "" must be an error, not a crash.
func TestSelectEmptyArgument(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := dialRaw(t, s.Addr)
	c.send("SELECT", "")
	got, err := c.readErr()
	if err != nil {
		t.Fatalf("SELECT \"\": no reply (%v); server output:\n%s", err, s.stderr.String())
	}
	if want := "-ERR value is not an integer or out of range"; got != want {
		t.Errorf(`SELECT "": got %s, want %s`, got, want)
	}
	if err := pingOnce(s.Addr); err != nil {
		t.Fatalf(`server no longer answers after SELECT "": %v`, err)
	}
	// Inside a transaction SELECT is refused when queued (a transaction
	// runs in one keyspace), and the transaction is discarded.
	expect(t, c,
		[2]any{q("MULTI"), "+OK"},
		[2]any{q("SELECT", ""), "-ERR SELECT is not allowed inside MULTI: a transaction runs in one keyspace (SELECT before MULTI)"},
		[2]any{q("EXEC"), "-EXECABORT Transaction discarded because of previous errors."},
	)
}

func TestGetSetFamily(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := dialRaw(t, s.Addr)
	expect(t, c,
		[2]any{q("GET", "k"), "(nil)"},
		[2]any{q("SET", "k", "v1"), "+OK"},
		[2]any{q("GET", "k"), `"v1"`},
		[2]any{q("SET", "k", "v2", "NX"), "(nil)"},
		[2]any{q("SET", "n", "v", "XX"), "(nil)"},
		[2]any{q("EXISTS", "n"), ":0"},
		[2]any{q("SET", "k", "v2", "XX", "GET"), `"v1"`},
		[2]any{q("SET", "new", "x", "NX", "GET"), "(nil)"},
		[2]any{q("GET", "new"), `"x"`},
		[2]any{q("SET", "k", "v", "EX", "0"), "-ERR invalid expire time in 'set' command"},
		[2]any{q("SET", "k", "v", "NX", "XX"), "-ERR syntax error"},
		// SET IFEQ / IFNE (Redis 8.4): IFEQ never creates, IFNE does.
		[2]any{q("SET", "k", "v3", "IFEQ", "wrong"), "(nil)"},
		[2]any{q("SET", "k", "v3", "IFEQ", "v2"), "+OK"},
		[2]any{q("SET", "k", "v4", "IFNE", "v3"), "(nil)"},
		[2]any{q("SET", "k", "v4", "IFNE", "other"), "+OK"},
		[2]any{q("SET", "k", "v5", "IFEQ", "v4", "GET"), `"v4"`},
		[2]any{q("SET", "k", "v6", "IFEQ", "nope", "GET"), `"v5"`},
		[2]any{q("GET", "k"), `"v5"`},
		[2]any{q("SET", "missing1", "v", "IFEQ", "x"), "(nil)"},
		[2]any{q("EXISTS", "missing1"), ":0"},
		[2]any{q("SET", "missing2", "v", "IFNE", "x"), "+OK"},
		[2]any{q("GET", "missing2"), `"v"`},
		[2]any{q("SET", "k", "v", "IFEQ"), "-ERR syntax error"},
		[2]any{q("SET", "k", "v", "NX", "IFEQ", "v5"), "-ERR syntax error"},
		[2]any{q("SET", "k", "v", "IFEQ", "a", "IFNE", "b"), "-ERR syntax error"},
		[2]any{q("set", "k", "v7", "ifeq", "v5"), "+OK"},
		// SETNX
		[2]any{q("SETNX", "sn", "1"), ":1"},
		[2]any{q("SETNX", "sn", "2"), ":0"},
		[2]any{q("GET", "sn"), `"1"`},
		// MSET / MGET
		[2]any{q("MSET", "a", "1", "b", "2"), "+OK"},
		[2]any{q("MSET", "a", "1", "b"), "-ERR wrong number of arguments for 'mset' command"},
		[2]any{q("MSET", "a"), "-ERR wrong number of arguments for 'mset' command"},
		[2]any{q("MGET", "a", "zz", "b"), `["1", (nil), "2"]`},
		[2]any{q("EXISTS", "a", "b", "a", "zz"), ":3"},
		// DEL counts keys that existed, each once.
		[2]any{q("DEL", "a", "b", "a", "zz"), ":2"},
		[2]any{q("DEL", "a"), ":0"},
		[2]any{q("DBSIZE"), ":4"}, // k new missing2 sn
		[2]any{q("FLUSHDB"), "+OK"},
		[2]any{q("DBSIZE"), ":0"},
		[2]any{q("GET", "k"), "(nil)"},
	)
	// IFDEQ / IFDNE compare XXH3 digests (Redis 8.4's DIGEST).
	expect(t, c,
		[2]any{q("SET", "d", "hello"), "+OK"},
		[2]any{q("SET", "d", "x", "IFDEQ", "0000000000000000"), "(nil)"},
		[2]any{q("SET", "d", "x", "IFDNE", "0000000000000000"), "+OK"},
	)
}

// TestSetIfeqInOneBatch: two IFEQ on the same revision in one pipeline
// (one write phase): exactly the first applies (PRODUCT §3.3).
func TestSetIfeqInOneBatch(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.client(t, nil)
	ctx := context.Background()
	c.Set(ctx, "doc", "rev1", 0)
	cmds, _ := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Do(ctx, "SET", "doc", "rev2-by-A", "IFEQ", "rev1")
		p.Do(ctx, "SET", "doc", "rev2-by-B", "IFEQ", "rev1")
		p.Get(ctx, "doc")
		return nil
	})
	got := fmt.Sprint(cmds[0].(*redis.Cmd).Val(), errText(cmds[1].Err()), " ", cmds[2].(*redis.StringCmd).Val())
	if want := "OK" + "redis: nil" + " rev2-by-A"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestPeek(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := dialRaw(t, s.Addr)
	expect(t, c,
		[2]any{q("PEEKFIRST"), "(nil-array)"},
		[2]any{q("PEEKLAST"), "(nil-array)"},
		[2]any{q("MSET", "b", "vb", "d", "vd", "f", "vf", "f\x00", "vf0"), "+OK"},
		[2]any{q("PEEKFIRST"), `["b", "vb"]`},
		[2]any{q("PEEKLAST"), `["f\x00", "vf0"]`},
		[2]any{q("PEEKFIRST", "-", "+"), `["b", "vb"]`},
		[2]any{q("PEEKLAST", "-", "+"), `["f\x00", "vf0"]`},
		// start bounds
		[2]any{q("PEEKFIRST", "[d", "+"), `["d", "vd"]`},
		[2]any{q("PEEKFIRST", "(d", "+"), `["f", "vf"]`},
		[2]any{q("PEEKFIRST", "[c", "+"), `["d", "vd"]`},
		[2]any{q("PEEKFIRST", "(f", "+"), `["f\x00", "vf0"]`},
		[2]any{q("PEEKFIRST", "(f\x00", "+"), "(nil-array)"},
		[2]any{q("PEEKFIRST", "[", "+"), `["b", "vb"]`},
		// end bounds
		[2]any{q("PEEKLAST", "-", "[d"), `["d", "vd"]`},
		[2]any{q("PEEKLAST", "-", "(d"), `["b", "vb"]`},
		[2]any{q("PEEKLAST", "-", "[e"), `["d", "vd"]`},
		[2]any{q("PEEKLAST", "-", "[f"), `["f", "vf"]`},
		[2]any{q("PEEKLAST", "-", "(b"), "(nil-array)"},
		[2]any{q("PEEKLAST", "-", "("), "(nil-array)"},
		// both
		[2]any{q("PEEKFIRST", "(b", "(f"), `["d", "vd"]`},
		[2]any{q("PEEKLAST", "(b", "(f"), `["d", "vd"]`},
		[2]any{q("PEEKLAST", "[b", "[b"), `["b", "vb"]`},
		[2]any{q("PEEKFIRST", "(b", "(d"), "(nil-array)"},
		[2]any{q("PEEKFIRST", "[f", "[b"), "(nil-array)"},
		[2]any{q("PEEKLAST", "(d", "[d"), "(nil-array)"},
		// "+" as a minimum and "-" as a maximum make empty ranges
		[2]any{q("PEEKFIRST", "+", "+"), "(nil-array)"},
		[2]any{q("PEEKLAST", "-", "-"), "(nil-array)"},
		[2]any{q("PEEKFIRST", "+", "[z"), "(nil-array)"},
		// errors
		[2]any{q("PEEKFIRST", "b", "+"), "-ERR min or max not valid string range item"},
		[2]any{q("PEEKLAST", "-", "f"), "-ERR min or max not valid string range item"},
		[2]any{q("PEEKFIRST", "", "+"), "-ERR min or max not valid string range item"},
		[2]any{q("PEEKFIRST", "-", ""), "-ERR min or max not valid string range item"},
		[2]any{q("PEEKFIRST", "--", "+"), "-ERR min or max not valid string range item"},
		[2]any{q("PEEKLAST", "-", "++"), "-ERR min or max not valid string range item"},
		[2]any{q("PEEKFIRST", "-"), "-ERR wrong number of arguments for 'peekfirst' command"},
		[2]any{q("PEEKLAST", "-", "+", "x"), "-ERR wrong number of arguments for 'peeklast' command"},
		[2]any{q("peekfirst", "[d", "+"), `["d", "vd"]`},
	)
}

// TestPeekMatchesZrangebylex checks the bound syntax against real Redis's
// ZRANGEBYLEX over the same members: PEEKFIRST is the first element of the
// range, PEEKLAST the last.
func TestPeekMatchesZrangebylex(t *testing.T) {
	t.Parallel()
	raddr := realRedis(t)
	s := startServer(t)
	keys := []string{"", "a", "a\x00", "ab", "b", "b\xff", "c"}
	mine, theirs := dialRaw(t, s.Addr), dialRaw(t, raddr)
	zkey := "peek-zset"
	theirs.do("SELECT", "9") // other tests use Redis's db 0 and 1
	theirs.do("DEL", zkey)
	for _, k := range keys {
		mine.do("SET", k, "v:"+k)
		theirs.do("ZADD", zkey, "0", k)
	}
	bounds := []string{"-", "+", "[", "(", "[a", "(a", "[a\x00", "(a\x00", "[ab", "(b", "[b\xff", "(c", "[c", "[d", "bad"}
	for _, lo := range bounds {
		for _, hi := range bounds {
			z := theirs.do("ZRANGEBYLEX", zkey, lo, hi)
			first, last := mine.do("PEEKFIRST", lo, hi), mine.do("PEEKLAST", lo, hi)
			var wantFirst, wantLast string
			switch {
			case strings.HasPrefix(z, "-"):
				wantFirst, wantLast = z, z
			case z == "[]":
				wantFirst, wantLast = "(nil-array)", "(nil-array)"
			default:
				members := zmembers(t, raddr, zkey, lo, hi)
				f, l := members[0], members[len(members)-1]
				wantFirst = fmt.Sprintf("[%q, %q]", f, "v:"+f)
				wantLast = fmt.Sprintf("[%q, %q]", l, "v:"+l)
			}
			if first != wantFirst || last != wantLast {
				t.Errorf("range %q %q: PEEKFIRST %s PEEKLAST %s; ZRANGEBYLEX %s", lo, hi, first, last, z)
			}
		}
	}
	theirs.do("DEL", zkey)
}

// zmembers returns ZRANGEBYLEX's members as strings.
func zmembers(t *testing.T, addr, key, lo, hi string) []string {
	t.Helper()
	rc := newClient(t, addr, &redis.Options{Protocol: 2, DB: 9})
	m, err := rc.ZRangeByLex(context.Background(), key, &redis.ZRangeBy{Min: lo, Max: hi}).Result()
	if err != nil {
		t.Fatalf("ZRANGEBYLEX: %v", err)
	}
	return m
}

func TestHello(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := dialRaw(t, s.Addr)
	expect(t, c,
		[2]any{q("HELLO", "4"), "-NOPROTO unsupported protocol version"},
		[2]any{q("HELLO", "x"), "-ERR Protocol version is not an integer or out of range"},
	)
	hello := c.do("HELLO", "2", "SETNAME", "hello-name")
	for _, part := range []string{`"server", "redis"`, `"proto", :2`, `"mode", "standalone"`, `"role", "master"`, `"modules", []`, `"id", :`} {
		if !strings.Contains(hello, part) {
			t.Errorf("HELLO 2 reply %s lacks %s", hello, part)
		}
	}
	expect(t, c, [2]any{q("CLIENT", "GETNAME"), `"hello-name"`})
	if h := c.do("HELLO"); !strings.Contains(h, `"proto", :2`) {
		t.Errorf("HELLO: %s", h)
	}

	// go-redis sends HELLO 3 first and must fall back to RESP2 cleanly,
	// with its ClientName and DB.
	ctx := context.Background()
	gc := s.client(t, &redis.Options{ClientName: "gr", DB: 2})
	if err := gc.Set(ctx, "hk", "hv", 0).Err(); err != nil {
		t.Fatalf("go-redis SET after HELLO 3 fallback: %v", err)
	}
	if v, err := gc.Get(ctx, "hk").Result(); v != "hv" || err != nil {
		t.Fatalf("go-redis GET: %q %v", v, err)
	}
	if n, err := gc.ClientGetName(ctx).Result(); n != "gr" || err != nil {
		t.Errorf("go-redis CLIENT GETNAME: %q %v", n, err)
	}
	expect(t, c, [2]any{q("GET", "hk"), "(nil)"}, [2]any{q("SELECT", "2"), "+OK"}, [2]any{q("GET", "hk"), `"hv"`})
	// Explicit RESP2 client too.
	gc2 := s.client(t, &redis.Options{Protocol: 2})
	if err := gc2.Ping(ctx).Err(); err != nil {
		t.Fatalf("go-redis Protocol 2: %v", err)
	}
}

func TestClientCommand(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c1, c2 := dialRaw(t, s.Addr), dialRaw(t, s.Addr)
	id1, id2 := c1.do("CLIENT", "ID"), c2.do("CLIENT", "ID")
	if !strings.HasPrefix(id1, ":") || !strings.HasPrefix(id2, ":") || id1 == id2 {
		t.Errorf("CLIENT ID: %s and %s (want two distinct integers)", id1, id2)
	}
	if again := c1.do("CLIENT", "ID"); again != id1 {
		t.Errorf("CLIENT ID changed: %s then %s", id1, again)
	}
	expect(t, c1,
		[2]any{q("CLIENT", "GETNAME"), "(nil)"},
		[2]any{q("CLIENT", "SETNAME", "worker-1"), "+OK"},
		[2]any{q("CLIENT", "GETNAME"), `"worker-1"`},
		[2]any{q("CLIENT", "SETNAME", "bad name"), "-ERR Client names cannot contain spaces, newlines or special characters."},
		[2]any{q("CLIENT", "GETNAME"), `"worker-1"`},
		[2]any{q("client", "setinfo", "lib-name", "mylib"), "+OK"},
		[2]any{q("CLIENT", "SETINFO", "LIB-VER", "1.2.3"), "+OK"},
		[2]any{q("CLIENT", "SETINFO", "FOO", "x"), "-ERR Unrecognized option 'FOO'"},
		[2]any{q("CLIENT", "SETINFO", "LIB-NAME"), "-ERR wrong number of arguments for 'client|setinfo' command"},
		[2]any{q("CLIENT", "NOPE"), "-ERR unknown subcommand 'NOPE'. Try CLIENT HELP."},
	)
	expect(t, c2, [2]any{q("CLIENT", "GETNAME"), "(nil)"})
	info := c1.do("CLIENT", "INFO")
	for _, part := range []string{"id=" + id1[1:] + " ", " name=worker-1 ", " db=0 ", " lib-name=mylib ", " lib-ver=1.2.3"} {
		if !strings.Contains(info, part) {
			t.Errorf("CLIENT INFO %s lacks %q", info, part)
		}
	}
}

// registeredCommands reads every command name the table registers from
// the source (commands/*.go: `Name: "x"` in a Command literal), so that the
// list cannot go stale: COMMAND LIST must be exactly these.
func registeredCommands(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../commands/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no command sources: %v", err)
	}
	re := regexp.MustCompile(`&Command\{Name: "([a-z_.]+)"`)
	var names []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			names = append(names, string(m[1]))
		}
	}
	slices.Sort(names)
	return names
}

func TestCommandIntrospection(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, &redis.Options{Protocol: 2}) // the flat RESP2 forms (RESP3's maps: resp3_test.go)

	list, err := c.Do(ctx, "COMMAND", "LIST").StringSlice()
	if err != nil {
		t.Fatalf("COMMAND LIST: %v", err)
	}
	count, err := c.Do(ctx, "COMMAND", "COUNT").Int64()
	if err != nil || count != int64(len(list)) {
		t.Errorf("COMMAND COUNT = %d (%v), COMMAND LIST has %d", count, err, len(list))
	}
	sorted := slices.Sorted(slices.Values(list))
	if want := registeredCommands(t); !slices.Equal(sorted, want) {
		t.Errorf("COMMAND LIST has %d commands:\n%v\nthe sources register %d:\n%v", len(sorted), sorted, len(want), want)
	}
	all, err := c.Command(ctx).Result() // COMMAND, parsed by go-redis
	if err != nil {
		t.Fatalf("COMMAND: %v", err)
	}
	if len(all) != len(list) {
		t.Errorf("COMMAND lists %d commands, COMMAND LIST %d", len(all), len(list))
	}

	// COMMAND INFO agrees with Redis on arity and key positions for every
	// command both have, and on read/write flags.
	raddr := realRedis(t)
	rc := newClient(t, raddr, &redis.Options{Protocol: 2})
	theirs, err := rc.Command(ctx).Result()
	if err != nil {
		t.Fatalf("redis COMMAND: %v", err)
	}
	shared := 0
	for name, mine := range all {
		if mine.Name != name {
			t.Errorf("COMMAND entry %q is named %q", name, mine.Name)
		}
		r, ok := theirs[name]
		if !ok {
			continue
		}
		shared++
		arity := r.Arity
		if name == "zrank" || name == "zrevrank" {
			arity = -3 // WITHSCORE, as Redis 7.2
		}
		if mine.Arity != arity || mine.FirstKeyPos != r.FirstKeyPos || mine.LastKeyPos != r.LastKeyPos || mine.StepCount != r.StepCount {
			t.Errorf("COMMAND INFO %s: arity %d keys %d,%d,%d; Redis: arity %d keys %d,%d,%d", name,
				mine.Arity, mine.FirstKeyPos, mine.LastKeyPos, mine.StepCount, r.Arity, r.FirstKeyPos, r.LastKeyPos, r.StepCount)
		}
		for _, f := range []string{"readonly", "write"} {
			if slices.Contains(mine.Flags, f) != slices.Contains(r.Flags, f) {
				t.Errorf("COMMAND INFO %s: flags %v, Redis %v (disagree on %s)", name, mine.Flags, r.Flags, f)
			}
		}
	}
	if shared < 30 {
		t.Errorf("only %d commands shared with Redis", shared)
	}
	// COMMAND INFO with names, known and not.
	info, err := c.Do(ctx, "COMMAND", "INFO", "get", "nosuch", "PEEKLAST").Slice()
	if err != nil || len(info) != 3 || info[1] != nil {
		t.Fatalf("COMMAND INFO get nosuch PEEKLAST: %v %v", info, err)
	}
	if e, ok := info[2].([]any); !ok || e[0] != "peeklast" || e[1] != int64(-1) {
		t.Errorf("COMMAND INFO PEEKLAST: %v", info[2])
	}

	// COMMAND DOCS: a flat name → doc map with a summary for every command.
	docs, err := c.Do(ctx, "COMMAND", "DOCS").Slice()
	if err != nil || len(docs) != 2*len(list) {
		t.Fatalf("COMMAND DOCS: %d elements (%v), want %d", len(docs), err, 2*len(list))
	}
	for i := 0; i < len(docs); i += 2 {
		name, _ := docs[i].(string)
		doc, _ := docs[i+1].([]any)
		if !slices.Contains(list, name) || len(doc)%2 != 0 {
			t.Errorf("COMMAND DOCS entry %v: %v", docs[i], docs[i+1])
			continue
		}
		fields := map[string]any{}
		for j := 0; j < len(doc); j += 2 {
			fields[fmt.Sprint(doc[j])] = doc[j+1]
		}
		if sum, _ := fields["summary"].(string); sum == "" {
			t.Errorf("COMMAND DOCS %s has no summary: %v", name, doc)
		}
	}
	some, err := c.Do(ctx, "COMMAND", "DOCS", "afterwrite", "nosuch").Slice()
	if err != nil || len(some) != 2 || some[0] != "afterwrite" {
		t.Errorf("COMMAND DOCS afterwrite nosuch: %v %v", some, err)
	}
}

func TestUnknownCommandAndArity(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := dialRaw(t, s.Addr)
	expect(t, c,
		[2]any{q("NOSUCH"), "-ERR unknown command 'NOSUCH', with args beginning with: "},
		[2]any{q("nosuch", "a", "b c"), "-ERR unknown command 'nosuch', with args beginning with: 'a' 'b c' "},
		[2]any{q("NO-SUCH", "x"), "-ERR unknown command 'NO-SUCH', with args beginning with: 'x' "},
		[2]any{q("GET"), "-ERR wrong number of arguments for 'get' command"},
		[2]any{q("get", "a", "b"), "-ERR wrong number of arguments for 'get' command"},
		[2]any{q("SET", "a"), "-ERR wrong number of arguments for 'set' command"},
		[2]any{q("DEL"), "-ERR wrong number of arguments for 'del' command"},
		[2]any{q("AFTERWRITE", "x"), "-ERR wrong number of arguments for 'afterwrite' command"},
		[2]any{q("DBSIZE", "x"), "-ERR wrong number of arguments for 'dbsize' command"},
		[2]any{q("PING"), "+PONG"},
	)
}

func TestMultiExecWatch(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := dialRaw(t, s.Addr)
	other := dialRaw(t, s.Addr)
	expect(t, c,
		[2]any{q("MULTI"), "+OK"},
		[2]any{q("SET", "a", "1"), "+QUEUED"},
		[2]any{q("SET", "a", "2", "NX"), "+QUEUED"},
		[2]any{q("GET", "a"), "+QUEUED"},
		[2]any{q("PEEKFIRST"), "+QUEUED"},
		[2]any{q("AFTERWRITE"), "+QUEUED"},
		[2]any{q("EXEC"), `[+OK, (nil), "1", ["a", "1"], :0]`},
		[2]any{q("MULTI"), "+OK"},
		[2]any{q("SET", "a", "x"), "+QUEUED"},
		[2]any{q("DISCARD"), "+OK"},
		[2]any{q("GET", "a"), `"1"`},
		[2]any{q("EXEC"), "-ERR EXEC without MULTI"},
		[2]any{q("DISCARD"), "-ERR DISCARD without MULTI"},
		[2]any{q("MULTI"), "+OK"},
		[2]any{q("MULTI"), "-ERR MULTI calls can not be nested"},
		[2]any{q("SHUTDOWN"), "-ERR Command not allowed inside a transaction"},
		[2]any{q("EXEC"), "-EXECABORT Transaction discarded because of previous errors."},
	)
	// WATCH: a write by another connection after WATCH aborts EXEC.
	expect(t, c,
		[2]any{q("WATCH", "a"), "+OK"},
		[2]any{q("GET", "a"), `"1"`},
	)
	expect(t, other, [2]any{q("SET", "a", "other"), "+OK"})
	expect(t, c,
		[2]any{q("MULTI"), "+OK"},
		[2]any{q("SET", "a", "mine"), "+QUEUED"},
		[2]any{q("EXEC"), "(nil-array)"},
		[2]any{q("GET", "a"), `"other"`},
		// Without interference it applies; EXEC ends the watch.
		[2]any{q("WATCH", "a"), "+OK"},
		[2]any{q("MULTI"), "+OK"},
		[2]any{q("SET", "a", "mine"), "+QUEUED"},
		[2]any{q("EXEC"), "[+OK]"},
	)
	expect(t, other, [2]any{q("SET", "a", "again"), "+OK"})
	expect(t, c,
		[2]any{q("MULTI"), "+OK"},
		[2]any{q("GET", "a"), "+QUEUED"},
		[2]any{q("EXEC"), `["again"]`},
	)
	// A watch in another keyspace counts too.
	expect(t, c, [2]any{q("SELECT", "tx-b"), "+OK"}, [2]any{q("WATCH", "w"), "+OK"}, [2]any{q("SELECT", "0"), "+OK"})
	expect(t, other, [2]any{q("SELECT", "tx-b"), "+OK"}, [2]any{q("SET", "w", "1"), "+OK"})
	expect(t, c, [2]any{q("MULTI"), "+OK"}, [2]any{q("SET", "a", "no"), "+QUEUED"}, [2]any{q("EXEC"), "(nil-array)"},
		[2]any{q("GET", "a"), `"again"`})
}

// TestWatchConcurrentIncrements: optimistic transactions from many clients
// never lose an increment.
func TestWatchConcurrentIncrements(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, &redis.Options{PoolSize: 16})
	const workers, each = 8, 15
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func() {
			for i := 0; i < each; {
				err := c.Watch(ctx, func(tx *redis.Tx) error {
					n, err := tx.Get(ctx, "counter").Int()
					if err != nil && !errors.Is(err, redis.Nil) {
						return err
					}
					_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
						p.Set(ctx, "counter", n+1, 0)
						return nil
					})
					return err
				}, "counter")
				if errors.Is(err, redis.TxFailedErr) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				i++
			}
			errs <- nil
		}()
	}
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n, err := c.Get(ctx, "counter").Int(); n != workers*each || err != nil {
		t.Fatalf("counter = %d (%v), want %d", n, err, workers*each)
	}
}

func TestPubSub(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, nil)
	sub := c.Subscribe(ctx, "news", "sport")
	defer sub.Close()
	psub := c.PSubscribe(ctx, "n*")
	defer psub.Close()
	for _, p := range []*redis.PubSub{sub, sub, psub} {
		if _, err := p.Receive(ctx); err != nil { // subscription confirmations
			t.Fatal(err)
		}
	}
	if n, err := c.Publish(ctx, "news", "hello").Result(); n != 2 || err != nil {
		t.Fatalf("PUBLISH news = %d %v, want 2 receivers", n, err)
	}
	if n, _ := c.Publish(ctx, "sport", "goal").Result(); n != 1 {
		t.Fatalf("PUBLISH sport = %d, want 1", n)
	}
	if n, _ := c.Publish(ctx, "weather", "rain").Result(); n != 0 {
		t.Fatalf("PUBLISH weather = %d, want 0", n)
	}
	m1, err1 := sub.ReceiveMessage(ctx)
	m2, err2 := sub.ReceiveMessage(ctx)
	pm, err3 := psub.ReceiveMessage(ctx)
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%s=%s %s=%s %s:%s=%s", m1.Channel, m1.Payload, m2.Channel, m2.Payload, pm.Pattern, pm.Channel, pm.Payload)
	if want := "news=hello sport=goal n*:news=hello"; got != want {
		t.Errorf("messages: %s, want %s", got, want)
	}
	numsub, _ := c.PubSubNumSub(ctx, "news", "none").Result()
	if numsub["news"] != 1 || numsub["none"] != 0 {
		t.Errorf("PUBSUB NUMSUB: %v", numsub)
	}
	if n, _ := c.PubSubNumPat(ctx).Result(); n != 1 {
		t.Errorf("PUBSUB NUMPAT = %d", n)
	}
	chans, _ := c.PubSubChannels(ctx, "*").Result()
	sort.Strings(chans)
	if fmt.Sprint(chans) != "[news sport]" {
		t.Errorf("PUBSUB CHANNELS: %v", chans)
	}
	if err := sub.Unsubscribe(ctx, "news"); err != nil {
		t.Fatal(err)
	}
	// The unsubscribe is confirmed before PUBLISH is sent.
	if msg, err := sub.Receive(ctx); err != nil || fmt.Sprint(msg) != "unsubscribe: news" {
		t.Fatalf("unsubscribe confirmation: %v %v", msg, err)
	}
	if n, _ := c.Publish(ctx, "news", "again").Result(); n != 1 {
		t.Errorf("after UNSUBSCRIBE news, PUBLISH news = %d, want 1 (the pattern)", n)
	}
	// Binary payloads pass unchanged.
	c.Publish(ctx, "sport", "\x00\xff\r\n")
	if m, err := sub.ReceiveMessage(ctx); err != nil || m.Payload != "\x00\xff\r\n" {
		t.Errorf("binary message: %q %v", m.Payload, err)
	}
}

// TestShutdown: SHUTDOWN closes the connection without a reply, the process
// exits cleanly, and what was written is there after a restart.
func TestShutdown(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := dialRaw(t, s.Addr)
	expect(t, c,
		[2]any{q("SET", "before", "shutdown"), "+OK"},
		[2]any{q("SHUTDOWN", "BOGUS"), "-ERR syntax error"},
		[2]any{q("PING"), "+PONG"},
	)
	c.send("SHUTDOWN", "NOSAVE")
	c.expectClosed()
	s.waitExit(t)
	s2 := startServerDir(t, s.Dir)
	c2 := dialRaw(t, s2.Addr)
	expect(t, c2, [2]any{q("GET", "before"), `"shutdown"`})
}

func TestResetCommand(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := dialRaw(t, s.Addr)
	expect(t, c,
		[2]any{q("SELECT", "ks-r"), "+OK"},
		[2]any{q("SET", "k", "in-ks-r"), "+OK"},
		[2]any{q("CLIENT", "SETNAME", "n"), "+OK"},
		[2]any{q("RESET"), "+RESET"},
		[2]any{q("GET", "k"), "(nil)"},
		[2]any{q("CLIENT", "GETNAME"), "(nil)"},
	)
}
