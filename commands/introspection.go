package commands

import (
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/mutexredis/mutexredis/mutex"
)

// Introspection and server-wide commands: MONITOR, SLOWLOG, LATENCY,
// MEMORY, TIME, FLUSHALL, SWAPDB, WAIT, WAITAOF, and COMMAND GETKEYS /
// GETKEYSANDFLAGS (command.go's COMMAND dispatches to them).

func init() {
	register(
		&Command{Name: "monitor", Arity: 1, Flags: Admin | NoMulti, Run: monitor},
		&Command{Name: "slowlog", Arity: -2, Flags: Admin, Run: slowlogCmd,
			Subcommands: []string{"get", "len", "reset", "help"}},
		&Command{Name: "latency", Arity: -2, Flags: Admin | Loading, Run: latencyCmd,
			Subcommands: []string{"latest", "history", "reset", "doctor", "graph", "histogram", "help"}},
		&Command{Name: "memory", Arity: -2, Op: memoryOp,
			Subcommands: []string{"usage", "stats", "doctor", "malloc-stats", "purge", "help"}},
		&Command{Name: "time", Arity: 1, Flags: Fast | Loading, Run: timeCmd},
		&Command{Name: "flushall", Arity: -1, Flags: Write | NoMulti, Run: flushall},
		&Command{Name: "swapdb", Arity: 3, Flags: Write | Fast, Run: swapdb},
		&Command{Name: "wait", Arity: 3, Flags: NoMulti, Run: wait},
		&Command{Name: "waitaof", Arity: 4, Flags: NoMulti, Run: waitaof,
			Summary: "Whether the connection's writes are fsync'd locally (always, with --fsync always) and on replicas."},
	)
}

func monitor(c *Ctx) any {
	if c.Client.Monitor {
		return OK
	}
	c.Client.Monitor = true
	c.Server.Monitor(c.Client, true)
	return OK
}

func slowlogCmd(c *Ctx) any {
	sub := strings.ToLower(string(c.Args[1]))
	args := c.Args[2:]
	switch {
	case sub == "get" && len(args) <= 1:
		n := 10
		if len(args) == 1 {
			v, ok := ParseInt(args[0])
			if !ok || v < -1 {
				return Error("ERR count should be greater than or equal to -1")
			}
			n = int(v)
		}
		return c.Server.Slowlog("get", n)
	case (sub == "len" || sub == "reset") && len(args) == 0:
		return c.Server.Slowlog(sub, 0)
	case sub == "help" && len(args) == 0:
		return []any{
			Status("SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"),
			Status("GET [<count>]"),
			Status("    Return top <count> entries from the slowlog (default: 10, -1 mean all)."),
			Status("    Entries are made of:"),
			Status("    id, timestamp, time in microseconds, arguments array, client IP and port,"),
			Status("    client name"),
			Status("LEN"),
			Status("    Return the length of the slowlog."),
			Status("RESET"),
			Status("    Reset the slowlog."),
			Status("HELP"),
			Status("    Prints this help."),
		}
	}
	return ArityError("slowlog|" + sub)
}

func latencyCmd(c *Ctx) any {
	sub := strings.ToLower(string(c.Args[1]))
	args := c.Args[2:]
	switch {
	case sub == "latest" && len(args) == 0:
		return c.Server.Latency("latest", nil)
	case sub == "history" && len(args) == 1:
		return c.Server.Latency("history", []string{string(args[0])})
	case sub == "reset":
		events := make([]string, len(args))
		for i, a := range args {
			events[i] = string(a)
		}
		return c.Server.Latency("reset", events)
	case sub == "doctor" && len(args) == 0:
		return Verbatim("Latency events are recorded for the read phases (read-phase) and the write phases, fsync " +
			"included (write-phase), as the connections waiting for them see them, and for slow commands (command), " +
			"once CONFIG SET latency-monitor-threshold <milliseconds> is set. LATENCY LATEST lists them.\n")
	case sub == "graph" && len(args) == 1:
		return Error("ERR No samples available for event '" + clip(args[0]) + "'")
	case sub == "histogram":
		return Map{}
	case sub == "help" && len(args) == 0:
		return []any{
			Status("LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"),
			Status("DOCTOR"), Status("    Return a human readable latency analysis report."),
			Status("GRAPH <event>"), Status("    Return an ASCII latency graph for the <event> class."),
			Status("HISTORY <event>"), Status("    Return time-latency samples for the <event> class."),
			Status("LATEST"), Status("    Return the latest latency samples for all events."),
			Status("RESET [<event> ...]"), Status("    Reset latency data of one or more <event> classes."),
			Status("    (default: reset all data for all event classes)"),
			Status("HELP"), Status("    Prints this help."),
		}
	}
	return ArityError("latency|" + sub)
}

// memoryOp answers MEMORY as a read op: USAGE reads its key in the
// keyspace's read phase (or inside EXEC's batch); the other subcommands
// just answer.
func memoryOp(args [][]byte) (mutex.Op, any) {
	if strings.EqualFold(string(args[1]), "usage") && len(args) >= 3 {
		if len(args) != 3 && len(args) != 5 {
			return mutex.Op{}, ErrSyntax
		}
		if len(args) == 5 {
			if !isOption(args[3], "SAMPLES") {
				return mutex.Op{}, ErrSyntax
			}
			if _, ok := ParseInt(args[4]); !ok {
				return mutex.Op{}, ErrNotInteger
			}
		}
		key := args[2]
		return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
			v, ok, err := r.Get(key)
			if err != nil || !ok {
				return nil, err
			}
			return int64(len(key) + len(v) + 16), nil // key, value, header and prefix: their bytes before compression
		}), nil
	}
	reply := memoryCmd(args)
	if e, ok := reply.(Error); ok {
		return mutex.Op{}, e
	}
	return mutex.ReadOp(func(*mutex.Reader) (any, error) { return reply, nil }), nil
}

func memoryCmd(all [][]byte) any {
	sub := strings.ToLower(string(all[1]))
	args := all[2:]
	switch {
	case sub == "stats" && len(args) == 0:
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return Map{
			"peak.allocated", int64(ms.HeapSys), "total.allocated", int64(ms.HeapAlloc),
			"startup.allocated", int64(0), "replication.backlog", int64(0),
			"clients.slaves", int64(0), "clients.normal", int64(0), "aof.buffer", int64(0),
			"overhead.total", int64(ms.Sys - ms.HeapAlloc), "allocator.allocated", int64(ms.HeapAlloc),
			"allocator.active", int64(ms.HeapInuse), "allocator.resident", int64(ms.Sys),
			"go.goroutines", int64(runtime.NumGoroutine()),
		}
	case sub == "doctor" && len(args) == 0:
		return Verbatim("Keys live in Pebble, an LSM store on disk: the memory of mutexredis is Pebble's block cache " +
			"and memtables plus the connections' buffers, not the data set. MEMORY STATS shows the Go heap; " +
			"MEMORY USAGE a key's bytes before compression.\n")
	case sub == "malloc-stats" && len(args) == 0:
		return Verbatim("Stats not supported for the current allocator\n")
	case sub == "purge" && len(args) == 0:
		runtime.GC()
		return OK
	case sub == "help" && len(args) == 0:
		return []any{
			Status("MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"),
			Status("DOCTOR"), Status("    Return memory problems reports."),
			Status("MALLOC-STATS"), Status("    Return internal statistics report from the memory allocator."),
			Status("PURGE"), Status("    Attempt to purge dirty pages for reclamation by the allocator."),
			Status("STATS"), Status("    Return information about the memory usage of the server."),
			Status("USAGE <key> [SAMPLES <count>]"),
			Status("    Return memory in bytes used by <key> and its value. Nested values are"),
			Status("    sampled up to <count> times (default: 5, 0 means sample all)."),
			Status("HELP"), Status("    Prints this help."),
		}
	}
	return ArityError("memory|" + sub)
}

func timeCmd(*Ctx) any {
	now := time.Now()
	return []any{strconv.FormatInt(now.Unix(), 10), strconv.FormatInt(int64(now.Nanosecond()/1000), 10)}
}

func flushall(c *Ctx) any {
	if len(c.Args) > 2 || (len(c.Args) == 2 && !isOption(c.Args[1], "SYNC") && !isOption(c.Args[1], "ASYNC")) {
		return ErrSyntax
	}
	if err := c.Server.FlushAll(); err != nil {
		return ErrorReply(err)
	}
	return OK
}

func swapdb(c *Ctx) any {
	for i, a := range c.Args[1:3] {
		n, ok := ParseInt(a)
		if !ok {
			if i == 0 {
				return Error("ERR invalid first DB index")
			}
			return Error("ERR invalid second DB index")
		}
		if n < 0 || n >= int64(c.Server.Databases()) {
			return ErrDBIndex
		}
	}
	// Each keyspace has its own mutex and keyspaces never wait on each
	// other, so no swap can be atomic across two (redis-compat.md).
	return Error("ERR SWAPDB is not supported: each database is a keyspace with its own mutex, and a swap cannot be atomic across two")
}

func wait(c *Ctx) any {
	if _, ok := ParseInt(c.Args[1]); !ok {
		return ErrNotInteger
	}
	timeout, ok := ParseInt(c.Args[2])
	if !ok {
		return Error("ERR timeout is not an integer or out of range")
	}
	if timeout < 0 {
		return Error("ERR timeout is negative")
	}
	if st, ok := clusterStatus(c); ok && st.Leading {
		// Every write acknowledged is on a majority: at least this many
		// followers have the connection's writes.
		return int64(len(st.Peers) / 2)
	}
	return int64(0) // no replicas: none can acknowledge, and waiting would not change that
}

func waitaof(c *Ctx) any {
	local, ok1 := ParseInt(c.Args[1])
	replicas, ok2 := ParseInt(c.Args[2])
	if !ok1 || !ok2 {
		return ErrNotInteger
	}
	timeout, ok := ParseInt(c.Args[3])
	if !ok {
		return Error("ERR timeout is not an integer or out of range")
	}
	if timeout < 0 {
		return Error("ERR timeout is negative")
	}
	_ = replicas
	if !c.Server.Durable() {
		if local > 0 {
			return Error("ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.")
		}
		return []any{int64(0), int64(0)}
	}
	// Every write this connection was answered for is already fsync'd:
	// writes are acknowledged only after their batch's commit.
	return []any{int64(1), int64(0)}
}

// keyFlags are COMMAND GETKEYSANDFLAGS's key-spec flags for the commands
// whose flags are not the default of their kind (RO access for reads, RW
// update for writes).
var keyFlags = map[string][]string{
	"set": {"OW", "update"}, "mset": {"OW", "update"}, "msetnx": {"OW", "insert"}, "setnx": {"OW", "insert"},
	"del": {"RM", "delete"}, "unlink": {"RM", "delete"}, "getdel": {"RW", "access", "delete"},
	"getset": {"RW", "access", "update"}, "append": {"RW", "insert"}, "setrange": {"RW", "update"},
	"incrbyfloat": {"RW", "access", "update"}, "incr": {"RW", "access", "update"}, "decr": {"RW", "access", "update"},
	"incrby": {"RW", "access", "update"}, "decrby": {"RW", "access", "update"},
	"exists": {"RO"}, "type": {"RO"}, "ttl": {"RO", "access"}, "pttl": {"RO", "access"}, "strlen": {"RO"},
	"watch": {"RO"}, "rename": {"RW", "access", "delete"}, "renamenx": {"RW", "access", "delete"},
}

// getKeys answers COMMAND GETKEYS and GETKEYSANDFLAGS.
func getKeys(args [][]byte, withFlags bool) any {
	cmd := Lookup(args[0])
	switch {
	case cmd == nil:
		return Error("ERR Invalid command specified")
	case cmd.FirstKey == 0:
		return Error("ERR The command has no key arguments")
	case !cmd.CheckArity(len(args)):
		return Error("ERR Invalid number of arguments specified for command")
	}
	keys := cmd.Keys(args)
	if len(keys) == 0 {
		return Error("ERR Invalid arguments specified for command")
	}
	out := make([]any, len(keys))
	for i, k := range keys {
		if !withFlags {
			out[i] = k
			continue
		}
		flags := keyFlags[cmd.Name]
		if (cmd.Name == "rename" || cmd.Name == "renamenx") && i == 1 {
			flags = []string{"OW", "update"}
		}
		if flags == nil {
			flags = []string{"RO", "access"}
			if cmd.Flags&Write != 0 {
				flags = []string{"RW", "update"}
			}
		}
		fs := make(Set, len(flags))
		for j, f := range flags {
			fs[j] = Status(f)
		}
		out[i] = []any{k, fs}
	}
	return out
}
