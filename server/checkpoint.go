package server

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mutexredis/mutexredis/commands"
	"github.com/mutexredis/mutexredis/mutex"
)

// Checkpoints are mutexredis's BGSAVE: a consistent Pebble checkpoint of
// the whole store in its own directory of checkpoint-dir, named by its UTC
// time and the sum of its keyspaces' batch numbers
// (20261202T041136.123Z-batches-42), with a manifest listing each
// keyspace's last batch. The directory is itself a data directory: to
// restore, start mutexredis with --dir on a copy of it.

// ManifestFile is the file in each checkpoint that describes it.
const ManifestFile = "mutexredis-checkpoint.json"

// Manifest is the content of ManifestFile.
type Manifest struct {
	Time    time.Time         `json:"time"`
	Batches map[string]uint64 `json:"batches"` // keyspace → last batch in the checkpoint
}

type checkpoints struct {
	mu  sync.Mutex
	cur checkpointStatus
	wg  sync.WaitGroup // the checkpoint running in the background
}

type checkpointStatus struct {
	inProgress      bool
	started         time.Time
	lastSave        time.Time // LASTSAVE: the last successful one (start time before any)
	lastStatus      string    // "ok" or "err"
	lastDuration    int64     // seconds; -1 before any
	saves           uint64
	lastDir         string
	lastBatches     uint64
	mutationsAtLast uint64
}

func (c *checkpoints) status() checkpointStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.cur
	if st.lastStatus == "" {
		st.lastStatus, st.lastDuration = "ok", -1
	}
	return st
}

// begin marks a checkpoint in progress; false if one already is.
func (c *checkpoints) begin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur.inProgress {
		return false
	}
	c.cur.inProgress, c.cur.started = true, time.Now()
	return true
}

// BGSave implements commands.Server: BGSAVE [SCHEDULE].
func (s *Server) BGSave(schedule bool) any {
	if !s.checkpoints.begin() {
		// Redis schedules a BGSAVE only behind an AOF rewrite, which
		// mutexredis never runs: SCHEDULE changes nothing here.
		return commands.Error("ERR Background save already in progress")
	}
	s.checkpoints.wg.Add(1)
	go func() {
		defer s.checkpoints.wg.Done()
		s.checkpoint()
	}()
	return commands.Status("Background saving started")
}

// Save implements commands.Server: SAVE, a checkpoint before the reply.
func (s *Server) Save() any {
	if !s.checkpoints.begin() {
		return commands.Error("ERR Background save already in progress")
	}
	if _, err := s.checkpoint(); err != nil {
		return commands.Error("ERR " + oneLine(err.Error()))
	}
	return commands.OK
}

// LastSave implements commands.Server.
func (s *Server) LastSave() int64 { return s.checkpoints.status().lastSave.Unix() }

func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }

// checkpoint takes one checkpoint (begin was called) and records how it
// went.
func (s *Server) checkpoint() (string, error) {
	started := s.checkpoints.status().started
	mutations := s.mutations()
	s.log.Info("checkpoint started")
	dir, batches, err := s.writeCheckpoint(started)
	c := &s.checkpoints
	c.mu.Lock()
	c.cur.inProgress = false
	c.cur.lastDuration = int64(time.Since(started).Seconds())
	if err != nil {
		c.cur.lastStatus = "err"
	} else {
		c.cur.lastStatus, c.cur.lastSave, c.cur.lastDir, c.cur.lastBatches = "ok", started, dir, batches
		c.cur.mutationsAtLast = mutations
		c.cur.saves++
	}
	c.mu.Unlock()
	if err != nil {
		s.log.Warn("checkpoint failed", "error", err)
		return "", err
	}
	s.log.Info("checkpoint done", "dir", dir, "batches", batches, "took", time.Since(started))
	return dir, nil
}

func (s *Server) writeCheckpoint(at time.Time) (string, uint64, error) {
	root, keep := s.cfg.checkpointSettings()
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", 0, err
	}
	stamp := at.UTC().Format("20060102T150405.000Z")
	tmp := filepath.Join(root, ".tmp-"+stamp+"-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err := s.store.Checkpoint(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", 0, err
	}
	batches, err := mutex.StoreBatches(tmp)
	if err != nil {
		os.RemoveAll(tmp)
		return "", 0, fmt.Errorf("reading the checkpoint back: %w", err)
	}
	var sum uint64
	for _, b := range batches {
		sum += b
	}
	m, _ := json.MarshalIndent(Manifest{Time: at.UTC(), Batches: batches}, "", "  ")
	if err := writeFileAtomic(filepath.Join(tmp, ManifestFile), append(m, '\n')); err != nil {
		os.RemoveAll(tmp)
		return "", 0, err
	}
	final := filepath.Join(root, stamp+"-batches-"+strconv.FormatUint(sum, 10))
	for i := 2; ; i++ { // two checkpoints in the same millisecond
		if _, err := os.Lstat(final); os.IsNotExist(err) {
			break
		}
		final = filepath.Join(root, stamp+"-batches-"+strconv.FormatUint(sum, 10)+"-"+strconv.Itoa(i))
	}
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		return "", 0, err
	}
	if d, err := os.Open(root); err == nil {
		d.Sync()
		d.Close()
	}
	if keep > 0 {
		s.pruneCheckpoints(root, keep)
	}
	return final, sum, nil
}

// pruneCheckpoints removes the oldest checkpoints of root beyond keep;
// only directories holding a manifest count (and go).
func (s *Server) pruneCheckpoints(root string, keep int) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, e.Name(), ManifestFile)); err == nil {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names) // names start with their UTC time
	for len(names) > keep {
		old := filepath.Join(root, names[0])
		if err := os.RemoveAll(old); err != nil {
			s.log.Warn("cannot remove an old checkpoint", "dir", old, "error", err)
		} else {
			s.log.Info("old checkpoint removed", "dir", old)
		}
		names = names[1:]
	}
}
