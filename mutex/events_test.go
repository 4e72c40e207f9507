package mutex

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// describe renders an Access as a compact string for comparisons.
func describe(a Access) string {
	var sb strings.Builder
	sb.WriteString(a.Op)
	if a.Key != nil {
		fmt.Fprintf(&sb, " key=%q", a.Key)
	}
	if a.Value != nil {
		fmt.Fprintf(&sb, " value=%q", a.Value)
	}
	if a.Range != nil {
		fmt.Fprintf(&sb, " range=%s..%s", boundString(a.Range.Min), boundString(a.Range.Max))
	}
	return sb.String()
}

func describeAll(as []Access) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = describe(a)
	}
	return out
}

// nextEvent receives the next event, failing if none comes or C is closed.
func nextEvent(t *testing.T, sub *Subscription) Event {
	t.Helper()
	select {
	case e, ok := <-sub.C:
		if !ok {
			t.Fatalf("subscription ended: %v", sub.Err())
		}
		return e
	case <-time.After(waitTimeout):
		t.Fatal("timed out waiting for an event")
		panic("unreachable")
	}
}

// drain receives every event until C is closed.
func drain(t *testing.T, sub *Subscription) []Event {
	t.Helper()
	var events []Event
	for {
		select {
		case e, ok := <-sub.C:
			if !ok {
				return events
			}
			events = append(events, e)
		case <-time.After(waitTimeout):
			t.Fatalf("subscription not closed after %d events", len(events))
		}
	}
}

func expectEvent(t *testing.T, e Event, kind EventKind, seq uint64, count int, ops ...string) {
	t.Helper()
	if e.Kind != kind || e.Seq != seq || e.Count != count || e.Err != nil || e.Keyspace != "ev" {
		t.Fatalf("event %v seq %d count %d err %v keyspace %q; want %v seq %d count %d in keyspace ev",
			e.Kind, e.Seq, e.Count, e.Err, e.Keyspace, kind, seq, count)
	}
	if got := describeAll(e.Ops); !slices.Equal(got, ops) && (len(got) > 0 || len(ops) > 0) {
		t.Fatalf("%v event %d ops:\n got %q\nwant %q", kind, seq, got, ops)
	}
}

// TestEventContents: reads events carry increasing phase numbers and the
// phase's reads in order (with their ranges); writes events carry the batch
// number and its mutations in order (set, del, flushdb; conditions already
// evaluated); flushed events follow with the same number and the mutation
// count. Phases without mutations emit nothing.
func TestEventContents(t *testing.T) {
	s, _ := newStore(t, Options{})
	k := keyspace(t, s, "ev")
	put(t, k, "pre", "x") // batch 1, before anyone listens
	sub := k.Subscribe(256)
	defer sub.Close()

	do(t, k, Put(b("a"), b("1")), Put(b("b"), b("2")), Delete(b("missing")), setIfEq("a", "nope", "x"), Put(b("a"), b("3")))
	expectEvent(t, nextEvent(t, sub), EventWrites, 2, 0, `set key="a" value="1"`, `set key="b" value="2"`, `set key="a" value="3"`)
	expectEvent(t, nextEvent(t, sub), EventFlushed, 2, 3)

	rng := Range{Min: incl("a"), Max: excl("k")}
	do(t, k, Get(b("a")), peekLast(rng), peekFirst(Range{Min: excl("a"), Max: unbounded}), countOp(),
		ReadOp(func(r *Reader) (any, error) { return r.Exists(b("b")) }))
	e := nextEvent(t, sub)
	phase := e.Seq
	if phase == 0 {
		t.Fatal("reads event with phase number 0")
	}
	expectEvent(t, e, EventReads, phase, 0,
		`get key="a"`, `peeklast range=["a"..("k"`, `peekfirst range=("a"..±`, `count`, `exists key="b"`)
	do(t, k, Get(b("b")))
	expectEvent(t, nextEvent(t, sub), EventReads, phase+1, 0, `get key="b"`)

	do(t, k, Delete(b("a")), Delete(b("missing")), WriteOp(func(tx *Tx) (any, error) { return nil, tx.Clear() }), Put(b("c"), b("\xff")))
	expectEvent(t, nextEvent(t, sub), EventWrites, 3, 0, `del key="a"`, `flushdb`, `set key="c" value="\xff"`)
	expectEvent(t, nextEvent(t, sub), EventFlushed, 3, 3)

	// A write phase that changes nothing commits nothing and emits nothing;
	// neither does an AfterWrite.
	do(t, k, Delete(b("missing")), AfterWrite())
	do(t, k, Put(b("z"), b("26")), Get(b("z")))
	expectEvent(t, nextEvent(t, sub), EventWrites, 4, 0, `set key="z" value="26"`)
	expectEvent(t, nextEvent(t, sub), EventFlushed, 4, 1)
	expectEvent(t, nextEvent(t, sub), EventReads, phase+2, 0, `get key="z"`)
	select {
	case e := <-sub.C:
		t.Fatalf("unexpected event %v %d %q", e.Kind, e.Seq, describeAll(e.Ops))
	default:
	}
}

// TestEventsOwnTheirSlices: an event's keys, values and range bounds are
// its own: the submitter may reuse its buffers once Do has returned.
func TestEventsOwnTheirSlices(t *testing.T) {
	s, _ := newStore(t, Options{})
	k := keyspace(t, s, "ev")
	sub := k.Subscribe(16)
	defer sub.Close()
	key, val, lo, hi := b("key"), b("val"), b("a"), b("k")
	do(t, k, Put(key, val))
	do(t, k, Get(key), peekFirst(Range{Min: Bound{Kind: Inclusive, Key: lo}, Max: Bound{Kind: Exclusive, Key: hi}}))
	// The submitter reuses its buffers.
	for _, buf := range [][]byte{key, val, lo, hi} {
		for i := range buf {
			buf[i] = '#'
		}
	}
	expectEvent(t, nextEvent(t, sub), EventWrites, 1, 0, `set key="key" value="val"`)
	expectEvent(t, nextEvent(t, sub), EventFlushed, 1, 1)
	e := nextEvent(t, sub)
	expectEvent(t, e, EventReads, e.Seq, 0, `get key="key"`, `peekfirst range=["a"..("k"`)
}

// TestEventsUnderLoad: under concurrent load a subscriber with room
// receives every event in order (writes n, flushed n for consecutive n;
// reads with consecutive phase numbers, each read after the batch that
// wrote its key), while a stalled subscriber with a buffer of 1 is dropped
// (C closed after its one buffered event, Err ErrSlowSubscriber) without
// slowing anyone down.
func TestEventsUnderLoad(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "load")
	put(t, k, "seed", "x")
	base := k.LastBatch()
	big := k.Subscribe(1 << 16)
	slow := k.Subscribe(1) // never read until the end

	const submitters, rounds = 16, 40
	var wg sync.WaitGroup
	for g := range submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				key := b(fmt.Sprintf("%d-%d", g, i))
				ops := []Op{Put(key, key), Get(key)}
				if err := doErr(k, ops...); err != nil {
					t.Error(err)
					return
				}
				if str(ops[1]) != string(key) {
					t.Errorf("get %s = %q", key, str(ops[1]))
					return
				}
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	recv(t, finished, "the submitters (a stalled subscriber must not block them)")
	last := k.LastBatch()

	if got := drain(t, slow); len(got) != 1 {
		t.Fatalf("stalled subscriber with a buffer of 1 received %d events before being dropped, want 1", len(got))
	}
	if !errors.Is(slow.Err(), ErrSlowSubscriber) {
		t.Fatalf("stalled subscriber Err = %v, want ErrSlowSubscriber", slow.Err())
	}

	big.Close()
	events := drain(t, big)
	if big.Err() != nil {
		t.Fatalf("big subscriber Err = %v after its own Close, want nil", big.Err())
	}
	written := map[string]bool{}
	nextBatch := base + 1
	var lastPhase uint64
	mutations, reads := 0, 0
	for i := 0; i < len(events); i++ {
		e := events[i]
		if e.Keyspace != "load" {
			t.Fatalf("event %d has keyspace %q", i, e.Keyspace)
		}
		switch e.Kind {
		case EventWrites:
			if e.Seq != nextBatch {
				t.Fatalf("event %d: writes of batch %d, want batch %d", i, e.Seq, nextBatch)
			}
			if i+1 >= len(events) || events[i+1].Kind != EventFlushed || events[i+1].Seq != e.Seq {
				t.Fatalf("event %d: writes of batch %d is not followed by its flushed event", i, e.Seq)
			}
			f := events[i+1]
			if f.Err != nil || f.Count != len(e.Ops) {
				t.Fatalf("flushed %d: count %d err %v, want count %d", f.Seq, f.Count, f.Err, len(e.Ops))
			}
			for _, a := range e.Ops {
				if a.Op != "set" || string(a.Key) != string(a.Value) {
					t.Fatalf("batch %d: unexpected mutation %s", e.Seq, describe(a))
				}
				written[string(a.Key)] = true
			}
			mutations += len(e.Ops)
			nextBatch++
			i++
		case EventReads:
			if lastPhase != 0 && e.Seq != lastPhase+1 {
				t.Fatalf("event %d: read phase %d after phase %d", i, e.Seq, lastPhase)
			}
			lastPhase = e.Seq
			for _, a := range e.Ops {
				if a.Op != "get" || !written[string(a.Key)] {
					t.Fatalf("read phase %d: %s before the batch that wrote it was flushed", e.Seq, describe(a))
				}
			}
			reads += len(e.Ops)
		default:
			t.Fatalf("event %d: unexpected %v event (seq %d)", i, e.Kind, e.Seq)
		}
	}
	if nextBatch != last+1 {
		t.Fatalf("events cover batches %d..%d, want %d..%d", base+1, nextBatch-1, base+1, last)
	}
	if mutations != submitters*rounds || reads != submitters*rounds {
		t.Fatalf("events hold %d mutations and %d reads, want %d each", mutations, reads, submitters*rounds)
	}
}

// TestSubscriptionLifecycle: Close ends a subscription (C closed, Err nil)
// and the mutex stops recording once nobody listens; subscriptions closed
// while events flow never break the mutex; a buffer below 1 counts as 1.
func TestSubscriptionLifecycle(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "life")

	zero := k.Subscribe(0)
	put(t, k, "a", "1") // writes + flushed: the second does not fit
	if got := drain(t, zero); len(got) != 1 || got[0].Kind != EventWrites {
		t.Fatalf("Subscribe(0) received %d events, want just the writes event (buffer of 1)", len(got))
	}
	if !errors.Is(zero.Err(), ErrSlowSubscriber) {
		t.Fatalf("Subscribe(0) Err = %v, want ErrSlowSubscriber", zero.Err())
	}

	sub := k.Subscribe(8)
	sub.Close()
	if got := drain(t, sub); len(got) != 0 {
		t.Fatalf("closed subscription received %d events", len(got))
	}
	if sub.Err() != nil {
		t.Fatalf("Err after Close = %v, want nil", sub.Err())
	}
	if k.listening() {
		t.Fatal("keyspace still records events with no subscription left")
	}

	// Subscribe and close concurrently with a stream of phases.
	stop := make(chan struct{})
	writerDone := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				writerDone <- nil
				return
			default:
			}
			if err := doErr(k, Put(b("k"), b(fmt.Sprint(i))), Get(b("k"))); err != nil {
				writerDone <- err
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				sub := k.Subscribe(4)
				select {
				case <-sub.C:
				case <-time.After(waitTimeout):
					t.Error("no event while writes flow")
				}
				sub.Close()
				for range sub.C {
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := recv(t, writerDone, "the writer"); err != nil {
		t.Fatal(err)
	}
	if k.listening() {
		t.Fatal("keyspace still records events after every subscription closed")
	}
}
