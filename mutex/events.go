package mutex

import (
	"errors"
	"sync"
	"sync/atomic"
)

// EventKind names one of the mutex's events.
type EventKind uint8

const (
	// EventReads: a read phase has run. Seq is the phase number (per
	// keyspace, from 1 at each start of the process); Ops lists its reads.
	EventReads EventKind = iota + 1
	// EventWrites: a write batch has been evaluated and is about to be
	// committed. Seq is the batch number; Ops lists its mutations in order.
	EventWrites
	// EventFlushed: the batch Seq has been committed (Err nil) or has failed
	// (Err set). Count is its number of mutations; Notes are the notes its
	// write ops attached (Tx.Note), when it committed.
	EventFlushed
)

func (k EventKind) String() string {
	switch k {
	case EventReads:
		return "reads"
	case EventWrites:
		return "writes"
	case EventFlushed:
		return "flushed"
	}
	return "unknown"
}

// Event is one of a keyspace's events. Its slices are owned by the event.
type Event struct {
	Kind     EventKind
	Keyspace string
	Seq      uint64
	Ops      []Access
	Count    int
	Err      error
	Notes    []any
}

// ErrSlowSubscriber is what Subscription.Err reports after the subscription
// was dropped because its buffer was full.
var ErrSlowSubscriber = errors.New("mutex: subscriber dropped: event buffer full")

// Subscription receives one keyspace's events, in the order they happened.
//
// Delivery never blocks the mutex: each event is handed to C only if its
// buffer has room. If it has none, the subscription is dropped at once: C is
// closed after the events already buffered, and Err reports
// ErrSlowSubscriber. A subscriber therefore sees a gap-free prefix of the
// events, and knows when it has lost the rest; it can subscribe again and
// resynchronise (batch numbers tell it where it stands).
type Subscription struct {
	C <-chan Event

	c  chan Event
	ks *Keyspace
	// maxBytes bounds the estimated size (EventSize) of the events handed
	// to C and not yet released with Done; 0: only C's capacity bounds
	// them. pending is that size.
	maxBytes int64
	pending  atomic.Int64
	mu       sync.Mutex // guards err and closing c
	err      error
	ended    bool
}

// EventSize estimates the memory an event holds: its keys, values, bounds
// and notes, plus a fixed overhead per entry.
func EventSize(e *Event) int64 {
	const overhead = 64
	n := int64(overhead)
	for i := range e.Ops {
		a := &e.Ops[i]
		n += overhead + int64(len(a.Op)+len(a.Key)+len(a.Value))
		if a.Range != nil {
			n += int64(len(a.Range.Min.Key) + len(a.Range.Max.Key))
		}
	}
	return n + overhead*int64(len(e.Notes))
}

// Done releases an event received from C from the subscription's byte
// bound (see SubscribeLimits).
func (s *Subscription) Done(e *Event) {
	if s.maxBytes > 0 {
		s.pending.Add(-EventSize(e))
	}
}

// Err returns why the subscription ended: nil while it runs or after Close,
// ErrSlowSubscriber if it was dropped, ErrClosed if the store closed.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription; C is closed.
func (s *Subscription) Close() {
	s.ks.unsubscribe(s)
	s.end(nil)
}

func (s *Subscription) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.ended, s.err = true, err
		close(s.c)
	}
}

// Subscribe returns a subscription to the keyspace's events with room for
// buffer undelivered events (at least 1). Recording the contents of events
// costs nothing while a keyspace has no subscription.
func (k *Keyspace) Subscribe(buffer int) *Subscription {
	return k.SubscribeLimits(buffer, 0)
}

// SubscribeLimits is Subscribe with a bound in bytes as well: the
// subscription is also dropped when the events handed to C and not yet
// released with Done would pass maxBytes (0: no byte bound). An event
// larger than maxBytes on its own is still delivered to an empty
// subscription.
func (k *Keyspace) SubscribeLimits(buffer int, maxBytes int64) *Subscription {
	if s := k.SubscribeResident(buffer, maxBytes); s != nil {
		return s
	}
	if live, err := k.live(); err == nil {
		return live.SubscribeLimits(buffer, maxBytes)
	}
	k.inMu.Lock()
	defer k.inMu.Unlock()
	return k.subscribeLocked(buffer, maxBytes)
}

// SubscribeResident is SubscribeLimits on this instance only: nil if it
// was evicted (Store.sweep). It never calls into the store, so it may be
// called under Options.OnKeyspace's lock or with locks that hook takes.
func (k *Keyspace) SubscribeResident(buffer int, maxBytes int64) *Subscription {
	k.inMu.Lock() // the keyspace is not evicted while a subscription registers
	defer k.inMu.Unlock()
	if k.evicted {
		return nil
	}
	return k.subscribeLocked(buffer, maxBytes)
}

func (k *Keyspace) subscribeLocked(buffer int, maxBytes int64) *Subscription {
	c := make(chan Event, max(buffer, 1))
	s := &Subscription{C: c, c: c, ks: k, maxBytes: maxBytes}
	k.subsMu.Lock()
	k.subs = append(k.subs, s)
	k.nsubs.Store(int32(len(k.subs)))
	k.subsMu.Unlock()
	return s
}

func (k *Keyspace) unsubscribe(s *Subscription) {
	k.subsMu.Lock()
	defer k.subsMu.Unlock()
	for i, x := range k.subs {
		if x == s {
			k.subs = append(k.subs[:i], k.subs[i+1:]...)
			break
		}
	}
	k.nsubs.Store(int32(len(k.subs)))
}

// listening reports whether anyone subscribes; the mutex records event
// contents only when it does.
func (k *Keyspace) listening() bool { return k.nsubs.Load() > 0 }

// emit hands e to every subscription without blocking, dropping those whose
// buffer is full.
func (k *Keyspace) emit(e Event) {
	if !k.listening() {
		return
	}
	e.Keyspace = k.name
	size := int64(-1)
	k.subsMu.Lock()
	var dropped []*Subscription
	for _, s := range k.subs {
		if s.maxBytes > 0 {
			if size < 0 {
				size = EventSize(&e)
			}
			if p := s.pending.Add(size); p > s.maxBytes && p != size {
				s.pending.Add(-size)
				dropped = append(dropped, s)
				continue
			}
		}
		select {
		case s.c <- e:
		default:
			if s.maxBytes > 0 {
				s.pending.Add(-size)
			}
			dropped = append(dropped, s)
		}
	}
	k.subsMu.Unlock()
	for _, s := range dropped {
		k.unsubscribe(s)
		s.end(ErrSlowSubscriber)
	}
}

// endSubscriptions closes every subscription when the keyspace stops.
func (k *Keyspace) endSubscriptions() {
	k.subsMu.Lock()
	subs := k.subs
	k.subs = nil
	k.nsubs.Store(0)
	k.subsMu.Unlock()
	for _, s := range subs {
		s.end(ErrClosed)
	}
}
