package server

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mutexredis/mutexredis/commands"
)

// block waits for a blocking command (commands.Blocking) on the
// connection's keyspace and returns its reply. The wait ends when the
// command is served, its timeout passes, the client disconnects (a
// watcher sees the socket close) or the server shuts down.
func (c *conn) block(b *commands.Blocking) any {
	ctx, cancel := context.WithCancel(c.client.Context) // names the writer to tracking
	defer cancel()
	if b.Timeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeout(ctx, b.Timeout)
		defer stop()
	}
	stopWatch := c.watchClose(cancel)
	defer stopWatch()
	go func() {
		select {
		case <-c.s.shutdown:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := c.keyspace(); err != nil {
		return commands.ErrorReply(err)
	}
	res, err := c.ks.Block(ctx, b.Keys, b.Attempt)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return b.TimeoutReply
	case err != nil:
		return commands.ErrorReply(err)
	}
	return res
}

// watchClose calls closed when the peer closes the connection while the
// connection's goroutine is blocked (nothing else reads the socket then).
// Data the client sends meanwhile stays unread for the reader. It returns
// a function that stops the watch; TLS connections are not watched.
func (c *conn) watchClose(closed func()) (stop func()) {
	tc, ok := c.nc.(*net.TCPConn)
	if !ok {
		return func() {}
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return func() {}
	}
	var stopping atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		var buf [1]byte
		raw.Read(func(fd uintptr) bool {
			if stopping.Load() {
				return true
			}
			n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if err == syscall.EAGAIN || err == syscall.EINTR {
				return false // wait until readable
			}
			if n == 0 || err != nil {
				closed()
			}
			return true // closed, or the client sent more: either way, done
		})
	}()
	return func() {
		stopping.Store(true)
		c.nc.SetReadDeadline(time.Now()) // wakes raw.Read
		<-done
		c.deadlineMu.Lock()
		if !c.readClosed { // closeRead's deadline stays
			c.nc.SetReadDeadline(time.Time{})
		}
		c.deadlineMu.Unlock()
	}
}
