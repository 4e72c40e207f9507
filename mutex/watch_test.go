package mutex

import (
	"context"
	"testing"
)

// TestWatch: a watch notices a write to its key, not to others; closing a
// watch twice (UNWATCH inside MULTI, then EXEC) leaves the registry right,
// so a later watch still notices writes.
func TestWatch(t *testing.T) {
	s, err := Open(t.TempDir(), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	k, err := s.Keyspace("w")
	if err != nil {
		t.Fatal(err)
	}
	put := func(key string) {
		if err := k.Do(context.Background(), []Op{Put([]byte(key), []byte("v"))}); err != nil {
			t.Fatal(err)
		}
	}
	w := k.Watch([]byte("a"))
	put("b")
	if w.Changed() {
		t.Fatal("a write to b changed a watch on a")
	}
	put("a")
	if !w.Changed() {
		t.Fatal("a write to a did not change a watch on a")
	}
	w.Close()
	w.Close()
	if n := k.watches.n.Load(); n != 0 {
		t.Fatalf("%d watches registered after closing the only one twice", n)
	}
	w2 := k.Watch([]byte("a"))
	defer w2.Close()
	put("a")
	if !w2.Changed() {
		t.Fatal("a watch taken after a double Close missed a write")
	}
}
