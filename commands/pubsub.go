package commands

import "strings"

func init() {
	register(
		&Command{Name: "subscribe", Arity: -2, Flags: PubSub | Subscribed | NoMulti, Run: subscribe(false)},
		&Command{Name: "psubscribe", Arity: -2, Flags: PubSub | Subscribed | NoMulti, Run: subscribe(true)},
		&Command{Name: "unsubscribe", Arity: -1, Flags: PubSub | Subscribed | NoMulti, Run: unsubscribe(false)},
		&Command{Name: "punsubscribe", Arity: -1, Flags: PubSub | Subscribed | NoMulti, Run: unsubscribe(true)},
		&Command{Name: "publish", Arity: 3, Flags: PubSub | Fast, Run: publish},
		&Command{Name: "pubsub", Arity: -2, Flags: PubSub, Run: pubsubIntrospect,
			Subcommands: []string{"channels", "numsub", "numpat", "help"}},
	)
}

func subscribe(pattern bool) func(*Ctx) any {
	return func(c *Ctx) any { return pushes(c.Client, c.Server.Subscribe(c.Client, pattern, c.Args[1:])) }
}

func unsubscribe(pattern bool) func(*Ctx) any {
	return func(c *Ctx) any { return pushes(c.Client, c.Server.Unsubscribe(c.Client, pattern, c.Args[1:])) }
}

// pushes turns (un)subscribe confirmations into push frames on a RESP3
// connection, as Redis sends them.
func pushes(cl *Client, r Replies) Replies {
	if cl.RESP3() {
		for i, e := range r {
			if a, ok := e.([]any); ok {
				r[i] = Push(a)
			}
		}
	}
	return r
}

func publish(c *Ctx) any { return int64(c.Server.Publish(string(c.Args[1]), c.Args[2])) }

func pubsubIntrospect(c *Ctx) any {
	sub := strings.ToLower(string(c.Args[1]))
	args := c.Args[2:]
	switch {
	case sub == "help" && len(args) == 0:
		return helpReply("PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
			"CHANNELS [<pattern>]", "    Return the currently active channels matching a <pattern> (default: '*').",
			"NUMPAT", "    Return number of subscriptions to patterns.",
			"NUMSUB [<channel> ...]", "    Return the number of subscribers for the specified channels, excluding",
			"    pattern subscriptions(default: no channels).",
			"HELP", "    Prints this help.")
	case sub == "channels" && len(args) <= 1:
		var pattern []byte
		if len(args) == 1 {
			pattern = args[0]
		}
		return c.Server.PubSubChannels(pattern)
	case sub == "numsub":
		out := []any{}
		for _, ch := range args {
			out = append(out, ch, c.Server.NumSub(string(ch)))
		}
		return out
	case sub == "numpat" && len(args) == 0:
		return c.Server.NumPat()
	case sub == "channels":
		return Error("ERR unknown subcommand or wrong number of arguments for '" + clip(c.Args[1]) + "'. Try PUBSUB HELP.")
	case sub == "numpat":
		return ArityError("pubsub|" + sub)
	}
	return unknownSubcommand(c.Args[1], "PUBSUB")
}
