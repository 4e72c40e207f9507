package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/mutexredis/mutexredis/mutex"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Prometheus metrics on --metrics-addr (off by default): /metrics in the
// text format, and /healthz (200 "ok" while the store takes writes, 503
// otherwise). The registry is the Server's own.

// commandMetrics are the per-command series; stats.cmd binds a command's
// children once, so the hot path only increments them.
type commandMetrics struct {
	calls   *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

func (m *commandMetrics) bind(name string, cs *cmdStat) {
	cs.ok = m.calls.WithLabelValues(name, "ok")
	cs.failedC = m.calls.WithLabelValues(name, "failed")
	cs.rejectedC = m.calls.WithLabelValues(name, "rejected")
	cs.latencyObs = m.latency.WithLabelValues(name)
}

type metricsServer struct {
	ln  net.Listener
	srv *http.Server
}

// MetricsAddr returns the address /metrics is served on ("" when off).
func (s *Server) MetricsAddr() string {
	if s.metrics == nil {
		return ""
	}
	return s.metrics.ln.Addr().String()
}

// listenMetrics opens --metrics-addr and builds the registry.
func (s *Server) listenMetrics() error {
	if s.cfg.MetricsAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.MetricsAddr)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	cm := &commandMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mutexredis_commands_total",
			Help: "Commands by name and outcome: ok, failed (an error reply), rejected (refused before running).",
		}, []string{"command", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mutexredis_command_duration_seconds",
			Help:    "Time from reading a command's pipeline to its reply, by command (ok and failed calls).",
			Buckets: prometheus.ExponentialBuckets(0.00005, 4, 10),
		}, []string{"command"}),
	}
	reg.MustRegister(cm.calls, cm.latency, &serverCollector{s: s},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.stats.mu.Lock()
	s.stats.metric = cm
	for name, cs := range s.stats.cmds {
		cm.bind(name, cs)
	}
	s.stats.mu.Unlock()

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", s.healthz)
	s.metrics = &metricsServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	return nil
}

func (s *Server) serveMetrics() {
	if s.metrics == nil {
		return
	}
	go func() {
		if err := s.metrics.srv.Serve(s.metrics.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("metrics server stopped", "error", err)
		}
	}()
	s.log.Info("metrics served", "addr", "http://"+s.MetricsAddr()+"/metrics")
}

func (s *Server) closeMetrics() {
	if s.metrics == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.metrics.srv.Shutdown(ctx)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	select {
	case <-s.shutdown:
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("shutting down\n"))
		return
	default:
	}
	if err := s.store.Failed(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("store failed: " + oneLine(err.Error()) + "\n"))
		return
	}
	w.Write([]byte("ok\n"))
}

// serverCollector reads the server's, the mutexes' and Pebble's state at
// each scrape.
type serverCollector struct{ s *Server }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("mutexredis_"+name, help, labels, nil)
}

var (
	descClients      = desc("connected_clients", "Connected clients.")
	descConnections  = desc("connections_received_total", "Connections accepted.")
	descRejected     = desc("rejected_connections_total", "Connections refused (maxclients, protected mode).")
	descNetIn        = desc("net_input_bytes_total", "Bytes read from clients.")
	descNetOut       = desc("net_output_bytes_total", "Bytes written to clients.")
	descChannels     = desc("pubsub_channels", "Channels with subscribers.")
	descPatterns     = desc("pubsub_patterns", "Pattern subscriptions.")
	descSubscribers  = desc("pubsub_clients", "Connections with at least one channel or pattern subscription.")
	descFeeds        = desc("event_feeds", "Keyspaces whose mutex events feed pub/sub subscribers.")
	descDropped      = desc("dropped_subscribers_total", "Subscribers disconnected for passing client-output-buffer-limit pubsub.")
	descPhases       = desc("phases_total", "Mutex phases run, by kind (read, write), over every keyspace.", "kind")
	descPhaseOps     = desc("phase_ops_total", "Ops answered by the phases, by kind (read: reads, write: mutations committed).", "kind")
	descBatches      = desc("batches_total", "Write batches committed, over every keyspace.")
	descFailed       = desc("failed_batches_total", "Write batches whose commit failed.")
	descBatchSize    = desc("batch_mutations", "Mutations per committed batch.")
	descCommit       = desc("batch_commit_seconds", "Time to commit a batch (its fsync with --fsync always).")
	descQueued       = desc("queued_ops", "Ops submitted to the mutexes and not yet answered.")
	descKeyspaces    = desc("keyspaces", "Keyspaces known to the store.")
	descKeys         = desc("keyspace_keys", "Keys per numbered keyspace (counted at each scrape).", "db")
	descLastBatch    = desc("keyspace_last_batch", "Last committed batch number per numbered keyspace.", "db")
	descStoreOK      = desc("store_up", "1 while the store takes writes, 0 after a failed commit until it recovers.")
	descCheckpoints  = desc("checkpoints_total", "Checkpoints (BGSAVE, SAVE) completed.")
	descLastCkpt     = desc("last_checkpoint_timestamp_seconds", "When the last successful checkpoint started (Unix time; the server's start before any).")
	descCompactions  = desc("pebble_compactions_total", "Pebble compactions.")
	descCompactDebt  = desc("pebble_compaction_debt_bytes", "Pebble's estimated compaction debt.")
	descFlushes      = desc("pebble_flushes_total", "Pebble memtable flushes.")
	descL0Files      = desc("pebble_l0_files", "Tables in L0.")
	descL0Sublevels  = desc("pebble_l0_sublevels", "L0 sublevels.")
	descReadAmp      = desc("pebble_read_amplification", "Read amplification (L0 sublevels plus non-empty levels).")
	descLevelTables  = desc("pebble_level_tables", "Tables per level.", "level")
	descLevelBytes   = desc("pebble_level_bytes", "Bytes of tables per level.", "level")
	descCacheHits    = desc("pebble_block_cache_hits_total", "Block cache hits.")
	descCacheMisses  = desc("pebble_block_cache_misses_total", "Block cache misses.")
	descCacheBytes   = desc("pebble_block_cache_bytes", "Bytes in the block cache.")
	descMemtable     = desc("pebble_memtable_bytes", "Bytes of memtables.")
	descWALBytes     = desc("pebble_wal_bytes", "Live bytes of the write-ahead log.")
	descWALWritten   = desc("pebble_wal_written_bytes_total", "Bytes written to the write-ahead log.")
	descWALFiles     = desc("pebble_wal_files", "Live write-ahead log files.")
	descDisk         = desc("pebble_disk_usage_bytes", "Disk space used by the store.")
	descSnapshots    = desc("pebble_snapshots", "Open Pebble snapshots.")
	descTableIters   = desc("pebble_table_iterators", "Open table iterators.")
	serverCollected  = []*prometheus.Desc{descSubscribers, descFeeds, descClients, descConnections, descRejected, descNetIn, descNetOut, descChannels, descPatterns, descDropped, descPhases, descPhaseOps, descBatches, descFailed, descBatchSize, descCommit, descQueued, descKeyspaces, descKeys, descLastBatch, descStoreOK, descCheckpoints, descLastCkpt}
	pebbleCollected  = []*prometheus.Desc{descCompactions, descCompactDebt, descFlushes, descL0Files, descL0Sublevels, descReadAmp, descLevelTables, descLevelBytes, descCacheHits, descCacheMisses, descCacheBytes, descMemtable, descWALBytes, descWALWritten, descWALFiles, descDisk, descSnapshots, descTableIters}
	counter, gauge   = prometheus.CounterValue, prometheus.GaugeValue
	constMetric      = prometheus.MustNewConstMetric
	constHistogramOf = func(d *prometheus.Desc, h mutex.Histogram) prometheus.Metric {
		buckets := make(map[float64]uint64, len(h.Bounds))
		var cum uint64
		for i, b := range h.Bounds {
			cum += h.Counts[i]
			buckets[b] = cum
		}
		return prometheus.MustNewConstHistogram(d, h.Count, h.Sum, buckets)
	}
)

func (sc *serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range serverCollected {
		ch <- d
	}
	for _, d := range pebbleCollected {
		ch <- d
	}
}

func (sc *serverCollector) Collect(ch chan<- prometheus.Metric) {
	s := sc.s
	st := s.stats
	s.connMu.Lock()
	clients := len(s.conns)
	s.connMu.Unlock()
	ch <- constMetric(descClients, gauge, float64(clients))
	ch <- constMetric(descConnections, counter, float64(st.connectionsReceived.Load()))
	ch <- constMetric(descRejected, counter, float64(st.rejectedConnections.Load()))
	ch <- constMetric(descNetIn, counter, float64(st.netInput.Load()))
	ch <- constMetric(descNetOut, counter, float64(st.netOutput.Load()))
	ch <- constMetric(descChannels, gauge, float64(len(s.pubsub.channelsMatching(nil))))
	ch <- constMetric(descPatterns, gauge, float64(s.pubsub.numPat()))
	ch <- constMetric(descDropped, counter, float64(st.droppedSubscribers.Load()))
	ch <- constMetric(descSubscribers, gauge, float64(s.pubsub.numClients()))
	s.ksMu.Lock()
	feeds := len(s.feeds)
	s.ksMu.Unlock()
	ch <- constMetric(descFeeds, gauge, float64(feeds))

	infos := s.keyspaceInfos(false)
	for _, ki := range infos {
		if n, ok := s.numbered(ki.name); ok {
			db := strconv.Itoa(n)
			ch <- constMetric(descKeys, gauge, float64(ki.ks.KeyCount().Keys), db)
			ch <- constMetric(descLastBatch, gauge, float64(ki.ks.LastBatch()), db)
		}
	}
	tot := s.store.Stats()
	ch <- constMetric(descPhases, counter, float64(tot.ReadPhases), "read")
	ch <- constMetric(descPhases, counter, float64(tot.WritePhases), "write")
	ch <- constMetric(descPhaseOps, counter, float64(tot.ReadOps), "read")
	ch <- constMetric(descPhaseOps, counter, float64(tot.Mutations), "write")
	ch <- constMetric(descBatches, counter, float64(tot.Batches))
	ch <- constMetric(descFailed, counter, float64(tot.FailedBatch))
	ch <- constMetric(descQueued, gauge, float64(tot.QueuedOps))
	ch <- constMetric(descKeyspaces, gauge, float64(len(infos)))
	ch <- constHistogramOf(descCommit, tot.Commit)
	ch <- constHistogramOf(descBatchSize, tot.BatchSize)
	up := 1.0
	if s.store.Failed() != nil {
		up = 0
	}
	ch <- constMetric(descStoreOK, gauge, up)
	ck := s.checkpoints.status()
	ch <- constMetric(descCheckpoints, counter, float64(ck.saves))
	ch <- constMetric(descLastCkpt, gauge, float64(ck.lastSave.Unix()))

	pm := s.store.Metrics()
	if pm == nil {
		return
	}
	ch <- constMetric(descCompactions, counter, float64(pm.Compact.Count))
	ch <- constMetric(descCompactDebt, gauge, float64(pm.Compact.EstimatedDebt))
	ch <- constMetric(descFlushes, counter, float64(pm.Flush.Count))
	ch <- constMetric(descL0Files, gauge, float64(pm.Levels[0].TablesCount))
	ch <- constMetric(descL0Sublevels, gauge, float64(pm.Levels[0].Sublevels))
	ch <- constMetric(descReadAmp, gauge, float64(pm.ReadAmp()))
	for i, l := range pm.Levels {
		lv := strconv.Itoa(i)
		ch <- constMetric(descLevelTables, gauge, float64(l.TablesCount), lv)
		ch <- constMetric(descLevelBytes, gauge, float64(l.TablesSize), lv)
	}
	ch <- constMetric(descCacheHits, counter, float64(pm.BlockCache.Hits))
	ch <- constMetric(descCacheMisses, counter, float64(pm.BlockCache.Misses))
	ch <- constMetric(descCacheBytes, gauge, float64(pm.BlockCache.Size))
	ch <- constMetric(descMemtable, gauge, float64(pm.MemTable.Size))
	ch <- constMetric(descWALBytes, gauge, float64(pm.WAL.Size))
	ch <- constMetric(descWALWritten, counter, float64(pm.WAL.BytesWritten))
	ch <- constMetric(descWALFiles, gauge, float64(pm.WAL.Files))
	ch <- constMetric(descDisk, gauge, float64(pm.DiskSpaceUsage()))
	ch <- constMetric(descSnapshots, gauge, float64(pm.Snapshots.Count))
	ch <- constMetric(descTableIters, gauge, float64(pm.TableIters))
}

// numClients counts the connections subscribed to anything.
func (p *pubsub) numClients() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	seen := map[*conn]struct{}{}
	for _, t := range []map[string]map[*conn]struct{}{p.channels, p.patterns} {
		for _, subs := range t {
			for c := range subs {
				seen[c] = struct{}{}
			}
		}
	}
	return len(seen)
}
