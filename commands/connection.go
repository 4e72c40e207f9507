package commands

import (
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
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
			Subcommands: clientSubcommands},
		&Command{Name: "command", Arity: -1, Flags: Connection | Loading, Run: command,
			Subcommands: []string{"count", "list", "info", "docs", "getkeys", "getkeysandflags", "help"}},
		&Command{Name: "info", Arity: -1, Flags: Loading, Run: info},
		&Command{Name: "config", Arity: -2, Flags: Admin | Loading | NoMulti, Run: config,
			Subcommands: []string{"get", "set", "resetstat", "rewrite", "help"}},
		&Command{Name: "shutdown", Arity: -1, Flags: Admin | NoMulti | Loading, Run: shutdown},
		&Command{Name: "reset", Arity: 1, Flags: Fast | Connection | Subscribed | NoMulti | NoAuth, Run: reset},
		&Command{Name: "auth", Arity: -2, Flags: Fast | Connection | NoAuth | NoMulti | Loading, Run: auth},
	)
}

func ping(c *Ctx) any {
	if len(c.Args) > 2 {
		return ArityError("ping")
	}
	if c.Client.Subscriptions() > 0 && !c.Client.RESP3() { // RESP2 subscribed mode answers with an array
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
	proto := c.Client.Proto
	if len(args) > 0 {
		v, ok := ParseInt(args[0])
		if !ok {
			return Error("ERR Protocol version is not an integer or out of range")
		}
		if v != 2 && v != 3 {
			return Error("NOPROTO unsupported protocol version")
		}
		proto = int(v)
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
	c.Client.Proto = proto
	return Map{
		"server", "redis",
		"version", Version,
		"proto", int64(proto),
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
			if bad := checkLibInfo(args[1], true); bad != nil {
				return bad
			}
			c.Client.LibName = string(args[1])
		case isOption(args[0], "LIB-VER"):
			if bad := checkLibInfo(args[1], false); bad != nil {
				return bad
			}
			c.Client.LibVer = string(args[1])
		default:
			return Error("ERR Unrecognized option '" + clip(args[0]) + "'")
		}
		return OK
	case sub == "info" && len(args) == 0:
		v := c.Client.View()
		return Verbatim(v.Line(time.Now()) + "\n")
	case sub == "list":
		return clientList(c, args)
	case sub == "kill" && len(args) >= 1:
		return clientKill(c, args)
	case sub == "pause" && (len(args) == 1 || len(args) == 2):
		ms, ok := ParseInt(args[0])
		if !ok {
			return Error("ERR timeout is not an integer or out of range")
		}
		if ms < 0 {
			return Error("ERR timeout is negative")
		}
		writesOnly := false
		if len(args) == 2 {
			switch {
			case isOption(args[1], "WRITE"):
				writesOnly = true
			case isOption(args[1], "ALL"):
			default:
				return Error("ERR CLIENT PAUSE mode must be WRITE or ALL")
			}
		}
		c.Server.Pause(time.Now().Add(time.Duration(ms)*time.Millisecond), writesOnly)
		return OK
	case sub == "unpause" && len(args) == 0:
		c.Server.Unpause()
		return OK
	case sub == "reply" && len(args) == 1:
		switch {
		case isOption(args[0], "ON"):
			c.Client.ReplyOff, c.Client.SkipNext = false, false
			return OK
		case isOption(args[0], "OFF"):
			c.Client.ReplyOff = true
			return NoReply{}
		case isOption(args[0], "SKIP"):
			if !c.Client.ReplyOff {
				c.Client.SkipNext = true
			}
			return NoReply{}
		}
		return ErrSyntax
	case (sub == "no-evict" || sub == "no-touch") && len(args) == 1:
		var on bool
		switch {
		case isOption(args[0], "ON"):
			on = true
		case isOption(args[0], "OFF"):
		default:
			return ErrSyntax
		}
		if sub == "no-evict" {
			c.Client.NoEvict = on
		} else {
			c.Client.NoTouch = on
		}
		return OK
	case sub == "unblock" && (len(args) == 1 || len(args) == 2):
		if _, ok := ParseInt(args[0]); !ok {
			return ErrNotInteger
		}
		if len(args) == 2 && !isOption(args[1], "TIMEOUT") && !isOption(args[1], "ERROR") {
			return Error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
		}
		return int64(0) // no command of mutexredis blocks a client yet
	case sub == "maint_notifications":
		return OK // newer clients announce it; there is no maintenance to notify
	case sub == "tracking" && len(args) >= 1:
		return clientTracking(c, args)
	case sub == "caching" && len(args) == 1:
		return clientCaching(c, args[0])
	case sub == "getredir" && len(args) == 0:
		if c.Client.Tracking == nil {
			return int64(-1)
		}
		return c.Client.Tracking.Redirect
	case sub == "trackinginfo" && len(args) == 0:
		return trackingInfo(c)
	case sub == "help" && len(args) == 0:
		return []any{
			Status("CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"),
			Status("CACHING (YES|NO)"), Status("GETNAME"), Status("GETREDIR"), Status("ID"), Status("INFO"),
			Status("KILL <ip:port> | <option> <value> [<option> <value> ...]"),
			Status("LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID <id> [<id> ...]]"),
			Status("UNPAUSE"), Status("PAUSE <timeout> [WRITE|ALL]"), Status("REPLY (ON|OFF|SKIP)"),
			Status("SETINFO <LIB-NAME|LIB-VER> <value>"), Status("SETNAME <name>"),
			Status("TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]] [OPTIN] [OPTOUT] [NOLOOP]"),
			Status("TRACKINGINFO"), Status("UNBLOCK <clientid> [TIMEOUT|ERROR]"), Status("NO-EVICT (ON|OFF)"),
			Status("NO-TOUCH (ON|OFF)"), Status("HELP"),
		}
	}
	if slices.Contains(clientSubcommands, sub) {
		return ArityError("client|" + sub)
	}
	return unknownSubcommand(c.Args[1], "CLIENT")
}

var clientSubcommands = []string{"setname", "getname", "id", "setinfo", "info", "help", "list", "kill", "pause",
	"unpause", "reply", "no-evict", "no-touch", "unblock", "tracking", "caching", "getredir", "trackinginfo",
	"maint_notifications"}

// checkLibInfo applies Redis's rules to CLIENT SETINFO's values.
func checkLibInfo(v []byte, name bool) any {
	for _, b := range v {
		if b < '!' || b > '~' || (name && b == ' ') {
			return Error("ERR lib-name and lib-ver cannot contain spaces, newlines or special characters.")
		}
	}
	return nil
}

func clientList(c *Ctx, args [][]byte) any {
	var ids map[int64]bool
	kind := ""
	for len(args) > 0 {
		switch {
		case isOption(args[0], "TYPE") && len(args) == 2:
			t := strings.ToLower(string(args[1]))
			switch t {
			case "normal", "pubsub", "master", "replica", "slave":
			default:
				return Error("ERR Unknown client type '" + clip(args[1]) + "'")
			}
			kind = t
			args = args[2:]
		case isOption(args[0], "ID") && len(args) >= 2:
			ids = map[int64]bool{}
			for _, a := range args[1:] {
				id, ok := ParseInt(a)
				if !ok {
					return Error("ERR Invalid client ID")
				}
				ids[id] = true
			}
			args = nil
		default:
			return ErrSyntax
		}
	}
	now := time.Now()
	var b strings.Builder
	for _, v := range c.Server.Clients(c.Client) {
		if ids != nil && !ids[v.ID] {
			continue
		}
		if kind != "" && clientType(&v) != kind {
			continue
		}
		b.WriteString(v.Line(now))
		b.WriteByte('\n')
	}
	return Verbatim(b.String())
}

// clientType is CLIENT LIST TYPE's and CLIENT KILL TYPE's class of v.
func clientType(v *View) string {
	if v.PubSub {
		return "pubsub"
	}
	return "normal"
}

func clientKill(c *Ctx, args [][]byte) any {
	if len(args) == 1 { // the old form: CLIENT KILL addr:port
		for _, v := range c.Server.Clients(c.Client) {
			if v.Addr == string(args[0]) {
				killClients(c, []int64{v.ID})
				return OK
			}
		}
		return Error("ERR No such client")
	}
	if len(args)%2 != 0 {
		return ErrSyntax
	}
	skipMe := true
	var filters []func(v *View) bool
	for ; len(args) > 0; args = args[2:] {
		opt, val := strings.ToLower(string(args[0])), args[1]
		switch opt {
		case "id":
			id, ok := ParseInt(val)
			if !ok || id <= 0 {
				return Error("ERR client-id should be greater than 0")
			}
			filters = append(filters, func(v *View) bool { return v.ID == id })
		case "type":
			t := strings.ToLower(string(val))
			switch t {
			case "normal", "pubsub", "master", "replica", "slave":
			default:
				return Error("ERR Unknown client type '" + clip(val) + "'")
			}
			filters = append(filters, func(v *View) bool { return clientType(v) == t })
		case "addr":
			filters = append(filters, func(v *View) bool { return v.Addr == string(val) })
		case "laddr":
			filters = append(filters, func(v *View) bool { return v.LAddr == string(val) })
		case "user":
			if string(val) != "default" {
				return Error("ERR No such user '" + clip(val) + "'")
			}
		case "skipme":
			switch {
			case isOption(val, "YES"):
				skipMe = true
			case isOption(val, "NO"):
				skipMe = false
			default:
				return ErrSyntax
			}
		case "maxage":
			age, ok := ParseInt(val)
			if !ok {
				return ErrSyntax
			}
			filters = append(filters, func(v *View) bool { return time.Since(v.Created) >= time.Duration(age)*time.Second })
		default:
			return ErrSyntax
		}
	}
	var ids []int64
	for _, v := range c.Server.Clients(c.Client) {
		if skipMe && v.ID == c.Client.ID {
			continue
		}
		match := true
		for _, f := range filters {
			if !f(&v) {
				match = false
				break
			}
		}
		if match {
			ids = append(ids, v.ID)
		}
	}
	return int64(killClients(c, ids))
}

// killClients closes the connections ids; its own closes after the reply.
func killClients(c *Ctx, ids []int64) int {
	n := c.Server.Kill(c.Client, ids)
	if slices.Contains(ids, c.Client.ID) {
		c.Client.Close = true
		n++
	}
	return n
}

func unknownSubcommand(sub []byte, cmd string) Error {
	return Error("ERR unknown subcommand '" + clip(sub) + "'. Try " + cmd + " HELP.")
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
	case "getkeys", "getkeysandflags":
		if len(names) < 2 {
			return ArityError("command|" + sub)
		}
		return getKeys(names, sub == "getkeysandflags")
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
		out := Map{}
		if len(names) == 0 {
			for _, cmd := range sortedCommands() {
				out = append(out, cmd.Name, cmd.docReply())
			}
		}
		for _, n := range names {
			if name, doc := docOf(n); doc != nil {
				out = append(out, name, doc)
			}
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
	return []any{cmd.Name, int64(cmd.Arity), Set(cmd.Flags.Names()),
		int64(cmd.FirstKey), int64(cmd.LastKey), int64(cmd.Step), Set(cmd.Flags.Categories()), Set{}, Set{}, Set{}}
}

func info(c *Ctx) any {
	sections := make([]string, 0, len(c.Args)-1)
	for _, a := range c.Args[1:] {
		sections = append(sections, strings.ToLower(string(a)))
	}
	return Verbatim(c.Server.Info(sections...))
}

func config(c *Ctx) any {
	sub := strings.ToLower(string(c.Args[1]))
	switch {
	case sub == "help" && len(c.Args) == 2:
		return helpReply("CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
			"GET <pattern>", "    Return parameters matching the glob-like <pattern> and their values.",
			"SET <directive> <value>", "    Set the configuration <directive> to <value>.",
			"RESETSTAT", "    Reset statistics reported by the INFO command.",
			"REWRITE", "    Rewrite the configuration file.",
			"HELP", "    Prints this help.")
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
		return Map(out)
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
	c.Client.Proto = 2
	if c.Client.Tracking != nil {
		c.Server.SetTracking(c.Client, nil)
		c.Client.Tracking = nil
	}
	if c.Client.Monitor {
		c.Server.Monitor(c.Client, false)
		c.Client.Monitor = false
	}
	c.Client.ReplyOff, c.Client.SkipNext, c.Client.NoEvict, c.Client.NoTouch = false, false, false, false
	c.Client.Authenticated = c.Server.Authenticate(nil, nil) == nil // back to the state of a new connection
	return Status("RESET")
}

// helpReply is a HELP subcommand's reply: one simple string per line.
func helpReply(lines ...string) []any {
	out := make([]any, len(lines))
	for i, l := range lines {
		out[i] = Status(l)
	}
	return out
}
