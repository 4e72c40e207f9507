package mutex

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// ---------------------------------------------------------------------------
// Helpers shared by every test file of the package.

// waitTimeout bounds every wait on a condition. It is a deadline for
// something that must happen, not a performance threshold: a correct
// implementation meets every condition in milliseconds.
const waitTimeout = 30 * time.Second

// openStore opens a store in dir and closes it when the test ends.
func openStore(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	t.Cleanup(func() { closeBounded(t, s) })
	return s
}

// closeBounded closes s, reporting instead of hanging if Close never returns
// (say, a keyspace stuck by a bug): the test then fails rather than blocking
// the whole run.
func closeBounded(t testing.TB, s *Store) {
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Errorf("Store.Close did not return within %v", waitTimeout)
	}
}

// newStore opens a store in a fresh directory.
func newStore(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	return openStore(t, dir, opts), dir
}

func keyspace(t testing.TB, s *Store, name string) *Keyspace {
	t.Helper()
	k, err := s.Keyspace(name)
	if err != nil {
		t.Fatalf("Keyspace(%q): %v", name, err)
	}
	return k
}

// do runs ops as one sequence and fails the test if Do or any op fails.
func do(t testing.TB, k *Keyspace, ops ...Op) []Op {
	t.Helper()
	if err := k.Do(context.Background(), ops); err != nil {
		t.Fatalf("Do: %v", err)
	}
	for i, op := range ops {
		if op.Err != nil {
			t.Fatalf("op %d of %d: %v", i, len(ops), op.Err)
		}
	}
	return ops
}

// doErr runs ops and returns the first error (of Do or of an op); safe to
// call from any goroutine.
func doErr(k *Keyspace, ops ...Op) error {
	if err := k.Do(context.Background(), ops); err != nil {
		return err
	}
	for i, op := range ops {
		if op.Err != nil {
			return fmt.Errorf("op %d: %w", i, op.Err)
		}
	}
	return nil
}

func b(s string) []byte { return []byte(s) }

// str renders a Get result: "<nil>" for a missing key.
func str(op Op) string {
	if op.Result == nil {
		return "<nil>"
	}
	v, ok := op.Result.([]byte)
	if !ok {
		return fmt.Sprintf("<%T %v>", op.Result, op.Result)
	}
	return string(v)
}

func get(t testing.TB, k *Keyspace, key string) string {
	t.Helper()
	return str(do(t, k, Get(b(key)))[0])
}

func put(t testing.TB, k *Keyspace, kv ...string) {
	t.Helper()
	var ops []Op
	for i := 0; i+1 < len(kv); i += 2 {
		ops = append(ops, Put(b(kv[i]), b(kv[i+1])))
	}
	do(t, k, ops...)
}

func afterWrite(t testing.TB, k *Keyspace) uint64 {
	t.Helper()
	return do(t, k, AfterWrite())[0].Result.(uint64)
}

// waitUntil polls cond until it holds, failing the test at waitTimeout.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(200 * time.Microsecond) // polling interval, not synchronisation
	}
}

// recv waits for a value on c, failing the test at waitTimeout.
func recv[T any](t testing.TB, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// inboxLen is the number of requests submitted and not yet taken in by the
// keyspace's state machine.
func inboxLen(k *Keyspace) int {
	k.inMu.Lock()
	defer k.inMu.Unlock()
	return len(k.inbox)
}

func waitInbox(t testing.TB, k *Keyspace, n int) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("%d requests are queued in keyspace %q", n, k.name), func() bool { return inboxLen(k) == n })
}

// blocker holds a keyspace in a phase until released: while it holds, every
// other submission queues up in the inbox, so a test controls exactly which
// ops share the next phases.
type blocker struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	done    chan error
	ops     []Op
}

func (bl *blocker) Release() { bl.once.Do(func() { close(bl.release) }) }

// Wait releases the blocker and waits for its Do to return.
func (bl *blocker) Wait(t testing.TB) []Op {
	t.Helper()
	bl.Release()
	if err := recv(t, bl.done, "the blocker's Do"); err != nil {
		t.Fatalf("blocker Do: %v", err)
	}
	return bl.ops
}

// blockWrite starts a Do whose WriteOp waits inside the write phase until
// released; mutate makes it set the key "blocker" before returning. before
// ops run ahead of it in the same sequence (and the same batch).
func blockWrite(t testing.TB, k *Keyspace, mutate bool, before ...Op) *blocker {
	t.Helper()
	bl := &blocker{entered: make(chan struct{}), release: make(chan struct{}), done: make(chan error, 1)}
	bl.ops = append(before, WriteOp(func(tx *Tx) (any, error) {
		close(bl.entered)
		<-bl.release
		if mutate {
			return nil, tx.Set(b("blocker"), b("held"))
		}
		return nil, nil
	}))
	return bl.start(t, k)
}

// blockRead starts a Do whose ReadOp waits inside a read phase until released.
func blockRead(t testing.TB, k *Keyspace) *blocker {
	t.Helper()
	bl := &blocker{entered: make(chan struct{}), release: make(chan struct{}), done: make(chan error, 1)}
	bl.ops = []Op{ReadOp(func(r *Reader) (any, error) {
		close(bl.entered)
		<-bl.release
		return nil, nil
	})}
	return bl.start(t, k)
}

func (bl *blocker) start(t testing.TB, k *Keyspace) *blocker {
	t.Helper()
	t.Cleanup(bl.Release) // never leave the keyspace stuck (Close would hang)
	go func() { bl.done <- k.Do(context.Background(), bl.ops) }()
	recv(t, bl.entered, "the blocking op to start")
	return bl
}

// submit runs ops in a new goroutine; the returned channel yields Do's error.
func submit(k *Keyspace, ops ...Op) <-chan error {
	c := make(chan error, 1)
	go func() { c <- k.Do(context.Background(), ops) }()
	return c
}

// incr is a read-modify-write op: it increments the decimal counter at key
// and returns the new value (int).
func incr(key string) Op {
	return WriteOp(func(tx *Tx) (any, error) {
		v, ok, err := tx.Get(b(key))
		if err != nil {
			return nil, err
		}
		n := 0
		if ok {
			if n, err = strconv.Atoi(string(v)); err != nil {
				return nil, err
			}
		}
		n++
		return n, tx.Set(b(key), b(strconv.Itoa(n)))
	})
}

// setIfEq sets key to value if its current value is want; Result is whether
// it did. It is the "update only if you hold the latest revision" op.
func setIfEq(key, want, value string) Op {
	return WriteOp(func(tx *Tx) (any, error) {
		v, ok, err := tx.Get(b(key))
		if err != nil || !ok || string(v) != want {
			return false, err
		}
		return true, tx.Set(b(key), b(value))
	})
}

func peekFirst(rng Range) Op {
	return ReadOp(func(r *Reader) (any, error) {
		kv, ok, err := r.PeekFirst(rng)
		if !ok || err != nil {
			return nil, err
		}
		return kv, nil
	})
}

func peekLast(rng Range) Op {
	return ReadOp(func(r *Reader) (any, error) {
		kv, ok, err := r.PeekLast(rng)
		if !ok || err != nil {
			return nil, err
		}
		return kv, nil
	})
}

func countOp() Op {
	return ReadOp(func(r *Reader) (any, error) { return r.Count() })
}

var (
	unbounded  = Bound{Kind: Unbounded}
	wholeRange = Range{Min: unbounded, Max: unbounded}
)

func incl(k string) Bound { return Bound{Kind: Inclusive, Key: b(k)} }
func excl(k string) Bound { return Bound{Kind: Exclusive, Key: b(k)} }

// boundString renders a bound in ZRANGEBYLEX style ("±" for unbounded).
func boundString(bd Bound) string {
	switch bd.Kind {
	case Unbounded:
		return "±"
	case Inclusive:
		return fmt.Sprintf("[%q", bd.Key)
	case Exclusive:
		return fmt.Sprintf("(%q", bd.Key)
	default:
		return fmt.Sprintf("kind%d", bd.Kind)
	}
}

// ---------------------------------------------------------------------------
// The seed's scenario and range peeks.

// TestSeedScenario: reads queued before writes see the old state, reads
// queued after a write was acknowledged see it, a read never sees a batch
// that is still being built, within one sequence and across submitters.
func TestSeedScenario(t *testing.T) {
	s, _ := newStore(t, Options{})
	k := keyspace(t, s, "seed")

	// One submitter: gets before the puts see nothing, gets after see them.
	ops := do(t, k, Get(b("a")), Get(b("b")), Put(b("a"), b("1")), Put(b("b"), b("2")), Get(b("a")), Get(b("b")))
	got := []string{str(ops[0]), str(ops[1]), str(ops[4]), str(ops[5])}
	if want := []string{"<nil>", "<nil>", "1", "2"}; !slices.Equal(got, want) {
		t.Fatalf("one sequence: gets = %q, want %q", got, want)
	}

	// Several submitters. Hold the mutex in a write phase, queue gets, then
	// puts: the gets were queued before the puts and run in the read phase
	// that follows the held write phase, so they see the old values.
	bl := blockWrite(t, k, false)
	early := []Op{Get(b("a")), Get(b("b"))}
	earlyDone := submit(k, early...)
	waitInbox(t, k, 1)
	// The puts' own write phase is held open too, with the puts already in
	// its batch, to show that what arrives meanwhile waits for the commit.
	putsHeld := make(chan struct{})
	putsRelease := make(chan struct{})
	puts := []Op{Put(b("a"), b("10")), Put(b("b"), b("20")), WriteOp(func(tx *Tx) (any, error) {
		close(putsHeld)
		<-putsRelease
		return nil, nil
	})}
	putsDone := submit(k, puts...)
	waitInbox(t, k, 2)
	bl.Wait(t)
	if err := recv(t, earlyDone, "the early gets"); err != nil {
		t.Fatal(err)
	}
	if got := []string{str(early[0]), str(early[1])}; !slices.Equal(got, []string{"1", "2"}) {
		t.Fatalf("gets queued before the puts = %q, want the old values [1 2]", got)
	}
	recv(t, putsHeld, "the puts' write phase")
	during := []Op{Get(b("a")), Get(b("b"))}
	duringDone := submit(k, during...)
	waitInbox(t, k, 1)
	close(putsRelease)
	if err := recv(t, putsDone, "the puts"); err != nil {
		t.Fatal(err)
	}
	for i, op := range puts {
		if op.Err != nil {
			t.Fatalf("put %d: %v", i, op.Err)
		}
	}
	if err := recv(t, duringDone, "the gets queued during the write phase"); err != nil {
		t.Fatal(err)
	}
	if got := []string{str(during[0]), str(during[1])}; !slices.Equal(got, []string{"10", "20"}) {
		t.Fatalf("gets queued during the puts' write phase = %q, want [10 20] (they wait for the next read phase)", got)
	}
	// After the puts were acknowledged, every new get sees them.
	if got := []string{get(t, k, "a"), get(t, k, "b")}; !slices.Equal(got, []string{"10", "20"}) {
		t.Fatalf("gets after the puts = %q, want [10 20]", got)
	}
}

// TestRevisionCheckNoLostUpdates is the seed's couchup use: many clients
// update one document only if they hold its latest revision. Every update
// is a read-modify-write op, so none is lost and no revision is granted
// twice.
func TestRevisionCheckNoLostUpdates(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "docs")
	put(t, k, "doc", "0")
	const clients, updates = 16, 25
	var wg sync.WaitGroup
	granted := make([][]int, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for len(granted[c]) < updates {
				g := []Op{Get(b("doc"))}
				if err := doErr(k, g...); err != nil {
					t.Error(err)
					return
				}
				rev, _ := strconv.Atoi(str(g[0]))
				w := []Op{setIfEq("doc", strconv.Itoa(rev), strconv.Itoa(rev+1))}
				if err := doErr(k, w...); err != nil {
					t.Error(err)
					return
				}
				if w[0].Result.(bool) {
					granted[c] = append(granted[c], rev+1)
				}
			}
		}()
	}
	wg.Wait()
	var revs []int
	for _, g := range granted {
		revs = append(revs, g...)
	}
	slices.Sort(revs)
	for i, r := range revs {
		if r != i+1 {
			t.Fatalf("granted revisions %v: revision %d granted twice or skipped", revs, i+1)
		}
	}
	if got, want := get(t, k, "doc"), strconv.Itoa(clients*updates); got != want {
		t.Fatalf("final revision %s, want %s", got, want)
	}
}

// peekKeys are stored in the keyspace under test; they include the empty
// key and keys made of 0x00 and 0xff bytes.
var peekKeys = []string{"", "\x00", "\x00\x00", "a", "a\x00", "a\xff", "ab", "b", "\xff", "\xff\x00", "\xff\xff", "\xff\xff\xff"}

// peekProbes are the keys range bounds are made of.
var peekProbes = []string{"", "\x00", "\x00\x00\x00", "a", "a\x00", "aa", "ab", "abc", "b", "c", "\xff", "\xff\x00", "\xff\xff", "\xff\xff\xff", "\xff\xff\xff\xff"}

func inRange(key string, rng Range) bool {
	switch rng.Min.Kind {
	case Inclusive:
		if key < string(rng.Min.Key) {
			return false
		}
	case Exclusive:
		if key <= string(rng.Min.Key) {
			return false
		}
	}
	switch rng.Max.Kind {
	case Inclusive:
		if key > string(rng.Max.Key) {
			return false
		}
	case Exclusive:
		if key >= string(rng.Max.Key) {
			return false
		}
	}
	return true
}

// TestPeek checks PeekFirst and PeekLast against a model over every
// combination of bounds: unbounded, inclusive and exclusive ends, empty
// ranges, min > max, keys with 0x00 and 0xff bytes, and neighbouring
// keyspaces whose keys must never show up.
func TestPeek(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "p")
	empty := keyspace(t, s, "empty")
	// Neighbours: names that sort right next to "p", or whose encoded
	// prefix could be confused with it.
	for _, name := range []string{"", "o", "q", "p\x00", "p\xff", "pp", "\xff", "\x00"} {
		n := keyspace(t, s, name)
		put(t, n, "", "neighbour", "\x00", "neighbour", "m", "neighbour", "\xff\xff\xff\xff", "neighbour")
	}
	var ops []Op
	for _, key := range peekKeys {
		ops = append(ops, Put(b(key), b("v:"+key)))
	}
	do(t, k, ops...)
	sorted := slices.Clone(peekKeys)
	slices.Sort(sorted)

	bounds := []Bound{unbounded}
	for _, p := range peekProbes {
		bounds = append(bounds, incl(p), excl(p))
	}
	type query struct {
		rng  Range
		last bool
	}
	var queries []query
	ops = ops[:0]
	var emptyOps []Op
	for _, lo := range bounds {
		for _, hi := range bounds {
			rng := Range{Min: lo, Max: hi}
			queries = append(queries, query{rng, false}, query{rng, true})
			ops = append(ops, peekFirst(rng), peekLast(rng))
			emptyOps = append(emptyOps, peekFirst(rng), peekLast(rng))
		}
	}
	do(t, k, ops...) // one sequence: one read phase
	do(t, empty, emptyOps...)
	for i, q := range queries {
		var want []string
		for _, key := range sorted {
			if inRange(key, q.rng) {
				want = append(want, key)
			}
		}
		name := "PeekFirst"
		if q.last {
			name = "PeekLast"
		}
		label := fmt.Sprintf("%s(%s, %s)", name, boundString(q.rng.Min), boundString(q.rng.Max))
		res := ops[i].Result
		if len(want) == 0 {
			if res != nil {
				t.Errorf("%s = %q, want empty", label, res)
			}
		} else {
			wantKey := want[0]
			if q.last {
				wantKey = want[len(want)-1]
			}
			kv, ok := res.(KV)
			if !ok || string(kv.Key) != wantKey || string(kv.Value) != "v:"+wantKey {
				t.Errorf("%s = %q, want {%q %q}", label, res, wantKey, "v:"+wantKey)
			}
		}
		if emptyOps[i].Result != nil {
			t.Errorf("%s on an empty keyspace = %q, want empty", label, emptyOps[i].Result)
		}
	}

	// The cases spelled out, as a reader of this test would look for them.
	named := []struct {
		name string
		op   Op
		want string // "key=value" or "" for empty
	}{
		{"PeekLast with an inclusive end bound", peekLast(Range{unbounded, incl("ab")}), "ab=v:ab"},
		{"PeekLast with an exclusive end bound", peekLast(Range{unbounded, excl("ab")}), "a\x00=v:a\x00"},
		{"PeekFirst with an inclusive start bound", peekFirst(Range{incl("a"), unbounded}), "a=v:a"},
		{"PeekFirst with an exclusive start bound", peekFirst(Range{excl("a"), unbounded}), "a\x00=v:a\x00"},
		{"PeekFirst of the whole keyspace is the empty key", peekFirst(wholeRange), "=v:"},
		{"PeekLast of the whole keyspace", peekLast(wholeRange), "\xff\xff\xff=v:\xff\xff\xff"},
		{"range between two adjacent keys is empty", peekFirst(Range{excl("a\xff"), excl("b")}), ""},
		{"min > max is empty", peekLast(Range{incl("b"), incl("a")}), ""},
		{"[x (x is empty", peekFirst(Range{incl("b"), excl("b")}), ""},
		{"[x [x is the key", peekLast(Range{incl("b"), incl("b")}), "b=v:b"},
		{"(x [x is empty", peekLast(Range{excl("b"), incl("b")}), ""},
		{"keys with 0xff after a 0xff bound", peekFirst(Range{excl("\xff"), unbounded}), "\xff\x00=v:\xff\x00"},
		{"+ as the minimum is empty", peekFirst(Range{Bound{Kind: Empty}, unbounded}), ""},
		{"- as the maximum is empty", peekLast(Range{unbounded, Bound{Kind: Empty}}), ""},
	}
	ops = ops[:0]
	for _, c := range named {
		ops = append(ops, c.op)
	}
	do(t, k, ops...)
	for i, c := range named {
		got := ""
		if kv, ok := ops[i].Result.(KV); ok {
			got = string(kv.Key) + "=" + string(kv.Value)
		} else if ops[i].Result != nil {
			got = fmt.Sprintf("%T", ops[i].Result)
		}
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	if n := do(t, k, countOp())[0].Result.(int64); n != int64(len(peekKeys)) {
		t.Errorf("Count = %d, want %d", n, len(peekKeys))
	}
}

// ---------------------------------------------------------------------------
// Order, atomicity and batching.

// TestManySubmittersOrder: 64 goroutines submit sequences mixing writes,
// reads and read-modify-writes. Each sees its own writes in order, every
// counter increment is granted exactly once, and each submitter's
// increments are increasing (its ops ran in the order it sent them).
func TestManySubmittersOrder(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "order")
	const submitters, rounds = 64, 12
	var wg sync.WaitGroup
	results := make([][]int, submitters)
	for g := range submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := b(fmt.Sprintf("own-%d", g))
			for i := range rounds {
				v1, v2 := fmt.Sprintf("%d-%d-a", g, i), fmt.Sprintf("%d-%d-b", g, i)
				ops := []Op{
					Put(key, b(v1)), Get(key), incr("ctr"), Get(key),
					Put(key, b(v2)), incr("ctr"), Get(key), Delete(key), Get(key), Put(key, b(v2)),
				}
				if err := doErr(k, ops...); err != nil {
					t.Error(err)
					return
				}
				got := []string{str(ops[1]), str(ops[3]), str(ops[6]), str(ops[8])}
				if want := []string{v1, v1, v2, "<nil>"}; !slices.Equal(got, want) {
					t.Errorf("submitter %d round %d: gets = %q, want %q", g, i, got, want)
					return
				}
				if existed, _ := ops[7].Result.(bool); !existed {
					t.Errorf("submitter %d round %d: Delete of its own key reported it missing", g, i)
					return
				}
				c1, c2 := ops[2].Result.(int), ops[5].Result.(int)
				if c1 >= c2 || (len(results[g]) > 0 && results[g][len(results[g])-1] >= c1) {
					t.Errorf("submitter %d: increments %v then %d, %d are not increasing", g, results[g], c1, c2)
					return
				}
				results[g] = append(results[g], c1, c2)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var granted []int
	for _, r := range results {
		granted = append(granted, r...)
	}
	slices.Sort(granted)
	for i, v := range granted {
		if v != i+1 {
			t.Fatalf("sorted increments %v: position %d holds %d, want %d (an increment was lost or granted twice)", granted, i, v, i+1)
		}
	}
	if got, want := get(t, k, "ctr"), strconv.Itoa(submitters*rounds*2); got != want {
		t.Fatalf("counter = %s, want %s", got, want)
	}
}

// TestNoHalfAppliedBatch: writers always set x and y to the same value in
// one batch (one WriteOp, or two Puts in one Do); concurrent readers, with
// two Gets in one sequence or one ReadOp, never see them differ.
func TestNoHalfAppliedBatch(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "atomic")
	put(t, k, "x", "init", "y", "init")
	const writers, writes = 6, 60
	var writersWG, readersWG sync.WaitGroup
	stop := make(chan struct{})
	var reads atomic.Int64
	for w := range writers {
		writersWG.Add(1)
		go func() {
			defer writersWG.Done()
			for i := range writes {
				v := b(fmt.Sprintf("w%d-%d", w, i))
				var ops []Op
				if i%2 == 0 {
					ops = []Op{WriteOp(func(tx *Tx) (any, error) {
						if err := tx.Set(b("x"), v); err != nil {
							return nil, err
						}
						return nil, tx.Set(b("y"), v)
					})}
				} else {
					ops = []Op{Put(b("x"), v), Put(b("y"), v)}
				}
				if err := doErr(k, ops...); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for r := range 4 {
		readersWG.Add(1)
		go func() {
			defer readersWG.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var x, y string
				if r%2 == 0 {
					ops := []Op{Get(b("x")), Get(b("y"))}
					if err := doErr(k, ops...); err != nil {
						t.Error(err)
						return
					}
					x, y = str(ops[0]), str(ops[1])
				} else {
					op := ReadOp(func(r *Reader) (any, error) {
						x, _, err := r.Get(b("x"))
						if err != nil {
							return nil, err
						}
						y, _, err := r.Get(b("y"))
						return [2]string{string(x), string(y)}, err
					})
					ops := []Op{op}
					if err := doErr(k, ops...); err != nil {
						t.Error(err)
						return
					}
					xy := ops[0].Result.([2]string)
					x, y = xy[0], xy[1]
				}
				if x != y {
					t.Errorf("a read saw half a batch: x=%q y=%q", x, y)
					return
				}
				reads.Add(1)
			}
		}()
	}
	writersWG.Wait()
	close(stop)
	readersWG.Wait()
	if reads.Load() == 0 {
		t.Fatal("no read completed")
	}
	if x, y := get(t, k, "x"), get(t, k, "y"); x != y {
		t.Fatalf("final x=%q y=%q", x, y)
	}
}

// TestReadYourWrites: within one sequence a read sees the writes before it,
// and Delete reports whether the key existed.
func TestReadYourWrites(t *testing.T) {
	s, _ := newStore(t, Options{})
	k := keyspace(t, s, "ryw")
	ops := do(t, k,
		Put(b("k"), b("v1")), Get(b("k")),
		Put(b("k"), b("v2")), Get(b("k")),
		Delete(b("k")), Get(b("k")),
		Delete(b("k")),
		Put(b("k"), b("")), Get(b("k")),
	)
	if got := []string{str(ops[1]), str(ops[3]), str(ops[5])}; !slices.Equal(got, []string{"v1", "v2", "<nil>"}) {
		t.Fatalf("gets after own writes = %q, want [v1 v2 <nil>]", got)
	}
	if ops[4].Result != true || ops[6].Result != false {
		t.Fatalf("Delete results = %v, %v; want true (existed), false (missing)", ops[4].Result, ops[6].Result)
	}
	if v, ok := ops[8].Result.([]byte); !ok || len(v) != 0 {
		t.Fatalf("Get of a key set to the empty value = %#v, want an empty []byte (not nil: the key exists)", ops[8].Result)
	}
	// A write followed by a read-modify-write in the same batch.
	ops = do(t, k, Put(b("n"), b("41")), incr("n"), Get(b("n")))
	if ops[1].Result != 42 || str(ops[2]) != "42" {
		t.Fatalf("incr after put in one sequence = %v, get %s; want 42", ops[1].Result, str(ops[2]))
	}
}

// TestOneBatchPerSequence: N consecutive writes of one Do cost one batch;
// each switch between writes and reads costs one more phase, not one per op.
func TestOneBatchPerSequence(t *testing.T) {
	s, _ := newStore(t, Options{})
	k := keyspace(t, s, "batch")
	sub := k.Subscribe(64)
	defer sub.Close()
	before := k.LastBatch()
	var ops []Op
	for i := range 100 {
		ops = append(ops, Put(b(fmt.Sprintf("k%03d", i)), b("v")))
	}
	ops = append(ops, AfterWrite())
	do(t, k, ops...)
	if got := k.LastBatch(); got != before+1 {
		t.Fatalf("100 puts in one Do cost %d batches, want 1", got-before)
	}
	if got := ops[100].Result.(uint64); got != before+1 {
		t.Fatalf("AfterWrite after 100 puts = %d, want %d", got, before+1)
	}
	flushed := 0
	for flushed == 0 {
		e := recv(t, sub.C, "the flushed event")
		if e.Kind == EventFlushed {
			flushed++
			if e.Count != 100 || e.Seq != before+1 {
				t.Fatalf("flushed event %+v, want batch %d with 100 mutations", e, before+1)
			}
		}
	}

	// write, read, write, read: two batches.
	before = k.LastBatch()
	do(t, k, Put(b("a"), b("1")), Put(b("b"), b("1")), Get(b("a")), Put(b("a"), b("2")), Delete(b("b")), Get(b("b")))
	if got := k.LastBatch(); got != before+2 {
		t.Fatalf("write,read,write,read cost %d batches, want 2", got-before)
	}
	// Many submitters whose writes land in one write phase share one batch.
	bl := blockWrite(t, k, true)
	var done []<-chan error
	for i := range 20 {
		done = append(done, submit(k, Put(b(fmt.Sprintf("c%d", i)), b("v"))))
	}
	waitInbox(t, k, 20)
	before = k.LastBatch()
	bl.Wait(t)
	for _, c := range done {
		if err := recv(t, c, "a put"); err != nil {
			t.Fatal(err)
		}
	}
	// The blocker's batch, then one batch for the 20 submitters.
	if got := k.LastBatch(); got != before+2 {
		t.Fatalf("20 submitters queued together cost %d batches after the held one, want 1", got-before-1)
	}
}

// TestAfterWrite: AfterWrite is 0 on a fresh keyspace, LastBatch when nothing
// is pending, and otherwise the batch of the writes queued before it; it
// does not wait for writes queued after it.
func TestAfterWrite(t *testing.T) {
	s, _ := newStore(t, Options{})
	k := keyspace(t, s, "aw")
	if got := afterWrite(t, k); got != 0 {
		t.Fatalf("AfterWrite on a fresh keyspace = %d, want 0", got)
	}
	if got := do(t, k, Delete(b("missing")), AfterWrite())[1].Result.(uint64); got != 0 || k.LastBatch() != 0 {
		t.Fatalf("a write phase without mutations took batch number %d (LastBatch %d), want none", got, k.LastBatch())
	}
	put(t, k, "a", "1")
	put(t, k, "a", "2")
	if got := afterWrite(t, k); got != 2 || k.LastBatch() != 2 {
		t.Fatalf("AfterWrite with nothing pending = %d (LastBatch %d), want 2", got, k.LastBatch())
	}

	// AfterWrite queued behind a pending write waits for that write's batch.
	bl := blockWrite(t, k, true) // batch 3
	w := []Op{Put(b("w"), b("1"))}
	wDone := submit(k, w...)
	waitInbox(t, k, 1)
	aw := []Op{AfterWrite()}
	awDone := submit(k, aw...)
	waitInbox(t, k, 2)
	bl.Wait(t)
	if err := recv(t, awDone, "AfterWrite"); err != nil || aw[0].Err != nil {
		t.Fatal(err, aw[0].Err)
	}
	// When AfterWrite returned, the write queued before it was durable.
	if got := aw[0].Result.(uint64); got != 4 || k.LastBatch() < 4 {
		t.Fatalf("AfterWrite queued after a pending write = %d (LastBatch %d), want 4", got, k.LastBatch())
	}
	if err := recv(t, wDone, "the put"); err != nil || w[0].Err != nil {
		t.Fatal(err, w[0].Err)
	}

	// AfterWrite queued while a write phase runs, with a write queued after
	// it: it waits for the running batch only, not for the later write.
	bl = blockWrite(t, k, true) // batch 5
	aw = []Op{AfterWrite()}
	awDone = submit(k, aw...)
	waitInbox(t, k, 1)
	later := []Op{Put(b("later"), b("1"))}
	laterDone := submit(k, later...)
	waitInbox(t, k, 2)
	bl.Wait(t)
	if err := recv(t, awDone, "AfterWrite"); err != nil || aw[0].Err != nil {
		t.Fatal(err, aw[0].Err)
	}
	if got := aw[0].Result.(uint64); got != 5 {
		t.Fatalf("AfterWrite queued during batch 5, before a later write = %d, want 5", got)
	}
	if err := recv(t, laterDone, "the later put"); err != nil || later[0].Err != nil {
		t.Fatal(err, later[0].Err)
	}
	if got := k.LastBatch(); got != 6 {
		t.Fatalf("LastBatch = %d, want 6", got)
	}
	// In a sequence, AfterWrite reports the batch of the writes before it.
	if got := do(t, k, Put(b("z"), b("1")), AfterWrite(), Get(b("z")), AfterWrite()); got[1].Result != uint64(7) || got[3].Result != uint64(7) {
		t.Fatalf("AfterWrite results in a sequence = %v, %v; want 7, 7", got[1].Result, got[3].Result)
	}
}

// TestConditionalOpsSeeEachOther: read-modify-write ops of one batch see
// each other in queue order, so "set if the value is v1" applies once,
// whether submitted twice in one Do or by concurrent submitters that share
// a batch.
func TestConditionalOpsSeeEachOther(t *testing.T) {
	s, _ := newStore(t, Options{})
	k := keyspace(t, s, "cond")
	put(t, k, "rev", "v1")
	ops := do(t, k, setIfEq("rev", "v1", "v2-first"), setIfEq("rev", "v1", "v2-second"), setIfEq("rev", "v2-first", "v3"))
	if ops[0].Result != true || ops[1].Result != false || ops[2].Result != true {
		t.Fatalf("conditional sets in one Do applied %v %v %v, want true false true", ops[0].Result, ops[1].Result, ops[2].Result)
	}
	if got := get(t, k, "rev"); got != "v3" {
		t.Fatalf("rev = %q, want v3", got)
	}

	put(t, k, "rev", "v1")
	bl := blockWrite(t, k, false)
	const n = 16
	var (
		mu  sync.Mutex
		txs = map[*Tx]int{}
	)
	reqs := make([][]Op, n)
	done := make([]<-chan error, n)
	for i := range n {
		cond := setIfEq("rev", "v1", fmt.Sprintf("winner-%d", i))
		reqs[i] = []Op{WriteOp(func(tx *Tx) (any, error) {
			mu.Lock()
			txs[tx]++
			mu.Unlock()
			return cond.write(tx)
		})}
		done[i] = submit(k, reqs[i]...)
	}
	waitInbox(t, k, n)
	before := k.LastBatch()
	bl.Wait(t)
	winners := 0
	winner := ""
	for i := range n {
		if err := recv(t, done[i], "a conditional set"); err != nil || reqs[i][0].Err != nil {
			t.Fatal(err, reqs[i][0].Err)
		}
		if reqs[i][0].Result == true {
			winners++
			winner = fmt.Sprintf("winner-%d", i)
		}
	}
	if len(txs) != 1 {
		t.Fatalf("the %d conditional sets ran in %d batches, want 1 (test setup)", n, len(txs))
	}
	if winners != 1 {
		t.Fatalf("%d of %d concurrent \"set if v1\" applied, want exactly 1", winners, n)
	}
	if got := get(t, k, "rev"); got != winner {
		t.Fatalf("rev = %q, want %q", got, winner)
	}
	if got := k.LastBatch(); got != before+1 {
		t.Fatalf("the batch cost %d batch numbers, want 1", got-before)
	}
}

// TestClearInBatch: after Tx.Clear the batch sees an empty keyspace; keys
// set after the Clear in the same batch survive, keys set before it do not,
// and other keyspaces are untouched.
func TestClearInBatch(t *testing.T) {
	s, _ := newStore(t, Options{})
	k := keyspace(t, s, "c")
	other := keyspace(t, s, "c\x00") // the encoded neighbour
	put(t, k, "a", "1", "b", "2", "\xff", "3", "", "4")
	put(t, other, "a", "other")
	type seen struct {
		getA, exists    bool
		first, last     bool
		count           int64
		delB            bool
		afterSet        string
		afterSetCount   int64
		peekAfterSetKey string
	}
	ops := do(t, k,
		Put(b("before"), b("x")),
		WriteOp(func(tx *Tx) (any, error) {
			var sn seen
			if err := tx.Clear(); err != nil {
				return nil, err
			}
			var err error
			_, sn.getA, err = tx.Get(b("a"))
			if err != nil {
				return nil, err
			}
			if sn.exists, err = tx.Exists(b("before")); err != nil {
				return nil, err
			}
			if _, sn.first, err = tx.PeekFirst(wholeRange); err != nil {
				return nil, err
			}
			if _, sn.last, err = tx.PeekLast(wholeRange); err != nil {
				return nil, err
			}
			if sn.count, err = tx.Count(); err != nil {
				return nil, err
			}
			if sn.delB, err = tx.Delete(b("b")); err != nil {
				return nil, err
			}
			if err := tx.Set(b("d"), b("new")); err != nil {
				return nil, err
			}
			v, _, err := tx.Get(b("d"))
			if err != nil {
				return nil, err
			}
			sn.afterSet = string(v)
			if sn.afterSetCount, err = tx.Count(); err != nil {
				return nil, err
			}
			kv, _, err := tx.PeekFirst(wholeRange)
			sn.peekAfterSetKey = string(kv.Key)
			return sn, err
		}),
		Put(b("e"), b("later")), // another op of the same batch, after the Clear
		Get(b("a")), Get(b("before")), Get(b("d")), Get(b("e")), countOp(),
	)
	got := ops[1].Result.(seen)
	want := seen{afterSet: "new", afterSetCount: 1, peekAfterSetKey: "d"}
	if got != want {
		t.Fatalf("inside the batch after Clear: %+v, want %+v", got, want)
	}
	if g := []string{str(ops[3]), str(ops[4]), str(ops[5]), str(ops[6])}; !slices.Equal(g, []string{"<nil>", "<nil>", "new", "later"}) {
		t.Fatalf("after the batch: a, before, d, e = %q, want [<nil> <nil> new later]", g)
	}
	if n := ops[7].Result.(int64); n != 2 {
		t.Fatalf("Count after the batch = %d, want 2", n)
	}
	if got := get(t, other, "a"); got != "other" {
		t.Fatalf("Clear leaked into the neighbouring keyspace: a = %q", got)
	}
}

// TestInvalidOpGetsError: an Op not built with the constructors never runs
// silently: it gets an error wherever it sits in a sequence.
func TestInvalidOpGetsError(t *testing.T) {
	s, _ := newStore(t, Options{})
	k := keyspace(t, s, "invalid")
	for _, seq := range [][]Op{
		{{}},
		{Get(b("a")), {}},
		{Put(b("a"), b("1")), {}},
	} {
		if err := k.Do(context.Background(), seq); err != nil {
			t.Fatal(err)
		}
		if last := seq[len(seq)-1]; last.Err == nil {
			t.Errorf("zero Op after %d other ops: Err = nil, Result = %v; want an error", len(seq)-1, last.Result)
		}
	}
}

// ---------------------------------------------------------------------------
// Storage: reopen, format version, keyspace isolation.

// TestBatchSequenceSurvivesReopen: batch numbers and data survive Close and
// Open; numbering continues where it stopped; Keyspaces lists keyspaces
// that committed a batch.
func TestBatchSequenceSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	a, bb := keyspace(t, s, "a"), keyspace(t, s, "b")
	keyspace(t, s, "opened-only")
	for i := range 3 {
		put(t, a, "k", strconv.Itoa(i))
	}
	put(t, bb, "k", "b")
	if a.LastBatch() != 3 || bb.LastBatch() != 1 {
		t.Fatalf("LastBatch a=%d b=%d, want 3, 1", a.LastBatch(), bb.LastBatch())
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openStore(t, dir, Options{})
	names, err := s.Keyspaces()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"a", "b"}) {
		t.Fatalf("Keyspaces after reopen = %q, want [a b]", names)
	}
	a, bb = keyspace(t, s, "a"), keyspace(t, s, "b")
	if a.LastBatch() != 3 || bb.LastBatch() != 1 {
		t.Fatalf("after reopen LastBatch a=%d b=%d, want 3, 1", a.LastBatch(), bb.LastBatch())
	}
	if got := afterWrite(t, a); got != 3 {
		t.Fatalf("AfterWrite after reopen = %d, want 3", got)
	}
	if got := get(t, a, "k"); got != "2" {
		t.Fatalf("a/k after reopen = %q, want 2", got)
	}
	put(t, a, "k", "next")
	if got := a.LastBatch(); got != 4 {
		t.Fatalf("first batch after reopen = %d, want 4", got)
	}
}

// TestFormatVersion: Open refuses a directory whose stored format version
// differs, or which holds data without one, with ErrFormatVersion.
func TestFormatVersion(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	put(t, keyspace(t, s, "x"), "k", "v")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rewrite := func(dir string, fn func(db *pebble.DB) error) {
		t.Helper()
		db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{&Store{opts: Options{Logger: slog.New(slog.DiscardHandler)}, fatalC: make(chan struct{})}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := fn(db); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	rewrite(dir, func(db *pebble.DB) error {
		return db.Set(formatKey, b(strconv.Itoa(formatVersion+1)), pebble.Sync)
	})
	if s, err := Open(dir, Options{}); !errors.Is(err, ErrFormatVersion) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open of a directory in format %d: err = %v, want ErrFormatVersion", formatVersion+1, err)
	}
	// The refusal did not damage anything: with the right version back, the
	// data is there.
	rewrite(dir, func(db *pebble.DB) error {
		return db.Set(formatKey, b(strconv.Itoa(formatVersion)), pebble.Sync)
	})
	s = openStore(t, dir, Options{})
	if got := get(t, keyspace(t, s, "x"), "k"); got != "v" {
		t.Fatalf("k = %q after reopening in the right format, want v", got)
	}

	// A Pebble directory with data but no format version is refused too.
	foreign := t.TempDir()
	rewrite(foreign, func(db *pebble.DB) error { return db.Set(b("some key"), b("v"), pebble.Sync) })
	if s, err := Open(foreign, Options{}); !errors.Is(err, ErrFormatVersion) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open of a foreign Pebble directory: err = %v, want ErrFormatVersion", err)
	}
}

// TestKeyspacesDoNotCollide: (keyspace, key) pairs whose concatenations are
// equal stay distinct, whatever bytes names contain and however long they
// are; Get, peeks, Count and Clear stay inside their keyspace; Keyspaces
// lists every name after a reopen.
func TestKeyspacesDoNotCollide(t *testing.T) {
	long127 := string(bytes.Repeat([]byte{'n'}, 127))
	long128 := string(bytes.Repeat([]byte{'n'}, 128))
	pairs := []struct{ ks, key string }{
		{"a", "bc"}, {"ab", "c"}, {"abc", ""}, {"", "abc"},
		{"\x00", "\x00"}, {"\x00\x00", ""}, {"", "\x00\x00"},
		{"\xff", "\xff"}, {"\xff\xff", ""}, {"", "\xff\xff"},
		{"\x01", "a"}, {"\x01a", ""}, // the name's length byte is 0x01
		{long127, "n"}, {long128, ""}, {long127 + "\x80", "\x01"}, // uvarint lengths of 1 and 2 bytes
	}
	dir := t.TempDir()
	s, err := Open(dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	value := func(i int) string { return fmt.Sprintf("value-%d", i) }
	for i, p := range pairs {
		put(t, keyspace(t, s, p.ks), p.key, value(i))
	}
	check := func(s *Store) {
		t.Helper()
		for i, p := range pairs {
			k := keyspace(t, s, p.ks)
			ops := do(t, k, Get(b(p.key)), countOp(), peekFirst(wholeRange), peekLast(wholeRange))
			if got := str(ops[0]); got != value(i) {
				t.Errorf("keyspace %q key %q = %q, want %q", p.ks, p.key, got, value(i))
			}
			// Each keyspace holds exactly the keys the pairs gave it.
			var keys []string
			for _, q := range pairs {
				if q.ks == p.ks {
					keys = append(keys, q.key)
				}
			}
			slices.Sort(keys)
			if n := ops[1].Result.(int64); n != int64(len(keys)) {
				t.Errorf("keyspace %q holds %d keys, want %d", p.ks, n, len(keys))
			}
			first, _ := ops[2].Result.(KV)
			last, _ := ops[3].Result.(KV)
			if string(first.Key) != keys[0] || string(last.Key) != keys[len(keys)-1] {
				t.Errorf("keyspace %q: PeekFirst %q PeekLast %q, want %q %q", p.ks, first.Key, last.Key, keys[0], keys[len(keys)-1])
			}
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, Options{NoSync: true})
	check(s)
	names, err := s.Keyspaces()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, p := range pairs {
		want = append(want, p.ks)
	}
	slices.Sort(want)
	want = slices.Compact(want)
	if !slices.Equal(names, want) {
		t.Fatalf("Keyspaces after reopen = %q, want %q", names, want)
	}
	// Clearing one keyspace leaves every other alone.
	do(t, keyspace(t, s, "a"), WriteOp(func(tx *Tx) (any, error) { return nil, tx.Clear() }))
	if got := get(t, keyspace(t, s, "ab"), "c"); got != value(1) {
		t.Fatalf("after clearing keyspace a, ab/c = %q, want %q", got, value(1))
	}
	if got := get(t, keyspace(t, s, ""), "abc"); got != value(3) {
		t.Fatalf("after clearing keyspace a, \"\"/abc = %q, want %q", got, value(3))
	}
	if n := do(t, keyspace(t, s, "a"), countOp())[0].Result.(int64); n != 0 {
		t.Fatalf("keyspace a holds %d keys after Clear", n)
	}
}

// TestKeyspacesIndependent: keyspaces never wait on each other: with one
// keyspace held in a write phase and another in a read phase, a third reads,
// writes and passes AfterWrite barriers.
func TestKeyspacesIndependent(t *testing.T) {
	s, _ := newStore(t, Options{})
	w, r, free := keyspace(t, s, "w"), keyspace(t, s, "r"), keyspace(t, s, "free")
	heldW := blockWrite(t, w, true)
	heldR := blockRead(t, r)
	pending := submit(w, Put(b("k"), b("queued behind the held phase")))
	waitInbox(t, w, 1)
	ops := do(t, free, Put(b("k"), b("v")), Get(b("k")), AfterWrite())
	if str(ops[1]) != "v" || ops[2].Result != uint64(1) {
		t.Fatalf("in a free keyspace: get %q, AfterWrite %v; want v, 1", str(ops[1]), ops[2].Result)
	}
	if got := get(t, free, "k"); got != "v" {
		t.Fatalf("free/k = %q, want v", got)
	}
	select {
	case err := <-pending:
		t.Fatalf("a write behind a held write phase completed (%v)", err)
	default:
	}
	heldW.Wait(t)
	heldR.Wait(t)
	if err := recv(t, pending, "the queued write"); err != nil {
		t.Fatal(err)
	}
	if got := get(t, w, "k"); got != "queued behind the held phase" {
		t.Fatalf("w/k = %q", got)
	}
}

// ---------------------------------------------------------------------------
// Back-pressure, Close, fairness.

// TestBackPressure: with the mutex held and MaxQueuedOps reached, Do with a
// done context returns the context's error without running anything; a
// flood of 500 submitters never gets more than MaxQueuedOps ops queued (in
// the inbox while held, nor in any one batch), and all of them complete.
func TestBackPressure(t *testing.T) {
	const maxQueued = 8
	s, _ := newStore(t, Options{MaxQueuedOps: maxQueued, NoSync: true})
	k := keyspace(t, s, "bp")
	bl := blockWrite(t, k, false) // holds 1 of the 8

	var (
		mu      sync.Mutex
		batches = map[*Tx]int{}
		ran     atomic.Int64
		started atomic.Int64
		wg      sync.WaitGroup
	)
	const flood = 500
	for i := range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Add(1)
			ops := []Op{WriteOp(func(tx *Tx) (any, error) {
				ran.Add(1)
				mu.Lock()
				batches[tx]++
				mu.Unlock()
				return nil, tx.Set(b(fmt.Sprintf("k%d", i)), b("v"))
			})}
			if err := doErr(k, ops...); err != nil {
				t.Error(err)
			}
		}()
	}
	waitUntil(t, "every submitter has started", func() bool { return started.Load() == flood })
	waitInbox(t, k, maxQueued-1)

	// The queue is full: a Do whose context ends gives up without queuing.
	var ranLate atomic.Bool
	late := []Op{WriteOp(func(tx *Tx) (any, error) { ranLate.Store(true); return nil, nil })}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := k.Do(ctx, late); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do with an expiring context on a full queue = %v, want context.DeadlineExceeded", err)
	}
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := k.Do(cancelled, late); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do with a cancelled context on a full queue = %v, want context.Canceled", err)
	}
	if n := inboxLen(k); n != maxQueued-1 {
		t.Fatalf("%d requests queued behind the held phase, want %d (MaxQueuedOps %d)", n, maxQueued-1, maxQueued)
	}
	if ran.Load() != 0 {
		t.Fatalf("%d ops ran while the mutex was held", ran.Load())
	}

	// Watch the inbox while the flood drains.
	stop := make(chan struct{})
	maxInbox := make(chan int, 1)
	go func() {
		m := 0
		for {
			select {
			case <-stop:
				maxInbox <- m
				return
			default:
			}
			m = max(m, inboxLen(k))
			time.Sleep(50 * time.Microsecond)
		}
	}()
	bl.Wait(t)
	wg.Wait()
	close(stop)
	if m := recv(t, maxInbox, "the inbox watcher"); m > maxQueued {
		t.Fatalf("inbox held %d requests, more than MaxQueuedOps %d", m, maxQueued)
	}
	if ranLate.Load() {
		t.Fatal("an op whose Do returned a context error ran")
	}
	if got := ran.Load(); got != flood {
		t.Fatalf("%d of %d flooded ops ran", got, flood)
	}
	for _, n := range batches {
		if n > maxQueued {
			t.Fatalf("a batch held %d ops, more than MaxQueuedOps %d could have queued", n, maxQueued)
		}
	}
	if n := do(t, k, countOp())[0].Result.(int64); n != flood {
		t.Fatalf("%d keys stored, want %d", n, flood)
	}
	// A sequence longer than the bound still runs (it takes the whole queue).
	var long []Op
	for i := range 3 * maxQueued {
		long = append(long, Put(b(fmt.Sprintf("long%d", i)), b("v")))
	}
	do(t, k, long...)
	// And a done context is refused even when there is room.
	if err := k.Do(cancelled, []Op{Get(b("k1"))}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do with a cancelled context = %v, want context.Canceled", err)
	}
}

// TestCloseFinishesQueuedWork: Close waits for the queued work to finish and
// commits it; Do, Keyspace and Close after Close return ErrClosed; the data
// is there after reopening.
func TestCloseFinishesQueuedWork(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	k := keyspace(t, s, "close")
	sub := k.Subscribe(1024)
	bl := blockWrite(t, k, true)
	const n = 20
	reqs := make([][]Op, n)
	done := make([]<-chan error, n)
	for i := range n {
		key := b(fmt.Sprintf("k%02d", i))
		reqs[i] = []Op{Put(key, b("v")), Get(key), Put(key, b("final")), AfterWrite()}
		done[i] = submit(k, reqs[i]...)
	}
	waitInbox(t, k, n)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	waitUntil(t, "Close has begun", func() bool {
		k.inMu.Lock()
		defer k.inMu.Unlock()
		return k.closing
	})
	if err := k.Do(context.Background(), []Op{Put(b("late"), b("v"))}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close began = %v, want ErrClosed", err)
	}
	if _, err := s.Keyspace("new"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Keyspace after Close began = %v, want ErrClosed", err)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while work was still queued", err)
	default:
	}
	bl.Wait(t)
	if err := recv(t, closed, "Close"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i := range n {
		if err := recv(t, done[i], "a queued Do"); err != nil {
			t.Fatalf("queued Do %d: %v", i, err)
		}
		for j, op := range reqs[i] {
			if op.Err != nil {
				t.Fatalf("queued Do %d op %d: %v", i, j, op.Err)
			}
		}
		if str(reqs[i][1]) != "v" {
			t.Fatalf("queued Do %d: Get = %q, want v", i, str(reqs[i][1]))
		}
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v, want ErrClosed", err)
	}
	// The subscription ended with the store.
	for range sub.C {
	}
	if !errors.Is(sub.Err(), ErrClosed) {
		t.Fatalf("subscription Err after Close = %v, want ErrClosed", sub.Err())
	}

	s = openStore(t, dir, Options{})
	k = keyspace(t, s, "close")
	for i := range n {
		if got := get(t, k, fmt.Sprintf("k%02d", i)); got != "final" {
			t.Fatalf("after reopen k%02d = %q, want final", i, got)
		}
	}
	if got := get(t, k, "late"); got != "<nil>" {
		t.Fatalf("the write refused with ErrClosed was stored: %q", got)
	}
}

// TestPhasesAlternate: after a read phase, a queued write phase runs before
// the next read phase, and after a write phase a queued read phase runs
// before the next write phase, whatever was queued first.
func TestPhasesAlternate(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "alt")

	// A read phase is running; a write, then a read, are queued behind it.
	held := blockRead(t, k)
	w := submit(k, Put(b("k"), b("w1")))
	waitInbox(t, k, 1)
	r := []Op{Get(b("k"))}
	rDone := submit(k, r...)
	waitInbox(t, k, 2)
	held.Wait(t)
	if err := recv(t, rDone, "the read"); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, w, "the write"); err != nil {
		t.Fatal(err)
	}
	if got := str(r[0]); got != "w1" {
		t.Fatalf("read queued during a read phase, behind a write, saw %q; want w1 (the write phase runs between the two read phases)", got)
	}

	// A write phase is running; a read, then a write, are queued behind it.
	bl := blockWrite(t, k, true)
	r = []Op{Get(b("k"))}
	rDone = submit(k, r...)
	waitInbox(t, k, 1)
	w = submit(k, Put(b("k"), b("w2")))
	waitInbox(t, k, 2)
	bl.Wait(t)
	if err := recv(t, rDone, "the read"); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, w, "the write"); err != nil {
		t.Fatal(err)
	}
	if got := str(r[0]); got != "w1" {
		t.Fatalf("read queued during a write phase, before a write, saw %q; want w1 (the read phase runs between the two write phases)", got)
	}
}

// TestNoStarvation: with writers and readers submitting continuously, both
// make progress; and every read sees every write acknowledged before it was
// submitted.
func TestNoStarvation(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "fair")
	put(t, k, "ctr", "0")
	const goal = 300
	var (
		acked         atomic.Int64 // highest counter value acknowledged to a writer
		writes, reads atomic.Int64
		wg            sync.WaitGroup
		stop          = make(chan struct{})
	)
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	writer := func() {
		defer wg.Done()
		for !stopped() {
			ops := []Op{incr("ctr")}
			if err := doErr(k, ops...); err != nil {
				t.Error(err)
				return
			}
			n := int64(ops[0].Result.(int))
			for {
				cur := acked.Load()
				if cur >= n || acked.CompareAndSwap(cur, n) {
					break
				}
			}
			writes.Add(1)
		}
	}
	reader := func() {
		defer wg.Done()
		last := int64(-1)
		for !stopped() {
			floor := acked.Load()
			ops := []Op{Get(b("ctr"))}
			if err := doErr(k, ops...); err != nil {
				t.Error(err)
				return
			}
			n, _ := strconv.ParseInt(str(ops[0]), 10, 64)
			if n < floor || n < last {
				t.Errorf("read %d after %d was acknowledged (and %d read before)", n, floor, last)
				return
			}
			last = n
			reads.Add(1)
		}
	}
	// Many more readers than writers, so that reads are almost always
	// queued when a phase ends.
	for i := range 16 {
		if i%4 == 0 {
			wg.Add(1)
			go writer()
		}
		wg.Add(1)
		go reader()
	}
	waitUntil(t, fmt.Sprintf("writers and readers each complete %d ops", goal), func() bool {
		return t.Failed() || writes.Load() >= goal && reads.Load() >= goal
	})
	close(stop)
	wg.Wait()
}
