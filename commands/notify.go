package commands

import (
	"bytes"
	"strings"

	"github.com/mutexredis/mutexredis/mutex"
)

// Redis keyspace notifications (notify-keyspace-events). Write commands
// attach a Notification to their batch (mutex.Tx.Note) for every key they
// change; the server publishes them on __keyspace@<ks>__:<key> and
// __keyevent@<ks>__:<event> once the batch has committed, those its setting
// (NotifyClasses) enables. Nothing is built while nobody subscribes to the
// keyspace's events, which the server does only while notifications are on
// and somebody listens.

// Notification is one keyspace event.
type Notification struct {
	Class uint32 // the notify-keyspace-events class it belongs to
	Event string
	Key   []byte
}

// Event classes, as Redis's notify-keyspace-events letters.
const (
	notifyKeyspace uint32 = 1 << iota // K
	notifyKeyevent                    // E
	notifyGeneric                     // g
	notifyString                      // $
	notifyList                        // l
	notifySet                         // s
	notifyHash                        // h
	notifyZset                        // z
	notifyExpired                     // x
	notifyEvicted                     // e
	notifyStream                      // t
	notifyKeyMiss                     // m
	notifyModule                      // d
	notifyNew                         // n

	notifyAll = notifyGeneric | notifyString | notifyList | notifySet | notifyHash |
		notifyZset | notifyExpired | notifyEvicted | notifyStream | notifyModule // A
)

// notifyLetters are in the order Redis writes them back: the classes, then
// n, K, E, m ("A" stands for every class but n, and Redis then leaves n out).
var notifyLetters = []struct {
	letter byte
	flag   uint32
}{
	{'g', notifyGeneric}, {'$', notifyString}, {'l', notifyList}, {'s', notifySet},
	{'h', notifyHash}, {'z', notifyZset}, {'x', notifyExpired}, {'e', notifyEvicted},
	{'t', notifyStream}, {'d', notifyModule}, {'n', notifyNew}, {'K', notifyKeyspace},
	{'E', notifyKeyevent}, {'m', notifyKeyMiss},
}

// NotifyClasses is a notify-keyspace-events setting: the classes and the
// K/E channels it enables. The server keeps one; ops attach every
// notification while anyone listens to the keyspace (tx.Listening), with
// its class, and the server publishes those its setting enables.
type NotifyClasses uint32

// ParseNotifyClasses reads Redis's letters; ok is false for an unknown one.
func ParseNotifyClasses(s string) (n NotifyClasses, ok bool) {
	var flags uint32
	for i := 0; i < len(s); i++ {
		if s[i] == 'A' {
			flags |= notifyAll
			continue
		}
		found := false
		for _, l := range notifyLetters {
			if l.letter == s[i] {
				flags |= l.flag
				found = true
			}
		}
		if !found {
			return 0, false
		}
	}
	return NotifyClasses(flags), true
}

// String is the setting in Redis's canonical form.
func (n NotifyClasses) String() string {
	flags := uint32(n)
	var b strings.Builder
	all := flags&notifyAll == notifyAll
	if all {
		b.WriteByte('A')
	}
	for _, l := range notifyLetters {
		inA := l.flag&(notifyAll|notifyNew) != 0
		if flags&l.flag != 0 && !(all && inA) {
			b.WriteByte(l.letter)
		}
	}
	return b.String()
}

// On reports whether any keyspace notification can be sent.
func (n NotifyClasses) On() bool { return uint32(n)&(notifyKeyspace|notifyKeyevent) != 0 }

// Channels reports whether keyspace and keyevent channels are on.
func (n NotifyClasses) Channels() (keyspace, keyevent bool) {
	return uint32(n)&notifyKeyspace != 0, uint32(n)&notifyKeyevent != 0
}

// Sends reports whether the setting publishes note.
func (n NotifyClasses) Sends(note Notification) bool { return uint32(n)&note.Class != 0 }

func notify(tx *mutex.Tx, class uint32, event string, key []byte) {
	if tx.Listening() {
		tx.Note(Notification{Class: class, Event: event, Key: bytes.Clone(key)})
	}
}

// setKey sets key to a string without expiry and notifies event (and
// "new" when the key is created).
func setKey(tx *mutex.Tx, key, value []byte, event string) error {
	return setKeyTTL(tx, key, value, 0, event)
}

// setKeyTTL is setKey with a deadline (0: none); a deadline also notifies
// "expire", as Redis does for SET EX.
func setKeyTTL(tx *mutex.Tx, key, value []byte, deadline int64, event string) error {
	if tx.Listening() {
		if exists, err := tx.Exists(key); err == nil && !exists {
			notify(tx, notifyNew, "new", key)
		}
	}
	if err := tx.SetString(key, value, deadline); err != nil {
		return err
	}
	notify(tx, notifyString, event, key)
	if deadline != 0 && event == "set" {
		notify(tx, notifyGeneric, "expire", key)
	}
	return nil
}

// NotifyExpired is the store's expiry hook: Redis's "expired" event.
func NotifyExpired(tx *mutex.Tx, key []byte) { notify(tx, notifyExpired, "expired", key) }

// delKey deletes key, notifying "del" if it existed.
func delKey(tx *mutex.Tx, key []byte) (bool, error) {
	existed, err := tx.Delete(key)
	if existed {
		notify(tx, notifyGeneric, "del", key)
	}
	return existed, err
}
