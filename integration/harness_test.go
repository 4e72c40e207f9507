// Package integration tests the real mutexredis binary over the network:
// TestMain builds cmd/mutexredis once, and every test starts its own server
// process on a free loopback port and a fresh directory, talks to it with
// go-redis, raw RESP or redis-cli, and stops it with SIGTERM.
//
// When the tests run with -race, the server is built with -race too, and a
// data race reported by the server fails the test that ran it.
package integration

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	binPath string // the mutexredis binary built by TestMain
	// realRedisOf holds each top-level test's real redis-server (realRedis).
	realRedisMu sync.Mutex
	realRedisOf = map[string]string{}
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "mutexredis-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	// MUTEXREDIS_BIN runs the tests against a binary built elsewhere.
	if bin := os.Getenv("MUTEXREDIS_BIN"); bin != "" {
		binPath = bin
		return m.Run()
	}
	binPath = filepath.Join(tmp, "mutexredis")
	args := []string{"build", "-o", binPath}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/mutexredis")
	build := exec.Command("go", args...)
	build.Dir = ".." // the module root, seen from the package directory
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "integration: go %s: %v\n%s", strings.Join(args, " "), err, out)
		return 1
	}
	return m.Run()
}

// lockedBuffer collects a process's output safely.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// srv is one running mutexredis process.
type srv struct {
	Addr  string
	Port  int
	Dir   string
	flags []string

	cmd     *exec.Cmd
	stderr  *lockedBuffer
	exited  chan struct{} // closed when the process has exited
	waitErr error
	stopped bool
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startServer starts mutexredis on a fresh directory.
func startServer(t testing.TB, extraFlags ...string) *srv {
	t.Helper()
	return startServerDir(t, t.TempDir(), extraFlags...)
}

// startServerDir starts mutexredis on dir (for restarts). The server is
// stopped with SIGTERM when the test ends, and its exit is checked.
func startServerDir(t testing.TB, dir string, extraFlags ...string) *srv {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		s, err := launch(t, dir, freePort(t), extraFlags)
		if err == nil {
			t.Cleanup(func() { s.stop(t) })
			return s
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatalf("cannot start mutexredis: %v", lastErr)
	return nil
}

func launch(t testing.TB, dir string, port int, flags []string) (*srv, error) {
	s := &srv{
		Addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Port:   port,
		Dir:    dir,
		flags:  flags,
		stderr: &lockedBuffer{},
		exited: make(chan struct{}),
	}
	args := append([]string{"--port", strconv.Itoa(port), "--dir", dir}, flags...)
	s.cmd = exec.Command(binPath, args...)
	s.cmd.Stdout = s.stderr
	s.cmd.Stderr = s.stderr
	s.cmd.Env = append(os.Environ(), "GORACE=halt_on_error=0 exitcode=66")
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("mutexredis exited at start (%v): %s", s.waitErr, s.stderr.String())
		default:
		}
		if pingOnce(s.Addr) == nil {
			// Make sure it is this process that answers (another test's
			// server may have taken the port first; ours then exits).
			if d, err := configDir(s.Addr); err == nil && d == dir {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.cmd.Process.Kill()
			<-s.exited
			return nil, fmt.Errorf("mutexredis did not answer PING within 60s: %s", s.stderr.String())
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

// pingOnce dials addr and expects +PONG.
func pingOnce(addr string) error {
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := nc.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(nc).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// configDir asks the server at addr for CONFIG GET dir.
func configDir(addr string) (string, error) {
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	nc.Write(encodeCommand(nil, "CONFIG", "GET", "dir"))
	r, err := readReply(bufio.NewReader(nc))
	if err != nil {
		return "", err
	}
	var name, dir string
	if _, err := fmt.Sscanf(r, "[%q, %q]", &name, &dir); err != nil {
		return "", fmt.Errorf("CONFIG GET dir: %s", r)
	}
	return dir, nil
}

// stop sends SIGTERM and waits for a clean exit (status 0, no race report,
// no panic). It is safe to call more than once.
func (s *srv) stop(t testing.TB) {
	t.Helper()
	if s.stopped {
		return
	}
	s.stopped = true
	select {
	case <-s.exited:
	default:
		s.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Signal(syscall.SIGQUIT) // goroutine dump, to see what it waits for
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
		}
		t.Errorf("mutexredis did not exit within 20s of SIGTERM\n%s", s.stderr.String())
		return
	}
	s.checkExit(t)
}

// waitExit waits for the process to exit on its own (SHUTDOWN).
func (s *srv) waitExit(t testing.TB) {
	t.Helper()
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("mutexredis did not exit within 30s")
	}
	s.stopped = true
	s.checkExit(t)
}

func (s *srv) checkExit(t testing.TB) {
	t.Helper()
	out := s.stderr.String()
	var problems []string
	if s.waitErr != nil {
		problems = append(problems, "exited with "+s.waitErr.Error())
	}
	for _, bad := range []string{"DATA RACE", "panic:", "fatal error:"} {
		if strings.Contains(out, bad) {
			problems = append(problems, "output contains "+strconv.Quote(bad))
		}
	}
	if problems != nil {
		t.Errorf("mutexredis %s:\n%s", strings.Join(problems, ", "), out)
	}
}

// restart stops the server with SIGTERM and starts a new process on the
// same directory and flags.
func (s *srv) restart(t testing.TB) *srv {
	t.Helper()
	s.stop(t)
	return startServerDir(t, s.Dir, s.flags...)
}

// client returns a go-redis client of the server, closed when the test ends.
// opt may be nil; its Addr is set.
func (s *srv) client(t testing.TB, opt *redis.Options) *redis.Client {
	t.Helper()
	return newClient(t, s.Addr, opt)
}

func newClient(t testing.TB, addr string, opt *redis.Options) *redis.Client {
	t.Helper()
	var o redis.Options
	if opt != nil {
		o = *opt
	}
	o.Addr = addr
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 30 * time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 30 * time.Second
	}
	c := redis.NewClient(&o)
	t.Cleanup(func() { c.Close() })
	return c
}

// cli runs redis-cli -p <port> args... with stdin and returns its output.
func (s *srv) cli(t testing.TB, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "redis-cli", append([]string{"-p", strconv.Itoa(s.Port)}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// realRedis returns the address of a real redis-server 7 (no persistence)
// of the calling test's own: the top-level test and its subtests share one,
// no other test touches it (tests run in parallel, and many FLUSHDB), and
// it is killed when the test that started it ends. The test is skipped if
// redis-server cannot start.
func realRedis(t testing.TB) string {
	t.Helper()
	top, _, _ := strings.Cut(t.Name(), "/")
	realRedisMu.Lock()
	defer realRedisMu.Unlock()
	if addr, ok := realRedisOf[top]; ok {
		return addr
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skipf("no real redis-server to compare with: %v", err)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port := freePort(t)
		// A directory of its own tells this redis-server apart from another
		// test's server that took the port first (this one then exits).
		dir := t.TempDir()
		cmd := exec.Command("redis-server", "--save", "", "--appendonly", "no",
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir)
		var out lockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Skipf("no real redis-server to compare with: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		deadline := time.Now().Add(20 * time.Second)
		ours := func() error {
			if err := pingOnce(addr); err != nil {
				return err
			}
			if d, err := configDir(addr); err != nil || d != dir {
				return fmt.Errorf("another server answers on %s (dir %q, %v)", addr, d, err)
			}
			return nil
		}
		for lastErr = ours(); lastErr != nil; lastErr = ours() {
			select {
			case <-exited:
				lastErr = fmt.Errorf("redis-server exited: %s", out.String())
			default:
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					<-exited
					lastErr = fmt.Errorf("redis-server did not start: %s", out.String())
				} else {
					time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
					continue
				}
			}
			break
		}
		if lastErr == nil {
			realRedisOf[top] = addr
			t.Cleanup(func() {
				realRedisMu.Lock()
				delete(realRedisOf, top)
				realRedisMu.Unlock()
				cmd.Process.Kill()
				<-exited
			})
			return addr
		}
	}
	t.Skipf("no real redis-server to compare with: %v", lastErr)
	return ""
}

// ---- raw RESP ----

// rconn is a raw RESP2 connection: it sends commands as arrays of bulk
// strings and renders replies as text that keeps every type distinction:
//
//	+OK  -ERR …  :1  "bulk"  (nil)  (nil-array)  [a, b]
type rconn struct {
	t  testing.TB
	nc net.Conn
	rd *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rconn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rconn{t: t, nc: nc, rd: bufio.NewReader(nc)}
}

func encodeCommand(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// send writes one command without reading a reply.
func (c *rconn) send(args ...string) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write(encodeCommand(nil, args...)); err != nil {
		c.t.Fatalf("write %q: %v", args, err)
	}
}

// do sends one command and returns its rendered reply.
func (c *rconn) do(args ...string) string {
	c.t.Helper()
	c.send(args...)
	return c.read()
}

// read reads one reply and renders it.
func (c *rconn) read() string {
	c.t.Helper()
	s, err := c.readErr()
	if err != nil {
		c.t.Fatalf("read reply: %v", err)
	}
	return s
}

func (c *rconn) readErr() (string, error) {
	c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	return readReply(c.rd)
}

// expectClosed checks that the server closes the connection without
// sending anything more.
func (c *rconn) expectClosed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	b, err := c.rd.ReadByte()
	if err == nil {
		rest, _ := c.rd.Peek(c.rd.Buffered())
		c.t.Fatalf("expected the connection to close, got %q", append([]byte{b}, rest...))
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		c.t.Fatalf("expected EOF, got %v", err)
	}
}

func readLine(rd *bufio.Reader) (string, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(line, "\r\n") {
		return "", fmt.Errorf("line without CRLF: %q", line)
	}
	return line[:len(line)-2], nil
}

func readReply(rd *bufio.Reader) (string, error) {
	line, err := readLine(rd)
	if err != nil {
		return "", err
	}
	if line == "" {
		return "", fmt.Errorf("empty reply line")
	}
	switch line[0] {
	case '+', '-', ':':
		return line, nil
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("bad bulk length %q", line)
		}
		if n < 0 {
			return "(nil)", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return "", err
		}
		return strconv.Quote(string(buf[:n])), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("bad array length %q", line)
		}
		if n < 0 {
			return "(nil-array)", nil
		}
		parts := make([]string, n)
		for i := range parts {
			if parts[i], err = readReply(rd); err != nil {
				return "", err
			}
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	}
	return "", fmt.Errorf("unexpected reply line %q", line)
}

// ---- small helpers ----

// afterwrite runs AFTERWRITE on c and returns the batch number.
func afterwrite(t testing.TB, c *redis.Client) int64 {
	t.Helper()
	n, err := c.Do(context.Background(), "AFTERWRITE").Int64()
	if err != nil {
		t.Fatalf("AFTERWRITE: %v", err)
	}
	return n
}

// errText is err's message, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
