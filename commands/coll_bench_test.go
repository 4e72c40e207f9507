package commands

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mutexredis/mutexredis/mutex"
)

// BenchmarkCollPipelined is redis-benchmark's collection tests (-r 100000,
// -d 100) as a pipelining server sees them: 256 commands per Do, so the
// writes share one write phase and the reads one read phase. Each write
// test runs on what the ones before it left, as redis-benchmark -t
// hset,sadd,lpush,rpop,zadd does; each read test reads what its write
// test filled.
func BenchmarkCollPipelined(b *testing.B) {
	_, ks := openKeyspace(b, "0")
	value := make([]byte, 100)
	for i := range value {
		value[i] = 'x'
	}
	elem := func() []byte { return fmt.Appendf(nil, "element:%012d", rand.IntN(100000)) }
	tests := []struct {
		name string
		args func() [][]byte
	}{
		{"HSET", func() [][]byte { return [][]byte{[]byte("HSET"), []byte("myhash"), elem(), value} }},
		{"HGET", func() [][]byte { return [][]byte{[]byte("HGET"), []byte("myhash"), elem()} }},
		{"SADD", func() [][]byte { return [][]byte{[]byte("SADD"), []byte("myset"), elem()} }},
		{"SISMEMBER", func() [][]byte { return [][]byte{[]byte("SISMEMBER"), []byte("myset"), elem()} }},
		{"LPUSH", func() [][]byte { return [][]byte{[]byte("LPUSH"), []byte("mylist"), value} }},
		{"RPOP", func() [][]byte { return [][]byte{[]byte("RPOP"), []byte("mylist")} }},
		{"ZADD", func() [][]byte {
			return [][]byte{[]byte("ZADD"), []byte("myzset"), fmt.Appendf(nil, "%d", rand.IntN(100000)), elem()}
		}},
		{"ZRANGE", func() [][]byte { return [][]byte{[]byte("ZRANGE"), []byte("myzset"), []byte("0"), []byte("9")} }},
	}
	ops := make([]mutex.Op, 256)
	for _, tc := range tests {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i += len(ops) {
				for j := range ops {
					args := tc.args()
					op, bad := Lookup(args[0]).Op(args)
					if bad != nil {
						b.Fatal(bad)
					}
					ops[j] = op
				}
				if err := ks.Do(context.Background(), ops); err != nil {
					b.Fatal(err)
				}
				for j := range ops {
					if ops[j].Err != nil {
						b.Fatal(ops[j].Err)
					}
					AppendReply(nil, NonBlocking(ops[j].Result))
				}
			}
		})
	}
}
