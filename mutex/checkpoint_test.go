package mutex

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// A checkpoint taken while writers commit holds every batch committed
// before it was called, each batch whole, and opens as a store whose batch
// numbers are the ones StoreBatches reads.
func TestCheckpointUnderWrites(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	ks, err := s.Keyspace("0")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Each batch of a writer sets a:i and b:i together.
	pair := func(i int) []Op {
		return []Op{WriteOp(func(tx *Tx) (any, error) {
			if err := tx.Set([]byte(fmt.Sprintf("a:%d", i)), []byte("x")); err != nil {
				return nil, err
			}
			return nil, tx.Set([]byte(fmt.Sprintf("b:%d", i)), []byte("x"))
		})}
	}
	for i := 0; i < 50; i++ {
		if err := ks.Do(ctx, pair(i)); err != nil {
			t.Fatal(err)
		}
	}
	before := ks.LastBatch()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 50; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ks.Do(ctx, pair(i))
		}
	}()
	dir := filepath.Join(t.TempDir(), "ck")
	err = s.Checkpoint(dir)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	batches, err := StoreBatches(dir)
	if err != nil {
		t.Fatal(err)
	}
	if batches["0"] < before {
		t.Fatalf("checkpoint at batch %d, %d were committed before it", batches["0"], before)
	}
	ck := openStore(t, dir, Options{})
	cks, _ := ck.Keyspace("0")
	if cks.LastBatch() != batches["0"] {
		t.Errorf("opened checkpoint at batch %d, StoreBatches says %d", cks.LastBatch(), batches["0"])
	}
	count := []Op{ReadOp(func(r *Reader) (any, error) { return r.Count() })}
	if err := cks.Do(ctx, count); err != nil || count[0].Err != nil {
		t.Fatal(err, count[0].Err)
	}
	// Batch n (from 1) wrote pair n-1: exactly the first batches["0"] pairs.
	if n := count[0].Result.(int64); n != 2*int64(batches["0"]) {
		t.Errorf("checkpoint holds %d keys, want %d (batch %d)", n, 2*batches["0"], batches["0"])
	}
	for i := 0; i < int(batches["0"]); i++ {
		get := []Op{Get([]byte(fmt.Sprintf("a:%d", i))), Get([]byte(fmt.Sprintf("b:%d", i)))}
		cks.Do(ctx, get)
		if get[0].Result == nil || get[1].Result == nil {
			t.Fatalf("pair %d not whole in the checkpoint", i)
		}
	}
	if err := s.Checkpoint(dir); err == nil {
		t.Error("a checkpoint over an existing directory succeeded")
	}
	if m := s.Metrics(); m == nil || m.WAL.BytesWritten == 0 {
		t.Errorf("Metrics() = %v", m)
	}
	st := ks.Stats()
	if st.Batches < before || st.Mutations != 2*st.Batches {
		t.Errorf("stats %+v", st)
	}
	if total := s.Stats(); total.Batches < st.Batches || total.Commit.Count != total.Batches || total.BatchSize.Count != total.Batches {
		t.Errorf("store stats %+v", total)
	}
}
