package mutex

import (
	"strconv"
	"testing"
)

// TestNameFilter: every name added is reported (across the doubling
// layers), and names never added mostly are not.
func TestNameFilter(t *testing.T) {
	f := newNameFilter()
	const n = 50_000 // past several layers
	for i := range n {
		f.add("tenant-" + strconv.Itoa(i))
	}
	for i := range n {
		if !f.mayHave("tenant-" + strconv.Itoa(i)) {
			t.Fatalf("tenant-%d added but not reported", i)
		}
	}
	fp := 0
	for i := range n {
		if f.mayHave("other-" + strconv.Itoa(i)) {
			fp++
		}
	}
	if fp > n/20 { // ~1-2% expected
		t.Fatalf("%d of %d names never added reported", fp, n)
	}
}

// TestNameFilterAtOpen: a keyspace that committed in an earlier run is
// found through the filter the store loads at open, whatever the
// keyspaces created since.
func TestNameFilterAtOpen(t *testing.T) {
	s, dir := newStore(t, Options{})
	put(t, keyspace(t, s, "t1"), "a", "1")
	put(t, keyspace(t, s, "t1"), "a", "2")
	s.Close()
	s = openStore(t, dir, Options{})
	if got := keyspace(t, s, "t1").LastBatch(); got != 2 {
		t.Fatalf("t1's batch after reopen: %d, want 2", got)
	}
	if got := keyspace(t, s, "t2").LastBatch(); got != 0 {
		t.Fatalf("a new keyspace's batch: %d", got)
	}
}
