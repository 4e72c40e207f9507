package server

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
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
	opArgs  [][][]byte      // each op's command (SLOWLOG)
	written int             // replies before this slot have been written
	wbuf    []byte

	deadlineMu sync.Mutex // orders closeRead with a blocked client's watch
	readClosed bool       // closeRead was called; guarded by deadlineMu
	slots      []cmdSlot  // per command of the pipeline, for stats.go
	start      time.Time  // when the pipeline was read

	// resp3 mirrors client.Proto == 3 for publishers, who encode the
	// messages they push to this connection in its protocol.
	resp3 atomic.Bool
	// subscribedToInvalidate mirrors a subscription to __redis__:invalidate
	// (a RESP2 tracking redirect's channel).
	subscribedToInvalidate atomic.Bool
	muted                  []bool // per reply slot: CLIENT REPLY OFF/SKIP

	viewMu sync.Mutex
	view   commands.View // the connection as CLIENT LIST shows it, as of its last pipeline
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{s: s, nc: nc, out: output{nc: countedConn{nc, s.stats}, dropped: &s.stats.droppedSubscribers}}
	c.client = commands.Client{ID: s.nextID.Add(1), Keyspace: "0", Addr: nc.RemoteAddr().String(), Conn: c, Server: s,
		Proto: 2, Authenticated: s.cfg.requirePass() == "", LAddr: nc.LocalAddr().String(), FD: socketFD(nc),
		Created: time.Now()}
	c.client.Context = context.WithValue(context.Background(), writerKey{}, c)
	c.view = c.client.View()
	return c
}

// socketFD returns the connection's file descriptor, -1 if it has none.
func socketFD(nc net.Conn) int {
	type syscallConn interface {
		SyscallConn() (syscall.RawConn, error)
	}
	sc, ok := nc.(syscallConn)
	if !ok {
		if tc, isTLS := nc.(interface{ NetConn() net.Conn }); isTLS {
			return socketFD(tc.NetConn())
		}
		return -1
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	raw.Control(func(f uintptr) { fd = int(f) })
	return fd
}

// publishView records the connection's state for CLIENT LIST.
func (c *conn) publishView() {
	v := c.client.View()
	c.viewMu.Lock()
	c.view = v
	c.viewMu.Unlock()
}

// currentView is the connection as another connection's CLIENT LIST sees it.
func (c *conn) currentView() commands.View {
	c.viewMu.Lock()
	v := c.view
	c.viewMu.Unlock()
	v.OutputBytes = c.out.buffered()
	return v
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
	c.s.tracking.closed(c.client.ID)
	c.s.removeMonitor(c)
	if c.client.Subscriptions() > 0 {
		c.s.Unsubscribe(&c.client, false, nil)
		c.s.Unsubscribe(&c.client, true, nil)
	}
	c.client.Unwatch()
	c.out.closeFlushed() // closes the socket
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
	c.muted = c.muted[:0]
	c.written = 0
	reads := 0
	var last *commands.Command
	var lastArgs [][]byte
	for _, args := range cmds {
		if len(args) == 0 {
			continue
		}
		if c.s.pause.active.Load() {
			c.waitPause(args)
		}
		slot := len(c.replies)
		c.replies = append(c.replies, nil)
		off, skip := c.client.ReplyOff, c.client.SkipNext
		c.client.SkipNext = false
		c.muted = append(c.muted, false)
		multi := c.client.Multi
		act := commands.Decide(&c.client, args)
		c.slots = append(c.slots, slotOf(&act, args))
		if act.Cmd != nil {
			last, lastArgs = act.Cmd, args
		}
		switch {
		case act.HasOp && act.Blocks:
			// Alone, and before anything after it: a blocked client runs
			// the rest of its pipeline once served.
			c.submit()
			c.ops = append(c.ops, act.Op)
			c.opSlot = append(c.opSlot, slot)
			c.opArgs = append(c.opArgs, args)
			c.submit()
			reads = 0
			if b, ok := c.replies[slot].(*commands.Blocking); ok {
				c.writeReplies(slot)
				c.replies[slot] = c.block(b)
			}
		case act.HasOp:
			if act.Op.Kind() == mutex.KindRead {
				c.track(act.Cmd, args, nil)
			}
			c.ops = append(c.ops, act.Op)
			c.opSlot = append(c.opSlot, slot)
			c.opArgs = append(c.opArgs, args)
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
			start := time.Now()
			proto := c.client.Proto
			// CLIENT INFO/LIST show themselves as the running command, and a
			// subscriber's confirmation goes out while SUBSCRIBE runs.
			if act.Run.Name == "client" || act.Run.Flags&commands.PubSub != 0 {
				c.client.LastCmd = act.Run.FullName(args)
			}
			if act.Run.Name == "exec" && c.s.tracking.active.Load() > 0 {
				c.track(act.Run, args, multi)
			}
			if act.Run.Flags&commands.PubSub != 0 && act.Run.Flags&commands.Subscribed != 0 {
				c.writeReplies(slot) // (un)subscribe confirmations go out in order
			}
			c.replies[slot] = act.Run.Run(&commands.Ctx{Args: args, Client: &c.client, Server: c.s})
			c.s.slowlog.record(&c.client, args, time.Since(start))
			if c.client.Proto != proto { // HELLO, RESET: what came before is answered in the old protocol
				c.writeRepliesProto(slot, proto == 3)
				c.resp3.Store(c.client.RESP3())
			}
			if act.Run.Flags&commands.PubSub != 0 {
				_, sub := c.client.Channels[invalidateChannel]
				c.subscribedToInvalidate.Store(sub)
			}
		default:
			c.replies[slot] = act.Reply
		}
		if act.Cmd != nil && act.Cmd.Flags&commands.Admin == 0 { // Redis never shows admin commands
			c.s.feedMonitors(&c.client, args, multi) // as Redis: once run, in the keyspace it leaves
		}
		c.client.CommandDone(act.Cmd)
		if (off && c.client.ReplyOff) || skip {
			c.muted[slot] = true
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
	if last != nil {
		c.client.LastCmd = last.FullName(lastArgs)
	}
	c.client.LastActive = time.Now()
	c.publishView()
}

// invalidateChannel is where RESP2 tracking redirects get invalidations.
const invalidateChannel = "__redis__:invalidate"

// track remembers the keys a read will read, for client-side caching,
// before it runs (for EXEC, the queued reads' keys). Writes invalidate
// from inside their write phase (tracker.Written).
func (c *conn) track(cmd *commands.Command, args [][]byte, multi *commands.Multi) {
	tr := c.s.tracking
	if tr.active.Load() == 0 {
		return
	}
	switch t := c.client.Tracking; {
	case t == nil:
	case t.BCast: // nothing to remember, but its replies go before invalidations
		tr.remember(c.client.ID, nil)
	case t.Tracks():
		tr.remember(c.client.ID, keysOf(cmd, args, multi))
	}
}

// dropPending forgets the ops collected and not submitted.
func (c *conn) dropPending() {
	clear(c.ops)
	clear(c.opArgs)
	c.ops, c.opSlot, c.opArgs = c.ops[:0], c.opSlot[:0], c.opArgs[:0]
}

// writeReplies encodes and writes the replies not yet written, up to slot
// upto (exclusive); their ops have completed.
func (c *conn) writeReplies(upto int) { c.writeRepliesProto(upto, c.client.RESP3()) }

func (c *conn) writeRepliesProto(upto int, resp3 bool) {
	c.wbuf = c.wbuf[:0]
	took := time.Since(c.start)
	for i := c.written; i < upto; i++ {
		c.s.stats.command(c.slots[i], c.replies[i], took)
		if c.muted[i] {
			c.replies[i] = nil
			continue
		}
		c.wbuf = commands.AppendReplyProto(c.wbuf, c.replies[i], resp3)
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
	if upto == len(c.replies) {
		c.s.tracking.replied(c.client.ID) // every reply is out: invalidations may follow
	}
}

// submit queues the collected ops in the selected keyspace and waits.
func (c *conn) submit() {
	if len(c.ops) == 0 {
		return
	}
	start := time.Now()
	err := c.keyspace()
	if err == nil {
		err = c.ks.Do(c.client.Context, c.ops)
	}
	for i := range c.ops {
		if err != nil {
			c.replies[c.opSlot[i]] = commands.ErrorReply(err)
		} else {
			c.replies[c.opSlot[i]] = commands.OpReply(&c.ops[i])
		}
	}
	if took := time.Since(start); took >= c.s.slowlog.threshold() {
		// Every op of the submission took that long; the log keeps the last.
		first := max(0, len(c.ops)-int(c.s.cfg.SlowlogMaxLen.Load()))
		for i := first; i < len(c.ops); i++ {
			c.s.slowlog.record(&c.client, c.opArgs[i], took)
		}
	}
	c.s.latency.record(phaseEvent(c.ops), time.Since(start))
	c.dropPending()
}

// phaseEvent names the LATENCY event of a submission: the phase kind its
// first op waited for.
func phaseEvent(ops []mutex.Op) string {
	if ops[0].Kind() == mutex.KindRead {
		return "read-phase"
	}
	return "write-phase"
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
