package server

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mutexredis/mutexredis/commands"
	"github.com/mutexredis/mutexredis/mutex"
)

// Events: each keyspace's mutex events are published on
// __mutex@<ks>__:reads|writes|flushed. A keyspace has a feed (a
// mutex.Subscription and a goroutine turning its events into JSON) only
// while some channel or pattern subscription would receive one of them,
// and a payload is only built for a channel somebody listens to.

var eventKinds = []mutex.EventKind{mutex.EventReads, mutex.EventWrites, mutex.EventFlushed}

func eventChannel(ks string, kind mutex.EventKind) string {
	return "__mutex@" + ks + "__:" + kind.String()
}

// feedBuffer is how many events a keyspace's feed may fall behind before
// the mutex drops it (mutex.Subscription); the feed then resubscribes and
// the batch numbers on writes/flushed show subscribers the gap.
const feedBuffer = 1 << 16

// refreshFeeds starts the feeds that subscriptions now need and stops the
// others.
func (s *Server) refreshFeeds() {
	s.ksMu.Lock()
	defer s.ksMu.Unlock()
	for name, ks := range s.keyspaces {
		if strings.HasPrefix(name, "#") {
			continue // the server's own keyspaces (userKeyspaces) have no events
		}
		wanted := commands.NotificationsOn() && s.pubsub.mayListenPrefix("__key")
		for _, kind := range eventKinds {
			if s.pubsub.listened(eventChannel(name, kind)) {
				wanted = true
				break
			}
		}
		sub, running := s.feeds[name]
		switch {
		case wanted && !running:
			sub = ks.Subscribe(feedBuffer)
			s.feeds[name] = sub
			go s.runFeed(name, sub)
		case !wanted && running:
			delete(s.feeds, name)
			sub.Close()
		}
	}
}

func (s *Server) runFeed(ks string, sub *mutex.Subscription) {
	var buf []byte
	for e := range sub.C {
		if len(e.Notes) > 0 {
			s.publishNotifications(ks, e.Notes)
		}
		ch := eventChannel(ks, e.Kind)
		if !s.pubsub.listened(ch) {
			continue
		}
		buf = appendEventJSON(buf[:0], &e)
		s.pubsub.publish(ch, buf)
	}
	if errors.Is(sub.Err(), mutex.ErrSlowSubscriber) {
		s.log.Warn("event feed fell behind and was dropped; resubscribing", "keyspace", ks)
		s.ksMu.Lock()
		if s.feeds[ks] == sub {
			delete(s.feeds, ks)
		}
		s.ksMu.Unlock()
		s.refreshFeeds()
	}
}

// publishNotifications sends Redis keyspace notifications for a committed
// batch: __keyspace@<ks>__:<key> carries the event name,
// __keyevent@<ks>__:<event> the key.
func (s *Server) publishNotifications(ks string, notes []any) {
	keyspace, keyevent := commands.NotifyChannels()
	for _, n := range notes {
		note, ok := n.(commands.Notification)
		if !ok {
			continue
		}
		if keyspace {
			s.pubsub.publish("__keyspace@"+ks+"__:"+string(note.Key), []byte(note.Event))
		}
		if keyevent {
			s.pubsub.publish("__keyevent@"+ks+"__:"+note.Event, note.Key)
		}
	}
}

// appendEventJSON renders the payload of PRODUCT.md §5.
func appendEventJSON(b []byte, e *mutex.Event) []byte {
	b = append(b, `{"keyspace":`...)
	b = appendJSONString(b, e.Keyspace)
	if e.Kind == mutex.EventReads {
		b = append(b, `,"phase":`...)
	} else {
		b = append(b, `,"batch":`...)
	}
	b = strconv.AppendUint(b, e.Seq, 10)
	switch e.Kind {
	case mutex.EventFlushed:
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, int64(e.Count), 10)
		if e.Err != nil {
			b = append(b, `,"error":`...)
			b = appendJSONString(b, e.Err.Error())
		}
	default:
		b = append(b, `,"ops":[`...)
		for i, a := range e.Ops {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendAccessJSON(b, &a)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func appendAccessJSON(b []byte, a *mutex.Access) []byte { return a.AppendJSON(b) }

// appendBytesField adds ,"name":"v", or ,"name_b64":"…" when v is not UTF-8.
func appendBytesField(b []byte, name string, v []byte) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	if utf8.Valid(v) {
		b = append(b, `":`...)
		return appendJSONString(b, string(v))
	}
	b = append(b, `_b64":"`...)
	b = base64.StdEncoding.AppendEncode(b, v)
	return append(b, '"')
}

// appendJSONString quotes a valid UTF-8 string for JSON.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
