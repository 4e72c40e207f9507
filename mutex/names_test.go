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
	t.Logf("%d of %d names never added reported", fp, n)
	if fp > n/20 { // ~1-3% expected
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

// TestKeyspaceKeys: the keys a keyspace is made with are those of
// keyspacePrefix and prefixEnd, names ending in 0xff bytes included.
func TestKeyspaceKeys(t *testing.T) {
	for _, name := range []string{"", "a", "tenant-1", "\xff", "a\xff\xff", string(make([]byte, 200))} {
		prefix, end, seqKey := keyspaceKeys(name)
		if want := keyspacePrefix(tagData, name); string(prefix) != string(want) {
			t.Errorf("%q: prefix %x, want %x", name, prefix, want)
		}
		if want := prefixEnd(keyspacePrefix(tagData, name)); string(end) != string(want) {
			t.Errorf("%q: end %x, want %x", name, end, want)
		}
		if want := keyspacePrefix(tagSeq, name); string(seqKey) != string(want) {
			t.Errorf("%q: seq key %x, want %x", name, seqKey, want)
		}
	}
}
