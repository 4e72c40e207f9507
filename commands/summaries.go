package commands

// summaries are COMMAND DOCS's summaries for the commands whose table entry
// does not carry one (Redis's wording); register fills them in, and the
// integration test checks that every command has a summary.
var summaries = map[string]string{
	"auth":         "Authenticates the connection.",
	"client":       "A container for client connection commands.",
	"command":      "Returns detailed information about all commands.",
	"config":       "A container for server configuration commands.",
	"discard":      "Discards a transaction.",
	"echo":         "Returns the given string.",
	"exec":         "Executes all commands in a transaction.",
	"hello":        "Handshakes with the Redis server.",
	"info":         "Returns information and statistics about the server.",
	"multi":        "Starts a transaction.",
	"ping":         "Returns the server's liveliness response.",
	"psubscribe":   "Listens for messages published to channels that match one or more patterns.",
	"publish":      "Posts a message to a channel.",
	"pubsub":       "A container for Pub/Sub commands.",
	"punsubscribe": "Stops listening to messages published to channels that match one or more patterns.",
	"quit":         "Closes the connection.",
	"reset":        "Resets the connection.",
	"select":       "Changes the selected keyspace (database number or name).",
	"shutdown":     "Synchronously saves the database(s) to disk and shuts down the Redis server.",
	"subscribe":    "Listens for messages published to channels.",
	"unsubscribe":  "Stops listening to messages posted to channels.",
	"unwatch":      "Forgets about watched keys of a transaction.",
	"watch":        "Monitors changes to keys to determine the execution of a transaction.",
}
