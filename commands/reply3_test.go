package commands

import (
	"math"
	"testing"
)

// TestAppendReply3 checks every reply type's RESP3 encoding, and that RESP2
// keeps Redis 7's RESP2 forms of the RESP3 shapes.
func TestAppendReply3(t *testing.T) {
	for _, tc := range []struct {
		v            any
		resp3, resp2 string
	}{
		{nil, "_\r\n", "$-1\r\n"},
		{[]byte(nil), "_\r\n", "$-1\r\n"},
		{NullArray{}, "_\r\n", "*-1\r\n"},
		{[]byte("v"), "$1\r\nv\r\n", "$1\r\nv\r\n"},
		{int64(-3), ":-3\r\n", ":-3\r\n"},
		{OK, "+OK\r\n", "+OK\r\n"},
		{Error("ERR x"), "-ERR x\r\n", "-ERR x\r\n"},
		{Map{"a", int64(1), "b", nil}, "%2\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n_\r\n", "*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n$-1\r\n"},
		{Set{"x"}, "~1\r\n$1\r\nx\r\n", "*1\r\n$1\r\nx\r\n"},
		{Push{"message", "ch", []byte("m")}, ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n", "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n"},
		{Double(1.5), ",1.5\r\n", "$3\r\n1.5\r\n"},
		{Double(0.1), ",0.10000000000000001\r\n", "$19\r\n0.10000000000000001\r\n"},
		{Double(math.Inf(-1)), ",-inf\r\n", "$4\r\n-inf\r\n"},
		{Bool(true), "#t\r\n", ":1\r\n"},
		{Bool(false), "#f\r\n", ":0\r\n"},
		{Verbatim("a\r\nb"), "=8\r\ntxt:a\r\nb\r\n", "$4\r\na\r\nb\r\n"},
		{[]any{Map{}, Set{}, nil}, "*3\r\n%0\r\n~0\r\n_\r\n", "*3\r\n*0\r\n*0\r\n$-1\r\n"},
		{Replies{Push{"subscribe", "a", int64(1)}, NoReply{}}, ">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n", "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"},
	} {
		if got := string(AppendReplyProto(nil, tc.v, true)); got != tc.resp3 {
			t.Errorf("RESP3 %#v: %q, want %q", tc.v, got, tc.resp3)
		}
		if got := string(AppendReplyProto(nil, tc.v, false)); got != tc.resp2 {
			t.Errorf("RESP2 %#v: %q, want %q", tc.v, got, tc.resp2)
		}
	}
}

// TestViewLine checks CLIENT LIST's flags for the states a connection has.
func TestViewLine(t *testing.T) {
	cl := &Client{ID: 7, Keyspace: "0", Proto: 3, Channels: map[string]struct{}{"a": {}}, Multi: &Multi{},
		Tracking: &Tracking{BCast: true}, NoEvict: true}
	v := cl.View()
	if v.Flags != "PxtBe" {
		t.Errorf("flags %q, want PxtBe", v.Flags)
	}
	if v := (&Client{}).View(); v.Flags != "N" || v.Multi != -1 || v.Cmd != "NULL" {
		t.Errorf("a new client's view: %+v", v)
	}
}
