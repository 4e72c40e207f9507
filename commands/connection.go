package commands

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

// Connection, server and introspection commands: they run at once on the
// connection and never touch a keyspace's data.

// Version is the Redis version mutexredis reports (HELLO, INFO): the
// feature level its command set follows.
const Version = "7.0.15"

func init() {
	register(
		&Command{Name: "ping", Arity: -1, Flags: Fast | Connection | Subscribed, Run: ping},
		&Command{Name: "echo", Arity: 2, Flags: Fast | Connection, Run: func(c *Ctx) any { return c.Args[1] }},
		&Command{Name: "quit", Arity: -1, Flags: Fast | Connection | Subscribed | NoAuth, Run: quit},
		&Command{Name: "select", Arity: 2, Flags: Fast | Connection | Loading, Run: selectKeyspace},
		&Command{Name: "hello", Arity: -1, Flags: Fast | Connection | NoAuth | NoMulti, Run: hello},
		&Command{Name: "client", Arity: -2, Flags: Connection, Run: client,
			Subcommands: []string{"setname", "getname", "id", "setinfo", "info", "help"}},
		&Command{Name: "command", Arity: -1, Flags: Connection | Loading, Run: command,
			Subcommands: []string{"count", "list", "info", "docs"}},
		&Command{Name: "info", Arity: -1, Flags: Loading, Run: info},
		&Command{Name: "config", Arity: -2, Flags: Admin | Loading | NoMulti, Run: config,
			Subcommands: []string{"get", "set", "resetstat", "rewrite"}},
		&Command{Name: "shutdown", Arity: -1, Flags: Admin | NoMulti | Loading, Run: shutdown},
		&Command{Name: "reset", Arity: 1, Flags: Fast | Connection | Subscribed | NoMulti | NoAuth, Run: reset},
		&Command{Name: "auth", Arity: -2, Flags: Fast | Connection | NoAuth | NoMulti | Loading, Run: auth},
	)
}

func ping(c *Ctx) any {
	if len(c.Args) > 2 {
		return ArityError("ping")
	}
	if c.Client.Subscriptions() > 0 { // RESP2 subscribed mode answers with an array
		msg := []byte{}
		if len(c.Args) == 2 {
			msg = c.Args[1]
		}
		return []any{"pong", msg}
	}
	if len(c.Args) == 2 {
		return c.Args[1]
	}
	return Status("PONG")
}

func quit(c *Ctx) any {
	c.Client.Close = true
	return OK
}

func selectKeyspace(c *Ctx) any {
	name, bad := keyspaceArg(c.Args[1], c.Server.Databases())
	if bad != nil {
		return bad
	}
	if _, err := c.Server.Keyspace(name); err != nil {
		return Error("ERR " + err.Error())
	}
	c.Client.Keyspace = name
	return OK
}

// keyspaceArg turns SELECT's argument into a keyspace name. An argument
// that looks like a number follows Redis's rules for database numbers
// (0 ≤ n < databases); anything else must be a keyspace name.
func keyspaceArg(arg []byte, databases int) (string, any) {
	if looksNumeric(arg) {
		n, ok := ParseInt(arg)
		switch {
		case !ok:
			return "", ErrNotInteger
		case n < math.MinInt32 || n > math.MaxInt32:
			return "", Error("ERR value is out of range, value must between -2147483648 and 2147483647")
		case n < 0 || n >= int64(databases):
			return "", ErrDBIndex
		}
		return strconv.FormatInt(n, 10), nil
	}
	if !ValidKeyspaceName(arg) {
		return "", ErrNotInteger
	}
	return string(arg), nil
}

// looksNumeric reports whether b is written like a number (digits, signs,
// a decimal point, an exponent): such an argument is a database number or
// an error, as in Redis, never a keyspace name.
func looksNumeric(b []byte) bool {
	digits := false
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			digits = true
		case c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E':
		default:
			return false
		}
	}
	return digits
}

func hello(c *Ctx) any {
	args := c.Args[1:]
	if len(args) > 0 {
		v, ok := ParseInt(args[0])
		if !ok {
			return Error("ERR Protocol version is not an integer or out of range")
		}
		if v != 2 {
			return Error("NOPROTO unsupported protocol version")
		}
		for args = args[1:]; len(args) > 0; {
			switch {
			case isOption(args[0], "AUTH") && len(args) >= 3:
				if bad := c.Server.Authenticate(args[1], args[2]); bad != nil {
					return bad
				}
				c.Client.Authenticated = true
				args = args[3:]
			case isOption(args[0], "SETNAME") && len(args) >= 2:
				if bad := setName(c.Client, args[1]); bad != nil {
					return bad
				}
				args = args[2:]
			default:
				return Error("ERR Syntax error in HELLO option '" + clip(args[0]) + "'")
			}
		}
	}
	if !c.Client.Authenticated {
		return Error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
	}
	return []any{
		"server", "redis",
		"version", Version,
		"proto", int64(2),
		"id", c.Client.ID,
		"mode", "standalone",
		"role", "master",
		"modules", []any{},
	}
}

func auth(c *Ctx) any {
	var user, pass []byte
	switch len(c.Args) {
	case 2:
		pass = c.Args[1]
	case 3:
		user, pass = c.Args[1], c.Args[2]
	default:
		return ErrSyntax
	}
	if bad := c.Server.Authenticate(user, pass); bad != nil {
		return bad
	}
	c.Client.Authenticated = true
	return OK
}

func setName(cl *Client, name []byte) any {
	for _, b := range name {
		if b < '!' || b > '~' {
			return Error("ERR Client names cannot contain spaces, newlines or special characters.")
		}
	}
	cl.Name = string(name)
	return nil
}

func client(c *Ctx) any {
	sub := strings.ToLower(string(c.Args[1]))
	args := c.Args[2:]
	switch {
	case sub == "setname" && len(args) == 1:
		if bad := setName(c.Client, args[0]); bad != nil {
			return bad
		}
		return OK
	case sub == "getname" && len(args) == 0:
		if c.Client.Name == "" {
			return nil
		}
		return c.Client.Name
	case sub == "id" && len(args) == 0:
		return c.Client.ID
	case sub == "setinfo" && len(args) == 2:
		switch {
		case isOption(args[0], "LIB-NAME"):
			c.Client.LibName = string(args[1])
		case isOption(args[0], "LIB-VER"):
			c.Client.LibVer = string(args[1])
		default:
			return Error("ERR Unrecognized option '" + clip(args[0]) + "'")
		}
		return OK
	case sub == "info" && len(args) == 0:
		return clientInfo(c.Client) + "\n"
	case sub == "help" && len(args) == 0:
		return []any{
			Status("CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"),
			Status("GETNAME"), Status("SETNAME <name>"), Status("ID"), Status("INFO"),
			Status("SETINFO <LIB-NAME|LIB-VER> <value>"),
		}
	}
	switch sub {
	case "setname", "getname", "id", "setinfo", "info", "help":
		return ArityError("client|" + sub)
	}
	return unknownSubcommand(c.Args[1], "CLIENT")
}

func unknownSubcommand(sub []byte, cmd string) Error {
	return Error("ERR unknown subcommand '" + clip(sub) + "'. Try " + cmd + " HELP.")
}

func clientInfo(cl *Client) string {
	return "id=" + strconv.FormatInt(cl.ID, 10) + " addr=" + cl.Addr + " name=" + cl.Name +
		" db=" + cl.Keyspace + " sub=" + strconv.Itoa(len(cl.Channels)) +
		" psub=" + strconv.Itoa(len(cl.Patterns)) + " lib-name=" + cl.LibName + " lib-ver=" + cl.LibVer
}

// command answers COMMAND, COMMAND COUNT|INFO|DOCS|LIST from the table.
func command(c *Ctx) any {
	if len(c.Args) == 1 {
		all := []any{}
		for _, cmd := range sortedCommands() {
			all = append(all, commandInfo(cmd))
		}
		return all
	}
	sub := strings.ToLower(string(c.Args[1]))
	names := c.Args[2:]
	switch sub {
	case "count":
		return int64(len(table))
	case "list":
		list := []any{}
		for _, cmd := range sortedCommands() {
			list = append(list, cmd.Name)
		}
		return list
	case "info":
		out := []any{}
		if len(names) == 0 {
			for _, cmd := range sortedCommands() {
				out = append(out, commandInfo(cmd))
			}
		}
		for _, n := range names {
			if cmd := Lookup(n); cmd != nil {
				out = append(out, commandInfo(cmd))
			} else {
				out = append(out, nil)
			}
		}
		return out
	case "docs":
		out := []any{}
		list := sortedCommands()
		if len(names) > 0 {
			list = nil
			for _, n := range names {
				if cmd := Lookup(n); cmd != nil {
					list = append(list, cmd)
				}
			}
		}
		for _, cmd := range list {
			out = append(out, cmd.Name, []any{"summary", cmd.Summary, "since", "1.0.0", "group", "generic"})
		}
		return out
	}
	return unknownSubcommand(c.Args[1], "COMMAND")
}

func sortedCommands() []*Command {
	list := All()
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list
}

func commandInfo(cmd *Command) []any {
	return []any{cmd.Name, int64(cmd.Arity), cmd.Flags.Names(),
		int64(cmd.FirstKey), int64(cmd.LastKey), int64(cmd.Step), cmd.Flags.Categories(), []any{}, []any{}, []any{}}
}

func info(c *Ctx) any {
	sections := make([]string, 0, len(c.Args)-1)
	for _, a := range c.Args[1:] {
		sections = append(sections, strings.ToLower(string(a)))
	}
	return []byte(c.Server.Info(sections...))
}

func config(c *Ctx) any {
	sub := strings.ToLower(string(c.Args[1]))
	switch {
	case sub == "get" && len(c.Args) >= 3:
		var out []any
		seen := map[string]bool{}
		for _, p := range c.Args[2:] {
			pairs := c.Server.ConfigGet(strings.ToLower(string(p)))
			for i := 0; i+1 < len(pairs); i += 2 {
				if name := pairs[i].(string); !seen[name] {
					seen[name] = true
					out = append(out, pairs[i], pairs[i+1])
				}
			}
		}
		if out == nil {
			out = []any{}
		}
		return out
	case sub == "set" && len(c.Args) >= 4 && len(c.Args)%2 == 0:
		for i := 2; i < len(c.Args); i += 2 {
			if r := c.Server.ConfigSet(strings.ToLower(string(c.Args[i])), string(c.Args[i+1])); r != nil {
				return r
			}
		}
		return OK
	case sub == "resetstat" && len(c.Args) == 2:
		c.Server.ConfigResetStat()
		return OK
	case sub == "rewrite" && len(c.Args) == 2:
		if r := c.Server.ConfigRewrite(); r != nil {
			return r
		}
		return OK
	case sub == "get" || sub == "set":
		return ArityError("config|" + sub)
	}
	return unknownSubcommand(c.Args[1], "CONFIG")
}

func shutdown(c *Ctx) any {
	for _, a := range c.Args[1:] {
		if !isOption(a, "NOSAVE") && !isOption(a, "SAVE") && !isOption(a, "NOW") && !isOption(a, "FORCE") {
			return ErrSyntax
		}
	}
	c.Server.Shutdown()
	c.Client.Close = true
	return NoReply{} // like Redis, the connection closes without a reply
}

func reset(c *Ctx) any {
	c.Server.Unsubscribe(c.Client, false, nil)
	c.Server.Unsubscribe(c.Client, true, nil)
	c.Client.Multi = nil
	c.Client.Unwatch()
	c.Client.Keyspace = "0"
	c.Client.Name = ""
	c.Client.Authenticated = c.Server.Authenticate(nil, nil) == nil // back to the state of a new connection
	return Status("RESET")
}
