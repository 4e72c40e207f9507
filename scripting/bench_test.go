package scripting

import (
	"context"
	"testing"
)

// BenchmarkScriptRun is the EVALSHA of make bench: SET then GET of a key,
// with a caller that answers at once (the VM's cost alone).
func BenchmarkScriptRun(b *testing.B) {
	e := NewEngine(Options{})
	s, err := Compile([]byte("redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])"))
	if err != nil {
		b.Fatal(err)
	}
	keys, argv := [][]byte{[]byte("key:000000000001")}, [][]byte{[]byte("12345")}
	call := func(args [][]byte) any {
		if len(args) == 3 {
			return Status("OK")
		}
		return []byte("12345")
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if r := e.Run(context.Background(), s, keys, argv, call); r == nil {
			b.Fatal("no reply")
		}
	}
}
