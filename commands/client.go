package commands

import "github.com/mutexredis/mutexredis/mutex"

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
	// Authenticate checks credentials (user "" means "default"): nil if
	// they are right, else the Error to send.
	Authenticate(user, pass []byte) any
}
