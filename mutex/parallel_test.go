package mutex

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// rendezvous waits, inside an op, for c to close; an op that never sees it
// (its partner did not run at the same time) fails instead of hanging.
func rendezvous(c <-chan struct{}) error {
	select {
	case <-c:
		return nil
	case <-time.After(waitTimeout):
		return errors.New("the other read of the phase never ran alongside")
	}
}

// TestReadsOfAPhaseRunInParallel: the reads of one read phase run at the
// same time, each on its submitter's goroutine: two reads that each wait
// for the other to start can only both finish if they do.
func TestReadsOfAPhaseRunInParallel(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "par")
	put(t, k, "a", "1")
	aIn, bIn := make(chan struct{}), make(chan struct{})
	read := func(mine chan struct{}, other <-chan struct{}) Op {
		return ReadOp(func(r *Reader) (any, error) {
			close(mine)
			if err := rendezvous(other); err != nil {
				return nil, err
			}
			v, _, err := r.Get(b("a"))
			return v, err
		})
	}
	bl := blockWrite(t, k, false) // both reads queue behind it, for one phase
	ra := []Op{read(aIn, bIn)}
	aDone := submit(k, ra...)
	rb := []Op{read(bIn, aIn)}
	bDone := submit(k, rb...)
	waitInbox(t, k, 2)
	phases := k.Stats().ReadPhases
	bl.Wait(t)
	for _, c := range []<-chan error{aDone, bDone} {
		if err := recv(t, c, "a read"); err != nil {
			t.Fatal(err)
		}
	}
	for _, op := range append(ra, rb...) {
		if op.Err != nil || str(op) != "1" {
			t.Fatalf("read: %q, %v; want 1", str(op), op.Err)
		}
	}
	if n := k.Stats().ReadPhases - phases; n != 1 {
		t.Fatalf("the two reads took %d read phases, want 1", n)
	}
}

// TestParallelReadsEventInPhaseOrder: the reads event of a phase lists its
// reads in the order of its queue, whichever reader ran first.
func TestParallelReadsEventInPhaseOrder(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "ev") // expectEvent's keyspace
	sub := k.Subscribe(16)
	defer sub.Close()
	bDone := make(chan struct{})
	first := ReadOp(func(r *Reader) (any, error) {
		if err := rendezvous(bDone); err != nil { // the second reads first
			return nil, err
		}
		_, err := r.Exists(b("first"))
		return nil, err
	})
	second := ReadOp(func(r *Reader) (any, error) {
		_, err := r.Exists(b("second"))
		close(bDone)
		return nil, err
	})
	bl := blockWrite(t, k, true)
	aErr := submit(k, first, Get(b("first-again")))
	waitInbox(t, k, 1)
	bErr := submit(k, second)
	waitInbox(t, k, 2)
	bl.Wait(t)
	for _, c := range []<-chan error{aErr, bErr} {
		if err := recv(t, c, "a read"); err != nil {
			t.Fatal(err)
		}
	}
	expectEvent(t, nextEvent(t, sub), EventWrites, 1, 0, `set key="blocker" value="held"`)
	expectEvent(t, nextEvent(t, sub), EventFlushed, 1, 1)
	e := nextEvent(t, sub)
	if got, want := describeAll(e.Ops), []string{`exists key="first"`, `get key="first-again"`, `exists key="second"`}; e.Kind != EventReads || !slices.Equal(got, want) {
		t.Fatalf("event %v %q, want reads %q", e.Kind, got, want)
	}
}
