package server

import (
	"errors"
	"strconv"
	"strings"
	"sync"

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

// A keyspace's feed holds at most feedBuffer events, and at most feedBytes
// of them by mutex.EventSize, that it has not published yet; past either
// bound the mutex drops it (mutex.Subscription). The subscribers that could
// have received its events are then disconnected (they lost some, as Redis
// disconnects a client past its output limit) and the feed starts again.
const (
	feedBuffer = 1 << 16
	feedBytes  = 64 << 20
)

// feed is one keyspace's running feed.
type feed struct {
	ks  string
	sub *mutex.Subscription
	// mu is held while one event is published; stop takes it, so once
	// stop returns the feed publishes nothing more, whatever is left in
	// its buffer.
	mu      sync.Mutex
	stopped bool
}

func (f *feed) stop() {
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
	f.sub.Close()
}

// feedWanted reports whether some subscription would receive an event or a
// keyspace notification of keyspace name.
func (s *Server) feedWanted(name string) bool {
	if s.cfg.notifyClasses().On() && s.pubsub.mayListenPrefix("__key") {
		return true
	}
	for _, kind := range eventKinds {
		if s.pubsub.listened(eventChannel(name, kind)) {
			return true
		}
	}
	return false
}

// refreshFeeds starts the feeds that subscriptions now need and stops the
// others.
func (s *Server) refreshFeeds() {
	// Keyspaces not in memory have no subscription, hence no feed; if one
	// becomes wanted, keyspaceCreated starts it when the keyspace is used.
	var resident []*mutex.Keyspace
	s.store.Resident(func(k *mutex.Keyspace) { resident = append(resident, k) })
	s.ksMu.Lock()
	defer s.ksMu.Unlock()
	for _, ks := range resident {
		if strings.HasPrefix(ks.Name(), "#") {
			continue // the server's own keyspaces (userKeyspaces) have no events
		}
		s.refreshFeedLocked(ks.Name(), ks)
	}
}

// refreshFeedLocked starts or stops keyspace name's feed. Caller holds ksMu.
func (s *Server) refreshFeedLocked(name string, ks *mutex.Keyspace) {
	wanted := s.feedWanted(name)
	f, running := s.feeds[name]
	switch {
	case wanted && !running:
		// An evicted instance has no subscriber to serve: the next use of
		// the keyspace creates it again, and keyspaceCreated starts its feed.
		sub := ks.SubscribeResident(feedBuffer, feedBytes)
		if sub == nil {
			return
		}
		f = &feed{ks: name, sub: sub}
		s.feeds[name] = f
		go s.runFeed(f)
	case !wanted && running:
		delete(s.feeds, name)
		f.stop()
	}
}

func (s *Server) runFeed(f *feed) {
	var buf []byte
	for e := range f.sub.C {
		f.mu.Lock()
		if f.stopped {
			f.mu.Unlock()
			return
		}
		if len(e.Notes) > 0 {
			s.publishNotifications(f.ks, e.Notes)
		}
		if ch := eventChannel(f.ks, e.Kind); s.pubsub.listened(ch) {
			buf = appendEventJSON(buf[:0], &e)
			s.pubsub.publish(ch, buf)
		}
		f.mu.Unlock()
		f.sub.Done(&e)
		if cap(buf) > maxReplyChunk {
			buf = nil // do not keep one large event's buffer
		}
	}
	if errors.Is(f.sub.Err(), mutex.ErrSlowSubscriber) {
		s.ksMu.Lock()
		if s.feeds[f.ks] == f {
			delete(s.feeds, f.ks)
		}
		f.stop()
		victims := s.pubsub.listenersOf(f.ks)
		s.log.Warn("event feed fell behind and was dropped; its subscribers are disconnected", "keyspace", f.ks, "clients", len(victims))
		for c := range victims {
			c.out.fail()
		}
		s.ksMu.Unlock()
		s.refreshFeeds()
	}
}

// publishNotifications sends Redis keyspace notifications for a committed
// batch: __keyspace@<ks>__:<key> carries the event name,
// __keyevent@<ks>__:<event> the key.
func (s *Server) publishNotifications(ks string, notes []any) {
	classes := s.cfg.notifyClasses()
	keyspace, keyevent := classes.Channels()
	for _, n := range notes {
		note, ok := n.(commands.Notification)
		if !ok || !classes.Sends(note) {
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
	b = mutex.AppendJSONString(b, e.Keyspace)
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
			b = mutex.AppendJSONString(b, e.Err.Error())
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
