package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// readerResult is everything a reader yields for an input, up to its error.
type readerResult struct {
	cmds [][]string
	err  string // "EOF" or the protocol error's text
}

// readAllCommands runs readCommands until it fails, copying out each command.
func readAllCommands(t testing.TB, rd io.Reader, lim readerLimits, auth bool) readerResult {
	t.Helper()
	r := newReader(rd, lim)
	var res readerResult
	for calls := 0; ; calls++ {
		cmds, err := r.readCommands(auth)
		if err == nil && len(cmds) == 0 {
			t.Fatalf("readCommands returned no command and no error")
		}
		for _, cmd := range cmds {
			if len(cmd) == 0 {
				t.Fatalf("readCommands returned an empty command")
			}
			s := make([]string, len(cmd))
			for i, a := range cmd {
				s[i] = string(a)
			}
			res.cmds = append(res.cmds, s)
		}
		if err != nil {
			var pe *protocolError
			switch {
			case errors.Is(err, io.EOF):
				res.err = "EOF"
			case errors.As(err, &pe):
				res.err = pe.msg
				// Sticky.
				if _, err2 := r.readCommands(auth); err2 != err {
					t.Fatalf("error not sticky: %v then %v", err, err2)
				}
			default:
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return res
		}
		if calls > 1<<24 {
			t.Fatal("no progress")
		}
	}
}

// chunkedReader returns its data in pieces of the given sizes (the last size
// repeats), like a socket.
type chunkedReader struct {
	data  []byte
	sizes []int
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := c.sizes[0]
	if len(c.sizes) > 1 {
		c.sizes = c.sizes[1:]
	}
	n = min(n, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func wantCmds(c ...[]string) [][]string { return c }
func cmdArgs(a ...string) []string      { return a }

type readerCase struct {
	name string
	in   string
	want [][]string
	err  string              // "" means the input ends cleanly (EOF)
	lim  func(*readerLimits) // optional
	auth *bool               // nil means authenticated
}

var unauthenticated = new(bool)

var validCases = []readerCase{
	{name: "multibulk", in: "*1\r\n$4\r\nPING\r\n", want: wantCmds(cmdArgs("PING"))},
	{name: "multibulk empty arg", in: "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n", want: wantCmds(cmdArgs("SET", "k", ""))},
	{name: "binary bulk with CRLF inside", in: "*2\r\n$3\r\nGET\r\n$7\r\na\r\nb\x00\r\n\r\n", want: wantCmds(cmdArgs("GET", "a\r\nb\x00\r\n"))},
	{name: "bulk that looks like a header", in: "*2\r\n$4\r\n*1\r\n\r\n$4\r\n$1\r\n\r\n", want: wantCmds(cmdArgs("*1\r\n", "$1\r\n"))},
	{name: "empty multibulks skipped", in: "*0\r\n*-1\r\n*-10\r\n*1\r\n$4\r\nPING\r\n*0\r\n", want: wantCmds(cmdArgs("PING"))},
	{name: "pipeline", in: "*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n*1\r\n$4\r\nPING\r\n",
		want: wantCmds(cmdArgs("GET", "a"), cmdArgs("GET", "b"), cmdArgs("PING"))},
	{name: "bulk trailer not checked (as Redis)", in: "*1\r\n$3\r\nfooXY*1\r\n$1\r\nx\r\n", want: wantCmds(cmdArgs("foo"), cmdArgs("x"))},
	{name: "header LF not checked (as Redis)", in: "*1\rX$3\rYfoo\r\n", want: wantCmds(cmdArgs("foo"))},
	{name: "incomplete at EOF", in: "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\n", want: wantCmds(cmdArgs("PING"))},
	{name: "big declared bulk at EOF", in: "*1\r\n$536870912\r\n", want: nil},
	{name: "max args", in: "*1048576\r\n$1\r\na\r\n", want: nil},

	{name: "inline", in: "SET key value\r\n", want: wantCmds(cmdArgs("SET", "key", "value"))},
	{name: "inline LF only", in: "set  a \t b\n", want: wantCmds(cmdArgs("set", "a", "b"))},
	{name: "inline no terminator at EOF", in: "PING", want: nil},
	{name: "empty lines skipped", in: "\r\n\n  \t \r\n\v\f\nPING\r\n\n", want: wantCmds(cmdArgs("PING"))},
	{name: "inline double quotes", in: `SET "hello world" "a\n\r\t\b\a\\\"\x41\x4a\xzz\q"` + "\r\n",
		want: wantCmds(cmdArgs("SET", "hello world", "a\n\r\t\b\a\\\"AJxzzq"))},
	{name: "inline hex escapes", in: `"\x00\xff\xFf\x7" "\x"` + "\n", want: wantCmds(cmdArgs("\x00\xff\xffx7", "x"))},
	{name: "inline single quotes", in: `SET 'it\'s' 'a\nb' '"'` + "\n", want: wantCmds(cmdArgs("SET", "it's", `a\nb`, `"`))},
	{name: "inline empty quoted args", in: `a "" ''` + "\n", want: wantCmds(cmdArgs("a", "", ""))},
	{name: "inline quote inside token", in: `foo"bar baz" x'y z'` + "\n", want: wantCmds(cmdArgs("foobar baz", "xy z"))},
	{name: "inline backslash unquoted", in: `a\x41 b\` + "\n", want: wantCmds(cmdArgs(`a\x41`, `b\`))},
	{name: "inline closing quote then isspace", in: "\"a\"\vb 'c'\fd\n", want: wantCmds(cmdArgs("a", "b", "c", "d"))},
	{name: "inline vt ff inside token", in: "\va b\vc\f\n", want: wantCmds(cmdArgs("a", "b\vc\f"))},
	{name: "inline CR inside line", in: "a\rb\r\r\n", want: wantCmds(cmdArgs("a", "b"))},
	{name: "inline quoted CR", in: "\"a\rb\"\r\n", want: wantCmds(cmdArgs("a\rb"))},
	{name: "inline NUL is a byte", in: "a\x00b c\n", want: wantCmds(cmdArgs("a\x00b", "c"))},
	{name: "inline star later", in: " *1\r\n", want: wantCmds(cmdArgs("*1"))},
	{name: "inline at the inline limit", in: strings.Repeat("a", 64<<10) + "\n", want: wantCmds(cmdArgs(strings.Repeat("a", 64<<10)))},
	{name: "mixed pipeline", in: "PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n\r\nECHO \"x y\"\n*0\r\n*1\r\n$4\r\nPING\r\n",
		want: wantCmds(cmdArgs("PING"), cmdArgs("ECHO", "hi"), cmdArgs("ECHO", "x y"), cmdArgs("PING"))},

	{name: "unauth within limits", auth: unauthenticated, in: "*10\r\n" + strings.Repeat("$16384\r\n"+strings.Repeat("v", 16384)+"\r\n", 10),
		want: wantCmds(slices.Repeat(cmdArgs(strings.Repeat("v", 16384)), 10))},
	{name: "unauth pipeline", auth: unauthenticated, in: "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\nPING\r\n", want: wantCmds(cmdArgs("AUTH", "pw"), cmdArgs("PING"))},
	{name: "limits that would overflow", lim: func(l *readerLimits) { l.maxBulk, l.maxInline = math.MaxInt, math.MaxInt },
		in: "*1\r\n$" + strconv.Itoa(math.MaxInt) + "\r\nabc", want: nil},
	{name: "small limits", lim: func(l *readerLimits) { l.maxBulk, l.maxArgs = 3, 2 }, in: "*2\r\n$3\r\nabc\r\n$0\r\n\r\n", want: wantCmds(cmdArgs("abc", ""))},
}

var errorCases = []readerCase{
	{name: "mbulk not a number", in: "*x\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "mbulk empty", in: "*\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "mbulk leading zero", in: "*01\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "mbulk plus sign", in: "*+1\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "mbulk minus zero", in: "*-0\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "mbulk space", in: "*1 \r\n", err: "Protocol error: invalid multibulk length"},
	{name: "mbulk overflow", in: "*99999999999999999999\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "mbulk too many", in: "*1048577\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "mbulk out of range (Redis test)", in: "*20000000\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "mbulk long line within limit", in: "*" + strings.Repeat("1", 65535) + "\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "mbulk count string too big", in: "*" + strings.Repeat("1", 65536) + "\r\n", err: "Protocol error: too big mbulk count string"},
	{name: "mbulk count string too big no CR", in: "*\x00" + strings.Repeat("A", 70000), err: "Protocol error: too big mbulk count string"},

	{name: "bulk not a number (Redis test)", in: "*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n", err: "Protocol error: invalid bulk length"},
	{name: "bulk negative (Redis test)", in: "*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n", err: "Protocol error: invalid bulk length"},
	{name: "bulk minus one", in: "*1\r\n$-1\r\n", err: "Protocol error: invalid bulk length"},
	{name: "bulk out of range (Redis test)", in: "*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n", err: "Protocol error: invalid bulk length"},
	{name: "bulk over proto-max-bulk-len", in: "*1\r\n$536870913\r\n", err: "Protocol error: invalid bulk length"},
	{name: "bulk empty", in: "*1\r\n$\r\n", err: "Protocol error: invalid bulk length"},
	{name: "bulk count string too big", in: "*1\r\n$" + strings.Repeat("1", 65536) + "\r\n", err: "Protocol error: too big bulk count string"},
	{name: "bulk count string too big not $", in: "*1\r\nx" + strings.Repeat("1", 65536), err: "Protocol error: too big bulk count string"},
	{name: "expected $ (Redis test)", in: "*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n", want: nil, err: "Protocol error: expected '$', got 'f'"},
	{name: "expected $ no bulk (Redis test)", in: "*1\r\nfoo\r\n", err: "Protocol error: expected '$', got 'f'"},
	{name: "expected $ got CR", in: "*1\r\n\r\n", err: "Protocol error: expected '$', got ' '"},
	{name: "expected $ got LF", in: "*1\r\n\n\r\n", err: "Protocol error: expected '$', got ' '"},
	{name: "expected $ got high byte", in: "*1\r\n\xff\r\n", err: "Protocol error: expected '$', got '\xff'"},
	{name: "expected $ got *", in: "*2\r\n*1\r\n", err: "Protocol error: expected '$', got '*'"},

	{name: "inline too big", in: strings.Repeat("a", 65537), err: "Protocol error: too big inline request"},
	{name: "inline too big with CRLF", in: strings.Repeat("a", 65536) + "\r\n", err: "Protocol error: too big inline request"},
	{name: "inline NUL then junk (Redis desync test)", in: "\x00" + strings.Repeat("payload", 10000), err: "Protocol error: too big inline request"},
	{name: "unbalanced double", in: "SET a \"foo\r\n", err: "Protocol error: unbalanced quotes in request"},
	{name: "unbalanced single", in: "SET a 'foo\n", err: "Protocol error: unbalanced quotes in request"},
	{name: "closing double quote then byte", in: "SET a \"foo\"bar\n", err: "Protocol error: unbalanced quotes in request"},
	{name: "closing single quote then byte", in: "'it''s'\n", err: "Protocol error: unbalanced quotes in request"},
	{name: "escaped closing quote", in: `"abc\"` + "\n", err: "Protocol error: unbalanced quotes in request"},
	{name: "unquoted backslash does not escape a quote", in: `b\"` + "\n", err: "Protocol error: unbalanced quotes in request"},
	{name: "backslash at end in quotes", in: `"abc\` + "\n", err: "Protocol error: unbalanced quotes in request"},

	{name: "unauth multibulk", auth: unauthenticated, in: "*11\r\n", err: "Protocol error: unauthenticated multibulk length"},
	{name: "unauth bulk", auth: unauthenticated, in: "*1\r\n$16385\r\n", err: "Protocol error: unauthenticated bulk length"},
	{name: "unauth invalid mbulk first", auth: unauthenticated, in: "*3000000000\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "unauth invalid bulk first", auth: unauthenticated, in: "*1\r\n$600000000\r\n", err: "Protocol error: invalid bulk length"},

	{name: "commands before the error come first", in: "PING\r\n*1\r\n$4\r\nECHO\r\n*1\r\n+oops\r\n",
		want: wantCmds(cmdArgs("PING"), cmdArgs("ECHO")), err: "Protocol error: expected '$', got '+'"},
	{name: "small maxArgs", lim: func(l *readerLimits) { l.maxArgs = 2 }, in: "*3\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "small maxBulk", lim: func(l *readerLimits) { l.maxBulk = 2 }, in: "*1\r\n$3\r\n", err: "Protocol error: invalid bulk length"},
	{name: "small maxInline", lim: func(l *readerLimits) { l.maxInline = 4 }, in: "PING\nPINGG\n", want: wantCmds(cmdArgs("PING")), err: "Protocol error: too big inline request"},
}

func (c readerCase) limits() readerLimits {
	lim := defaultReaderLimits()
	if c.lim != nil {
		c.lim(&lim)
	}
	return lim
}

func (c readerCase) check(t *testing.T, rd io.Reader) {
	t.Helper()
	auth := c.auth == nil || *c.auth
	got := readAllCommands(t, rd, c.limits(), auth)
	wantErr := c.err
	if wantErr == "" {
		wantErr = "EOF"
	}
	if got.err != wantErr {
		t.Errorf("error = %q, want %q", truncForLog(got.err), truncForLog(wantErr))
	}
	if !equalCmdLists(got.cmds, c.want) {
		t.Errorf("commands = %q, want %q", truncCmdsForLog(got.cmds), truncCmdsForLog(c.want))
	}
}

func equalCmdLists(a, b [][]string) bool {
	return slices.EqualFunc(a, b, func(x, y []string) bool { return slices.Equal(x, y) })
}

func truncForLog(s string) string {
	if len(s) > 80 {
		return s[:80] + fmt.Sprintf("…(%d bytes)", len(s))
	}
	return s
}

func truncCmdsForLog(c [][]string) [][]string {
	out := make([][]string, len(c))
	for i, cmd := range c {
		for _, a := range cmd {
			out[i] = append(out[i], truncForLog(a))
		}
	}
	return out
}

func TestReaderValid(t *testing.T) {
	for _, c := range validCases {
		t.Run(c.name, func(t *testing.T) { c.check(t, strings.NewReader(c.in)) })
	}
}

func TestReaderErrors(t *testing.T) {
	for _, c := range errorCases {
		t.Run(c.name, func(t *testing.T) { c.check(t, strings.NewReader(c.in)) })
	}
}

// TestReaderOneByteAtATime feeds every case through a reader that returns
// one byte per Read: the result must be the same as all at once.
func TestReaderOneByteAtATime(t *testing.T) {
	for _, c := range slices.Concat(validCases, errorCases) {
		t.Run(c.name, func(t *testing.T) { c.check(t, iotest.OneByteReader(strings.NewReader(c.in))) })
	}
}

// TestReaderRandomChunks sends a large mixed pipeline, many times the
// buffer, in random pieces.
func TestReaderRandomChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var in []byte
	var want [][]string
	for i := range 3000 {
		switch rng.IntN(4) {
		case 0:
			v := strings.Repeat(string(rune('a'+i%26)), rng.IntN(3000))
			in = fmt.Appendf(in, "*3\r\n$3\r\nSET\r\n$%d\r\nk%d\r\n$%d\r\n%s\r\n", len(strconv.Itoa(i))+1, i, len(v), v)
			want = append(want, cmdArgs("SET", "k"+strconv.Itoa(i), v))
		case 1:
			in = fmt.Appendf(in, "GET \"k %d\"\r\n", i)
			want = append(want, cmdArgs("GET", "k "+strconv.Itoa(i)))
		case 2:
			in = append(in, "\r\n*0\r\n"...)
		case 3:
			in = fmt.Appendf(in, "*1\r\n$%d\r\n%d\r\n", len(strconv.Itoa(i)), i)
			want = append(want, cmdArgs(strconv.Itoa(i)))
		}
	}
	c := readerCase{in: string(in), want: want}
	c.check(t, bytes.NewReader(in))
	for range 5 {
		sizes := make([]int, 200)
		for i := range sizes {
			sizes[i] = 1 + rng.IntN(1<<rng.IntN(16))
		}
		c.check(t, &chunkedReader{data: in, sizes: sizes})
	}
}

// TestReaderDeclaredLengthNotAllocated: a declared length costs nothing
// until its bytes arrive, and then only about what arrived.
func TestReaderDeclaredLengthNotAllocated(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := newReader(strings.NewReader("*1048576\r\n$536870912\r\n"+strings.Repeat("x", 100)), defaultReaderLimits())
	if _, err := r.readCommands(true); err != io.EOF {
		t.Fatalf("err = %v", err)
	}
	runtime.ReadMemStats(&after)
	if r.state != rdBulkData || r.bulkLen != 536870912 || r.left != 1048576 {
		t.Fatalf("state %d bulkLen %d left %d: headers not parsed", r.state, r.bulkLen, r.left)
	}
	if c := cap(r.buf); c > readerInitSize {
		t.Errorf("buffer capacity %d after a $536870912 header, want <= %d", c, readerInitSize)
	}
	if c := cap(r.offs); c > 16 {
		t.Errorf("offsets capacity %d after a *1048576 header", c)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("allocated %d bytes for a declared but unsent length", d)
	}

	// Sending part of the payload grows the buffer about as far as what
	// was sent.
	data := append([]byte("*1\r\n$536870912\r\n"), bytes.Repeat([]byte("z"), 3<<20)...)
	r = newReader(bytes.NewReader(data), defaultReaderLimits())
	if _, err := r.readCommands(true); err != io.EOF {
		t.Fatalf("err = %v", err)
	}
	if c := cap(r.buf); c > 2*len(data) {
		t.Errorf("buffer capacity %d after %d bytes", c, len(data))
	}
}

// TestReaderShrinks: once a big command is consumed, the reader goes back to
// a small buffer before waiting for more.
func TestReaderShrinks(t *testing.T) {
	big := "*2\r\n$3\r\nSET\r\n$1000000\r\n" + strings.Repeat("v", 1000000) + "\r\n"
	cr := &chunkedReader{data: []byte(big + "PING\r\n"), sizes: []int{len(big), 6}}
	r := newReader(cr, defaultReaderLimits())
	cmds, err := r.readCommands(true)
	if err != nil || len(cmds) != 1 || len(cmds[0][1]) != 1000000 {
		t.Fatalf("got %d commands, %v", len(cmds), err)
	}
	if cap(r.buf) < 1000000 {
		t.Fatalf("buffer %d", cap(r.buf))
	}
	cmds, err = r.readCommands(true)
	if err != nil || len(cmds) != 1 || string(cmds[0][0]) != "PING" {
		t.Fatalf("got %q, %v", cmds, err)
	}
	if c := cap(r.buf); c > readerInitSize {
		t.Errorf("buffer capacity %d after the big command was consumed", c)
	}
}

// TestReaderLinear counts the work done for commands that arrive in small
// pieces: every byte is looked at and moved a bounded number of times.
func TestReaderLinear(t *testing.T) {
	const nargs = 1 << 20
	manyArgs := append([]byte(fmt.Sprintf("*%d\r\n", nargs)), bytes.Repeat([]byte("$1\r\nx\r\n"), nargs)...)
	bigBulk := append([]byte("*1\r\n$16777216\r\n"), bytes.Repeat([]byte("b"), 16<<20)...)
	bigBulk = append(bigBulk, "\r\n"...)
	longInline := append(bytes.Repeat([]byte("a "), 30000), '\n')
	var pipeline []byte
	for i := range 20000 {
		pipeline = fmt.Appendf(pipeline, "*2\r\n$3\r\nGET\r\n$%d\r\n%d\r\n", len(strconv.Itoa(i)), i)
	}
	tooBig := append([]byte("*1\r\n$"), bytes.Repeat([]byte("1"), 100000)...)

	for _, c := range []struct {
		name          string
		in            []byte
		piece         int
		ncmds, nargs  int
		err           error
		scanned, copy float64 // bounds, per input byte
	}{
		{"1M args in 1KiB pieces", manyArgs, 1024, 1, nargs, io.EOF, 1.01, 3},
		{"16MiB bulk in 4KiB pieces", bigBulk, 4096, 1, 1, io.EOF, 0.001, 3},
		{"inline in 1B pieces", longInline, 1, 1, 30000, io.EOF, 2.01, 3},
		{"pipeline in 1B pieces", pipeline, 1, 20000, 40000, io.EOF, 1.01, 3},
		{"long header in 1B pieces", tooBig, 1, 0, 0, errBulkTooBig, 1.01, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newReader(&chunkedReader{data: c.in, sizes: []int{c.piece}}, defaultReaderLimits())
			ncmds, nargs := 0, 0
			var err error
			for {
				var cmds [][][]byte
				cmds, err = r.readCommands(true)
				if err != nil {
					break
				}
				ncmds += len(cmds)
				for _, cmd := range cmds {
					nargs += len(cmd)
				}
			}
			if err != c.err || ncmds != c.ncmds || nargs != c.nargs {
				t.Fatalf("got %d commands, %d args, %v; want %d, %d, %v", ncmds, nargs, err, c.ncmds, c.nargs, c.err)
			}
			n := float64(len(c.in))
			t.Logf("%d bytes: scanned %d (%.3f/byte), copied %d (%.3f/byte)", len(c.in), r.scanned, float64(r.scanned)/n, r.copied, float64(r.copied)/n)
			if float64(r.scanned) > c.scanned*n+100 {
				t.Errorf("scanned %d bytes for %d bytes of input", r.scanned, len(c.in))
			}
			if float64(r.copied) > c.copy*n+100 {
				t.Errorf("copied %d bytes for %d bytes of input", r.copied, len(c.in))
			}
		})
	}
}

// TestReaderUnauthenticatedOneAtATime: before AUTH the reader hands out one
// command per call, so AUTH runs before the next command's limits are
// checked, as in Redis.
func TestReaderUnauthenticatedOneAtATime(t *testing.T) {
	big := strings.Repeat("v", 20000)
	in := "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$20000\r\n" + big + "\r\n"
	r := newReader(strings.NewReader(in), defaultReaderLimits())
	cmds, err := r.readCommands(false)
	if err != nil || len(cmds) != 1 || string(cmds[0][0]) != "AUTH" {
		t.Fatalf("got %q, %v", cmds, err)
	}
	cmds, err = r.readCommands(true)
	if err != nil || len(cmds) != 1 || string(cmds[0][2]) != big {
		t.Fatalf("got %d commands, %v", len(cmds), err)
	}
	// Without AUTH the second command is refused.
	r = newReader(strings.NewReader(in), defaultReaderLimits())
	r.readCommands(false)
	if _, err := r.readCommands(false); err != errUnauthBulk {
		t.Fatalf("err = %v", err)
	}
}

// TestReaderDataWithError: bytes returned together with an error are parsed
// before the error is reported.
func TestReaderDataWithError(t *testing.T) {
	r := newReader(iotest.DataErrReader(strings.NewReader("PING\r\nPING\r\n")), defaultReaderLimits())
	cmds, err := r.readCommands(true)
	if err != nil || len(cmds) != 2 {
		t.Fatalf("got %q, %v", cmds, err)
	}
	if _, err := r.readCommands(true); err != io.EOF {
		t.Fatalf("err = %v", err)
	}
	boom := errors.New("boom")
	r = newReader(iotest.ErrReader(boom), defaultReaderLimits())
	if _, err := r.readCommands(true); err != boom {
		t.Fatalf("err = %v", err)
	}
}

// TestReaderResultReuse: results are capped slices, so appending to one
// does not overwrite the next, and the slices are reused across calls.
func TestReaderResultReuse(t *testing.T) {
	in := "*2\r\n$1\r\na\r\n$1\r\nb\r\nc d\r\n"
	r := newReader(strings.NewReader(in), defaultReaderLimits())
	cmds, err := r.readCommands(true)
	if err != nil || len(cmds) != 2 {
		t.Fatalf("got %q, %v", cmds, err)
	}
	_ = append(cmds[0][0], 'X')
	_ = append(cmds[0], []byte("Y"))
	_ = append(cmds[1][0], 'Z')
	if string(cmds[0][1]) != "b" || string(cmds[1][0]) != "c" || string(cmds[1][1]) != "d" {
		t.Fatalf("appending to a result changed another: %q", cmds)
	}
}

func TestReaderString2ll(t *testing.T) {
	for _, c := range []struct {
		in string
		v  int64
		ok bool
	}{
		{"0", 0, true}, {"1", 1, true}, {"-1", -1, true}, {"1024", 1024, true},
		{"9223372036854775807", 9223372036854775807, true}, {"-9223372036854775808", -9223372036854775808, true},
		{"9223372036854775808", 0, false}, {"-9223372036854775809", 0, false},
		{"18446744073709551615", 0, false}, {"18446744073709551616", 0, false}, {"99999999999999999999", 0, false},
		{"", 0, false}, {"-", 0, false}, {"-0", 0, false}, {"00", 0, false}, {"01", 0, false},
		{"+1", 0, false}, {" 1", 0, false}, {"1 ", 0, false}, {"1a", 0, false}, {"0x1", 0, false},
		{"000000000000000000001", 0, false},
	} {
		v, ok := string2ll([]byte(c.in))
		if v != c.v || ok != c.ok {
			t.Errorf("string2ll(%q) = %d, %v; want %d, %v", c.in, v, ok, c.v, c.ok)
		}
	}
}

// encodeMultibulk encodes a command as a RESP multibulk.
func encodeMultibulk(b []byte, cmd []string) []byte {
	b = fmt.Appendf(b, "*%d\r\n", len(cmd))
	for _, a := range cmd {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b
}

// FuzzReader: no panics; the same result whether the input comes whole, in
// two pieces or a byte at a time; and every command read, re-encoded as a
// multibulk, reads back as the same arguments.
func FuzzReader(f *testing.F) {
	for _, c := range slices.Concat(validCases, errorCases) {
		if len(c.in) < 4096 {
			f.Add([]byte(c.in), uint16(len(c.in)/2), c.auth == nil)
		}
	}
	f.Add([]byte("*2\r\n$3\r\nGET\r\n$300\r\n"+strings.Repeat("x", 300)+"\r\n"), uint16(10), true)
	tiny := readerLimits{maxBulk: 40, maxArgs: 6, maxInline: 24, unauthArgs: 2, unauthBulk: 8}
	f.Fuzz(func(t *testing.T, data []byte, split uint16, auth bool) {
		at := int(split) % (len(data) + 1)
		for _, lim := range []readerLimits{defaultReaderLimits(), tiny} {
			whole := readAllCommands(t, bytes.NewReader(data), lim, auth)
			two := readAllCommands(t, &chunkedReader{data: data, sizes: []int{max(at, 1), len(data)}}, lim, auth)
			one := readAllCommands(t, iotest.OneByteReader(bytes.NewReader(data)), lim, auth)
			if whole.err != two.err || !equalCmdLists(whole.cmds, two.cmds) {
				t.Fatalf("split at %d: %q %q, whole: %q %q", at, two.cmds, two.err, whole.cmds, whole.err)
			}
			if whole.err != one.err || !equalCmdLists(whole.cmds, one.cmds) {
				t.Fatalf("one byte at a time: %q %q, whole: %q %q", one.cmds, one.err, whole.cmds, whole.err)
			}
			var enc []byte
			for _, cmd := range whole.cmds {
				enc = encodeMultibulk(enc, cmd)
			}
			again := readAllCommands(t, bytes.NewReader(enc), defaultReaderLimits(), true)
			if again.err != "EOF" || !equalCmdLists(again.cmds, whole.cmds) {
				t.Fatalf("re-encoded: %q %q, want %q", again.cmds, again.err, whole.cmds)
			}
		}
	})
}

// repeatingSource serves the same pipeline forever.
type repeatingSource struct {
	data []byte
	off  int
}

func (p *repeatingSource) Read(b []byte) (int, error) {
	n := copy(b, p.data[p.off:])
	p.off = (p.off + n) % len(p.data)
	return n, nil
}

func BenchmarkReaderPipeline(b *testing.B) {
	var pipe []byte
	const ncmds = 64
	for i := range ncmds {
		pipe = encodeMultibulk(pipe, []string{"SET", "key:" + strconv.Itoa(i), "value-" + strconv.Itoa(i)})
	}
	for _, bc := range []struct {
		name string
		data []byte
	}{
		{"multibulk", pipe},
		{"inline", bytes.Repeat([]byte("GET key:1234\r\n"), ncmds)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := newReader(&repeatingSource{data: bc.data}, defaultReaderLimits())
			b.SetBytes(int64(len(bc.data)))
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				for got := 0; got < ncmds; {
					cmds, err := r.readCommands(true)
					if err != nil {
						b.Fatal(err)
					}
					got += len(cmds)
					n += len(cmds)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/cmd")
		})
	}
}
