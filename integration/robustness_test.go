package integration

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rawExchange sends raw bytes on a new connection, half-closes it (the
// server sees the end of input after them) and returns everything the
// server sends until it closes the connection. A server that neither
// answers nor closes within 10 s gets "(no close)" appended.
func rawExchange(t *testing.T, addr, input string) string {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte(input)); err != nil {
		return "(write failed: " + err.Error() + ")"
	}
	nc.(*net.TCPConn).CloseWrite()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	out, err := io.ReadAll(bufio.NewReader(nc))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return string(out) + "(no close)"
	}
	return string(out)
}

// TestProtocolErrorsLikeRedis: malformed RESP gets Redis's error text and
// the connection is closed, on both servers.
func TestProtocolErrorsLikeRedis(t *testing.T) {
	t.Parallel()
	raddr := realRedis(t)
	s := startServer(t)
	for _, input := range []string{
		"*abc\r\n",
		"*1\r\n$abc\r\n",
		"*1\r\n+foo\r\n",
		"*1\r\n$-5\r\n",
		"*1\r\n$999999999999\r\n",
		"*1\r\n$536870913\r\n", // proto-max-bulk-len + 1
		"*99999999999\r\n",
		"*2147483648\r\n",
		"*-3\r\nPING\r\n",
		"PING\r\nSET \"a\r\n",
		"*1\r\n$4\r\nPING\r\n*1\r\n:1\r\n",
	} {
		mine, theirs := rawExchange(t, s.Addr, input), rawExchange(t, raddr, input)
		if mine != theirs {
			t.Errorf("input %q:\n mutexredis: %q\n redis:      %q", input, mine, theirs)
		}
	}
	if err := pingOnce(s.Addr); err != nil {
		t.Fatalf("server no longer answers: %v", err)
	}
}

// TestBadInputDoesNotHurtOthers: garbage, half-sent commands and clients
// that disconnect mid-command leave the server serving others.
func TestBadInputDoesNotHurtOthers(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, nil)
	c.Set(ctx, "k", "v", 0)
	for _, input := range []string{
		"\x00\xff\xfe garbage \r\n\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\nhalf", // then the connection closes
		"*2\r\n$3\r\nGET\r\n",
		strings.Repeat("*", 70000),
		"*1\r\n$2147483648\r\n",
	} {
		rawExchange(t, s.Addr, input)
		if v, err := c.Get(ctx, "k").Result(); v != "v" || err != nil {
			t.Fatalf("after input %q: GET k = %q %v", input[:min(len(input), 40)], v, err)
		}
	}
}

// TestSlowSubscriberIsDisconnected: a subscriber that never reads is
// dropped once its pending output passes the pub/sub limit, and nobody else
// is affected (PRODUCT §5).
func TestSlowSubscriberIsDisconnected(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--client-output-buffer-limit", "pubsub 1mb 0 0")
	ctx := context.Background()
	c := s.client(t, nil)
	// Another subscriber, on another channel, idle the whole time.
	other := c.Subscribe(ctx, "other")
	defer other.Close()
	if _, err := other.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	slow := dialRaw(t, s.Addr)
	if got := slow.do("SUBSCRIBE", "feed"); got != `["subscribe", "feed", :1]` {
		t.Fatalf("SUBSCRIBE: %s", got)
	}
	msg := strings.Repeat("x", 32<<10)
	const max = 5000 // 160 MB: far more than socket buffers and the limit
	published := 0
	for ; published < max; published++ {
		n, err := c.Publish(ctx, "feed", msg).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break // the slow subscriber is gone
		}
	}
	if published == max {
		t.Fatalf("a subscriber that never reads was sent %d MB and is still subscribed", max/32)
	}
	// Its connection is closed: reading drains what was sent, then ends.
	slow.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.Copy(io.Discard, slow.rd); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("slow subscriber: %v (want its connection closed)", err)
	}
	// Everyone else is fine.
	if n, err := c.Publish(ctx, "other", "still here").Result(); n != 1 || err != nil {
		t.Errorf("PUBLISH other = %d %v, want 1", n, err)
	}
	if m, err := other.ReceiveMessage(ctx); err != nil || m.Payload != "still here" {
		t.Errorf("the other subscriber: %v %v", m, err)
	}
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Error(err)
	}
	if n, _ := c.PubSubNumSub(ctx, "feed").Result(); n["feed"] != 0 {
		t.Errorf("PUBSUB NUMSUB feed = %d after the drop", n["feed"])
	}
}
