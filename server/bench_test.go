package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
)

// startBenchServer runs a Server on a loopback port over a store in a temp
// dir and returns its address.
func startBenchServer(b *testing.B, fsync string) string {
	cfg := DefaultConfig()
	cfg.Port = 0
	cfg.Dir = b.TempDir()
	cfg.Fsync = fsync
	srv, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv.lns = []net.Listener{ln}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// BenchmarkHotPath measures the whole path, RESP in → mutex → reply out,
// over real loopback connections: 16 clients each sending pipelines of
// depth P. One op is one command; allocations are the whole process's.
func BenchmarkHotPath(b *testing.B) {
	for _, fsync := range []string{"always", "never"} {
		for _, cmd := range []string{"SET", "GET"} {
			for _, depth := range []int{1, 16} {
				b.Run(fmt.Sprintf("%s/fsync=%s/P=%d", cmd, fsync, depth), func(b *testing.B) {
					benchHotPath(b, startBenchServer(b, fsync), cmd, depth)
				})
			}
		}
	}
}

func benchHotPath(b *testing.B, addr, cmd string, depth int) {
	const clients = 16
	value := make([]byte, 100)
	request := func(i int) []byte {
		key := "key:" + strconv.Itoa(i%10000)
		if cmd == "SET" {
			return fmt.Appendf(nil, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(key), key, len(value), value)
		}
		return fmt.Appendf(nil, "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", len(key), key)
	}
	conns := make([]net.Conn, clients)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	per := b.N/(clients*depth) + 1
	b.ReportAllocs()
	b.ResetTimer()
	errs := make(chan error, clients)
	for ci, c := range conns {
		go func() {
			rd := bufio.NewReader(c)
			var pipeline []byte
			for round := 0; round < per; round++ {
				pipeline = pipeline[:0]
				for j := 0; j < depth; j++ {
					pipeline = append(pipeline, request(ci*per*depth+round*depth+j)...)
				}
				if _, err := c.Write(pipeline); err != nil {
					errs <- err
					return
				}
				for j := 0; j < depth; j++ {
					if err := skipReply(rd); err != nil {
						errs <- err
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(per*clients*depth)/b.Elapsed().Seconds(), "cmds/s")
}

// skipReply reads one reply: a status, integer, error or bulk string.
func skipReply(rd *bufio.Reader) error {
	line, err := rd.ReadSlice('\n')
	if err != nil {
		return err
	}
	switch line[0] {
	case '+', ':':
		return nil
	case '-':
		return fmt.Errorf("error reply: %s", line)
	case '$':
		n, _ := strconv.Atoi(string(line[1 : len(line)-2]))
		if n < 0 {
			return nil
		}
		_, err = rd.Discard(n + 2)
		return err
	}
	return fmt.Errorf("unexpected reply %q", line)
}
