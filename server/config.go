package server

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mutexredis/mutexredis/commands"
	"github.com/mutexredis/mutexredis/glob"
	"github.com/mutexredis/mutexredis/mutex"
)

// Config is the server's configuration. Field names follow redis-server's
// directives; the flags of cmd/mutexredis set them and CONFIG GET/SET read
// and change them.
type Config struct {
	Bind         []string
	Port         int
	Dir          string
	Fsync        string // "always" or "never"
	Databases    int
	MaxClients   int
	MaxQueuedOps int // per keyspace (back-pressure)
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

	mu           sync.Mutex
	PubSubLimits limits // client-output-buffer-limit pubsub
	RequirePass  string
}

func (c *Config) requirePass() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.RequirePass
}

// DefaultConfig is mutexredis with no flags.
func DefaultConfig() *Config {
	return &Config{
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
		PubSubLimits:           limits{hard: 32 << 20, soft: 8 << 20, softFor: 60 * time.Second},
	}
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

func (c *Config) pubsubLimits() limits {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.PubSubLimits
}

// param is one CONFIG parameter.
type param struct {
	get func(c *Config) string
	set func(c *Config, v string) error // nil: immutable
}

var params = map[string]param{
	"bind":               {get: func(c *Config) string { return strings.Join(c.Bind, " ") }},
	"port":               {get: func(c *Config) string { return strconv.Itoa(c.Port) }},
	"dir":                {get: func(c *Config) string { return c.Dir }},
	"databases":          {get: func(c *Config) string { return strconv.Itoa(c.Databases) }},
	"maxclients":         {get: func(c *Config) string { return strconv.Itoa(c.MaxClients) }},
	"fsync":              {get: func(c *Config) string { return c.Fsync }},
	"proto-max-bulk-len": {get: func(c *Config) string { return strconv.Itoa(c.ProtoMaxBulkLen) }},
	"max-command-args":   {get: func(c *Config) string { return strconv.Itoa(c.MaxCommandArgs) }},
	"client-query-buffer-limit": {
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
		},
	},
	"tls-port": {get: func(c *Config) string { return strconv.Itoa(c.TLSPort) }},
	"protected-mode": {get: func(c *Config) string {
		if c.ProtectedMode {
			return "yes"
		}
		return "no"
	}},
	// Redis's persistence settings, answered so that tools asking about
	// them (redis-benchmark does) see what mutexredis does: every write is
	// logged, fsync'd per batch unless --fsync never, and no snapshots.
	"appendonly": {get: func(*Config) string { return "yes" }},
	"appendfsync": {get: func(c *Config) string {
		if c.Fsync == "never" {
			return "no"
		}
		return "always"
	}},
	"save": {get: func(*Config) string { return "" }},
	"notify-keyspace-events": {
		get: func(*Config) string { return commands.NotifyKeyspaceEvents() },
		set: func(_ *Config, v string) error {
			if !commands.SetNotifyKeyspaceEvents(v) {
				return fmt.Errorf("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
			}
			return nil
		},
	},
	"requirepass": {
		get: func(c *Config) string { return c.requirePass() },
		set: func(c *Config, v string) error {
			c.mu.Lock()
			c.RequirePass = v
			c.mu.Unlock()
			return nil
		},
	},
	"client-output-buffer-limit": {
		get: func(c *Config) string {
			l := c.pubsubLimits()
			return fmt.Sprintf("normal 0 0 0 slave 0 0 0 pubsub %d %d %d", l.hard, l.soft, int(l.softFor.Seconds()))
		},
		set: func(c *Config, v string) error {
			if strings.TrimSpace(v) == "" {
				return nil // Redis accepts "" and changes nothing
			}
			l, err := ParseOutputLimit(v)
			if err != nil {
				return err
			}
			c.mu.Lock()
			c.PubSubLimits = l
			c.mu.Unlock()
			return nil
		},
	},
}

// ParseOutputLimit parses client-output-buffer-limit's value; only the
// pubsub class is kept (normal clients are bounded by back-pressure).
func ParseOutputLimit(v string) (limits, error) {
	f := strings.Fields(v)
	if len(f) == 0 || len(f)%4 != 0 {
		return limits{}, fmt.Errorf("Wrong number of arguments in buffer limit configuration.")
	}
	var out limits
	found := false
	for i := 0; i < len(f); i += 4 {
		class := strings.ToLower(f[i])
		if class != "normal" && class != "slave" && class != "replica" && class != "pubsub" {
			return limits{}, fmt.Errorf("Invalid client class specified in buffer limit configuration.")
		}
		hard, err1 := parseMemory(f[i+1])
		soft, err2 := parseMemory(f[i+2])
		secs, err3 := strconv.Atoi(f[i+3])
		if err1 != nil || err2 != nil || err3 != nil || secs < 0 {
			return limits{}, fmt.Errorf("Error in hard, soft or soft_seconds setting in buffer limit configuration.")
		}
		if class == "pubsub" {
			out, found = limits{hard: hard, soft: soft, softFor: time.Duration(secs) * time.Second}, true
		}
	}
	if !found {
		return DefaultConfig().PubSubLimits, nil
	}
	return out, nil
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
	for name, p := range params {
		if glob.Match(pattern, name) {
			out = append(out, name, p.get(c))
		}
	}
	return out
}

// Set changes a parameter as CONFIG SET does; it returns nil or the error
// reply.
func (c *Config) Set(name, value string) any {
	p, ok := params[name]
	if !ok {
		return commands.Error("ERR Unknown option or number of arguments for CONFIG SET - '" + name + "'")
	}
	if p.set == nil {
		return commands.Error("ERR CONFIG SET failed (possibly related to argument '" + name + "') - can't set immutable config")
	}
	if err := p.set(c, value); err != nil {
		return commands.Error("ERR CONFIG SET failed (possibly related to argument '" + name + "') - " + err.Error())
	}
	return nil
}
