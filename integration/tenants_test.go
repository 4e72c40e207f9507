package integration

import (
	"bufio"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestBenchTenants measures what tenants cost (issue 10): N distinct named
// keyspaces each given one SET, through one pipeline, against N keys in one
// keyspace; it reports the time per keyspace and per key, and the server's
// RSS once each load is done. It runs only with MUTEXREDIS_BENCH_TENANTS=N
// (make bench-tenants runs it with 1000000); it asserts nothing about time.
func TestBenchTenants(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("MUTEXREDIS_BENCH_TENANTS"))
	if n <= 0 {
		t.Skip("a benchmark: set MUTEXREDIS_BENCH_TENANTS=N (make bench-tenants)")
	}
	run := func(name string, cmd func(b []byte, i int) ([]byte, int)) {
		s := startServer(t, "--fsync", "never")
		nc := dialRaw(t, s.Addr)
		rd := bufio.NewReaderSize(nc.nc, 1<<20)
		replies := 0
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			var b []byte
			for i := 0; i < n; i++ {
				var r int
				b, r = cmd(b, i)
				replies += r
				if len(b) > 1<<20 || i == n-1 {
					if _, err := nc.nc.Write(b); err != nil {
						done <- err
						return
					}
					b = b[:0]
				}
			}
			done <- nil
		}()
		expect := 0
		for i := 0; i < n; i++ {
			_, r := cmd(nil, i)
			expect += r
		}
		nc.nc.SetReadDeadline(time.Now().Add(time.Hour))
		for i := 0; i < expect; i++ {
			if line, err := readReply(rd); err != nil || line != "+OK" {
				t.Fatalf("%s: reply %d: %q %v", name, i, line, err)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		rss, _ := psRSS(s.cmd.Process.Pid, "VmRSS")
		hwm, _ := psRSS(s.cmd.Process.Pid, "VmHWM")
		t.Logf("%s: %d in %v (%.2f µs each), RSS %d MiB (peak %d MiB)", name, n, elapsed.Round(time.Millisecond),
			float64(elapsed.Microseconds())/float64(n), rss>>10, hwm>>10)
		s.stop(t)
	}
	run("one keyspace, N keys", func(b []byte, i int) ([]byte, int) {
		return encodeCommand(b, "SET", "key:"+strconv.Itoa(i), "v"), 1
	})
	run("N named keyspaces, one SET each", func(b []byte, i int) ([]byte, int) {
		b = encodeCommand(b, "SELECT", "tenant-"+strconv.Itoa(i))
		return encodeCommand(b, "SET", "k", "v"), 2
	})
}
