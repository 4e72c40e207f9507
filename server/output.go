package server

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// output is a connection's outgoing side. Replies are written by the
// connection's own goroutine, inline; pub/sub messages are appended by
// publishers, who never block: a flusher goroutine writes them. Pending
// bytes are bounded by the pub/sub limits of Redis's
// client-output-buffer-limit: past the hard limit, or past the soft limit
// for longer than softFor, the connection is closed.
type output struct {
	nc net.Conn

	mu sync.Mutex
	// pending is accepted and not yet written. Pub/sub messages are bounded
	// by the client-output-buffer-limit pubsub (message); the connection's
	// own replies wait while pending holds maxPendingReplies or more
	// (reply), so a pub/sub flush in progress never lets them pile up.
	pending   []byte
	drained   sync.Cond // signalled when pending is taken or the output closes
	writing   bool      // a goroutine is writing; it will also write pending
	closed    bool
	softSince time.Time      // when pending first passed the soft limit
	dropped   *atomic.Uint64 // counts closes for passing the limits (stats.go)
}

// maxPendingReplies is how much output a connection's replies may add to
// pending while a flusher writes before they wait for it.
const maxPendingReplies = 1 << 20

// limits is a client-output-buffer-limit class; zero values mean no limit.
type limits struct {
	hard, soft int
	softFor    time.Duration
}

// reply writes b (owned by the caller, reusable once reply returns) after
// everything already pending.
func (o *output) reply(b []byte) error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return net.ErrClosed
	}
	if o.writing || len(o.pending) > 0 {
		if o.drained.L == nil {
			o.drained.L = &o.mu
		}
		for o.writing && len(o.pending) >= maxPendingReplies && !o.closed {
			o.drained.Wait() // the flusher is writing: let it catch up
		}
		if o.closed {
			o.mu.Unlock()
			return net.ErrClosed
		}
		o.pending = append(o.pending, b...)
		if o.writing {
			o.mu.Unlock()
			return nil
		}
		o.writing = true
		o.mu.Unlock()
		return o.writePending()
	}
	o.writing = true
	o.mu.Unlock()
	if _, err := o.nc.Write(b); err != nil {
		o.fail()
		return err
	}
	return o.writePending()
}

// message queues a pub/sub message without blocking; it closes the
// connection instead when the message would pass lim.
func (o *output) message(b []byte, lim limits) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	n := len(o.pending) + len(b)
	switch {
	case lim.hard > 0 && n > lim.hard:
		o.drop()
		return
	case lim.soft > 0 && n > lim.soft:
		if o.softSince.IsZero() {
			o.softSince = time.Now()
		} else if time.Since(o.softSince) > lim.softFor {
			o.drop()
			return
		}
	default:
		o.softSince = time.Time{}
	}
	o.pending = append(o.pending, b...)
	if !o.writing {
		o.writing = true
		go o.writePending()
	}
}

// writePending writes until nothing is pending, then releases writing.
func (o *output) writePending() error {
	var buf []byte
	for {
		o.mu.Lock()
		if len(o.pending) == 0 || o.closed {
			o.writing = false
			if o.drained.L != nil {
				o.drained.Broadcast() // closeFlushed waits for the write's end
			}
			o.mu.Unlock()
			return nil
		}
		buf, o.pending = o.pending, buf[:0]
		if o.drained.L != nil {
			o.drained.Broadcast()
		}
		o.mu.Unlock()
		if _, err := o.nc.Write(buf); err != nil {
			o.fail()
			return err
		}
	}
}

// closeFlushed closes the connection once what is pending is written (a
// flusher may be writing a reply queued behind pub/sub messages: QUIT's
// +OK), giving a client that does not read flushWait before cutting it.
func (o *output) closeFlushed() {
	o.nc.SetWriteDeadline(time.Now().Add(flushWait))
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.drained.L == nil {
		o.drained.L = &o.mu
	}
	for !o.closed && (o.writing || len(o.pending) > 0) {
		if !o.writing {
			o.writing = true
			o.mu.Unlock()
			o.writePending()
			o.mu.Lock()
			continue
		}
		o.drained.Wait()
	}
	o.closeLocked()
}

// flushWait is how long a closing connection's last output may take.
const flushWait = 5 * time.Second

func (o *output) fail() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closeLocked()
}

func (o *output) closeLocked() {
	if !o.closed {
		o.closed = true
		o.writing = false
		o.pending = nil
		o.nc.Close()
		if o.drained.L != nil {
			o.drained.Broadcast()
		}
	}
}

// dead reports whether the connection has been closed: a pipeline still
// being handled for it can stop.
func (o *output) dead() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.closed
}

// buffered is how many bytes wait to be written (CLIENT LIST's omem).
func (o *output) buffered() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending)
}
