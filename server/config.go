package server

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mutexredis/mutexredis/commands"
	"github.com/mutexredis/mutexredis/glob"
	"github.com/mutexredis/mutexredis/mutex"
)

// Config is the server's configuration. Field names follow redis-server's
// directives. Every parameter is a directive of the config file, a
// --flag of cmd/mutexredis and a CONFIG GET parameter; the ones marked
// mutable in params can change at run time with CONFIG SET.
type Config struct {
	Bind         []string
	Port         int
	Dir          string
	Fsync        string // "always" or "never"
	Databases    int
	MaxClients   int
	MaxQueuedOps int // per keyspace (back-pressure)
	// ReadCacheSize bounds the store's read cache in bytes (0: off);
	// CONFIG SET changes it at once.
	ReadCacheSize atomic.Int64
	// FeedRetention bounds each keyspace's change feed (--feed-retention; zero: no feed).
	FeedRetention mutex.FeedRetention

	// Request limits, as Redis's proto-max-bulk-len and its fixed limits,
	// and client-query-buffer-limit (bytes of requests a client may have
	// buffered; read when a connection opens).
	ProtoMaxBulkLen        int
	MaxCommandArgs         int
	ClientQueryBufferLimit int

	// ProtectedMode refuses non-loopback clients while no password is set.
	ProtectedMode bool

	// TLS: a TLS listener on TLSPort (0: none) for every Bind address.
	// TLSAuthClients is "yes" (client certificates required), "optional"
	// or "no", as Redis's tls-auth-clients.
	TLSPort        int
	TLSCertFile    string
	TLSKeyFile     string
	TLSCACertFile  string
	TLSAuthClients string

	// Operations: logs, pid file, metrics, checkpoints.
	LogLevel    slog.LevelVar // loglevel: debug, verbose, notice, warning
	LogFile     string        // "" or "stdout": standard error/output
	LogFormat   string        // "text" or "json"
	PidFile     string
	MetricsAddr string // host:port of /metrics and /healthz; "" is off
	CPUProfile  string

	// Cluster: with Cluster.RaftPeers, a node of a Raft cluster (replication.go).
	Cluster ClusterConfig

	// ConfigFile is the absolute path of the file the server started with
	// ("" without one): INFO's config_file, CONFIG REWRITE's target.
	ConfigFile string

	mu           sync.Mutex
	PubSubLimits limits // client-output-buffer-limit pubsub
	// NormalLimits is client-output-buffer-limit normal: its hard limit
	// bounds the bytes one reply collects (mutex.Options.MaxReplyBytes).
	NormalLimits   limits
	RequirePass    string
	CheckpointDir  string
	CheckpointKeep int // checkpoints kept; 0 keeps every one

	// Introspection and client-side caching (their CONFIG parameters are
	// registered by introspection.go and tracking.go).
	TrackingTableMaxKeys    atomic.Int64
	SlowlogLogSlowerThan    atomic.Int64 // microseconds; -1 logs nothing
	SlowlogMaxLen           atomic.Int64
	LatencyMonitorThreshold atomic.Int64 // milliseconds; 0 is off

	// NotifyKeyspaceEvents is notify-keyspace-events (commands.NotifyClasses).
	NotifyKeyspaceEvents atomic.Uint32

	// BusyReplyThreshold is busy-reply-threshold (lua-time-limit): how
	// long a script runs before its keyspace's commands answer BUSY.
	BusyReplyThreshold time.Duration // guarded by mu
}

func (c *Config) requirePass() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.RequirePass
}

// DefaultConfig is mutexredis with no flags.
func DefaultConfig() *Config {
	c := &Config{
		Bind:                   []string{"127.0.0.1"},
		Port:                   6379,
		Dir:                    "./data",
		Fsync:                  "always",
		Databases:              16,
		MaxClients:             10000,
		MaxQueuedOps:           65536,
		FeedRetention:          mutex.DefaultFeedRetention,
		ProtoMaxBulkLen:        512 << 20,
		MaxCommandArgs:         1024 * 1024,
		ClientQueryBufferLimit: 1 << 30,
		ProtectedMode:          true,
		TLSAuthClients:         "yes",
		LogFormat:              "text",
		PubSubLimits:           limits{hard: 32 << 20, soft: 8 << 20, softFor: 60 * time.Second},
		NormalLimits:           limits{hard: 512 << 20},
		CheckpointDir:          "./checkpoints",
		CheckpointKeep:         0,
		BusyReplyThreshold:     5 * time.Second,
		Cluster:                ClusterConfig{ClusterName: "mymaster"},
	}
	c.LogLevel.Set(slog.LevelInfo)
	c.ReadCacheSize.Store(mutex.DefaultReadCacheSize)
	c.TrackingTableMaxKeys.Store(1000000)
	c.SlowlogLogSlowerThan.Store(10000)
	c.SlowlogMaxLen.Store(128)
	return c
}

func (c *Config) readerLimits() readerLimits {
	l := defaultReaderLimits()
	l.maxBulk = c.ProtoMaxBulkLen
	l.maxArgs = c.MaxCommandArgs
	c.mu.Lock()
	l.maxQuery = c.ClientQueryBufferLimit
	c.mu.Unlock()
	return l
}

// maxReplyBytes is client-output-buffer-limit normal's hard limit.
func (c *Config) maxReplyBytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int64(c.NormalLimits.hard)
}

func (c *Config) pubsubLimits() limits {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.PubSubLimits
}

func (c *Config) checkpointSettings() (dir string, keep int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.CheckpointDir, c.CheckpointKeep
}

// param is one configuration parameter.
type param struct {
	name string
	get  func(c *Config) string
	// set applies a value (from the file, a flag, or CONFIG SET when
	// mutable); nil for the parameters only answered to tools (they are
	// not directives).
	set     func(c *Config, v string) error
	mutable bool
	// words: the value is a list of words, written unquoted by REWRITE.
	words bool
	usage string
}

var errYesNo = errors.New("argument must be 'yes' or 'no'")

func yesNo(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "yes":
		return true, nil
	case "no":
		return false, nil
	}
	return false, errYesNo
}

func fmtYesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func intParam(name, usage string, field func(c *Config) *int, minimum int) param {
	return param{name: name, usage: usage,
		get: func(c *Config) string { return strconv.Itoa(*field(c)) },
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return errors.New("argument couldn't be parsed into an integer")
			}
			if n < minimum {
				return fmt.Errorf("argument must be at least %d", minimum)
			}
			*field(c) = n
			return nil
		}}
}

func stringParam(name, usage string, field func(c *Config) *string) param {
	return param{name: name, usage: usage,
		get: func(c *Config) string { return *field(c) },
		set: func(c *Config, v string) error { *field(c) = v; return nil }}
}

func oneOf(v string, allowed ...string) (string, error) {
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a, nil
		}
	}
	return "", fmt.Errorf("argument(s) must be one of the following: %s", strings.Join(allowed, ", "))
}

// logLevels maps Redis's levels onto slog's.
var logLevels = []struct {
	name  string
	level slog.Level
}{{"debug", slog.LevelDebug}, {"verbose", slog.LevelDebug + 2}, {"notice", slog.LevelInfo}, {"warning", slog.LevelWarn}}

// params lists every parameter, in the order CONFIG GET * and --help give.
var params = slices.Concat(coreParams, introspectionParams, scriptingParams, replicationParams)

var scriptingParams = []param{busyParam("busy-reply-threshold"), busyParam("lua-time-limit")}

func (c *Config) notifyClasses() commands.NotifyClasses {
	return commands.NotifyClasses(c.NotifyKeyspaceEvents.Load())
}

func (c *Config) busyReplyThreshold() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.BusyReplyThreshold
}

var coreParams = []param{
	{name: "bind", words: true, usage: "addresses to listen on, space separated",
		get: func(c *Config) string { return strings.Join(c.Bind, " ") },
		set: func(c *Config, v string) error {
			f := strings.Fields(v)
			if len(f) == 0 {
				return errors.New("bind needs an address")
			}
			c.Bind = f
			return nil
		}},
	intParam("port", "TCP port (0: no plain TCP)", func(c *Config) *int { return &c.Port }, 0),
	stringParam("dir", "directory of the Pebble store", func(c *Config) *string { return &c.Dir }),
	{name: "fsync", usage: "always: fsync every write batch before acknowledging it; never: leave it to the OS",
		get: func(c *Config) string { return c.Fsync },
		set: func(c *Config, v string) (err error) { c.Fsync, err = oneOf(v, "always", "never"); return err }},
	intParam("databases", "number of numbered keyspaces (SELECT 0..n-1)", func(c *Config) *int { return &c.Databases }, 1),
	intParam("maxclients", "maximum number of connected clients", func(c *Config) *int { return &c.MaxClients }, 1),
	intParam("max-queued-ops", "operations queued per keyspace before submitters wait", func(c *Config) *int { return &c.MaxQueuedOps }, 1),
	{name: "read-cache-size", mutable: true, usage: "bytes of recently read records kept in memory, answered without Pebble (Redis memory units; 0: off)",
		get: func(c *Config) string { return strconv.FormatInt(c.ReadCacheSize.Load(), 10) },
		set: func(c *Config, v string) error {
			n, err := parseMemory(v)
			if err != nil {
				return errors.New("argument must be a memory value")
			}
			c.ReadCacheSize.Store(int64(n))
			return nil
		}},
	{name: "feed-retention", words: true, usage: `change feed retention per keyspace: batches, bytes and/or age, e.g. "1000000 256mb 7d"; 0 turns the feed off`,
		get: func(c *Config) string { return c.FeedRetention.String() },
		set: func(c *Config, v string) (err error) { c.FeedRetention, err = mutex.ParseFeedRetention(v); return err }},
	{name: "requirepass", mutable: true, usage: "password clients must give with AUTH or HELLO … AUTH",
		get: func(c *Config) string { return c.requirePass() },
		set: func(c *Config, v string) error {
			c.mu.Lock()
			c.RequirePass = v
			c.mu.Unlock()
			return nil
		}},
	{name: "protected-mode", usage: "yes: without a password, refuse clients that are not on loopback",
		get: func(c *Config) string { return fmtYesNo(c.ProtectedMode) },
		set: func(c *Config, v string) (err error) { c.ProtectedMode, err = yesNo(v); return err }},
	{name: "proto-max-bulk-len", usage: "largest bulk string a client may send (Redis memory units)",
		get: func(c *Config) string { return strconv.Itoa(c.ProtoMaxBulkLen) },
		set: func(c *Config, v string) error {
			n, err := parseMemory(v)
			if err != nil || n < 1 {
				return errors.New("argument must be a memory value")
			}
			c.ProtoMaxBulkLen = n
			return nil
		}},
	intParam("max-command-args", "most arguments one command may have (Redis's multibulk limit)", func(c *Config) *int { return &c.MaxCommandArgs }, 1),
	{name: "client-query-buffer-limit", mutable: true, usage: "bytes of requests a client may have buffered (Redis memory units)",
		get: func(c *Config) string {
			c.mu.Lock()
			defer c.mu.Unlock()
			return strconv.Itoa(c.ClientQueryBufferLimit)
		},
		set: func(c *Config, v string) error {
			n, err := parseMemory(v)
			if err != nil || n < 1<<20 {
				return fmt.Errorf("argument must be a memory value of at least 1mb")
			}
			c.mu.Lock()
			c.ClientQueryBufferLimit = n
			c.mu.Unlock()
			return nil
		}},
	{name: "client-output-buffer-limit", mutable: true, words: true, usage: `output limits, as Redis: "normal <hard> 0 0 pubsub <hard> <soft> <seconds>" (normal: the largest reply)`,
		get: func(c *Config) string {
			c.mu.Lock()
			n, l := c.NormalLimits, c.PubSubLimits
			c.mu.Unlock()
			return fmt.Sprintf("normal %d %d %d slave 0 0 0 pubsub %d %d %d", n.hard, n.soft, int(n.softFor.Seconds()), l.hard, l.soft, int(l.softFor.Seconds()))
		},
		set: func(c *Config, v string) error {
			if strings.TrimSpace(v) == "" {
				return nil // Redis accepts "" and changes nothing
			}
			normal, pubsub, err := ParseOutputLimit(v)
			if err != nil {
				return err
			}
			c.mu.Lock()
			if normal != nil {
				c.NormalLimits = *normal
			}
			if pubsub != nil {
				c.PubSubLimits = *pubsub
			}
			c.mu.Unlock()
			return nil
		}},
	{name: "notify-keyspace-events", mutable: true, usage: "Redis keyspace notifications classes, e.g. KEA (empty: off)",
		get: func(c *Config) string { return c.notifyClasses().String() },
		set: func(c *Config, v string) error {
			n, ok := commands.ParseNotifyClasses(v)
			if !ok {
				return fmt.Errorf("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
			}
			c.NotifyKeyspaceEvents.Store(uint32(n))
			return nil
		}},
	intParam("tls-port", "TLS port (0: no TLS)", func(c *Config) *int { return &c.TLSPort }, 0),
	stringParam("tls-cert-file", "server certificate (PEM)", func(c *Config) *string { return &c.TLSCertFile }),
	stringParam("tls-key-file", "server private key (PEM)", func(c *Config) *string { return &c.TLSKeyFile }),
	stringParam("tls-ca-cert-file", "CA certificates that client certificates must chain to (PEM)", func(c *Config) *string { return &c.TLSCACertFile }),
	{name: "tls-auth-clients", usage: "client certificates: yes (required), optional, or no",
		get: func(c *Config) string { return c.TLSAuthClients },
		set: func(c *Config, v string) (err error) {
			c.TLSAuthClients, err = oneOf(v, "yes", "optional", "no")
			return err
		}},
	{name: "loglevel", mutable: true, usage: "debug, verbose, notice or warning",
		get: func(c *Config) string {
			l := c.LogLevel.Level()
			for _, ll := range logLevels {
				if l <= ll.level {
					return ll.name
				}
			}
			return "warning"
		},
		set: func(c *Config, v string) error {
			for _, ll := range logLevels {
				if strings.EqualFold(v, ll.name) {
					c.LogLevel.Set(ll.level)
					return nil
				}
			}
			return errors.New("argument(s) must be one of the following: debug, verbose, notice, warning")
		}},
	stringParam("logfile", `log file ("": standard error)`, func(c *Config) *string { return &c.LogFile }),
	{name: "log-format", usage: "text or json",
		get: func(c *Config) string { return c.LogFormat },
		set: func(c *Config, v string) (err error) { c.LogFormat, err = oneOf(v, "text", "json"); return err }},
	stringParam("pidfile", "write the process id to this file while running", func(c *Config) *string { return &c.PidFile }),
	{name: "daemonize", usage: "no (only): run in the foreground, as systemd and containers want",
		get: func(*Config) string { return "no" },
		set: func(_ *Config, v string) error {
			b, err := yesNo(v)
			if err == nil && b {
				err = errors.New("daemonize yes is not supported: run mutexredis in the foreground (systemd, a container)")
			}
			return err
		}},
	stringParam("metrics-addr", `host:port serving Prometheus /metrics and /healthz ("": off)`, func(c *Config) *string { return &c.MetricsAddr }),
	// Not settable at run time, as Redis 7 protects dir: CONFIG SET must
	// not let a client choose where the server writes.
	{name: "checkpoint-dir", usage: "where BGSAVE and SAVE write checkpoints, one directory each",
		get: func(c *Config) string { d, _ := c.checkpointSettings(); return d },
		set: func(c *Config, v string) error {
			if v == "" {
				return errors.New("checkpoint-dir can't be empty")
			}
			c.mu.Lock()
			c.CheckpointDir = v
			c.mu.Unlock()
			return nil
		}},
	{name: "checkpoint-keep", mutable: true, usage: "checkpoints kept in checkpoint-dir, oldest removed first (0: all)",
		get: func(c *Config) string { _, k := c.checkpointSettings(); return strconv.Itoa(k) },
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return errors.New("argument must be a non-negative integer")
			}
			c.mu.Lock()
			c.CheckpointKeep = n
			c.mu.Unlock()
			return nil
		}},
	stringParam("cpuprofile", "write a CPU profile to this file until shutdown (for performance work)", func(c *Config) *string { return &c.CPUProfile }),
	// Redis's persistence settings, answered so that tools asking about
	// them (redis-benchmark does) see what mutexredis does: every write is
	// logged, fsync'd per batch unless --fsync never; snapshots are
	// checkpoints taken with BGSAVE.
	{name: "appendonly", get: func(*Config) string { return "yes" }},
	{name: "appendfsync", get: func(c *Config) string {
		if c.Fsync == "never" {
			return "no"
		}
		return "always"
	}},
	{name: "save", get: func(*Config) string { return "" }},
	{name: "maxmemory", get: func(*Config) string { return "0" }},
	{name: "maxmemory-policy", get: func(*Config) string { return "noeviction" }},
}

var paramIndex = func() map[string]*param {
	m := map[string]*param{}
	for i := range params {
		m[params[i].name] = &params[i]
	}
	return m
}()

// Params lists the directives (the parameters a file or a flag can set),
// with their usage, for --help.
func Params() [][2]string {
	var out [][2]string
	for _, p := range params {
		if p.set != nil {
			out = append(out, [2]string{p.name, p.usage})
		}
	}
	return out
}

// Get returns a parameter's current value.
func (c *Config) Get(name string) (string, bool) {
	p, ok := paramIndex[name]
	if !ok {
		return "", false
	}
	return p.get(c), true
}

// Apply sets a directive at start-up (config file, command line), mutable
// at run time or not.
func (c *Config) Apply(name, value string) error {
	p, ok := paramIndex[strings.ToLower(name)]
	if !ok || p.set == nil {
		return errBadDirective
	}
	return p.set(c, value)
}

var errBadDirective = errors.New("Bad directive or wrong number of arguments")

// ParseOutputLimit parses client-output-buffer-limit's value: the normal
// and pubsub classes it sets (nil: not given; replica limits are ignored).
func ParseOutputLimit(v string) (normal, pubsub *limits, err error) {
	f := strings.Fields(v)
	if len(f) == 0 || len(f)%4 != 0 {
		return nil, nil, fmt.Errorf("Wrong number of arguments in buffer limit configuration.")
	}
	for i := 0; i < len(f); i += 4 {
		class := strings.ToLower(f[i])
		if class != "normal" && class != "slave" && class != "replica" && class != "pubsub" {
			return nil, nil, fmt.Errorf("Invalid client class specified in buffer limit configuration.")
		}
		hard, err1 := parseMemory(f[i+1])
		soft, err2 := parseMemory(f[i+2])
		secs, err3 := strconv.Atoi(f[i+3])
		if err1 != nil || err2 != nil || err3 != nil || secs < 0 {
			return nil, nil, fmt.Errorf("Error in hard, soft or soft_seconds setting in buffer limit configuration.")
		}
		l := &limits{hard: hard, soft: soft, softFor: time.Duration(secs) * time.Second}
		switch class {
		case "normal":
			normal = l
		case "pubsub":
			pubsub = l
		}
	}
	return normal, pubsub, nil
}

// parseMemory reads Redis memory units: 1k 1kb 1m 1mb 1g 1gb, or bytes.
func parseMemory(s string) (int, error) {
	s = strings.ToLower(s)
	mult := 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"kb", 1 << 10}, {"k", 1000}, {"mb", 1 << 20}, {"m", 1000 * 1000}, {"gb", 1 << 30}, {"g", 1000 * 1000 * 1000}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid memory value")
	}
	return n * mult, nil
}

func (c *Config) get(pattern string) []any {
	var out []any
	for _, p := range params {
		if glob.Match(pattern, p.name) {
			out = append(out, p.name, p.get(c))
		}
	}
	return out
}

// Set changes a parameter as CONFIG SET does; it returns nil or the error
// reply.
func (c *Config) Set(name, value string) any {
	p, ok := paramIndex[name]
	if !ok {
		return commands.Error("ERR Unknown option or number of arguments for CONFIG SET - '" + name + "'")
	}
	if !p.mutable {
		return commands.Error("ERR CONFIG SET failed (possibly related to argument '" + name + "') - can't set immutable config")
	}
	if err := p.set(c, value); err != nil {
		return commands.Error("ERR CONFIG SET failed (possibly related to argument '" + name + "') - " + err.Error())
	}
	return nil
}

// Validate checks what no single directive can: run after the file and
// the flags are applied.
func (c *Config) Validate() error {
	if c.Port == 0 && c.TLSPort == 0 {
		return errors.New("nothing to listen on: port and tls-port are both 0")
	}
	return nil
}

// busyParam is busy-reply-threshold and its old name lua-time-limit, in ms.
func busyParam(name string) param {
	return param{name: name, mutable: true, usage: "ms a script runs before its keyspace answers BUSY",
		get: func(c *Config) string { return strconv.FormatInt(c.busyReplyThreshold().Milliseconds(), 10) },
		set: func(c *Config, v string) error {
			// ms, as Redis; a Go duration ("200ms") is accepted too.
			d, err := time.ParseDuration(v)
			if n, ierr := strconv.ParseInt(v, 10, 64); ierr == nil {
				d, err = time.Duration(n)*time.Millisecond, nil
			}
			if err != nil || d < 0 {
				return fmt.Errorf("argument couldn't be parsed into an integer")
			}
			c.mu.Lock()
			c.BusyReplyThreshold = d
			c.mu.Unlock()
			return nil
		}}
}
