package mutex

import (
	"errors"
	"strings"
	"testing"
)

// TestSubscriptionByteBound: a subscription with a byte bound is dropped
// once the events it has not released would pass it, however few they are,
// and Done gives the room back.
func TestSubscriptionByteBound(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "0")
	big := strings.Repeat("v", 4000)
	sub := k.SubscribeLimits(1000, 10000)
	put(t, k, "a", big) // writes + flushed: about 4 KB
	for range 2 {
		e := recv(t, sub.C, "event")
		sub.Done(&e)
	}
	put(t, k, "b", big) // about 4 KB pending
	put(t, k, "c", big) // about 8 KB pending
	put(t, k, "d", big) // would pass 10 KB: dropped
	n := 0
	for range sub.C {
		n++
	}
	if !errors.Is(sub.Err(), ErrSlowSubscriber) {
		t.Fatalf("Err = %v after %d events, want ErrSlowSubscriber", sub.Err(), n)
	}
	if n < 4 || n >= 6 {
		t.Fatalf("%d events delivered before the drop, want the 4 or 5 that fit 10000 bytes", n)
	}
}
