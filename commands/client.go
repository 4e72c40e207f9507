package commands

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/mutexredis/mutexredis/mutex"
)

// context is Context, or Background for a Client without a connection.
func (cl *Client) context() context.Context {
	if cl.Context == nil {
		return context.Background()
	}
	return cl.Context
}

// Client is the state of one connection that commands read and change.
// It belongs to the connection's goroutine.
type Client struct {
	ID       int64
	Name     string
	LibName  string
	LibVer   string
	Keyspace string // the selected keyspace: "0" … or a name
	Addr     string
	// Authenticated is false until AUTH succeeds on a server with a password.
	Authenticated bool
	// Proto is the RESP version the connection speaks: 2, or 3 after HELLO 3.
	Proto int
	// LAddr is the server's address of the connection; FD its socket.
	LAddr string
	FD    int
	// Created is when the connection was accepted; LastCmd the full name
	// of the last command it ran ("client|list"), LastActive when.
	Created    time.Time
	LastCmd    string
	LastActive time.Time

	// ReplyOff and SkipNext are CLIENT REPLY OFF and SKIP.
	ReplyOff, SkipNext bool
	// NoEvict and NoTouch are CLIENT NO-EVICT and NO-TOUCH (kept, and
	// shown in CLIENT LIST; nothing is evicted or touched anyway).
	NoEvict, NoTouch bool
	// Monitor is set once the connection runs MONITOR.
	Monitor bool
	// Tracking is the connection's client-side caching state (CLIENT
	// TRACKING); nil while tracking is off.
	Tracking *Tracking
	// Context is what the connection's ops are submitted with: it names
	// the writer to client-side caching (mutex.WriteTracker).
	Context context.Context

	// Channels and Patterns are the connection's subscriptions, kept by
	// the Server's Subscribe/Unsubscribe.
	Channels map[string]struct{}
	Patterns map[string]struct{}

	// Close asks the server to close the connection after this reply.
	Close bool

	// Multi holds the commands queued since MULTI; nil outside MULTI.
	Multi *Multi
	// Watches are the keys WATCHed since the last EXEC/DISCARD/UNWATCH.
	Watches []*mutex.Watch

	// Conn is the server's own handle on the connection.
	Conn any
	// Server is the server the connection belongs to (for commands whose
	// op needs it: EVAL, FCALL).
	Server Server
}

// RESP3 reports whether the connection speaks RESP3.
func (c *Client) RESP3() bool { return c.Proto == 3 }

// Tracking is CLIENT TRACKING's state of one connection.
type Tracking struct {
	Redirect             int64 // client receiving the invalidations; 0 for itself
	Prefixes             []string
	BCast, OptIn, OptOut bool
	NoLoop               bool
	// Caching is CLIENT CACHING yes (OPTIN) or no (OPTOUT) for the next
	// command (or the next transaction).
	Caching, CachingSet bool
}

// View is what CLIENT LIST shows of a connection: a copy, safe to read
// from another connection's goroutine.
type View struct {
	ID                   int64
	Addr, LAddr          string
	FD                   int
	Name                 string
	Created, LastActive  time.Time
	Flags                string
	Keyspace             string
	Sub, PSub, Multi     int
	Cmd                  string
	Proto                int
	LibName, LibVer      string
	Redirect             int64
	OutputBytes          int
	PubSub, Master, Repl bool
}

// View returns the connection's state as CLIENT LIST shows it.
func (c *Client) View() View {
	v := View{ID: c.ID, Addr: c.Addr, LAddr: c.LAddr, FD: c.FD, Name: c.Name, Created: c.Created, LastActive: c.LastActive,
		Keyspace: c.Keyspace, Sub: len(c.Channels), PSub: len(c.Patterns), Multi: -1, Cmd: c.LastCmd, Proto: c.Proto,
		LibName: c.LibName, LibVer: c.LibVer, Redirect: -1, PubSub: c.Subscriptions() > 0}
	if v.Cmd == "" {
		v.Cmd = "NULL"
	}
	if c.Multi != nil {
		v.Multi = len(c.Multi.Queued)
	}
	var f []byte
	if c.Monitor {
		f = append(f, 'O')
	}
	if v.PubSub {
		f = append(f, 'P')
	}
	if c.Multi != nil {
		f = append(f, 'x')
	}
	if t := c.Tracking; t != nil {
		f = append(f, 't')
		if t.BCast {
			f = append(f, 'B')
		}
		v.Redirect = t.Redirect
	}
	if c.Close {
		f = append(f, 'c')
	}
	if c.NoEvict {
		f = append(f, 'e')
	}
	if c.NoTouch {
		f = append(f, 'T')
	}
	if len(f) == 0 {
		f = append(f, 'N')
	}
	v.Flags = string(f)
	return v
}

// Line formats v as one line of CLIENT LIST, with Redis 7.2's fields.
func (v *View) Line(now time.Time) string {
	var b strings.Builder
	field := func(name, value string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(value)
	}
	num := func(n int64) string { return strconv.FormatInt(n, 10) }
	last := v.LastActive
	if last.IsZero() {
		last = v.Created
	}
	field("id", num(v.ID))
	field("addr", v.Addr)
	field("laddr", v.LAddr)
	field("fd", num(int64(v.FD)))
	field("name", v.Name)
	field("age", num(int64(now.Sub(v.Created)/time.Second)))
	field("idle", num(max(0, int64(now.Sub(last)/time.Second))))
	field("flags", v.Flags)
	field("db", v.Keyspace)
	field("sub", num(int64(v.Sub)))
	field("psub", num(int64(v.PSub)))
	field("ssub", "0")
	field("multi", num(int64(v.Multi)))
	field("qbuf", "0")
	field("qbuf-free", "0")
	field("argv-mem", "0")
	field("multi-mem", "0")
	field("rbs", "4096")
	field("rbp", "0")
	field("obl", "0")
	field("oll", "0")
	field("omem", num(int64(v.OutputBytes)))
	field("tot-mem", num(int64(v.OutputBytes)+4096))
	field("events", "r")
	field("cmd", v.Cmd)
	field("user", "default")
	field("redir", num(v.Redirect))
	field("resp", num(int64(v.Proto)))
	field("lib-name", v.LibName)
	field("lib-ver", v.LibVer)
	return b.String()
}

// Subscriptions is the number of channels and patterns subscribed to.
func (c *Client) Subscriptions() int { return len(c.Channels) + len(c.Patterns) }

// Server is what commands need from the server around them.
type Server interface {
	// Databases is the number of numbered keyspaces (SELECT 0 … n-1).
	Databases() int
	// Keyspace opens a keyspace by name.
	Keyspace(name string) (*mutex.Keyspace, error)
	// Publish sends msg on channel and returns the number of receivers.
	Publish(channel string, msg []byte) int
	// Subscribe/Unsubscribe change c's subscriptions and return the
	// confirmations Redis sends, one per channel or pattern.
	Subscribe(c *Client, pattern bool, names [][]byte) Replies
	Unsubscribe(c *Client, pattern bool, names [][]byte) Replies
	// PubSubChannels lists the channels with subscribers matching pattern
	// (all when pattern is nil); NumSub counts subscribers per channel;
	// NumPat counts pattern subscriptions.
	PubSubChannels(pattern []byte) []any
	NumSub(channel string) int64
	NumPat() int64
	// Info returns the INFO text for the sections asked (none: the
	// default ones; "all", "everything").
	Info(sections ...string) string
	// ConfigGet returns name/value pairs for parameters matching pattern;
	// ConfigSet changes one, or returns an Error; ConfigRewrite writes the
	// config file back (nil or an Error); ConfigResetStat zeroes INFO's
	// counters.
	ConfigGet(pattern string) []any
	ConfigSet(name, value string) any
	ConfigRewrite() any
	ConfigResetStat()
	// BGSave starts a checkpoint and returns the reply; Save takes one
	// before returning the reply; LastSave is the Unix time of the last
	// successful one.
	BGSave(schedule bool) any
	Save() any
	LastSave() int64
	// Shutdown stops the server gracefully.
	Shutdown()
	// Clients returns the connections, self's view taken from cl itself.
	Clients(self *Client) []View
	// Kill closes the connections whose ids are given (not self's: the
	// caller closes its own after the reply) and returns how many.
	Kill(self *Client, ids []int64) int
	// Pause pauses clients (writes only, or all commands) until the
	// deadline; Unpause ends it.
	Pause(until time.Time, writesOnly bool)
	Unpause()
	// SetTracking turns client-side caching on (t) or off (nil) for cl,
	// or returns the Error to send.
	SetTracking(cl *Client, t *Tracking) any
	// TrackingRedirectBroken reports whether an invalidation for cl found
	// its redirect client gone.
	TrackingRedirectBroken(cl *Client) bool
	// Monitor makes cl receive every command from now on (on), or stop.
	Monitor(cl *Client, on bool)
	// Slowlog answers SLOWLOG GET n (n < 0: all), LEN, RESET.
	Slowlog(op string, n int) any
	// Latency answers LATENCY LATEST, HISTORY event, RESET [event …].
	Latency(op string, events []string) any
	// FlushAll clears every keyspace.
	FlushAll() error
	// Durable reports whether acknowledged writes are fsync'd.
	Durable() bool
	// Authenticate checks credentials (user "" means "default"): nil if
	// they are right, else the Error to send.
	Authenticate(user, pass []byte) any
	// Scripts is the server's script cache and function libraries.
	Scripts() *Scripts
}
