package server

import (
	"io"
	"net"
	"testing"

	"github.com/mutexredis/mutexredis/commands"
)

// TestTrackingWaitsForReplies checks the order rule of client-side
// caching: an invalidation for a client whose read replies are still being
// written waits for them (else a value read before the write could arrive
// after its invalidation and stay cached), and goes out at once otherwise.
func TestTrackingWaitsForReplies(t *testing.T) {
	s := &Server{cfg: DefaultConfig(), conns: map[*conn]struct{}{}, byID: map[int64]*conn{}, stats: newStats()}
	s.tracking = newTracker(s)
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()
	c := newConn(s, server)
	c.resp3.Store(true)
	if r := s.SetTracking(&c.client, &commands.Tracking{}); r != nil {
		t.Fatal(r)
	}
	want := ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"
	read := func() string {
		buf := make([]byte, len(want))
		if _, err := io.ReadFull(client, buf); err != nil {
			t.Fatal(err)
		}
		return string(buf)
	}
	deferred := func() int {
		s.tracking.mu.Lock()
		defer s.tracking.mu.Unlock()
		return len(s.tracking.clients[c.client.ID].deferred)
	}

	// A read of k is being answered: the invalidation waits.
	s.tracking.remember(c.client.ID, [][]byte{[]byte("k")})
	s.tracking.invalidate(nil, [][]byte{[]byte("k")})
	if n := deferred(); n != 1 {
		t.Fatalf("%d invalidations waiting for the replies, want 1", n)
	}
	s.tracking.replied(c.client.ID)
	if got := read(); got != want {
		t.Errorf("after the replies: %q, want %q", got, want)
	}
	// Invalidated keys are forgotten: another write sends nothing.
	s.tracking.invalidate(nil, [][]byte{[]byte("k")})
	if n := deferred(); n != 0 {
		t.Errorf("%d invalidations for a forgotten key", n)
	}

	// Read and answered: the invalidation goes out at once.
	s.tracking.remember(c.client.ID, [][]byte{[]byte("k")})
	s.tracking.replied(c.client.ID)
	s.tracking.invalidate(nil, [][]byte{[]byte("k")})
	if got := read(); got != want {
		t.Errorf("idle client: %q, want %q", got, want)
	}

	// The writer's own invalidations follow its reply, as Redis 7.
	s.tracking.remember(c.client.ID, [][]byte{[]byte("k")})
	s.tracking.replied(c.client.ID)
	s.tracking.invalidate(c, [][]byte{[]byte("k")})
	if n := deferred(); n != 1 {
		t.Fatalf("own invalidation not held for the reply: %d waiting", n)
	}
	s.tracking.replied(c.client.ID)
	if got := read(); got != want {
		t.Errorf("own invalidation: %q, want %q", got, want)
	}
}

// TestTrackingTableBytes checks that the tracking table's memory stays
// within its byte bound whatever the key sizes, evicting (and
// invalidating) keys past it.
func TestTrackingTableBytes(t *testing.T) {
	s := &Server{cfg: DefaultConfig(), conns: map[*conn]struct{}{}, byID: map[int64]*conn{}, stats: newStats()}
	s.tracking = newTracker(s)
	s.tracking.maxBytes = 1 << 20
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()
	go io.Copy(io.Discard, client) // the invalidations of evicted keys
	c := newConn(s, server)
	c.resp3.Store(true)
	if r := s.SetTracking(&c.client, &commands.Tracking{}); r != nil {
		t.Fatal(r)
	}
	key := make([]byte, 10<<10)
	for i := 0; i < 1000; i++ {
		key[0], key[1] = byte(i), byte(i>>8)
		s.tracking.remember(c.client.ID, [][]byte{key})
		s.tracking.replied(c.client.ID)
		s.tracking.mu.Lock()
		b, n := s.tracking.bytes, len(s.tracking.keys)
		s.tracking.mu.Unlock()
		if b > 1<<20 {
			t.Fatalf("after %d keys of 10 KiB: %d bytes in the table, bound 1 MiB", i+1, b)
		}
		if want := (10<<10 + trackingKeyBytes + trackingIDBytes) * n; b != want {
			t.Fatalf("%d keys account for %d bytes, want %d", n, b, want)
		}
	}
}
