package server

import (
	"sort"
	"strings"
	"sync"

	"github.com/mutexredis/mutexredis/glob"
	"github.com/tidwall/redcon"
)

// pubsub routes messages to subscribed connections. Publishing never
// blocks: each receiver's output takes the message or drops the
// connection (output.message).
type pubsub struct {
	mu       sync.RWMutex
	channels map[string]map[*conn]struct{}
	patterns map[string]map[*conn]struct{}
	limits   func() limits // the current client-output-buffer-limit pubsub
}

func newPubSub(lim func() limits) *pubsub {
	return &pubsub{channels: map[string]map[*conn]struct{}{}, patterns: map[string]map[*conn]struct{}{}, limits: lim}
}

func (p *pubsub) table(pattern bool) map[string]map[*conn]struct{} {
	if pattern {
		return p.patterns
	}
	return p.channels
}

// subscribe subscribes c to name (added is false if it already was) and,
// still holding the lock every publisher takes, queues confirm's reply on
// c's output: no message for name can be queued before its confirmation,
// as Redis guarantees. The caller has written c's earlier replies.
func (p *pubsub) subscribe(c *conn, pattern bool, name string, confirm func(added bool) []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.out.push(confirm(p.addLocked(c, pattern, name)))
}

// addLocked subscribes c to name; false if it already was. Caller holds mu.
func (p *pubsub) addLocked(c *conn, pattern bool, name string) bool {
	t := p.table(pattern)
	subs := t[name]
	if subs == nil {
		subs = map[*conn]struct{}{}
		t[name] = subs
	}
	if _, ok := subs[c]; ok {
		return false
	}
	subs[c] = struct{}{}
	return true
}

// remove unsubscribes c from name; false if it was not subscribed.
func (p *pubsub) remove(c *conn, pattern bool, name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.table(pattern)
	subs := t[name]
	if _, ok := subs[c]; !ok {
		return false
	}
	delete(subs, c)
	if len(subs) == 0 {
		delete(t, name)
	}
	return true
}

// publish sends msg to channel's subscribers and to every matching pattern
// subscription, and returns how many received it.
func (p *pubsub) publish(channel string, msg []byte) int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	lim := p.limits()
	n := 0
	if subs := p.channels[channel]; len(subs) > 0 {
		var m messages
		for c := range subs {
			c.out.message(m.get(c, "message", "", channel, msg), lim)
			n++
		}
	}
	for pat, subs := range p.patterns {
		if !glob.Match(pat, channel) {
			continue
		}
		var m messages
		for c := range subs {
			c.out.message(m.get(c, "pmessage", pat, channel, msg), lim)
			n++
		}
	}
	return n
}

// listenersOf lists every connection that could receive an event or a
// keyspace notification of keyspace ks.
func (p *pubsub) listenersOf(ks string) map[*conn]struct{} {
	prefixes := []string{"__mutex@" + ks + "__:", "__keyspace@" + ks + "__:", "__keyevent@" + ks + "__:"}
	p.mu.RLock()
	victims := map[*conn]struct{}{}
	for ch, subs := range p.channels {
		for _, pre := range prefixes {
			if strings.HasPrefix(ch, pre) {
				for c := range subs {
					victims[c] = struct{}{}
				}
			}
		}
	}
	for pat, subs := range p.patterns {
		hit := strings.HasPrefix(pat, "__key")
		for _, kind := range []string{"reads", "writes", "flushed"} {
			hit = hit || glob.Match(pat, prefixes[0]+kind)
		}
		if hit {
			for c := range subs {
				victims[c] = struct{}{}
			}
		}
	}
	p.mu.RUnlock()
	return victims
}

// listened reports whether a message on channel would reach anyone.
func (p *pubsub) listened(channel string) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if len(p.channels[channel]) > 0 {
		return true
	}
	for pat := range p.patterns {
		if glob.Match(pat, channel) {
			return true
		}
	}
	return false
}

// mayListenPrefix reports whether some subscription could receive a
// channel starting with prefix: an exact channel with that prefix, or any
// pattern (patterns are not analysed).
func (p *pubsub) mayListenPrefix(prefix string) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if len(p.patterns) > 0 {
		return true
	}
	for ch := range p.channels {
		if strings.HasPrefix(ch, prefix) {
			return true
		}
	}
	return false
}

// channelsMatching lists the channels with subscribers, sorted.
func (p *pubsub) channelsMatching(pattern []byte) []any {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var names []string
	for ch := range p.channels {
		if pattern == nil || glob.Match(string(pattern), ch) {
			names = append(names, ch)
		}
	}
	sort.Strings(names)
	out := make([]any, len(names))
	for i, n := range names {
		out[i] = n
	}
	return out
}

func (p *pubsub) numSub(channel string) int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return int64(len(p.channels[channel]))
}

func (p *pubsub) numPat() int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	n := 0
	for _, subs := range p.patterns {
		n += len(subs)
	}
	return int64(n)
}

// messages encodes one message in RESP2 and RESP3, each once, as the
// receivers need them.
type messages struct{ resp2, resp3 []byte }

func (m *messages) get(c *conn, kind, pattern, channel string, msg []byte) []byte {
	if c.resp3.Load() {
		if m.resp3 == nil {
			m.resp3 = appendMessage(nil, kind, pattern, channel, msg, '>')
		}
		return m.resp3
	}
	if m.resp2 == nil {
		m.resp2 = appendMessage(nil, kind, pattern, channel, msg, '*')
	}
	return m.resp2
}

// appendMessage encodes a message or pmessage (pattern "" for message), as
// an array (RESP2, aggregate '*') or a push (RESP3, '>').
func appendMessage(b []byte, kind, pattern, channel string, msg []byte, aggregate byte) []byte {
	if kind == "pmessage" {
		b = append(b, aggregate, '4', '\r', '\n')
		b = redcon.AppendBulkString(b, kind)
		b = redcon.AppendBulkString(b, pattern)
	} else {
		b = append(b, aggregate, '3', '\r', '\n')
		b = redcon.AppendBulkString(b, kind)
	}
	b = redcon.AppendBulkString(b, channel)
	return redcon.AppendBulk(b, msg)
}

// push queues b (owned by the output from now on) after everything pending,
// without blocking and without the pub/sub limits: it is a subscription's
// confirmation, a few dozen bytes per channel the client named.
func (o *output) push(b []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.pending = append(o.pending, b...)
	if !o.writing {
		o.writing = true
		go o.writePending()
	}
}
