package mutex

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recordingTracker is a WriteTracker that keeps what it was told.
type recordingTracker struct {
	active atomic.Bool
	mu     sync.Mutex
	calls  []string // "origin: keys" or "origin: all"
}

type originKey struct{}

func (r *recordingTracker) Active() bool { return r.active.Load() }

func (r *recordingTracker) Written(ctx context.Context, keys [][]byte, all bool) {
	origin := "-"
	if ctx != nil {
		if o, ok := ctx.Value(originKey{}).(string); ok {
			origin = o
		}
	}
	var parts []string
	for _, k := range keys {
		parts = append(parts, string(k))
	}
	if all {
		parts = append(parts, "ALL")
	}
	r.mu.Lock()
	r.calls = append(r.calls, origin+": "+strings.Join(parts, " "))
	r.mu.Unlock()
}

func (r *recordingTracker) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

// TestWriteTracker: while the tracker is active, every write op reports
// the keys it wrote, once each, with the ctx it was submitted with;
// expiry and Clear report too; while inactive nothing is reported.
func TestWriteTracker(t *testing.T) {
	tr := &recordingTracker{}
	s, _ := newStore(t, Options{NoSync: true, Tracker: tr})
	k := keyspace(t, s, "0")
	ctx := context.WithValue(context.Background(), originKey{}, "c1")
	run := func(ops ...Op) {
		t.Helper()
		if err := k.Do(ctx, ops); err != nil {
			t.Fatal(err)
		}
		for _, op := range ops {
			if op.Err != nil {
				t.Fatal(op.Err)
			}
		}
	}
	run(Put(b("quiet"), b("v")))
	if got := tr.take(); got != nil {
		t.Fatalf("inactive tracker told %q", got)
	}
	tr.active.Store(true)
	run(Put(b("a"), b("1")), WriteOp(func(tx *Tx) (any, error) {
		for _, key := range []string{"x", "y", "x", "y"} {
			if err := tx.Set(b(key), b("v")); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}), Delete(b("nokey")), Delete(b("a")), Get(b("x")))
	run(WriteOp(func(tx *Tx) (any, error) {
		return nil, tx.SetString(b("soon"), b("v"), time.Now().Add(-time.Second).UnixMilli())
	}))
	// The expirer then deletes "soon": reported with its own ctx, no origin.
	want := []string{"c1: a", "c1: x y", "c1: a", "c1: soon", "-: soon"}
	var got []string
	for deadline := time.Now().Add(waitTimeout); len(got) < len(want); {
		got = append(got, tr.take()...)
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("reported %q, want %q", got, want)
	}
	run(WriteOp(func(tx *Tx) (any, error) { return nil, tx.Clear() }))
	if got := tr.take(); fmt.Sprint(got) != "[c1: ALL]" {
		t.Fatalf("Clear reported %q", got)
	}
}
