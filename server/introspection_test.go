package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/mutexredis/mutexredis/commands"
)

// TestMonitorLine checks MONITOR's line format and sdscatrepr quoting.
func TestMonitorLine(t *testing.T) {
	at := time.Unix(1700000000, 123456789)
	got := string(monitorLine(at, "0", "127.0.0.1:5000", [][]byte{[]byte("SET"), []byte("k"), []byte("a\"b\\c\r\n\t\x00\xff")}))
	want := "+1700000000.123456 [0 127.0.0.1:5000] \"SET\" \"k\" \"a\\\"b\\\\c\\r\\n\\t\\x00\\xff\"\r\n"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	got = string(monitorLine(at, "t", "a", [][]byte{[]byte("hello"), []byte("3"), []byte("AUTH"), []byte("u"), []byte("p"), []byte("SETNAME"), []byte("n")}))
	want = "+1700000000.123456 [t a] \"hello\" \"3\" \"AUTH\" \"(redacted)\" \"(redacted)\" \"SETNAME\" \"n\"\r\n"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// TestSlowlogBounded checks that SLOWLOG keeps at most slowlog-max-len
// entries, newest first, with arguments cut as Redis cuts them.
func TestSlowlogBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SlowlogLogSlowerThan.Store(0)
	cfg.SlowlogMaxLen.Store(3)
	s := &Server{cfg: cfg}
	s.slowlog.cfg = cfg
	for i := 0; i < 10; i++ {
		args := [][]byte{[]byte("CMD"), make([]byte, 200)}
		for j := 0; j < 40; j++ {
			args = append(args, []byte{byte('a' + i)})
		}
		s.slowlog.record(&commands.Client{Addr: "a"}, args, time.Millisecond)
	}
	if n := s.Slowlog("len", 0); n != int64(3) {
		t.Fatalf("SLOWLOG LEN %v, want 3", n)
	}
	entries := s.Slowlog("get", -1).([]any)
	first := entries[0].([]any)
	if first[0] != int64(9) {
		t.Errorf("newest entry id %v, want 9", first[0])
	}
	args := first[3].([]any)
	if len(args) != 32 || args[31] != "... (11 more arguments)" {
		t.Errorf("args: %d, last %q", len(args), args[len(args)-1])
	}
	if a := args[1].(string); len(a) != 128+len("... (72 more bytes)") {
		t.Errorf("long argument: %q", a)
	}
	var ids []any
	for _, e := range entries {
		ids = append(ids, e.([]any)[0])
	}
	if fmt.Sprint(ids) != "[9 8 7]" {
		t.Errorf("entry ids %v, want [9 8 7]", ids)
	}
	if n := len(s.slowlog.entries); n > 2*3 {
		t.Errorf("%d entries held for a max of 3", n)
	}
	// A smaller slowlog-max-len trims at the next record, as in Redis; a
	// larger one does not bring back entries that were dropped.
	cfg.SlowlogMaxLen.Store(2)
	s.slowlog.record(&commands.Client{Addr: "a"}, [][]byte{[]byte("X")}, time.Millisecond)
	if n := s.Slowlog("len", 0); n != int64(2) {
		t.Errorf("SLOWLOG LEN after shrinking to 2: %v", n)
	}
	cfg.SlowlogMaxLen.Store(100)
	if n := s.Slowlog("len", 0); n != int64(2) {
		t.Errorf("SLOWLOG LEN after growing to 100: %v, want the 2 kept", n)
	}
}
