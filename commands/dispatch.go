package commands

import (
	"errors"
	"strings"

	"github.com/mutexredis/mutexredis/mutex"
)

// Action is what the server does with one command.
type Action struct {
	// Reply, when Op and Run are unset, is the answer to send at once.
	Reply any
	// Op, when HasOp, is queued in the connection's keyspace; its Result
	// (see OpReply) is the answer.
	Op    mutex.Op
	HasOp bool
	// Blocks says the op may answer *Blocking: the server runs it alone
	// and, if it does, blocks the client before the commands after it.
	Blocks bool
	// Run, when set, runs once every op queued before it has completed.
	Run *Command
	// Cmd is the command that runs (Run or Op); nil when it was refused
	// or queued in MULTI.
	Cmd *Command
	// Called is the command looked up (nil when unknown) and Rejected is
	// set when it was refused before running (arity, NOAUTH, unknown
	// subcommand), as Redis's rejected_calls counts them: for statistics.
	Called   *Command
	Rejected bool
}

// Decide looks args up in the table and checks them against the
// connection's state: unknown commands, arity, subscribed mode and MULTI
// queueing are all decided here, so the server only moves bytes and ops.
func Decide(cl *Client, args [][]byte) Action {
	cmd := Lookup(args[0])
	act := decide(cl, cmd, args)
	act.Called = cmd
	return act
}

func decide(cl *Client, cmd *Command, args [][]byte) Action {
	if cmd == nil {
		if cl.Multi != nil {
			cl.Multi.Aborted = true
		}
		return Action{Reply: UnknownCommand(args)}
	}
	// Redis's order: unknown subcommand, arity, authentication.
	if cmd.Subcommands != nil && !cmd.hasSubcommand(args) {
		return reject(cl, cmd, unknownSubcommand(args[1], strings.ToUpper(cmd.Name)))
	}
	if !cmd.CheckArity(len(args)) {
		return reject(cl, cmd, ArityError(cmd.Name))
	}
	if !cl.Authenticated && cmd.Flags&NoAuth == 0 {
		return reject(cl, cmd, Error("NOAUTH Authentication required."))
	}
	if FeedWriteRefused(cmd, args) {
		return reject(cl, cmd, ErrFeedReadOnly)
	}
	if readOnly(cl, cmd) {
		return reject(cl, cmd, ErrReadOnly)
	}
	if cl.Subscriptions() > 0 && cmd.Flags&Subscribed == 0 && !cl.RESP3() { // RESP3 has no subscribed mode
		return Action{Rejected: true, Reply: Error("ERR Can't execute '" + cmd.FullName(args) +
			"': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")}
	}
	if cl.Multi != nil && !transactionControl(cmd) {
		if cmd.Flags&NoMulti != 0 {
			cl.Multi.Aborted = true
			return Action{Reply: Error("ERR Command not allowed inside a transaction")}
		}
		if e, refused := refusedInMulti(cmd); refused {
			cl.Multi.Aborted = true
			return Action{Reply: e}
		}
		cl.Multi.Queued = append(cl.Multi.Queued, cloneArgs(args))
		return Action{Reply: Status("QUEUED")}
	}
	if cmd.Run != nil {
		return Action{Run: cmd, Cmd: cmd}
	}
	if cl.Server != nil {
		if busy := cl.Server.Scripts().Busy(cl.Keyspace); busy != nil {
			return Action{Reply: busy}
		}
	}
	op, bad := cmd.buildOp(&Ctx{Args: args, Client: cl, Server: cl.Server})
	if bad != nil {
		return Action{Reply: bad}
	}
	return Action{Op: op, HasOp: true, Cmd: cmd, Blocks: cmd.Flags&MayBlock != 0}
}

// reject answers a command refused before it runs. Inside MULTI the
// transaction is flagged, and a refused EXEC discards it, as Redis does.
func reject(cl *Client, cmd *Command, e Error) Action {
	if cmd.Name == "exec" {
		cl.Multi = nil
		cl.Unwatch()
		msg := strings.TrimPrefix(string(e), "ERR ")
		return Action{Rejected: true, Reply: Error("EXECABORT Transaction discarded because of: " + msg)}
	}
	if cl.Multi != nil {
		cl.Multi.Aborted = true
	}
	return Action{Rejected: true, Reply: e}
}

func cloneArgs(args [][]byte) [][]byte {
	n := 0
	for _, a := range args {
		n += len(a)
	}
	buf := make([]byte, 0, n)
	out := make([][]byte, len(args))
	for i, a := range args {
		buf = append(buf, a...)
		out[i] = buf[len(buf)-len(a):]
	}
	return out
}

// OpReply is the reply to a completed op.
func OpReply(op *mutex.Op) any {
	if op.Err != nil {
		return ErrorReply(op.Err)
	}
	return op.Result
}

// ErrorReply turns an error from the mutex into Redis's error reply: a
// failed commit is MISCONF, as Redis answers writes it cannot persist.
func ErrorReply(err error) Error {
	var e Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, mutex.ErrWrongType) {
		return ErrWrongType
	}
	if errors.Is(err, mutex.ErrNotReplicated) {
		return Error(oneLine(err.Error())) // the replicator's text is Redis's reply (READONLY …)
	}
	if errors.Is(err, mutex.ErrClosed) {
		return Error("ERR server is shutting down")
	}
	return Error("MISCONF Errors writing to the store: " + oneLine(err.Error()) +
		". Commands that may modify the data set are refused until the store recovers.")
}

func oneLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\r' || c == '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}

// buildOp builds the op of an Op or OpCtx command.
func (cmd *Command) buildOp(c *Ctx) (mutex.Op, any) {
	if cmd.OpCtx != nil {
		return cmd.OpCtx(c)
	}
	return cmd.Op(c.Args)
}
