package integration

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
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
	// MUTEXREDIS_BENCH_CPUPROFILE=prefix writes each server's CPU profile
	// to prefix-keys and prefix-tenants.
	profile := os.Getenv("MUTEXREDIS_BENCH_CPUPROFILE")
	run := func(name, short string, cmd func(b []byte, i int) ([]byte, int)) {
		args := []string{"--fsync", "never"}
		if profile != "" {
			args = append(args, "--cpuprofile", profile+"-"+short)
		}
		s := startServer(t, args...)
		nc := dialRaw(t, s.Addr)
		rd := bufio.NewReaderSize(nc.nc, 1<<20)
		replies := 0
		done := make(chan error, 1)
		cpu0, err := procCPU(s.cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
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
		cpu1, err := procCPU(s.cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		rss, _ := psRSS(s.cmd.Process.Pid, "VmRSS")
		hwm, _ := psRSS(s.cmd.Process.Pid, "VmHWM")
		cpu := cpu1 - cpu0
		t.Logf("%s: %d in %v (%.2f µs each), server CPU %v (%.2f µs each), RSS %d MiB (peak %d MiB)", name, n,
			elapsed.Round(time.Millisecond), float64(elapsed.Microseconds())/float64(n),
			cpu.Round(time.Millisecond), float64(cpu.Microseconds())/float64(n), rss>>10, hwm>>10)
		s.stop(t)
	}
	run("one keyspace, N keys", "keys", func(b []byte, i int) ([]byte, int) {
		return encodeCommand(b, "SET", "key:"+strconv.Itoa(i), "v"), 1
	})
	run("N named keyspaces, one SET each", "tenants", func(b []byte, i int) ([]byte, int) {
		b = encodeCommand(b, "SELECT", "tenant-"+strconv.Itoa(i))
		return encodeCommand(b, "SET", "k", "v"), 2
	})
}

// procCPU is the user and system CPU time process pid has used, from
// /proc/pid/stat: on a shared machine, the cost of a load is its CPU time,
// not its wall-clock time.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields count from
	// after it. utime and stime are fields 14 and 15, in clock ticks.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const ticksPerSecond = 100 // USER_HZ, the same on every Linux architecture Go supports
	return time.Duration(utime+stime) * time.Second / ticksPerSecond, nil
}
