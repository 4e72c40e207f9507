// Package commands is mutexredis's command table: every command's name,
// arity, flags and handler, in one place that the server, COMMAND's output
// and the docs all derive from.
//
// A command either runs at once on the connection (Run: PING, SELECT,
// SUBSCRIBE …) or becomes a mutex.Op queued in the connection's keyspace
// (Op: GET, SET, INCR …). An Op's Result is the command's reply; a command
// that rejects its arguments does so before anything is queued.
package commands

import (
	"slices"
	"strings"

	"github.com/mutexredis/mutexredis/mutex"
)

// Flags describe a command, as Redis's command table does.
type Flags uint16

const (
	Read       Flags = 1 << iota // reads keys (read phase)
	Write                        // may modify keys (write phase)
	Admin                        // server administration
	PubSub                       // publish/subscribe
	Fast                         // O(1) or O(log N)
	Connection                   // connection state only
	NoMulti                      // refused inside MULTI
	Subscribed                   // allowed in RESP2 subscribed mode
	NoAuth                       // allowed before AUTH
	Loading                      // allowed while the store is failed/loading
	MayBlock                     // may block the client (BLPOP …): see Blocking
)

var flagNames = []struct {
	f    Flags
	name string
}{
	{Write, "write"}, {Read, "readonly"}, {Admin, "admin"}, {PubSub, "pubsub"},
	{Fast, "fast"}, {NoMulti, "no-multi"}, {NoAuth, "no-auth"}, {Loading, "loading"},
	{MayBlock, "blocking"},
}

// Names returns the Redis flag names of f, as COMMAND reports them.
func (f Flags) Names() []any {
	var names []any
	for _, n := range flagNames {
		if f&n.f != 0 {
			names = append(names, Status(n.name))
		}
	}
	return names
}

var categoryNames = []struct {
	f    Flags
	name string
}{
	{Write, "@write"}, {Read, "@read"}, {Admin, "@admin"}, {Admin, "@dangerous"},
	{PubSub, "@pubsub"}, {Fast, "@fast"}, {Connection, "@connection"}, {MayBlock, "@blocking"},
}

// Categories returns the ACL categories of f, as COMMAND reports them.
func (f Flags) Categories() []any {
	names := []any{}
	for _, n := range categoryNames {
		if f&n.f != 0 {
			names = append(names, Status(n.name))
		}
	}
	return names
}

// Command is one entry of the table.
type Command struct {
	Name  string // lower case
	Arity int    // as Redis: N means exactly N args (name included), -N at least N
	Flags Flags
	// Key positions for COMMAND: first, last (-1: the last argument), step.
	FirstKey, LastKey, Step int
	// Summary is COMMAND DOCS's summary of a command Redis does not have;
	// the others get Redis's docs (Doc) from docs_gen.go.
	Summary string
	Doc     *Doc
	// Subcommands, for a container command (CLIENT, CONFIG …), lists the
	// subcommands it has, lower case.
	Subcommands []string

	// Exactly one of Run, Op and OpCtx is set.
	// Run executes the command at once and returns its reply.
	Run func(c *Ctx) any
	// Op builds the keyspace operation whose Result is the reply, or
	// returns a non-nil reply (an Error) when the arguments are invalid.
	Op func(args [][]byte) (mutex.Op, any)
	// OpCtx is Op for a command that needs the connection and the server
	// to build its op (EVAL and FCALL: the script cache; SCAN: the
	// cursors of the server's keyspace).
	OpCtx func(c *Ctx) (mutex.Op, any)
}

// Ctx is what a Run handler works with.
type Ctx struct {
	Args   [][]byte
	Client *Client
	Server Server
}

// FullName is the command's name as Redis's errors give it: with the
// subcommand of a container command ("config|get").
func (c *Command) FullName(args [][]byte) string {
	if c.Subcommands != nil && len(args) > 1 {
		return c.Name + "|" + strings.ToLower(string(args[1]))
	}
	return c.Name
}

// hasSubcommand reports whether args name a subcommand c has.
func (c *Command) hasSubcommand(args [][]byte) bool {
	return len(args) < 2 || slices.Contains(c.Subcommands, strings.ToLower(string(args[1])))
}

// CheckArity reports whether n arguments (name included) suit the command.
func (c *Command) CheckArity(n int) bool {
	if c.Arity >= 0 {
		return n == c.Arity
	}
	return n >= -c.Arity
}

// table holds every command by lower-case name; byUpper by upper-case
// name, so that the usual spellings need no case folding.
var table, byUpper = map[string]*Command{}, map[string]*Command{}

func register(cmds ...*Command) {
	for _, c := range cmds {
		if _, dup := table[c.Name]; dup {
			panic("commands: duplicate command " + c.Name)
		}
		if n := btoi(c.Run != nil) + btoi(c.Op != nil) + btoi(c.OpCtx != nil); n != 1 {
			panic("commands: " + c.Name + " needs exactly one of Run, Op and OpCtx")
		}
		if d := redisDocs[c.Name]; d != nil {
			if c.Summary != "" {
				panic("commands: " + c.Name + "'s summary comes from Redis's docs")
			}
			c.Summary, c.Doc = d.Summary, d
		} else {
			c.Doc = &Doc{Summary: c.Summary, Since: "1.0.0", Group: "generic"}
		}
		table[c.Name] = c
		byUpper[strings.ToUpper(c.Name)] = c
	}
}

// Lookup finds a command by name, case-insensitively.
func Lookup(name []byte) *Command {
	if c, ok := table[string(name)]; ok { // clients send lower or upper case
		return c
	}
	if c, ok := byUpper[string(name)]; ok {
		return c
	}
	return table[strings.ToLower(string(name))]
}

// All returns every command.
func All() []*Command {
	list := make([]*Command, 0, len(table))
	for _, c := range table {
		list = append(list, c)
	}
	return list
}

// UnknownCommand is Redis's reply to a command it does not have: the name
// and the arguments quoted up to 128 characters in all, as Redis does.
func UnknownCommand(args [][]byte) Error {
	const max = 128
	var quoted strings.Builder
	for _, a := range args[1:] {
		if quoted.Len() >= max {
			break
		}
		quoted.WriteString("'")
		quoted.Write(a[:min(len(a), max-quoted.Len()+1)])
		quoted.WriteString("' ")
	}
	return Error("ERR unknown command '" + clip(args[0]) + "', with args beginning with: " + oneLine(quoted.String()))
}

// clip shortens an argument quoted in an error message to 128 bytes, as
// Redis does, on one line.
func clip(a []byte) string {
	return oneLine(string(a[:min(len(a), 128)]))
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
