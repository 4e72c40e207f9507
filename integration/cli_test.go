package integration

import (
	"os/exec"
	"strings"
	"testing"
)

func needCLI(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli not installed")
	}
}

// runCLI runs redis-cli and expects stdout exactly, no error output.
func (s *srv) runCLI(t *testing.T, stdin, want string, args ...string) {
	t.Helper()
	out, errOut, err := s.cli(t, stdin, args...)
	if err != nil || errOut != "" || out != want {
		t.Errorf("redis-cli %q (stdin %q): stdout %q stderr %q err %v; want stdout %q", args, stdin, out, errOut, err, want)
	}
}

func TestRedisCLI(t *testing.T) {
	t.Parallel()
	needCLI(t)
	s := startServer(t)
	s.runCLI(t, "", "PONG\n", "ping")
	s.runCLI(t, "", "OK\n", "set", "foo", "bar")
	s.runCLI(t, "", "bar\n", "get", "foo")
	s.runCLI(t, "", "\n", "get", "nosuch")
	s.runCLI(t, "", "OK\n", "-n", "3", "set", "foo", "three")
	s.runCLI(t, "", "three\n", "-n", "3", "get", "foo")
	s.runCLI(t, "", "bar\n", "get", "foo")
	s.runCLI(t, "", "1\n", "-n", "3", "dbsize")
	s.runCLI(t, "", "OK\n", "mset", "a", "1", "b", "2")
	s.runCLI(t, "", "a\n1\n", "peekfirst")
	s.runCLI(t, "", "b\n2\n", "peekfirst", "(a", "+")
	s.runCLI(t, "", "foo\nbar\n", "peeklast", "-", "+")
	s.runCLI(t, "", "a\n1\n", "peeklast", "-", "(b")
	s.runCLI(t, "", "\n", "peekfirst", "(foo", "+")
	s.runCLI(t, "", "2\n", "afterwrite") // SET foo, MSET in db 0
	s.runCLI(t, "", "1\n", "-n", "3", "afterwrite")
	// redis-cli prints errors with an empty line after them, as with Redis.
	s.runCLI(t, "", "ERR min or max not valid string range item\n\n", "peekfirst", "a", "b")
	s.runCLI(t, "", "ERR unknown command 'nosuch', with args beginning with: 'x' \n\n", "nosuch", "x")
	// -n with a database out of range: redis-cli reports SELECT's error.
	if out, errOut, _ := s.cli(t, "", "-n", "16", "get", "foo"); errOut != "SELECT 16 failed: ERR DB index is out of range\n" || out != "bar\n" {
		t.Errorf("redis-cli -n 16 get foo: stdout %q stderr %q", out, errOut)
	}

	// Commands from stdin: redis-cli starts its REPL (sending COMMAND DOCS
	// to build its help) and must do so cleanly.
	s.runCLI(t, "ping\n", "PONG\n")
	s.runCLI(t, "ping\nget foo\nselect 3\nget foo\nselect tenant-q\nset k v\nget k\n", "PONG\nbar\nOK\nthree\nOK\nOK\nv\n")
	s.runCLI(t, "ping\n", "PONG\n", "-n", "3")
	// --no-raw formatting of arrays and nils.
	s.runCLI(t, "", "1) \"a\"\n2) \"1\"\n", "--no-raw", "peekfirst")
	s.runCLI(t, "", "(nil)\n", "--no-raw", "peekfirst", "+", "+")
}

// TestRedisCLIHelp: redis-cli builds its help from COMMAND DOCS.
func TestRedisCLIHelp(t *testing.T) {
	t.Parallel()
	needCLI(t)
	s := startServer(t)
	out, errOut, err := s.cli(t, "help get\nhelp peekfirst\nping\n")
	if err != nil || errOut != "" || !strings.HasSuffix(out, "PONG\n") {
		t.Errorf("redis-cli help: stdout %q stderr %q err %v", out, errOut, err)
	}
	if !strings.Contains(out, "GET") {
		t.Errorf("redis-cli help get printed nothing about GET: %q", out)
	}
}
