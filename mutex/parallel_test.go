package mutex

import (
	"errors"
	"fmt"
	"runtime"
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

// needParallel skips a test that needs two reads to run at once: a read
// phase has as many workers as GOMAXPROCS.
func needParallel(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("GOMAXPROCS < 2: a read phase runs on one goroutine")
	}
}

// TestReadsOfAPhaseRunInParallel: the reads of one read phase run at the
// same time, on submitters' goroutines: two reads that each wait for the
// other to start can only both finish if they do.
func TestReadsOfAPhaseRunInParallel(t *testing.T) {
	needParallel(t)
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
	needParallel(t)
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

// TestReadPhaseShares: a read phase with more requests than workers runs
// every request's reads once, in one phase, each against the phase's
// state; requests that go on with a write keep their order in the next
// write phase; the reads event lists every read in queue order.
func TestReadPhaseShares(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "ev") // expectEvent's keyspace
	const n = 9
	for i := range n {
		put(t, k, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
	}
	sub := k.Subscribe(64)
	defer sub.Close()
	bl := blockWrite(t, k, false) // every request queues behind it
	reqs := make([][]Op, n)
	done := make([]<-chan error, n)
	var wantReads []string
	for i := range n {
		key := fmt.Sprintf("k%d", i)
		reqs[i] = []Op{Get(b(key)), Get(b("order"))}
		wantReads = append(wantReads, fmt.Sprintf("get key=%q", key), `get key="order"`)
		if i%3 == 0 { // goes on: appends its number to "order", then reads it
			reqs[i] = append(reqs[i], WriteOp(func(tx *Tx) (any, error) {
				v, _, err := tx.Get(b("order"))
				if err != nil {
					return nil, err
				}
				return nil, tx.Set(b("order"), append(v, byte('0'+i)))
			}), Get(b("order")))
		}
		done[i] = submit(k, reqs[i]...)
		waitInbox(t, k, i+1)
	}
	phases := k.Stats().ReadPhases
	bl.Wait(t)
	for i := range n {
		if err := recv(t, done[i], "a request"); err != nil {
			t.Fatal(err)
		}
		for j, op := range reqs[i] {
			if op.Err != nil {
				t.Fatalf("request %d op %d: %v", i, j, op.Err)
			}
		}
		if got, want := str(reqs[i][0]), fmt.Sprintf("v%d", i); got != want {
			t.Fatalf("request %d read %q, want %q", i, got, want)
		}
		if got := str(reqs[i][1]); got != "<nil>" {
			t.Fatalf("request %d read order %q in the first read phase, want none yet", i, got)
		}
		if i%3 == 0 {
			if got := str(reqs[i][3]); got != "036" {
				t.Fatalf("request %d read order %q after its write, want 036 (the writes in queue order, one batch)", i, got)
			}
		}
	}
	if got := k.Stats().ReadPhases - phases; got != 2 {
		t.Fatalf("%d read phases, want 2 (the first reads, then the reads after the write phase)", got)
	}
	e := nextEvent(t, sub)
	if got := describeAll(e.Ops); e.Kind != EventReads || !slices.Equal(got, wantReads) {
		t.Fatalf("first event %v %q, want reads %q", e.Kind, got, wantReads)
	}
}
