package mutex

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// faultFS is the OS filesystem with a switch: while on, every write-side
// operation (create, write, sync, close …) fails, as with a full or failing
// disk. With syncOnly, only syncs fail: the failed batch does reach the WAL
// file, and reopening the database replays it, as after an fsync error on a
// disk that took the write. Reads are unaffected.
type faultFS struct {
	syncOnly bool
	on       atomic.Bool
	injected atomic.Int64
}

func (f *faultFS) FS() vfs.FS {
	return errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if !f.on.Load() || op.Kind.ReadOrWrite() != errorfs.OpIsWrite {
			return nil
		}
		switch op.Kind {
		case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
		default:
			if f.syncOnly {
				return nil
			}
		}
		f.injected.Add(1)
		return errorfs.ErrInjected
	}))
}

const isolatedEnv = "MUTEX_TEST_ISOLATED"

// isolated runs the calling test in a child process and reports its outcome,
// so that a panic on a failure path (Pebble treats some I/O errors as fatal)
// fails this test instead of killing the whole package's run. It returns
// true in the child, where the test body must run, and false in the parent.
func isolated(t *testing.T) bool {
	t.Helper()
	if os.Getenv(isolatedEnv) == t.Name() {
		return true
	}
	t.Parallel() // each child has its own process and directory
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v", "-test.timeout=120s")
	// A race-enabled child would sleep a second at exit by default.
	cmd.Env = append(os.Environ(), isolatedEnv+"="+t.Name(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) > 50 { // the head shows a panic, the tail a failed check
			lines = append(append(lines[:25:25], "…"), lines[len(lines)-25:]...)
		}
		t.Fatalf("%s failed in its own process (%v):\n%s", t.Name(), err, strings.Join(lines, "\n"))
	}
	return false
}

// queuedWrites counts the requests in k's inbox whose next op is a write.
func queuedWrites(k *Keyspace) int {
	k.inMu.Lock()
	defer k.inMu.Unlock()
	n := 0
	for _, r := range k.inbox {
		if r.ops[r.next].kind == KindWrite {
			n++
		}
	}
	return n
}

// reader checks, until stopped, that every read of x and y in keyspace k
// succeeds and returns want for both.
type xyReader struct {
	stop  chan struct{}
	done  chan struct{}
	reads atomic.Int64
	mu    sync.Mutex
	bad   []string
}

func startReader(k *Keyspace, want string) *xyReader {
	r := &xyReader{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			select {
			case <-r.stop:
				return
			default:
			}
			ops := []Op{Get(b("x")), Get(b("y"))}
			err := doErr(k, ops...)
			if err == nil && (str(ops[0]) != want || str(ops[1]) != want) {
				err = fmt.Errorf("x=%q y=%q, want %q", str(ops[0]), str(ops[1]), want)
			}
			if err != nil {
				r.mu.Lock()
				r.bad = append(r.bad, err.Error())
				r.mu.Unlock()
			}
			r.reads.Add(1)
		}
	}()
	return r
}

func (r *xyReader) Stop(t *testing.T) {
	t.Helper()
	close(r.stop)
	<-r.done
	if r.reads.Load() == 0 {
		t.Error("the concurrent reader completed no read")
	}
	if len(r.bad) > 0 {
		t.Errorf("%d of %d concurrent reads went wrong; first: %s", len(r.bad), r.reads.Load(), r.bad[0])
	}
}

// recoverWrites switches the fault off and polls until a write succeeds.
func recoverWrites(t *testing.T, ff *faultFS, k *Keyspace, key, value string) {
	t.Helper()
	ff.on.Store(false)
	attempts := 0
	waitUntil(t, "a write succeeds once the fault is gone", func() bool {
		attempts++
		ops := []Op{Put(b(key), b(value))}
		if err := k.Do(context.Background(), ops); err != nil {
			t.Fatal(err)
		}
		return ops[0].Err == nil
	})
	if err := k.store.Failed(); err != nil {
		t.Fatalf("Failed() = %v after a successful write", err)
	}
	t.Logf("writes recovered after %d attempt(s)", attempts)
}

// TestCommitFailure: when a batch's commit fails, every op of the batch gets
// an error, no reader ever sees any of it, the store reports the failure,
// reads keep working; once the fault is gone the next write succeeds, the
// failed batch stays invisible (also after Close and reopen), and batch
// numbers stay consecutive.
func TestCommitFailure(t *testing.T) {
	if isolated(t) {
		testCommitFailure(t, &faultFS{})
	}
}

// TestCommitFailureSync is TestCommitFailure with a fault on WAL syncs only:
// the failed batch is in the WAL file, and must not come back from it.
func TestCommitFailureSync(t *testing.T) {
	if isolated(t) {
		testCommitFailure(t, &faultFS{syncOnly: true})
	}
}

func testCommitFailure(t *testing.T, ff *faultFS) {
	dir := t.TempDir()
	s, err := Open(dir, Options{FS: ff.FS()})
	if err != nil {
		t.Fatal(err)
	}
	k, g := keyspace(t, s, "f"), keyspace(t, s, "g")
	put(t, k, "x", "v0", "y", "v0", "keep", "kept") // batch 1
	put(t, g, "z", "z0")                            // g's batch 1
	sub := k.Subscribe(1 << 12)
	rd := startReader(k, "v0")

	// Five submitters land in one batch, whose commit fails.
	bl := blockWrite(t, k, false)
	ff.on.Store(true)
	const n = 5
	reqs := make([][]Op, n)
	done := make([]<-chan error, n)
	for i := range n {
		bad := b(fmt.Sprintf("bad-%d", i))
		reqs[i] = []Op{Put(b("x"), bad), Put(b("y"), bad), Put(b(fmt.Sprintf("new-%d", i)), bad), Delete(b("keep")), AfterWrite()}
		done[i] = submit(k, reqs[i]...)
	}
	waitUntil(t, "the five writers are queued", func() bool { return queuedWrites(k) == n })
	bl.Wait(t)
	for i := range n {
		if err := recv(t, done[i], "a writer of the failing batch"); err != nil {
			t.Fatalf("Do: %v", err)
		}
		for j, op := range reqs[i] {
			if op.Err == nil {
				t.Errorf("writer %d op %d of the failed batch: no error (Result %v)", i, j, op.Result)
			}
		}
	}
	if ff.injected.Load() == 0 {
		t.Fatal("no fault was injected (test setup)")
	}
	if s.Failed() == nil {
		t.Fatal("Failed() = nil after a failed commit")
	}
	if got := k.LastBatch(); got != 1 {
		t.Fatalf("LastBatch = %d after a failed commit, want 1", got)
	}
	// Reads keep working, in this keyspace and others, with the fault on.
	if got := []string{get(t, k, "x"), get(t, k, "y"), get(t, k, "keep"), get(t, k, "new-0"), get(t, g, "z")}; strings.Join(got, ",") != "v0,v0,kept,<nil>,z0" {
		t.Fatalf("reads while failed: x,y,keep,new-0,z = %q, want v0,v0,kept,<nil>,z0", got)
	}

	recoverWrites(t, ff, k, "w", "after")
	if got := k.LastBatch(); got != 2 {
		t.Fatalf("first batch after recovery is %d, want 2 (the failed batch took no number)", got)
	}
	check := func(when string, k, g *Keyspace) {
		t.Helper()
		got := []string{get(t, k, "x"), get(t, k, "y"), get(t, k, "keep"), get(t, k, "w"), get(t, g, "z")}
		if strings.Join(got, ",") != "v0,v0,kept,after,z1" {
			t.Fatalf("%s: x,y,keep,w,z = %q, want v0,v0,kept,after,z1", when, got)
		}
		for i := range n {
			if v := get(t, k, fmt.Sprintf("new-%d", i)); v != "<nil>" {
				t.Fatalf("%s: new-%d = %q, the failed batch's key is present", when, i, v)
			}
		}
		if c := do(t, k, countOp())[0].Result.(int64); c != 4 {
			t.Fatalf("%s: keyspace holds %d keys, want 4", when, c)
		}
	}
	put(t, g, "z", "z1")
	if got := g.LastBatch(); got != 2 {
		t.Fatalf("other keyspace's batch after recovery = %d, want 2", got)
	}
	check("after recovery", k, g)
	rd.Stop(t)

	// The events tell the story: batch 2 failed, then batch 2 committed.
	sub.Close()
	var story []string
	for _, e := range drain(t, sub) {
		switch e.Kind {
		case EventWrites:
			story = append(story, fmt.Sprintf("writes %d", e.Seq))
		case EventFlushed:
			story = append(story, fmt.Sprintf("flushed %d count %d failed %v", e.Seq, e.Count, e.Err != nil))
		}
	}
	// (Recovery attempts that failed, if any, add failed batch 2s between.)
	first := []string{"writes 2", fmt.Sprintf("flushed 2 count %d failed true", 3*n+1)}
	last := []string{"writes 2", "flushed 2 count 1 failed false"}
	if len(story) < 4 || !slices.Equal(story[:2], first) || !slices.Equal(story[len(story)-2:], last) {
		t.Fatalf("write events:\n got %q\nwant %q, then %q", story, first, last)
	}
	for _, e := range story[2 : len(story)-2] {
		if !strings.HasPrefix(e, "writes 2") && !strings.HasSuffix(e, "failed true") {
			t.Fatalf("write events %q: unexpected %q between the failure and the recovery", story, e)
		}
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close after recovery: %v", err)
	}
	s = openStore(t, dir, Options{})
	k, g = keyspace(t, s, "f"), keyspace(t, s, "g")
	if k.LastBatch() != 2 || g.LastBatch() != 2 {
		t.Fatalf("after reopen LastBatch f=%d g=%d, want 2, 2", k.LastBatch(), g.LastBatch())
	}
	check("after reopen", k, g)
}

// TestFailedClearIsUndone: a failed batch that cleared the keyspace (a range
// deletion) and set keys leaves every old key in place and none of its own.
func TestFailedClearIsUndone(t *testing.T) {
	if isolated(t) {
		testFailedClearIsUndone(t, &faultFS{})
	}
}

// TestFailedClearIsUndoneSync is TestFailedClearIsUndone with a fault on
// WAL syncs only: the failed batch's range deletion is in the WAL file.
func TestFailedClearIsUndoneSync(t *testing.T) {
	if isolated(t) {
		testFailedClearIsUndone(t, &faultFS{syncOnly: true})
	}
}

func testFailedClearIsUndone(t *testing.T, ff *faultFS) {
	dir := t.TempDir()
	s, err := Open(dir, Options{FS: ff.FS()})
	if err != nil {
		t.Fatal(err)
	}
	k := keyspace(t, s, "c")
	put(t, k, "a", "1", "b", "2", "c", "3")
	ff.on.Store(true)
	ops := []Op{Put(b("a"), b("changed")), WriteOp(func(tx *Tx) (any, error) { return nil, tx.Clear() }), Put(b("b"), b("reborn")), Put(b("d"), b("new"))}
	if err := k.Do(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
	for i, op := range ops {
		if op.Err == nil {
			t.Fatalf("op %d of the failed batch: no error", i)
		}
	}
	if got := []string{get(t, k, "a"), get(t, k, "b"), get(t, k, "c"), get(t, k, "d")}; strings.Join(got, ",") != "1,2,3,<nil>" {
		t.Fatalf("reads while failed: a,b,c,d = %q, want 1,2,3,<nil>", got)
	}
	recoverWrites(t, ff, k, "e", "5")
	want := "1,2,3,<nil>,5"
	got := []string{get(t, k, "a"), get(t, k, "b"), get(t, k, "c"), get(t, k, "d"), get(t, k, "e")}
	if strings.Join(got, ",") != want {
		t.Fatalf("after recovery: a,b,c,d,e = %q, want %s", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = openStore(t, dir, Options{})
	k = keyspace(t, s, "c")
	got = []string{get(t, k, "a"), get(t, k, "b"), get(t, k, "c"), get(t, k, "d"), get(t, k, "e")}
	if strings.Join(got, ",") != want {
		t.Fatalf("after reopen: a,b,c,d,e = %q, want %s", got, want)
	}
	if k.LastBatch() != 2 {
		t.Fatalf("LastBatch after reopen = %d, want 2", k.LastBatch())
	}
}

// TestReadsWorkWhileFaultPersists: while the fault lasts, further writes
// fail (each one retrying recovery), and reads keep answering from the last
// good state all along.
func TestReadsWorkWhileFaultPersists(t *testing.T) {
	if !isolated(t) {
		return
	}
	ff := &faultFS{}
	s, _ := newStore(t, Options{FS: ff.FS()})
	k, g := keyspace(t, s, "f"), keyspace(t, s, "g")
	put(t, k, "x", "v0", "y", "v0")
	put(t, g, "z", "z0")
	ff.on.Store(true)
	for i := range 3 {
		for _, ks := range []*Keyspace{k, g} {
			ops := []Op{Put(b("x"), b("bad")), Put(b("y"), b("bad"))}
			if err := ks.Do(context.Background(), ops); err != nil {
				t.Fatal(err)
			}
			if ops[0].Err == nil || ops[1].Err == nil {
				t.Fatalf("attempt %d in keyspace %q: a write succeeded while WAL writes fail", i, ks.Name())
			}
			if s.Failed() == nil {
				t.Fatalf("attempt %d: Failed() = nil while writes fail", i)
			}
			ops = []Op{Get(b("x")), Get(b("y"))}
			if err := k.Do(context.Background(), ops); err != nil {
				t.Fatal(err)
			}
			if ops[0].Err != nil || str(ops[0]) != "v0" || str(ops[1]) != "v0" {
				t.Fatalf("read after failed write attempt %d in keyspace %q: x=%q y=%q err=%v; want v0, v0 and no error",
					i, ks.Name(), str(ops[0]), str(ops[1]), ops[0].Err)
			}
		}
	}
	recoverWrites(t, ff, k, "w", "after")
	if got := []string{get(t, k, "x"), get(t, k, "y"), get(t, k, "w"), get(t, g, "x"), get(t, g, "z")}; strings.Join(got, ",") != "v0,v0,after,<nil>,z0" {
		t.Fatalf("after recovery: f/x, f/y, f/w, g/x, g/z = %q, want v0,v0,after,<nil>,z0", got)
	}
	if k.LastBatch() != 2 {
		t.Fatalf("LastBatch = %d, want 2", k.LastBatch())
	}
}

// stacks returns every goroutine's stack.
func stacks() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

// waitBlocked waits until some goroutine whose stack includes fn is blocked
// on a lock or a channel, or until a value arrives on done (which is then
// put back).
func waitBlocked(t *testing.T, fn string, done chan error) {
	t.Helper()
	waitUntil(t, "a goroutine in "+fn+" blocks", func() bool {
		if done != nil {
			select {
			case err := <-done:
				done <- err
				return true
			default:
			}
		}
		for _, g := range strings.Split(stacks(), "\n\n") {
			header, _, _ := strings.Cut(g, "\n")
			blocked := strings.Contains(header, "[sync.") || strings.Contains(header, "[semacquire") ||
				strings.Contains(header, "[chan ") || strings.Contains(header, "[select")
			if blocked && strings.Contains(g, "mutex."+fn+"(") {
				return true
			}
		}
		return false
	})
}

// TestRecoveryVsNewKeyspace: a write that recovers the store from a failed
// commit while another goroutine opens a new keyspace must not deadlock.
// The test builds the interleaving deterministically: a read phase of
// keyspace r holds the store open for reading; a write in keyspace a starts
// recovery, which waits for it; a third goroutine calls Store.Keyspace; then
// the read phase ends.
func TestRecoveryVsNewKeyspace(t *testing.T) {
	if !isolated(t) {
		return
	}
	ff := &faultFS{}
	s, err := Open(t.TempDir(), Options{FS: ff.FS()})
	if err != nil {
		t.Fatal(err)
	}
	a, r := keyspace(t, s, "a"), keyspace(t, s, "r")
	put(t, a, "k", "v0")
	ff.on.Store(true)
	if ops := []Op{Put(b("k"), b("bad"))}; doErr(a, ops...) == nil {
		t.Fatal("write succeeded with the fault on")
	}
	if s.Failed() == nil {
		t.Fatal("Failed() = nil after a failed commit")
	}
	ff.on.Store(false)

	held := blockRead(t, r)
	w := []Op{Put(b("k"), b("v1"))}
	wDone := submit(a, w...)
	waitBlocked(t, "(*Store).recoverFromFailure", nil)
	ksDone := make(chan error, 1)
	go func() {
		_, err := s.Keyspace("new")
		ksDone <- err
	}()
	// Store.Keyspace either completes or blocks; either way the interleaving
	// is in place.
	waitBlocked(t, "(*Store).Keyspace", ksDone)
	held.Release()

	deadlocked := false
	for _, c := range []<-chan error{wDone, ksDone, held.done} {
		select {
		case err := <-c:
			if err != nil {
				t.Errorf("after the read phase ended: %v", err)
			}
		case <-time.After(10 * time.Second): // ample: this takes milliseconds
			deadlocked = true
		}
		if deadlocked {
			break
		}
	}
	if deadlocked {
		t.Fatalf("deadlock between recovery and Store.Keyspace; goroutines:\n%s", stacks())
	}
	if w[0].Err != nil {
		t.Fatalf("the recovering write failed: %v", w[0].Err)
	}
	if got := get(t, a, "k"); got != "v1" {
		t.Fatalf("k = %q, want v1", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestFeedAfterFailedCommit: a batch whose commit failed leaves no feed
// entry and does not confuse the feed state the write phase keeps: the
// batch that takes its number after recovery is recorded next to the
// earlier ones, which stay, and the state survives a reopen.
func TestFeedAfterFailedCommit(t *testing.T) {
	if !isolated(t) {
		return
	}
	ff := &faultFS{syncOnly: true}
	dir := t.TempDir()
	opts := Options{FS: ff.FS(), FeedRetention: FeedRetention{Batches: 100}}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	k := keyspace(t, s, "f")
	put(t, k, "a", "1") // batch 1
	put(t, k, "b", "2") // batch 2
	ff.on.Store(true)
	if err := doErr(k, Put(b("bad"), b("x"))); err == nil {
		t.Fatal("a write with the fault on succeeded")
	}
	recoverWrites(t, ff, k, "w", "after") // batch 3
	put(t, k, "c", "4")                   // batch 4
	check := func(when string, k *Keyspace) {
		t.Helper()
		st, entries := feedEntries(t, k)
		var got []string
		for _, e := range entries {
			got = append(got, e.ID.String()+" "+field(e, "ops"))
		}
		want := []string{
			`1-0 [{"op":"set","key":"a","value":"1"}]`,
			`2-0 [{"op":"set","key":"b","value":"2"}]`,
			`3-0 [{"op":"set","key":"w","value":"after"}]`,
			`4-0 [{"op":"set","key":"c","value":"4"}]`,
		}
		if !slices.Equal(got, want) || st.FeedFirst() != 1 || st.Length != 4 {
			t.Fatalf("%s: feed from %d, length %d:\n%s\nwant\n%s", when, st.FeedFirst(), st.Length, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	check("after recovery", k)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, Options{FeedRetention: opts.FeedRetention})
	k = keyspace(t, s, "f")
	put(t, k, "d", "5")
	if st, entries := feedEntries(t, k); len(entries) != 5 || st.FeedFirst() != 1 {
		t.Fatalf("after reopen and a write: %d entries from %d", len(entries), st.FeedFirst())
	}
}

// TestFailedCommitAfterSharedSnapshot: commits share one snapshot for undo
// while their keyspaces have not committed since it was taken; a keyspace
// that has must not undo to it. Here "x" commits, "y" commits on the
// snapshot "x" took, then "x" fails: the undo must bring back x's first
// batch, not the state before it (nor touch "y").
func TestFailedCommitAfterSharedSnapshot(t *testing.T) {
	if isolated(t) {
		testFailedCommitAfterSharedSnapshot(t, &faultFS{syncOnly: true})
	}
}

func testFailedCommitAfterSharedSnapshot(t *testing.T, ff *faultFS) {
	dir := t.TempDir()
	s, err := Open(dir, Options{FS: ff.FS()})
	if err != nil {
		t.Fatal(err)
	}
	kx, ky := keyspace(t, s, "x"), keyspace(t, s, "y")
	put(t, kx, "a", "1")
	put(t, ky, "b", "1")
	if s.shared == nil || s.shared.takenAt != 0 {
		t.Fatalf("the shared snapshot was not reused by a keyspace that had not committed: %+v", s.shared)
	}
	ff.on.Store(true)
	ops := []Op{Put(b("a"), b("2")), Put(b("c"), b("2"))}
	if err := kx.Do(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
	if ops[0].Err == nil {
		t.Fatal("the batch did not fail")
	}
	recoverWrites(t, ff, ky, "d", "1")
	if got := []string{get(t, kx, "a"), get(t, kx, "c"), get(t, ky, "b"), get(t, ky, "d")}; strings.Join(got, ",") != "1,<nil>,1,1" {
		t.Fatalf("after recovery: x's a,c and y's b,d = %q, want 1,<nil>,1,1", got)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
