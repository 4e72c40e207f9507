package mutex

import (
	"strconv"
	"testing"
)

// TestStoreStatsOutliveEviction: the store's totals count every batch,
// also those of keyspaces evicted as idle since (a sum over the resident
// keyspaces went down at each sweep: Prometheus counters must not).
func TestStoreStatsOutliveEviction(t *testing.T) {
	s, _ := newStore(t, Options{})
	const n = 3 * minSweep
	for i := range n {
		put(t, keyspace(t, s, "t"+strconv.Itoa(i)), "k", "v")
	}
	resident := 0
	var sum uint64
	s.Resident(func(k *Keyspace) {
		resident++
		sum += k.Stats().Batches
	})
	if resident >= n {
		t.Fatalf("%d keyspaces resident: none was evicted, the test proves nothing", resident)
	}
	st := s.Stats()
	if st.Batches != n || st.Mutations != n || st.Commit.Count != n || st.BatchSize.Count != n || st.WritePhases != n {
		t.Fatalf("store stats after %d batches (%d resident, summing %d): %+v", n, resident, sum, st)
	}
}
