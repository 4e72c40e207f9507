package integration

import (
	"strings"
	"sync"
	"testing"
)

// TestSubscribeConfirmationFirst: a subscription's confirmation reaches the
// client before any message published on it, even while a publisher
// publishes in a loop and the subscribe is followed by more commands in
// the same pipeline.
func TestSubscribeConfirmationFirst(t *testing.T) {
	s := startServer(t)
	pub := dialRaw(t, s.Addr)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			pub.nc.Write(encodeCommand(nil, "PUBLISH", "ch", "m"))
			if _, err := readReply(pub.rd); err != nil {
				return
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	for try := 0; try < 20; try++ {
		c := dialRaw(t, s.Addr)
		var b []byte
		b = encodeCommand(b, "SUBSCRIBE", "ch")
		for i := 0; i < 2000; i++ {
			b = encodeCommand(b, "PING")
		}
		if _, err := c.nc.Write(b); err != nil {
			t.Fatal(err)
		}
		if got := c.read(); got != `["subscribe", "ch", :1]` {
			t.Fatalf("try %d: first reply %s, want the subscribe confirmation", try, got)
		}
		// Messages may interleave with the PING replies, never precede them
		// out of order with respect to the confirmation.
		for pongs := 0; pongs < 2000; {
			r := c.read()
			switch {
			case r == `["pong", ""]`:
				pongs++
			case strings.HasPrefix(r, `["message", "ch"`):
			default:
				t.Fatalf("try %d: unexpected reply %s", try, r)
			}
		}
		c.nc.Close()
	}
}
