package server

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/mutexredis/mutexredis/commands"
	"github.com/mutexredis/mutexredis/mutex"
)

// conn is one client connection. Its goroutine reads a pipeline (every
// complete command the client has sent), hands the keyspace commands to the
// mutex together, and writes the replies in order.
type conn struct {
	s      *Server
	nc     net.Conn
	out    output
	client commands.Client

	ks      *mutex.Keyspace // the selected keyspace, cached
	replies []any           // per command of the pipeline being handled
	ops     []mutex.Op      // the ops waiting to be submitted
	opSlot  []int           // which reply each op answers
	written int             // replies before this slot have been written
	wbuf    []byte

	deadlineMu sync.Mutex // orders closeRead with a blocked client's watch
	readClosed bool       // closeRead was called; guarded by deadlineMu
	slots      []cmdSlot  // per command of the pipeline, for stats.go
	start      time.Time  // when the pipeline was read
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{s: s, nc: nc, out: output{nc: countedConn{nc, s.stats}, dropped: &s.stats.droppedSubscribers}}
	c.client = commands.Client{ID: s.nextID.Add(1), Keyspace: "0", Addr: nc.RemoteAddr().String(), Conn: c,
		Authenticated: s.cfg.requirePass() == ""}
	return c
}

// closeRead stops the connection from reading more commands; the pipeline
// it is handling still gets its replies.
func (c *conn) closeRead() {
	// Unblock the reader without cutting the reply in flight; a client
	// that does not read its replies gets a few seconds, not forever.
	c.deadlineMu.Lock()
	defer c.deadlineMu.Unlock()
	c.readClosed = true
	c.nc.SetReadDeadline(time.Now())
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
}

func (c *conn) serve() {
	defer c.s.removeConn(c)
	defer c.cleanup()
	rd := newReader(countedReader{c.nc, c.s.stats}, c.s.cfg.readerLimits())
	rd.tryRead = c.s.stats.countReads(nonBlockingRead(c.nc))
	for {
		cmds, err := rd.readCommands(c.client.Authenticated)
		if len(cmds) > 0 {
			c.handle(cmds)
			if c.client.Close || c.out.dead() {
				return
			}
		}
		if err != nil {
			var perr *protocolError
			if errors.As(err, &perr) {
				c.out.reply(commands.AppendReply(nil, commands.Error("ERR "+perr.Error())))
			}
			return
		}
	}
}

// nonBlockingRead returns a read of a TCP connection that never waits:
// (0, nil) when nothing has arrived. Other connections (TLS) get nil.
func nonBlockingRead(nc net.Conn) func([]byte) (int, error) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return func(p []byte) (int, error) {
		var n int
		var rerr error
		if err := raw.Read(func(fd uintptr) bool {
			n, rerr = syscall.Read(int(fd), p)
			return true // done either way: do not wait for more
		}); err != nil {
			return 0, err
		}
		switch {
		case rerr == syscall.EAGAIN || rerr == syscall.EINTR:
			return 0, nil
		case rerr != nil:
			return 0, rerr
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (c *conn) cleanup() {
	if c.client.Subscriptions() > 0 {
		c.s.Unsubscribe(&c.client, false, nil)
		c.s.Unsubscribe(&c.client, true, nil)
	}
	c.client.Unwatch()
	c.out.fail() // closes the socket
}

// maxReplyChunk is how much encoded reply a pipeline accumulates before
// writing it out.
const maxReplyChunk = 64 << 10

// maxReadsPerSubmit bounds the reads submitted together: their replies (each
// a copy of a value) are written before more are read, so a pipeline of
// large GETs holds a few dozen values at a time, and a client that does not
// read its replies stops the server from reading its requests.
const maxReadsPerSubmit = 32

// handle runs one pipeline. Keyspace commands are collected and submitted
// together, so that they join the same phases; a command that runs at once
// (PING, SELECT, SUBSCRIBE …) first waits for the ones before it, so every
// command takes effect in the order sent.
func (c *conn) handle(cmds [][][]byte) {
	c.replies, c.slots, c.start = c.replies[:0], c.slots[:0], time.Now()
	c.written = 0
	reads := 0
	for _, args := range cmds {
		if len(args) == 0 {
			continue
		}
		slot := len(c.replies)
		c.replies = append(c.replies, nil)
		act := commands.Decide(&c.client, args)
		c.slots = append(c.slots, slotOf(&act, args))
		switch {
		case act.HasOp && act.Blocks:
			// Alone, and before anything after it: a blocked client runs
			// the rest of its pipeline once served.
			c.submit()
			c.ops = append(c.ops, act.Op)
			c.opSlot = append(c.opSlot, slot)
			c.submit()
			reads = 0
			if b, ok := c.replies[slot].(*commands.Blocking); ok {
				c.writeReplies(slot)
				c.replies[slot] = c.block(b)
			}
		case act.HasOp:
			c.ops = append(c.ops, act.Op)
			c.opSlot = append(c.opSlot, slot)
			if act.Op.Kind() == mutex.KindRead {
				if reads++; reads == maxReadsPerSubmit {
					c.submit()
					c.writeReplies(len(c.replies))
					reads = 0
					if c.out.dead() {
						c.dropPending() // nobody to answer: drop the rest of the pipeline
						return
					}
				}
			}
		case act.Run != nil:
			c.submit()
			reads = 0
			c.replies[slot] = act.Run.Run(&commands.Ctx{Args: args, Client: &c.client, Server: c.s})
		default:
			c.replies[slot] = act.Reply
		}
		if c.client.Close {
			break
		}
	}
	c.submit()
	c.writeReplies(len(c.replies))
	if cap(c.wbuf) > maxReplyChunk {
		c.wbuf = nil // do not keep a large buffer on an idle connection
	}
}

// dropPending forgets the ops collected and not submitted.
func (c *conn) dropPending() {
	clear(c.ops)
	c.ops, c.opSlot = c.ops[:0], c.opSlot[:0]
}

// writeReplies encodes and writes the replies not yet written, up to slot
// upto (exclusive); their ops have completed.
func (c *conn) writeReplies(upto int) {
	c.wbuf = c.wbuf[:0]
	took := time.Since(c.start)
	for i := c.written; i < upto; i++ {
		c.s.stats.command(c.slots[i], c.replies[i], took)
		c.wbuf = commands.AppendReply(c.wbuf, c.replies[i])
		c.replies[i] = nil // let a large value go once encoded
		if len(c.wbuf) >= maxReplyChunk {
			c.out.reply(c.wbuf)
			c.wbuf = c.wbuf[:0]
		}
	}
	c.written = upto
	if len(c.wbuf) > 0 {
		c.out.reply(c.wbuf)
	}
}

// submit queues the collected ops in the selected keyspace and waits.
func (c *conn) submit() {
	if len(c.ops) == 0 {
		return
	}
	err := c.keyspace()
	if err == nil {
		err = c.ks.Do(context.Background(), c.ops)
	}
	for i := range c.ops {
		if err != nil {
			c.replies[c.opSlot[i]] = commands.ErrorReply(err)
		} else {
			c.replies[c.opSlot[i]] = commands.OpReply(&c.ops[i])
		}
	}
	c.dropPending()
}

func (c *conn) keyspace() error {
	if c.ks != nil && c.ks.Name() == c.client.Keyspace {
		return nil
	}
	ks, err := c.s.Keyspace(c.client.Keyspace)
	if err != nil {
		return err
	}
	c.ks = ks
	return nil
}
