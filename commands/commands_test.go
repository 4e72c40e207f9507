package commands

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/mutexredis/mutexredis/mutex"
)

func TestParseInt(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1": 1, "-1": -1, "9223372036854775807": 1<<63 - 1, "-9223372036854775808": -1 << 63} {
		if got, ok := ParseInt([]byte(in)); !ok || got != want {
			t.Errorf("ParseInt(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "-", "01", "-0", "+1", " 1", "1 ", "1.0", "9223372036854775808", "abc", "1e3"} {
		if _, ok := ParseInt([]byte(in)); ok {
			t.Errorf("ParseInt(%q) accepted", in)
		}
	}
}

func TestDigestMatchesRedis(t *testing.T) {
	// The example of Redis's DIGEST documentation.
	if got := Digest([]byte("Hello world")); got != "b6acb9d84a38ff74" {
		t.Fatalf("Digest(Hello world) = %s, want b6acb9d84a38ff74", got)
	}
	if got := Digest(nil); len(got) != 16 {
		t.Fatalf("Digest(empty) = %q: want 16 hex digits", got)
	}
}

func TestSubstring(t *testing.T) {
	v := []byte("This is a string")
	for _, c := range []struct {
		start, end int64
		want       string
	}{{0, 3, "This"}, {-3, -1, "ing"}, {0, -1, "This is a string"}, {10, 100, "string"}, {5, 3, ""}, {-100, 2, "Thi"}, {-1, -5, ""}} {
		if got := string(substring(v, c.start, c.end)); got != c.want {
			t.Errorf("substring(%d, %d) = %q, want %q", c.start, c.end, got, c.want)
		}
	}
	if got := substring(nil, 0, -1); len(got) != 0 {
		t.Errorf("substring of empty = %q", got)
	}
}

func TestKeyspaceArg(t *testing.T) {
	for in, want := range map[string]string{"0": "0", "15": "15", "tenant-a": "tenant-a", "a.b:c_d": "a.b:c_d", "1x": "1x", "-a": "-a"} {
		if got, bad := keyspaceArg([]byte(in), 16); bad != nil || got != want {
			t.Errorf("keyspaceArg(%q) = %q, %v", in, got, bad)
		}
	}
	for in, want := range map[string]any{"16": ErrDBIndex, "-1": ErrDBIndex, "01": ErrNotInteger, "a b": ErrNotInteger,
		strings.Repeat("x", 65): ErrNotInteger, "": ErrNotInteger, "99999999999999999999": ErrNotInteger, "1.5": ErrNotInteger, "1e3": ErrNotInteger} {
		if _, bad := keyspaceArg([]byte(in), 16); bad != want {
			t.Errorf("keyspaceArg(%q) = %v, want %v", in, bad, want)
		}
	}
}

func TestTableIsConsistent(t *testing.T) {
	for _, c := range All() {
		if c.Name != strings.ToLower(c.Name) {
			t.Errorf("%s: names are lower case", c.Name)
		}
		if c.Arity == 0 {
			t.Errorf("%s: arity 0 (the name counts)", c.Name)
		}
		// AFTERWRITE waits on the mutex; MEMORY (USAGE) reads, unflagged as
		// in Redis; containers (OBJECT) have no flags of their own.
		if c.Op != nil && c.Flags&(Read|Write) == 0 && c.Name != "afterwrite" && c.Name != "memory" && c.Subcommands == nil {
			t.Errorf("%s: a keyspace op must be flagged read or write", c.Name)
		}
		// FLUSHALL writes through every keyspace's mutex itself; SWAPDB refuses.
		if c.Flags&Write != 0 && c.Op == nil && c.Name != "flushall" && c.Name != "swapdb" {
			t.Errorf("%s: a write command must go through the mutex", c.Name)
		}
	}
}

func TestUnknownCommandText(t *testing.T) {
	got := UnknownCommand([][]byte{[]byte("foo"), []byte("a"), []byte("b")})
	if want := Error("ERR unknown command 'foo', with args beginning with: 'a' 'b' "); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// Redis quotes 128 characters of arguments at most.
	long := []byte(strings.Repeat("x", 100))
	got = UnknownCommand([][]byte{[]byte("foo"), long, long, long})
	want := Error("ERR unknown command 'foo', with args beginning with: '" + string(long) + "' '" + strings.Repeat("x", 25) + "' ")
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// FuzzCommand feeds arbitrary arguments to every command's parsing and runs
// the resulting ops against a real store: no input may panic, and every
// reply must be encodable.
func FuzzCommand(f *testing.F) {
	store, err := mutex.Open(f.TempDir(), mutex.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	ks, err := store.Keyspace("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		"set\x00k\x00v\x00nx\x00get", "set\x00k\x00v\x00ifeq\x00v", "setrange\x00k\x00100\x00x", "getrange\x00k\x00-5\x00-1",
		"incrbyfloat\x00k\x001e308", "peekfirst\x00(a\x00[z", "peeklast\x00+\x00-", "mset\x00a\x001\x00b", "delex\x00k\x00ifdeq\x00abc",
		"incrby\x00k\x00-9223372036854775808", "decrby\x00k\x00-9223372036854775808", "append\x00k\x00zz",
		"memory\x00usage\x00k", "memory\x00usage\x00k\x00samples\x005",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := [][]byte{}
		for _, a := range strings.Split(line, "\x00") {
			args = append(args, []byte(a))
		}
		cmd := Lookup(args[0])
		if cmd == nil || cmd.Run != nil || !cmd.CheckArity(len(args)) {
			return
		}
		op, bad := cmd.buildOp(&Ctx{Args: args, Client: &Client{Keyspace: "fuzz"}})
		if bad != nil {
			if _, ok := bad.(Error); !ok {
				t.Fatalf("%q: rejection %#v is not an Error", line, bad)
			}
			return
		}
		ops := []mutex.Op{op}
		if err := ks.Do(context.Background(), ops); err != nil {
			t.Fatal(err)
		}
		if ops[0].Err != nil {
			t.Fatalf("%q: op failed: %v", line, ops[0].Err)
		}
		out := AppendReply(nil, OpReply(&ops[0]))
		if n, err := respValueLen(out); err != nil || n != len(out) {
			t.Fatalf("%q: reply %q is not one RESP value (%d of %d bytes: %v)", line, out, n, len(out), err)
		}
		if out := AppendReply3(nil, OpReply(&ops[0])); len(out) == 0 {
			t.Fatalf("%q: empty RESP3 reply", line)
		}
	})
}

// respValueLen returns the length of the one RESP2 value at the start of b,
// or an error if b does not start with a well-formed one.
func respValueLen(b []byte) (int, error) {
	line := func() (string, int, error) {
		i := bytes.Index(b, []byte("\r\n"))
		if i < 1 {
			return "", 0, fmt.Errorf("no CRLF-terminated line")
		}
		return string(b[1:i]), i + 2, nil
	}
	if len(b) == 0 {
		return 0, fmt.Errorf("empty")
	}
	text, n, err := line()
	if err != nil {
		return 0, err
	}
	switch b[0] {
	case '+', '-':
		if strings.ContainsAny(text, "\r\n") {
			return 0, fmt.Errorf("line with CR or LF")
		}
		return n, nil
	case ':':
		if _, err := strconv.ParseInt(text, 10, 64); err != nil {
			return 0, fmt.Errorf("integer %q", text)
		}
		return n, nil
	case '$':
		l, err := strconv.Atoi(text)
		switch {
		case err != nil || l < -1:
			return 0, fmt.Errorf("bulk length %q", text)
		case l == -1:
			return n, nil
		case len(b) < n+l+2 || string(b[n+l:n+l+2]) != "\r\n":
			return 0, fmt.Errorf("bulk of %d bytes not CRLF-terminated", l)
		}
		return n + l + 2, nil
	case '*':
		l, err := strconv.Atoi(text)
		if err != nil || l < -1 {
			return 0, fmt.Errorf("array length %q", text)
		}
		for i := 0; i < l; i++ {
			m, err := respValueLen(b[n:])
			if err != nil {
				return 0, fmt.Errorf("element %d: %w", i, err)
			}
			n += m
		}
		return n, nil
	}
	return 0, fmt.Errorf("unknown type byte %q", b[0])
}

// TestRespValueLen: the fuzzer's reply check rejects what is not one value.
func TestRespValueLen(t *testing.T) {
	for in, ok := range map[string]bool{
		"+OK\r\n": true, ":12\r\n": true, "$3\r\nabc\r\n": true, "$-1\r\n": true, "*2\r\n:1\r\n$1\r\nx\r\n": true,
		"": false, "+OK": false, "$3\r\nab\r\n": false, "*2\r\n:1\r\n": false, ":x\r\n": false, "?\r\n": false,
	} {
		n, err := respValueLen([]byte(in))
		if got := err == nil && n == len(in); got != ok {
			t.Errorf("%q: one value = %v (%d, %v), want %v", in, got, n, err, ok)
		}
	}
	if n, err := respValueLen([]byte("+OK\r\n+OK\r\n")); err != nil || n != 5 {
		t.Errorf("two values: first is %d bytes (%v), want 5", n, err)
	}
}
