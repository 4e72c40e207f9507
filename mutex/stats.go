package mutex

import (
	"sync/atomic"
	"time"
)

// KeyspaceStats are counters since the process started: a keyspace's
// (Keyspace.Stats: an evicted keyspace's start again from zero when it is
// used again) or the store's over every keyspace (Store.Stats). They are
// read without stopping the mutex, so the fields of one snapshot may be a
// phase apart.
type KeyspaceStats struct {
	ReadPhases  uint64 // read phases run
	ReadOps     uint64 // reads those phases answered
	WritePhases uint64 // write phases run
	Batches     uint64 // batches committed (phases with at least one mutation)
	FailedBatch uint64 // batches whose commit failed
	Mutations   uint64 // mutations in the committed batches
	QueuedOps   int64  // ops submitted and not yet answered (now)
}

// StoreStats are the store's counters over every keyspace since it opened,
// evicted keyspaces included (so they never go down), with the histograms,
// which only the store keeps.
type StoreStats struct {
	KeyspaceStats
	// Commit is the time the committed batches took to commit (the fsync
	// with --fsync always), as a histogram over CommitBuckets.
	Commit Histogram
	// BatchSize is the number of mutations per committed batch, as a
	// histogram over BatchBuckets.
	BatchSize Histogram
}

// Histogram is a cumulative-free histogram: Counts[i] counts observations
// ≤ Bounds[i] and above the bound before it; the last count is above every
// bound.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Sum    float64
	Count  uint64
}

// CommitBuckets are the upper bounds, in seconds, of the commit histogram.
var CommitBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}

// BatchBuckets are the upper bounds of the batch-size histogram.
var BatchBuckets = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384}

// keyspaceStats are updated by the keyspace's runner (phases) and by
// submitters (queued); every counter also counts into the store's total
// (storeStats), so a keyspace costs 7 counters, not its own histograms.
type keyspaceStats struct {
	readPhases, readOps, writePhases, batches, failed, mutations counter
	queued                                                       gauge
	store                                                        *storeStats
}

// storeStats are the totals of every keyspace of a store.
type storeStats struct {
	readPhases, readOps, writePhases, batches, failed, mutations atomic.Uint64
	queued                                                       atomic.Int64
	commit, batchSize                                            histogram
}

// counter is a keyspace's counter and its share of the store's total.
type counter struct {
	n     atomic.Uint64
	total *atomic.Uint64
}

func (c *counter) Add(d uint64) {
	c.n.Add(d)
	c.total.Add(d)
}

func (c *counter) Load() uint64 { return c.n.Load() }

type gauge struct {
	n     atomic.Int64
	total *atomic.Int64
}

func (g *gauge) Add(d int64) {
	g.n.Add(d)
	g.total.Add(d)
}

// init ties s's counters to the store's totals t.
func (s *keyspaceStats) init(t *storeStats) {
	s.store = t
	s.readPhases.total, s.readOps.total, s.writePhases.total = &t.readPhases, &t.readOps, &t.writePhases
	s.batches.total, s.failed.total, s.mutations.total = &t.batches, &t.failed, &t.mutations
	s.queued.total = &t.queued
}

type histogram struct {
	counts [16]atomic.Uint64 // len(bounds)+1 used
	sum    atomic.Uint64     // in the unit of sumUnit
	count  atomic.Uint64
}

func (h *histogram) observe(bounds []float64, v float64, sumUnit float64) {
	i := 0
	for i < len(bounds) && v > bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(uint64(v / sumUnit))
	h.count.Add(1)
}

func (h *histogram) snapshot(bounds []float64, sumUnit float64) Histogram {
	out := Histogram{Bounds: bounds, Counts: make([]uint64, len(bounds)+1)}
	for i := range out.Counts {
		out.Counts[i] = h.counts[i].Load()
	}
	out.Sum = float64(h.sum.Load()) * sumUnit
	out.Count = h.count.Load()
	return out
}

func (s *keyspaceStats) readPhase(ops int) {
	s.readPhases.Add(1)
	s.readOps.Add(uint64(ops))
}

// committed records a committed batch of mutations and its commit time.
func (s *keyspaceStats) committed(mutations int, took time.Duration) {
	s.batches.Add(1)
	s.mutations.Add(uint64(mutations))
	s.store.commit.observe(CommitBuckets, took.Seconds(), 1e-6)
	s.store.batchSize.observe(BatchBuckets, float64(mutations), 1)
}

// Stats returns the keyspace's counters.
func (k *Keyspace) Stats() KeyspaceStats {
	s := &k.stats
	return KeyspaceStats{
		ReadPhases:  s.readPhases.Load(),
		ReadOps:     s.readOps.Load(),
		WritePhases: s.writePhases.Load(),
		Batches:     s.batches.Load(),
		FailedBatch: s.failed.Load(),
		Mutations:   s.mutations.Load(),
		QueuedOps:   s.queued.n.Load(),
	}
}

// Stats returns the store's counters over every keyspace since it opened.
func (s *Store) Stats() StoreStats {
	t := &s.stats
	return StoreStats{
		KeyspaceStats: KeyspaceStats{
			ReadPhases:  t.readPhases.Load(),
			ReadOps:     t.readOps.Load(),
			WritePhases: t.writePhases.Load(),
			Batches:     t.batches.Load(),
			FailedBatch: t.failed.Load(),
			Mutations:   t.mutations.Load(),
			QueuedOps:   t.queued.Load(),
		},
		Commit:    t.commit.snapshot(CommitBuckets, 1e-6),
		BatchSize: t.batchSize.snapshot(BatchBuckets, 1),
	}
}
