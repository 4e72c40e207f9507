package server

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mutexredis/mutexredis/commands"
	"github.com/mutexredis/mutexredis/mutex"
)

func newTestServer(t *testing.T) *Server {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Dir = t.TempDir()
	cfg.CheckpointDir = filepath.Join(t.TempDir(), "checkpoints")
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.stop() })
	return s
}

// sections parses INFO's text into section title → field → value.
func sections(t *testing.T, text string) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	var cur map[string]string
	for _, l := range strings.Split(text, "\r\n") {
		switch {
		case l == "":
		case strings.HasPrefix(l, "# "):
			cur = map[string]string{}
			out[l[2:]] = cur
		default:
			k, v, ok := strings.Cut(l, ":")
			if !ok || cur == nil {
				t.Fatalf("bad INFO line %q", l)
			}
			cur[k] = v
		}
	}
	return out
}

func TestInfoSections(t *testing.T) {
	s := newTestServer(t)
	titles := func(args ...string) []string {
		var out []string
		for _, l := range strings.Split(s.Info(args...), "\r\n") {
			if strings.HasPrefix(l, "# ") {
				out = append(out, l[2:])
			}
		}
		return out
	}
	def := strings.Join(titles(), ",")
	if def != "Server,Clients,Memory,Persistence,Stats,Replication,CPU,Errorstats,Cluster,Keyspace,Mutex" {
		t.Errorf("INFO = %s", def)
	}
	if got := strings.Join(titles("default"), ","); got != def {
		t.Errorf("INFO default = %s", got)
	}
	if got := strings.Join(titles("all"), ","); got != "Server,Clients,Memory,Persistence,Stats,Replication,CPU,Commandstats,Errorstats,Latencystats,Cluster,Keyspace,Mutex" {
		t.Errorf("INFO all = %s", got)
	}
	if got := strings.Join(titles("everything"), ","); !strings.Contains(got, "Modules") || !strings.Contains(got, "Commandstats") {
		t.Errorf("INFO everything = %s", got)
	}
	if got := strings.Join(titles("keyspace", "SERVER", "nosuch"), ","); got != "Server,Keyspace" {
		t.Errorf("INFO keyspace SERVER nosuch = %s", got)
	}
	if got := s.Info("nosuch"); got != "" {
		t.Errorf("INFO nosuch = %q", got)
	}
}

func TestInfoStatsAndKeyspace(t *testing.T) {
	s := newTestServer(t)
	ks, err := s.Keyspace("0")
	if err != nil {
		t.Fatal(err)
	}
	ops := []mutex.Op{mutex.Put([]byte("a"), []byte("1")), mutex.Put([]byte("b"), []byte("2")), mutex.Get([]byte("a"))}
	if err := ks.Do(t.Context(), ops); err != nil {
		t.Fatal(err)
	}
	named, _ := s.Keyspace("tenant:a")
	if err := named.Do(t.Context(), []mutex.Op{mutex.Put([]byte("x"), []byte("1"))}); err != nil {
		t.Fatal(err)
	}
	get, set := commands.Lookup([]byte("get")), commands.Lookup([]byte("set"))
	s.stats.command(cmdSlot{cmd: set}, commands.OK, 3*time.Millisecond)
	s.stats.command(cmdSlot{cmd: get}, []byte("1"), time.Millisecond)
	s.stats.command(cmdSlot{cmd: get}, nil, time.Millisecond)
	s.stats.command(cmdSlot{cmd: get, rejected: true}, commands.Error("ERR wrong number of arguments for 'get' command"), 0)
	s.stats.command(cmdSlot{cmd: set}, commands.Error("WRONGTYPE Operation against a key holding the wrong kind of value"), time.Millisecond)
	s.stats.command(cmdSlot{}, commands.Error("ERR unknown command 'x'"), 0)

	info := sections(t, s.Info("everything"))
	want := map[string]map[string]string{
		"Commandstats": {
			"cmdstat_get": "calls=2,usec=2000,usec_per_call=1000.00,rejected_calls=1,failed_calls=0",
			"cmdstat_set": "calls=2,usec=4000,usec_per_call=2000.00,rejected_calls=0,failed_calls=1",
		},
		"Errorstats": {"errorstat_ERR": "count=2", "errorstat_WRONGTYPE": "count=1"},
		"Stats":      {"total_commands_processed": "4", "total_error_replies": "3", "keyspace_hits": "1", "keyspace_misses": "1"},
		"Keyspace":   {"db0": "keys=2,expires=0,avg_ttl=0"},
		"Mutex":      {"mutex_batches": "2", "mutex_batch_ops": "3", "mutex_keyspaces": "2", "ks_tenant%3Aa": "last_batch=1,read_phases=0,write_phases=1,batches=1,batch_ops=1,queued_ops=0"},
		"Server":     {"redis_version": commands.Version, "redis_mode": "standalone", "tcp_port": "6379"},
		"Persistence": {"rdb_bgsave_in_progress": "0", "rdb_last_bgsave_status": "ok", "aof_enabled": "1",
			"rdb_changes_since_last_save": "3"},
	}
	for sec, fields := range want {
		for k, v := range fields {
			if got := info[sec][k]; got != v {
				t.Errorf("%s %s = %q, want %q", sec, k, got, v)
			}
		}
	}
	if len(info["Keyspace"]) != 1 {
		t.Errorf("Keyspace section %v: named keyspaces are not db lines", info["Keyspace"])
	}
	if pid := info["Server"]["process_id"]; pid == "" || pid == "0" {
		t.Errorf("process_id %q", pid)
	}
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(info["Server"]["run_id"]) {
		t.Errorf("run_id %q", info["Server"]["run_id"])
	}

	// The count follows the keyspace's batches (it is cached between them).
	for i, want := range []string{"keys=3,expires=0,avg_ttl=0", "keys=2,expires=0,avg_ttl=0"} {
		op := mutex.Put([]byte("c"), []byte("3"))
		if i == 1 {
			op = mutex.Delete([]byte("a"))
		}
		if err := ks.Do(t.Context(), []mutex.Op{op}); err != nil {
			t.Fatal(err)
		}
		if got := sections(t, s.Info("keyspace"))["Keyspace"]["db0"]; got != want {
			t.Errorf("db0 = %q, want %q", got, want)
		}
	}
	// CONFIG RESETSTAT zeroes the stats and the command lines.
	s.ConfigResetStat()
	info = sections(t, s.Info("all"))
	if len(info["Commandstats"]) != 0 || len(info["Errorstats"]) != 0 || info["Stats"]["total_commands_processed"] != "0" {
		t.Errorf("after RESETSTAT: %v %v %v", info["Commandstats"], info["Errorstats"], info["Stats"]["total_commands_processed"])
	}
}

func TestInfoCheckpoint(t *testing.T) {
	s := newTestServer(t)
	ks, _ := s.Keyspace("0")
	if err := ks.Do(t.Context(), []mutex.Op{mutex.Put([]byte("a"), []byte("1"))}); err != nil {
		t.Fatal(err)
	}
	before := s.LastSave()
	if r := s.Save(); r != commands.OK {
		t.Fatalf("SAVE = %v", r)
	}
	info := sections(t, s.Info("persistence"))["Persistence"]
	dir := info["rdb_last_checkpoint_dir"]
	if info["rdb_saves"] != "1" || info["rdb_changes_since_last_save"] != "0" || info["rdb_last_checkpoint_batches"] != "1" ||
		!strings.HasSuffix(dir, "-batches-1") || s.LastSave() < before {
		t.Errorf("after SAVE: %v", info)
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestFile)); err != nil {
		t.Error(err)
	}
	// Retention: with checkpoint-keep 2, three more checkpoints leave two.
	if r := s.ConfigSet("checkpoint-keep", "2"); r != nil {
		t.Fatal(r)
	}
	for i := 0; i < 3; i++ {
		if r := s.Save(); r != commands.OK {
			t.Fatalf("SAVE = %v", r)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 2 {
		t.Errorf("checkpoints kept: %v", names)
	}
	// The oldest went; the newest opens as a store with the data.
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the first checkpoint is still there: %v", err)
	}
	dir = sections(t, s.Info("persistence"))["Persistence"]["rdb_last_checkpoint_dir"]
	st, err := mutex.Open(dir, mutex.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k, _ := st.Keyspace("0")
	op := []mutex.Op{mutex.Get([]byte("a"))}
	if err := k.Do(t.Context(), op); err != nil || string(op[0].Result.([]byte)) != "1" || k.LastBatch() != 1 {
		t.Errorf("checkpoint: GET a = %v %v, batch %d", op[0].Result, err, k.LastBatch())
	}
}
