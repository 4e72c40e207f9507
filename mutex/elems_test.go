package mutex

import (
	"context"
	"fmt"
	"reflect"
	"testing"
)

// TestElemsInOneReadPhase: walks of one read phase share an iterator
// (elemWalker); each must still see its own bounds and direction, a walk
// stopped early must not leak into the next, and a walk nested in another
// must not move the outer one.
func TestElemsInOneReadPhase(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "0")
	makeHash(t, k, "h", 4) // a b c d
	makeHash(t, k, "g", 2) // a b
	walk := func(r *Reader, key string, rng ElemRange, limit int, inner func(sub string) error) ([]string, error) {
		m, ok, err := r.Lookup(b(key))
		if !ok || err != nil {
			t.Fatalf("Lookup(%s) = %v %v", key, ok, err)
		}
		var out []string
		var ierr error
		err = r.Elems(b(key), &m, rng, func(sub, _ []byte) bool {
			out = append(out, string(sub))
			if inner != nil {
				ierr = inner(string(sub))
			}
			return len(out) != limit && ierr == nil
		})
		if err == nil {
			err = ierr
		}
		return out, err
	}
	var nested []string
	ops := []Op{
		ReadOp(func(r *Reader) (any, error) { return walk(r, "h", ElemRange{}, 2, nil) }),
		ReadOp(func(r *Reader) (any, error) { return walk(r, "h", ElemRange{Start: b("b"), End: b("d")}, -1, nil) }),
		ReadOp(func(r *Reader) (any, error) {
			return walk(r, "h", ElemRange{Reverse: true}, 10, func(sub string) error {
				in, err := walk(r, "g", ElemRange{}, -1, nil)
				for _, s := range in {
					nested = append(nested, sub+s)
				}
				return err
			})
		}),
		ReadOp(func(r *Reader) (any, error) { return walk(r, "g", ElemRange{Reverse: true}, -1, nil) }),
	}
	if err := k.Do(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"a", "b"}, {"b", "c"}, {"d", "c", "b", "a"}, {"b", "a"}}
	for i, op := range ops {
		if op.Err != nil || !reflect.DeepEqual(op.Result, want[i]) {
			t.Errorf("walk %d = %v, %v; want %v", i, op.Result, op.Err, want[i])
		}
	}
	if w := []string{"da", "db", "ca", "cb", "ba", "bb", "aa", "ab"}; !reflect.DeepEqual(nested, w) {
		t.Errorf("nested walks %v, want %v", nested, w)
	}
}

// TestCollRecordPerPhase: a read phase remembers the last collection
// record it read (collRecord); the next read phase, after a write phase
// that changed it, must see the new one, and a Tx none remembered.
func TestCollRecordPerPhase(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "0")
	makeHash(t, k, "h", 2)
	count := func(r *Reader) (any, error) {
		m, _, err := r.Lookup(b("h"))
		return m.Count, err
	}
	grow := func(tx *Tx) (any, error) {
		first, _, err := tx.Lookup(b("h"))
		if err != nil {
			return nil, err
		}
		m := first
		if err := tx.SetElem(b("h"), &m, []byte{byte('a' + m.Count)}, b("v")); err != nil {
			return nil, err
		}
		m.Count++
		if err := tx.PutMeta(b("h"), &m); err != nil {
			return nil, err
		}
		again, _, err := tx.Lookup(b("h"))
		return [2]int64{first.Count, again.Count}, err
	}
	ops := []Op{ReadOp(count), ReadOp(count), WriteOp(grow), ReadOp(count), WriteOp(grow), ReadOp(count)}
	if err := k.Do(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
	want := []any{int64(2), int64(2), [2]int64{2, 3}, int64(3), [2]int64{3, 4}, int64(4)}
	for i, op := range ops {
		if op.Err != nil || !reflect.DeepEqual(op.Result, want[i]) {
			t.Errorf("op %d = %v, %v; want %v", i, op.Result, op.Err, want[i])
		}
	}
}

// TestCollRecordInTx: a Tx remembers the collection record it last wrote;
// every other write of the key's record (a string over it, a deletion, a
// deadline that has passed, FLUSHDB, a list emptied by hand) must be seen
// by the next lookup.
func TestCollRecordInTx(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "0")
	key := b("c")
	var steps []string
	do(t, k, WriteOp(func(tx *Tx) (any, error) {
		create := func() error {
			m := tx.NewCollection(TypeSet)
			if err := tx.SetElem(key, &m, b("x"), nil); err != nil {
				return err
			}
			m.Count = 1
			return tx.PutMeta(key, &m)
		}
		look := func(step string) {
			m, ok, err := tx.Lookup(key)
			if err != nil {
				t.Fatal(err)
			}
			steps = append(steps, fmt.Sprintf("%s:%v:%s", step, ok, m.Type))
		}
		for _, st := range []struct {
			name   string
			change func() error
		}{
			{"created", func() error { return nil }},
			{"set", func() error { return tx.Set(key, b("v")) }},
			{"deleted", func() error { _, err := tx.Delete(key); return err }},
			{"expired", func() error { _, err := tx.SetDeadline(key, tx.Now()-1); return err }},
			{"flushed", tx.Clear},
			{"emptied", func() error { return tx.DropEmptied(key) }},
		} {
			if err := create(); err != nil {
				return nil, err
			}
			if err := st.change(); err != nil {
				return nil, err
			}
			look(st.name)
		}
		return nil, nil
	}))
	want := []string{"created:true:set", "set:true:string", "deleted:false:none", "expired:false:none", "flushed:false:none", "emptied:false:none"}
	if !reflect.DeepEqual(steps, want) {
		t.Errorf("lookups %v, want %v", steps, want)
	}
}
