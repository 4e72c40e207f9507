package commands

import (
	"context"

	"github.com/mutexredis/mutexredis/mutex"
)

// Transactions. MULTI queues commands; EXEC runs them as one write op, so
// they are applied atomically in one batch, each seeing the ones before it.
// WATCH registers a mutex.Watch: any write to a watched key after WATCH,
// including one already queued then, makes EXEC answer a null array. The
// watch check runs inside the write phase, so nothing can slip in between
// the check and the transaction.
//
// A transaction runs in one keyspace, as one op of its mutex: SELECT inside
// MULTI is refused when it is queued (and the transaction aborted, as any
// queueing error does), so EXEC never commits part of a transaction, nor
// reports failure for work it committed.

// Multi is a connection's transaction state between MULTI and EXEC.
type Multi struct {
	Queued  [][][]byte // the queued commands' arguments, copied
	Aborted bool       // a command was rejected while queueing: EXEC answers EXECABORT
}

func init() {
	register(
		&Command{Name: "multi", Arity: 1, Flags: Fast | NoMulti, Run: multi},
		&Command{Name: "exec", Arity: 1, Flags: NoMulti, Run: exec},
		&Command{Name: "discard", Arity: 1, Flags: Fast | NoMulti, Run: discard},
		&Command{Name: "watch", Arity: -2, Flags: Fast | NoMulti, FirstKey: 1, LastKey: -1, Step: 1, Run: watch},
		&Command{Name: "unwatch", Arity: 1, Flags: Fast, Run: unwatch},
	)
}

// ErrSelectInMulti is the reply to SELECT queued inside MULTI.
var ErrSelectInMulti = Error("ERR SELECT is not allowed inside MULTI: a transaction runs in one keyspace (SELECT before MULTI)")

// refusedInMulti reports whether cmd may not be queued inside MULTI, beyond
// the NoMulti commands, and with what error.
func refusedInMulti(cmd *Command) (Error, bool) {
	if cmd.Name == "select" {
		return ErrSelectInMulti, true
	}
	return "", false
}

// transactionControl commands run at once even between MULTI and EXEC.
func transactionControl(cmd *Command) bool {
	switch cmd.Name {
	case "exec", "discard", "multi", "watch", "quit", "reset":
		return true
	}
	return false
}

func multi(c *Ctx) any {
	if c.Client.Multi != nil {
		return ErrNestedMulti
	}
	c.Client.Multi = &Multi{}
	return OK
}

func discard(c *Ctx) any {
	if c.Client.Multi == nil {
		return Error("ERR DISCARD without MULTI")
	}
	c.Client.Multi = nil
	c.Client.Unwatch()
	return OK
}

func watch(c *Ctx) any {
	if c.Client.Multi != nil {
		return Error("ERR WATCH inside MULTI is not allowed")
	}
	ks, err := c.Server.Keyspace(c.Client.Keyspace)
	if err != nil {
		return ErrorReply(err)
	}
	c.Client.Watches = append(c.Client.Watches, ks.Watch(c.Args[1:]...))
	return OK
}

func unwatch(c *Ctx) any {
	c.Client.Unwatch()
	return OK
}

// Unwatch ends the client's watches.
func (cl *Client) Unwatch() {
	for _, w := range cl.Watches {
		w.Close()
	}
	cl.Watches = nil
}

// watchesChanged reports whether a watched key was written or has expired
// since WATCH, seen from tx.
func watchesChanged(tx *mutex.Tx, ws []*mutex.Watch) (bool, error) {
	for _, w := range ws {
		if changed, err := w.ChangedIn(tx); changed || err != nil {
			return true, err
		}
	}
	return false, nil
}

func exec(c *Ctx) any {
	cl := c.Client
	m := cl.Multi
	if m == nil {
		return Error("ERR EXEC without MULTI")
	}
	cl.Multi = nil
	watches := cl.Watches
	defer cl.Unwatch()
	if m.Aborted {
		return ErrExecAbort
	}
	// Writes queued in other keyspaces before EXEC must have marked their
	// watches by the time the check runs.
	for _, w := range watches {
		if w.Keyspace().Name() != cl.Keyspace {
			if err := w.Keyspace().Do(context.Background(), []mutex.Op{mutex.AfterWrite()}); err != nil {
				return ErrorReply(err)
			}
		}
	}
	replies, aborted, bad := execPart(c, m.Queued, true, watches)
	switch {
	case aborted:
		return NullArray{}
	case bad != nil:
		return bad
	}
	return replies
}

// execPart runs cmds as one write op in the client's keyspace; checkWatches
// makes it abort, applying nothing, when a watched key was written.
func execPart(c *Ctx, cmds [][][]byte, checkWatches bool, watches []*mutex.Watch) (replies []any, aborted bool, bad any) {
	ks, err := c.Server.Keyspace(c.Client.Keyspace)
	if err != nil {
		return nil, false, ErrorReply(err)
	}
	op := mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		if checkWatches {
			if changed, err := watchesChanged(tx, watches); changed || err != nil {
				return nil, err
			}
		}
		out := make([]any, len(cmds))
		for i, args := range cmds {
			out[i] = runInTx(c, tx, args)
		}
		return out, nil
	})
	ops := []mutex.Op{op}
	if err := ks.Do(c.Client.context(), ops); err != nil {
		return nil, false, ErrorReply(err)
	}
	if ops[0].Err != nil {
		return nil, false, ErrorReply(ops[0].Err)
	}
	if ops[0].Result == nil {
		return nil, true, nil
	}
	return ops[0].Result.([]any), false, nil
}

// runInTx runs one queued command inside the transaction's batch.
func runInTx(c *Ctx, tx *mutex.Tx, args [][]byte) any {
	cmd := Lookup(args[0])
	if cmd.Run != nil {
		return cmd.Run(&Ctx{Args: args, Client: c.Client, Server: c.Server})
	}
	op, bad := cmd.buildOp(&Ctx{Args: args, Client: c.Client, Server: c.Server})
	if bad != nil {
		return bad
	}
	res, err := op.RunIn(tx)
	if err != nil {
		return ErrorReply(err)
	}
	return NonBlocking(res)
}
