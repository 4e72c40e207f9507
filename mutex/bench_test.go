package mutex

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchSubmitters are the numbers of concurrent submitters each benchmark
// runs with: one client, a few dozen, a crowd.
var benchSubmitters = []int{1, 16, 256}

// runSubmitters runs b.N ops, each in its own Do call, from n concurrent
// submitters, and reports ops/s. op builds the i-th op.
func runSubmitters(b *testing.B, k *Keyspace, n int, op func(i int) Op) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	b.ResetTimer()
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ops := make([]Op, 1)
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				ops[0] = op(int(i))
				if err := k.Do(context.Background(), ops); err != nil || ops[0].Err != nil {
					errs <- fmt.Errorf("op %d: %v %v", i, err, ops[0].Err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
}

func benchKeyspace(b *testing.B, opts Options) *Keyspace {
	b.Helper()
	s, _ := newStore(b, opts)
	return keyspace(b, s, "bench")
}

var benchValue = []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123")

func benchmarkPut(b *testing.B, opts Options) {
	for _, n := range benchSubmitters {
		b.Run(fmt.Sprintf("submitters=%d", n), func(b *testing.B) {
			k := benchKeyspace(b, opts)
			keys := make([][]byte, 4096)
			for i := range keys {
				keys[i] = []byte(fmt.Sprintf("key-%06d", i))
			}
			before := k.LastBatch()
			runSubmitters(b, k, n, func(i int) Op { return Put(keys[i%len(keys)], benchValue) })
			if batches := k.LastBatch() - before; batches > 0 {
				b.ReportMetric(float64(b.N)/float64(batches), "ops/batch")
			}
		})
	}
}

// BenchmarkPut: durable (fsync'd) puts; ops/batch shows group commit.
func BenchmarkPut(b *testing.B) { benchmarkPut(b, Options{}) }

// BenchmarkPutNoSync: puts committed without waiting for fsync.
func BenchmarkPutNoSync(b *testing.B) { benchmarkPut(b, Options{NoSync: true}) }

// BenchmarkGet: reads of existing keys; ops/phase shows how many reads
// share a read phase.
func BenchmarkGet(b *testing.B) {
	for _, n := range benchSubmitters {
		b.Run(fmt.Sprintf("submitters=%d", n), func(b *testing.B) {
			k := benchKeyspace(b, Options{})
			keys := make([][]byte, 4096)
			ops := make([]Op, len(keys))
			for i := range keys {
				keys[i] = []byte(fmt.Sprintf("key-%06d", i))
				ops[i] = Put(keys[i], benchValue)
			}
			do(b, k, ops...)
			before := k.phase // the state machine is idle: no phase is running
			runSubmitters(b, k, n, func(i int) Op { return Get(keys[i%len(keys)]) })
			// Every Do has returned, after its read phase: reading phase
			// is ordered after the last increment.
			if phases := k.phase - before; phases > 0 {
				b.ReportMetric(float64(b.N)/float64(phases), "ops/phase")
			}
		})
	}
}

// BenchmarkPutFeed: durable puts with the change feed at its default
// retention; compare with BenchmarkPut for the feed's cost.
func BenchmarkPutFeed(b *testing.B) { benchmarkPut(b, Options{FeedRetention: DefaultFeedRetention}) }

// BenchmarkTenants: each op creates a keyspace never seen before and
// commits one put in it, with the feed on (make bench-tenants measures the
// same through the server).
func BenchmarkTenants(b *testing.B) {
	s, _ := newStore(b, Options{NoSync: true, FeedRetention: DefaultFeedRetention})
	ops := make([]Op, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k, err := s.Keyspace("tenant-" + strconv.Itoa(i))
		if err != nil {
			b.Fatal(err)
		}
		ops[0] = Put(benchValue[:1], benchValue[:1])
		if err := k.Do(context.Background(), ops); err != nil || ops[0].Err != nil {
			b.Fatal(err, ops[0].Err)
		}
	}
}

// BenchmarkPutFeedTrim: as BenchmarkPutFeed with a retention every batch
// goes past, so each batch also trims the oldest entry.
func BenchmarkPutFeedTrim(b *testing.B) {
	benchmarkPut(b, Options{FeedRetention: FeedRetention{Batches: 16}})
}
