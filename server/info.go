package server

import (
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mutexredis/mutexredis/commands"
	"github.com/mutexredis/mutexredis/mutex"
)

// INFO follows redis-server 7.0's sections, field names and formats, so
// that redis-cli --stat, redis_exporter, Datadog and client libraries read
// it; fields that describe machinery mutexredis does not have (forks, RDB
// files, replicas) keep Redis's names with the value that is true here.
// The mutex section is mutexredis's own.

// infoSection is one section: its INFO name and what writes it.
type infoSection struct {
	name  string // lower case, as asked
	title string // as printed after "# "
	write func(s *Server, b *infoBuf)
	// In "INFO" (default) and in "INFO all"; "everything" has them all.
	inDefault, inAll bool
}

var infoSections = []infoSection{
	{"server", "Server", (*Server).infoServer, true, true},
	{"clients", "Clients", (*Server).infoClients, true, true},
	{"memory", "Memory", (*Server).infoMemory, true, true},
	{"persistence", "Persistence", (*Server).infoPersistence, true, true},
	{"stats", "Stats", (*Server).infoStats, true, true},
	{"replication", "Replication", (*Server).infoReplication, true, true},
	{"cpu", "CPU", (*Server).infoCPU, true, true},
	{"modules", "Modules", func(*Server, *infoBuf) {}, false, false},
	{"commandstats", "Commandstats", (*Server).infoCommandstats, false, true},
	{"errorstats", "Errorstats", (*Server).infoErrorstats, true, true},
	{"latencystats", "Latencystats", (*Server).infoLatencystats, false, true},
	{"cluster", "Cluster", (*Server).infoCluster, true, true},
	{"keyspace", "Keyspace", (*Server).infoKeyspace, true, true},
	{"mutex", "Mutex", (*Server).infoMutex, true, true},
}

type infoBuf struct{ b []byte }

func (b *infoBuf) add(name string, v any) {
	b.b = append(b.b, name...)
	b.b = append(b.b, ':')
	switch v := v.(type) {
	case string:
		b.b = append(b.b, v...)
	case int:
		b.b = strconv.AppendInt(b.b, int64(v), 10)
	case int64:
		b.b = strconv.AppendInt(b.b, v, 10)
	case uint64:
		b.b = strconv.AppendUint(b.b, v, 10)
	case float64:
		b.b = strconv.AppendFloat(b.b, v, 'f', 2, 64)
	default:
		b.b = fmt.Append(b.b, v)
	}
	b.b = append(b.b, "\r\n"...)
}

// Info implements commands.Server: INFO [section …]. No section is the
// default set; "all" and "everything" add the rest; unknown sections are
// ignored, as Redis does.
func (s *Server) Info(sections ...string) string {
	want := map[string]bool{}
	if len(sections) == 0 {
		sections = []string{"default"}
	}
	for _, sec := range sections {
		sec = strings.ToLower(sec)
		for _, is := range infoSections {
			switch sec {
			case "default":
				want[is.name] = want[is.name] || is.inDefault
			case "all":
				want[is.name] = want[is.name] || is.inAll
			case "everything":
				want[is.name] = true
			default:
				if is.name == sec {
					want[is.name] = true
				}
			}
		}
	}
	var b infoBuf
	for _, is := range infoSections {
		if !want[is.name] {
			continue
		}
		if len(b.b) > 0 {
			b.b = append(b.b, "\r\n"...)
		}
		b.b = append(b.b, "# "...)
		b.b = append(b.b, is.title...)
		b.b = append(b.b, "\r\n"...)
		is.write(s, &b)
	}
	return string(b.b)
}

func (s *Server) infoServer(b *infoBuf) {
	uptime := int64(time.Since(s.started).Seconds())
	b.add("redis_version", commands.Version)
	b.add("mutexredis_version", MutexredisVersion)
	b.add("redis_git_sha1", "00000000")
	b.add("redis_git_dirty", 0)
	b.add("redis_build_id", "0")
	b.add("redis_mode", "standalone")
	b.add("os", osName())
	b.add("arch_bits", strconv.Itoa(strconv.IntSize))
	b.add("monotonic_clock", "POSIX clock_gettime")
	b.add("multiplexing_api", "epoll")
	b.add("atomicvar_api", "c11-builtin")
	b.add("gcc_version", "0.0.0")
	b.add("go_version", runtime.Version())
	b.add("process_id", os.Getpid())
	b.add("process_supervised", "no")
	b.add("run_id", s.runID)
	b.add("tcp_port", s.cfg.Port)
	b.add("server_time_usec", time.Now().UnixMicro())
	b.add("uptime_in_seconds", uptime)
	b.add("uptime_in_days", uptime/86400)
	b.add("hz", 10)
	b.add("configured_hz", 10)
	b.add("lru_clock", time.Now().Unix()&(1<<24-1))
	exe, _ := os.Executable()
	b.add("executable", exe)
	b.add("config_file", s.cfg.ConfigFile)
	b.add("io_threads_active", 0)
}

func osName() string {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return runtime.GOOS
	}
	str := func(f [65]int8) string {
		var out []byte
		for _, c := range f {
			if c == 0 {
				break
			}
			out = append(out, byte(c))
		}
		return string(out)
	}
	return str(u.Sysname) + " " + str(u.Release) + " " + str(u.Machine)
}

func (s *Server) infoClients(b *infoBuf) {
	s.connMu.Lock()
	clients := len(s.conns)
	s.connMu.Unlock()
	b.add("connected_clients", clients)
	b.add("cluster_connections", 0)
	b.add("maxclients", s.cfg.MaxClients)
	b.add("client_recent_max_input_buffer", s.stats.maxInputBuffer.Load())
	b.add("client_recent_max_output_buffer", 0)
	b.add("blocked_clients", s.blockedClients())
	b.add("tracking_clients", 0)
	b.add("clients_in_timeout_table", 0)
}

// memory is the process's memory as INFO and /metrics report it: the Go
// runtime's (heap in use, stacks, runtime structures) plus Pebble's own
// accounting of the memory it allocates outside the Go heap (block cache,
// memtables), and the resident set size from /proc.
type memory struct {
	used, goUsed, pebbleCache, pebbleMemtables, rss uint64
}

var memSamples = []metrics.Sample{
	{Name: "/memory/classes/total:bytes"},
	{Name: "/memory/classes/heap/free:bytes"},
	{Name: "/memory/classes/heap/released:bytes"},
}

func (s *Server) memory() memory {
	samples := slices.Clone(memSamples)
	metrics.Read(samples)
	var m memory
	m.goUsed = samples[0].Value.Uint64() - samples[1].Value.Uint64() - samples[2].Value.Uint64()
	if pm := s.store.Metrics(); pm != nil {
		m.pebbleCache = uint64(max(pm.BlockCache.Size, 0))
		m.pebbleMemtables = pm.MemTable.Size
	}
	m.used = m.goUsed
	if pebbleOffHeap {
		m.used += m.pebbleCache + m.pebbleMemtables
	}
	m.rss = rss()
	for {
		peak := s.memPeak.Load()
		if m.used <= peak || s.memPeak.CompareAndSwap(peak, m.used) {
			break
		}
	}
	return m
}

// rss reads the resident set size from /proc/self/statm (0 elsewhere).
func rss() uint64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// humanBytes formats as Redis's bytesToHuman: 943.01K, 11.87M.
func humanBytes(n uint64) string {
	f := float64(n)
	switch {
	case n < 1024:
		return strconv.FormatUint(n, 10) + "B"
	case n < 1<<20:
		return fmt.Sprintf("%.2fK", f/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.2fM", f/(1<<20))
	case n < 1<<40:
		return fmt.Sprintf("%.2fG", f/(1<<30))
	case n < 1<<50:
		return fmt.Sprintf("%.2fT", f/(1<<40))
	}
	return fmt.Sprintf("%.2fP", f/(1<<50))
}

func (s *Server) infoMemory(b *infoBuf) {
	m := s.memory()
	peak := s.memPeak.Load()
	b.add("used_memory", m.used)
	b.add("used_memory_human", humanBytes(m.used))
	b.add("used_memory_rss", m.rss)
	b.add("used_memory_rss_human", humanBytes(m.rss))
	b.add("used_memory_peak", peak)
	b.add("used_memory_peak_human", humanBytes(peak))
	b.add("used_memory_peak_perc", fmt.Sprintf("%.2f%%", 100*float64(m.used)/float64(max(peak, 1))))
	b.add("used_memory_go", m.goUsed)
	b.add("used_memory_pebble_cache", m.pebbleCache)
	b.add("used_memory_pebble_memtables", m.pebbleMemtables)
	b.add("total_system_memory", totalSystemMemory())
	b.add("total_system_memory_human", humanBytes(totalSystemMemory()))
	b.add("maxmemory", 0)
	b.add("maxmemory_human", "0B")
	b.add("maxmemory_policy", "noeviction")
	ratio := 0.0
	if m.used > 0 {
		ratio = float64(m.rss) / float64(m.used)
	}
	b.add("mem_fragmentation_ratio", ratio)
	b.add("mem_fragmentation_bytes", int64(m.rss)-int64(m.used))
	b.add("mem_allocator", "go-"+runtime.Version())
	b.add("lazyfree_pending_objects", 0)
	b.add("lazyfreed_objects", 0)
}

func totalSystemMemory() uint64 {
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) != nil {
		return 0
	}
	return uint64(si.Totalram) * uint64(si.Unit)
}

func (s *Server) infoPersistence(b *infoBuf) {
	ck := s.checkpoints.status()
	b.add("loading", 0)
	b.add("async_loading", 0)
	b.add("rdb_changes_since_last_save", s.mutations()-ck.mutationsAtLast)
	b.add("rdb_bgsave_in_progress", boolInt(ck.inProgress))
	b.add("rdb_last_save_time", ck.lastSave.Unix())
	b.add("rdb_last_bgsave_status", ck.lastStatus)
	b.add("rdb_last_bgsave_time_sec", ck.lastDuration)
	cur := int64(-1)
	if ck.inProgress {
		cur = int64(time.Since(ck.started).Seconds())
	}
	b.add("rdb_current_bgsave_time_sec", cur)
	b.add("rdb_saves", ck.saves)
	b.add("rdb_last_cow_size", 0)
	b.add("rdb_last_checkpoint_dir", ck.lastDir)
	b.add("rdb_last_checkpoint_batches", ck.lastBatches)
	// The store's write-ahead log is mutexredis's append-only file: every
	// batch is in it, fsync'd before its writes are acknowledged unless
	// --fsync never.
	b.add("aof_enabled", 1)
	b.add("aof_rewrite_in_progress", 0)
	b.add("aof_rewrite_scheduled", 0)
	b.add("aof_last_rewrite_time_sec", -1)
	b.add("aof_current_rewrite_time_sec", -1)
	b.add("aof_last_bgrewrite_status", "ok")
	b.add("aof_rewrites", 0)
	status := "ok"
	if s.store.Failed() != nil {
		status = "err"
	}
	b.add("aof_last_write_status", status)
	b.add("module_fork_in_progress", 0)
	b.add("fsync", s.cfg.Fsync)
	b.add("store_status", status)
	b.add("store_dir", s.cfg.Dir)
	if pm := s.store.Metrics(); pm != nil {
		b.add("store_disk_usage", pm.DiskSpaceUsage())
		b.add("store_wal_bytes", pm.WAL.Size)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *Server) infoStats(b *infoBuf) {
	st := s.stats
	ops, inK, outK := st.inst.rates()
	b.add("total_connections_received", st.connectionsReceived.Load())
	b.add("total_commands_processed", st.commandsProcessed.Load())
	b.add("instantaneous_ops_per_sec", int64(ops+0.5))
	b.add("total_net_input_bytes", st.netInput.Load())
	b.add("total_net_output_bytes", st.netOutput.Load())
	b.add("total_net_repl_input_bytes", 0)
	b.add("total_net_repl_output_bytes", 0)
	b.add("instantaneous_input_kbps", inK)
	b.add("instantaneous_output_kbps", outK)
	b.add("instantaneous_input_repl_kbps", 0.0)
	b.add("instantaneous_output_repl_kbps", 0.0)
	b.add("rejected_connections", st.rejectedConnections.Load())
	b.add("sync_full", 0)
	b.add("sync_partial_ok", 0)
	b.add("sync_partial_err", 0)
	b.add("expired_keys", s.store.ExpiredKeys())
	b.add("expired_stale_perc", 0.0)
	b.add("expired_time_cap_reached_count", 0)
	b.add("evicted_keys", 0)
	b.add("evicted_clients", 0)
	b.add("keyspace_hits", st.keyspaceHits.Load())
	b.add("keyspace_misses", st.keyspaceMisses.Load())
	b.add("pubsub_channels", len(s.pubsub.channelsMatching(nil)))
	b.add("pubsub_patterns", s.pubsub.numPat())
	b.add("pubsubshard_channels", 0)
	b.add("latest_fork_usec", 0)
	b.add("total_forks", 0)
	b.add("tracking_total_keys", 0)
	b.add("unexpected_error_replies", 0)
	b.add("total_error_replies", st.errorReplies.Load())
	b.add("dump_payload_sanitizations", 0)
}

func (s *Server) infoReplication(b *infoBuf) {
	if s.node != nil {
		s.infoClusterNode(b)
		return
	}
	b.add("role", "master")
	b.add("connected_slaves", 0)
	b.add("master_failover_state", "no-failover")
	b.add("master_replid", s.runID)
	b.add("master_replid2", strings.Repeat("0", 40))
	b.add("master_repl_offset", 0)
	b.add("second_repl_offset", -1)
	b.add("repl_backlog_active", 0)
	b.add("repl_backlog_size", 0)
	b.add("repl_backlog_first_byte_offset", 0)
	b.add("repl_backlog_histlen", 0)
}

func (s *Server) infoCPU(b *infoBuf) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	secs := func(tv syscall.Timeval) string {
		return fmt.Sprintf("%d.%06d", tv.Sec, tv.Usec)
	}
	b.add("used_cpu_sys", secs(ru.Stime))
	b.add("used_cpu_user", secs(ru.Utime))
	var ch syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ch)
	b.add("used_cpu_sys_children", secs(ch.Stime))
	b.add("used_cpu_user_children", secs(ch.Utime))
}

func (s *Server) infoCommandstats(b *infoBuf) {
	st := s.stats
	st.mu.RLock()
	names := make([]string, 0, len(st.cmds))
	for n := range st.cmds {
		names = append(names, n)
	}
	st.mu.RUnlock()
	sort.Strings(names)
	for _, n := range names {
		st.mu.RLock()
		cs := st.cmds[n]
		st.mu.RUnlock()
		calls, usec := cs.calls.Load(), cs.usec.Load()
		rejected, failed := cs.rejected.Load(), cs.failed.Load()
		if calls == 0 && rejected == 0 && failed == 0 {
			continue // reset by RESETSTAT and not called since
		}
		per := 0.0
		if calls > 0 {
			per = float64(usec) / float64(calls)
		}
		b.add("cmdstat_"+n, fmt.Sprintf("calls=%d,usec=%d,usec_per_call=%.2f,rejected_calls=%d,failed_calls=%d",
			calls, usec, per, rejected, failed))
	}
}

// infoLatencystats writes p50, p99 and p99.9 per command, as Redis's
// latency-tracking does, from a histogram with buckets at most 41% wide
// (the values are the buckets' upper bounds).
func (s *Server) infoLatencystats(b *infoBuf) {
	st := s.stats
	st.mu.RLock()
	names := make([]string, 0, len(st.cmds))
	for n := range st.cmds {
		names = append(names, n)
	}
	st.mu.RUnlock()
	sort.Strings(names)
	for _, n := range names {
		st.mu.RLock()
		cs := st.cmds[n]
		st.mu.RUnlock()
		p, ok := cs.latency.percentiles(0.5, 0.99, 0.999)
		if !ok {
			continue
		}
		b.add("latency_percentiles_usec_"+n, fmt.Sprintf("p50=%.3f,p99=%.3f,p99.9=%.3f", p[0], p[1], p[2]))
	}
}

func (s *Server) infoErrorstats(b *infoBuf) {
	st := s.stats
	st.mu.RLock()
	type kv struct {
		k string
		v uint64
	}
	var list []kv
	for k, c := range st.errs {
		if v := c.Load(); v > 0 {
			list = append(list, kv{k, v})
		}
	}
	st.mu.RUnlock()
	sort.Slice(list, func(i, j int) bool { return list[i].k < list[j].k })
	for _, e := range list {
		b.add("errorstat_"+e.k, "count="+strconv.FormatUint(e.v, 10))
	}
}

func (s *Server) infoCluster(b *infoBuf) { b.add("cluster_enabled", 0) }

// keyspaceInfo is one keyspace's line material.
type keyspaceInfo struct {
	name  string
	ks    *mutex.Keyspace
	keys  mutex.KeyCount
	stats mutex.KeyspaceStats
}

// keyspaceInfos opens every keyspace the store knows, with its key counts
// if withKeys.
func (s *Server) keyspaceInfos(withKeys bool) []keyspaceInfo {
	names, _ := s.userKeyspaces()
	var out []keyspaceInfo
	for _, name := range names {
		ks, err := s.Keyspace(name)
		if err != nil {
			continue
		}
		ki := keyspaceInfo{name: name, ks: ks, stats: ks.Stats()}
		if withKeys {
			ki.keys = ks.KeyCount() // kept by the write phases: INFO never scans
		}
		out = append(out, ki)
	}
	return out
}

// numbered reports whether name is a numbered keyspace (SELECT n).
func (s *Server) numbered(name string) (int, bool) {
	n, err := strconv.Atoi(name)
	return n, err == nil && n >= 0 && n < s.cfg.Databases && strconv.Itoa(n) == name
}

func (s *Server) infoKeyspace(b *infoBuf) {
	infos := s.keyspaceInfos(true)
	sort.Slice(infos, func(i, j int) bool {
		a, aok := s.numbered(infos[i].name)
		c, cok := s.numbered(infos[j].name)
		if aok && cok {
			return a < c
		}
		return aok
	})
	for _, ki := range infos {
		if n, ok := s.numbered(ki.name); ok && ki.keys.Keys > 0 {
			avgTTL := int64(0)
			if ki.keys.Expires > 0 {
				avgTTL = max(int64(ki.keys.MeanDeadline)-time.Now().UnixMilli(), 0)
			}
			b.add("db"+strconv.Itoa(n), fmt.Sprintf("keys=%d,expires=%d,avg_ttl=%d", ki.keys.Keys, ki.keys.Expires, avgTTL))
		}
	}
}

// infoName makes a keyspace name usable as an INFO field name: names may
// hold ':', which INFO's "field:value" cannot.
func infoName(name string) string { return strings.ReplaceAll(name, ":", "%3A") }

func (s *Server) infoMutex(b *infoBuf) {
	infos := s.keyspaceInfos(false)
	tot := s.store.Stats() // the same totals as /metrics
	perBatch, commitUsec := 0.0, 0.0
	if tot.Batches > 0 {
		perBatch = float64(tot.Mutations) / float64(tot.Batches)
	}
	if tot.Commit.Count > 0 {
		commitUsec = tot.Commit.Sum / float64(tot.Commit.Count) * 1e6
	}
	b.add("mutex_keyspaces", len(infos))
	b.add("mutex_read_phases", tot.ReadPhases)
	b.add("mutex_read_ops", tot.ReadOps)
	b.add("mutex_write_phases", tot.WritePhases)
	b.add("mutex_batches", tot.Batches)
	b.add("mutex_failed_batches", tot.FailedBatch)
	b.add("mutex_batch_ops", tot.Mutations)
	b.add("mutex_ops_per_batch", perBatch)
	b.add("mutex_commit_usec_total", uint64(tot.Commit.Sum*1e6))
	b.add("mutex_commit_usec_per_batch", commitUsec)
	b.add("mutex_queued_ops", tot.QueuedOps)
	b.add("mutex_max_queued_ops", s.cfg.MaxQueuedOps)
	b.add("mutex_dropped_subscribers", s.stats.droppedSubscribers.Load())
	b.add("mutex_fsync", s.cfg.Fsync)
	if pm := s.store.Metrics(); pm != nil { // Pebble's block cache: issue 20's symptom shows here
		hits, misses := pm.BlockCache.Hits, pm.BlockCache.Misses
		b.add("store_block_cache_hits", hits)
		b.add("store_block_cache_misses", misses)
		rate := 0.0
		if hits+misses > 0 {
			rate = float64(hits) / float64(hits+misses)
		}
		b.add("store_block_cache_hit_rate", strconv.FormatFloat(rate, 'f', 4, 64))
		b.add("store_block_cache_bytes", pm.BlockCache.Size)
	}
	rc := s.store.ReadCacheStats()
	b.add("store_read_cache_hits", rc.Hits)
	b.add("store_read_cache_misses", rc.Misses)
	rate := 0.0
	if rc.Hits+rc.Misses > 0 {
		rate = float64(rc.Hits) / float64(rc.Hits+rc.Misses)
	}
	b.add("store_read_cache_hit_rate", strconv.FormatFloat(rate, 'f', 4, 64))
	b.add("store_read_cache_entries", rc.Entries)
	b.add("store_read_cache_bytes", rc.Bytes)
	b.add("store_read_cache_limit", rc.Limit)
	sort.Slice(infos, func(i, j int) bool { return infos[i].name < infos[j].name })
	for _, ki := range infos {
		st := ki.stats
		b.add("ks_"+infoName(ki.name), fmt.Sprintf("last_batch=%d,read_phases=%d,write_phases=%d,batches=%d,batch_ops=%d,queued_ops=%d",
			ki.ks.LastBatch(), st.ReadPhases, st.WritePhases, st.Batches, st.Mutations, st.QueuedOps))
	}
}

// mutations is the number of mutations committed since the process
// started, over every keyspace.
func (s *Server) mutations() uint64 { return s.store.Stats().Mutations }

// blockedClients is INFO's blocked_clients: the waiters the keyspaces have
// registered (so a client counts once it is in line to be served).
func (s *Server) blockedClients() int64 {
	var n int64
	s.store.Resident(func(k *mutex.Keyspace) { n += k.Blocked() })
	return n
}
