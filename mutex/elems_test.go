package mutex

import (
	"context"
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
