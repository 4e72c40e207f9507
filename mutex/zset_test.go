package mutex

import (
	"context"
	"fmt"
	"testing"
)

// TestCountElemsAndElemPosition checks the two zset helpers on a
// collection of 1000 elements, in and out of sub-ranges, for present and
// absent targets.
func TestCountElemsAndElemPosition(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	ks := keyspace(t, s, "0")
	key := []byte("c")
	sub := func(i int) []byte { return []byte(fmt.Sprintf("s%04d", i)) }
	const n = 1000
	ops := []Op{WriteOp(func(tx *Tx) (any, error) {
		m := tx.NewCollection(TypeZSet)
		for i := 0; i < n; i++ {
			if err := tx.SetElem(key, &m, sub(i), nil); err != nil {
				return nil, err
			}
			// An element of another family, outside the ranges below.
			if err := tx.SetElem(key, &m, []byte(fmt.Sprintf("m%04d", i)), nil); err != nil {
				return nil, err
			}
		}
		m.Count = n
		return nil, tx.PutMeta(key, &m)
	})}
	if err := ks.Do(context.Background(), ops); err != nil || ops[0].Err != nil {
		t.Fatal(err, ops[0].Err)
	}
	fam := ElemRange{Start: []byte("s"), End: []byte("t")}
	read := []Op{ReadOp(func(r *Reader) (any, error) {
		m, ok, err := r.Lookup(key)
		if !ok || err != nil {
			return nil, fmt.Errorf("lookup: %v %v", ok, err)
		}
		if got, err := r.CountElems(key, &m, fam); err != nil || got != n {
			return nil, fmt.Errorf("CountElems(family) = %d, %v", got, err)
		}
		if got, err := r.CountElems(key, &m, ElemRange{Start: sub(10), End: sub(20)}); err != nil || got != 10 {
			return nil, fmt.Errorf("CountElems([10, 20)) = %d, %v", got, err)
		}
		if got, err := r.CountElems(key, &m, ElemRange{}); err != nil || got != 2*n {
			return nil, fmt.Errorf("CountElems(all) = %d, %v", got, err)
		}
		for _, i := range []int{0, 1, 499, 500, 501, 998, 999} {
			pos, ok, err := r.ElemPosition(key, &m, fam, sub(i), n)
			if err != nil || !ok || pos != int64(i) {
				return nil, fmt.Errorf("ElemPosition(%d) = %d, %v, %v", i, pos, ok, err)
			}
		}
		for _, absent := range [][]byte{[]byte("s0499x"), []byte("s"), []byte("s9999"), []byte("s0000\x00")} {
			if pos, ok, err := r.ElemPosition(key, &m, fam, absent, n); err != nil || ok {
				return nil, fmt.Errorf("ElemPosition(%q) = %d, %v, %v; want absent", absent, pos, ok, err)
			}
		}
		return nil, nil
	})}
	if err := ks.Do(context.Background(), read); err != nil {
		t.Fatal(err)
	}
	if read[0].Err != nil {
		t.Fatal(read[0].Err)
	}
}
