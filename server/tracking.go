package server

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mutexredis/mutexredis/commands"
	"github.com/tidwall/redcon"
)

// Client-side caching (CLIENT TRACKING), as Redis 7 does it.
//
// In the default mode a tracking client's reads remember, in the tracking
// table, which keys it may have cached; a write to one of them sends the
// client an invalidation and forgets the key. BCAST clients get an
// invalidation for every written key that starts with one of their
// prefixes instead.
//
// Order. A write's invalidations are queued to the clients' outputs once
// its batch has committed and before the write is acknowledged, so a client
// that learns of the acknowledgement and then talks to the server hears of
// the invalidation first. A tracking client whose reads are still being
// answered gets the invalidation after those replies, never before: a
// value read before the write can therefore never arrive after its
// invalidation and stay cached. (Keys are remembered before the read runs:
// an invalidation for a write the read already saw only costs a cached
// value.)
//
// The table is bounded by tracking-table-max-keys, as in Redis, and by
// trackingTableMaxBytes of memory (key names and an estimate of the maps'
// overhead per key and per client of a key): past either, keys are evicted (their
// clients invalidated) until it fits.
type tracker struct {
	s      *Server
	active atomic.Int32 // tracking clients: a lock-free "anyone?"

	mu       sync.Mutex
	keys     map[string]map[int64]struct{} // key → ids of clients that may cache it
	bytes    int                           // memory held in keys (estimated)
	maxBytes int                           // trackingTableMaxBytes
	clients  map[int64]*trackedClient
	bcast    map[string]map[int64]struct{} // prefix → BCAST clients
}

// trackingTableMaxBytes bounds the memory the tracking table holds;
// trackingKeyBytes and trackingIDBytes estimate a key's and a client
// entry's overhead in its maps.
const (
	trackingTableMaxBytes = 64 << 20
	trackingKeyBytes      = 160
	trackingIDBytes       = 48
)

type trackedClient struct {
	c        *conn
	redirect int64
	noloop   bool
	bcast    bool
	prefixes []string
	broken   bool // an invalidation found the redirect gone
	// busy is set while the client's own reads are being answered:
	// invalidations then wait in deferred until its replies are written.
	busy     bool
	deferred []invalidation
}

// invalidation is one message: keys, or all keys when all is set. self
// marks the writer's own keys: Redis 7 sends those after the write's reply.
type invalidation struct {
	keys [][]byte
	all  bool
	self bool
}

func newTracker(s *Server) *tracker {
	return &tracker{s: s, keys: map[string]map[int64]struct{}{}, maxBytes: trackingTableMaxBytes, clients: map[int64]*trackedClient{},
		bcast: map[string]map[int64]struct{}{}}
}

// SetTracking implements commands.Server: t nil turns tracking off.
func (s *Server) SetTracking(cl *commands.Client, t *commands.Tracking) any {
	c := s.connOf(cl)
	tr := s.tracking
	if t != nil && t.Redirect != 0 && t.Redirect != cl.ID && s.connByID(t.Redirect) == nil {
		return commands.Error("ERR The client ID you want redirect to does not exist")
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	old := tr.clients[cl.ID]
	if old != nil {
		tr.dropLocked(cl.ID, old)
	}
	if t == nil {
		return nil
	}
	tc := &trackedClient{c: c, redirect: t.Redirect, noloop: t.NoLoop, bcast: t.BCast, prefixes: t.Prefixes}
	if old != nil { // ON again: invalidations waiting for replies still wait
		tc.busy, tc.deferred = old.busy, old.deferred
	}
	if tc.redirect == cl.ID {
		tc.redirect = 0
	}
	if t.BCast {
		if len(tc.prefixes) == 0 {
			tc.prefixes = []string{""}
		}
		for _, p := range tc.prefixes {
			if tr.bcast[p] == nil {
				tr.bcast[p] = map[int64]struct{}{}
			}
			tr.bcast[p][cl.ID] = struct{}{}
		}
	}
	tr.clients[cl.ID] = tc
	tr.active.Add(1)
	return nil
}

// TrackingRedirectBroken implements commands.Server.
func (s *Server) TrackingRedirectBroken(cl *commands.Client) bool {
	tr := s.tracking
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tc := tr.clients[cl.ID]
	return tc != nil && tc.broken
}

// dropLocked forgets a client (its keys stay in the table until written
// or evicted, as in Redis; they then find no client).
func (tr *tracker) dropLocked(id int64, tc *trackedClient) {
	delete(tr.clients, id)
	for _, p := range tc.prefixes {
		if ids := tr.bcast[p]; ids != nil {
			delete(ids, id)
			if len(ids) == 0 {
				delete(tr.bcast, p)
			}
		}
	}
	tr.active.Add(-1)
}

// closed forgets a connection that has gone.
func (tr *tracker) closed(id int64) {
	if tr.active.Load() == 0 {
		return
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tc := tr.clients[id]; tc != nil {
		tr.dropLocked(id, tc)
	}
}

// remember records that client id may cache keys; the client is busy
// until replied (its replies are being built).
func (tr *tracker) remember(id int64, keys [][]byte) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tc := tr.clients[id]
	if tc == nil {
		return
	}
	tc.busy = true
	for _, k := range keys {
		ids := tr.keys[string(k)]
		if ids == nil {
			ids = map[int64]struct{}{}
			tr.keys[string(k)] = ids
			tr.bytes += len(k) + trackingKeyBytes
		}
		if _, ok := ids[id]; !ok {
			ids[id] = struct{}{}
			tr.bytes += trackingIDBytes
		}
	}
	tr.evictLocked()
}

// evictLocked drops keys past the table's bounds, invalidating them.
func (tr *tracker) evictLocked() {
	max := tr.s.cfg.trackingTableMaxKeys()
	for key := range tr.keys {
		if (max == 0 || len(tr.keys) <= max) && tr.bytes <= tr.maxBytes {
			return
		}
		tr.invalidateKeyLocked([]byte(key), nil)
	}
}

// replied is called once a connection has written every reply it had:
// invalidations that waited for them go out now.
func (tr *tracker) replied(id int64) {
	if tr.active.Load() == 0 {
		return
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tc := tr.clients[id]
	if tc == nil || (!tc.busy && len(tc.deferred) == 0) {
		return
	}
	tc.busy = false
	for _, inv := range tc.deferred {
		tr.deliverLocked(tc, inv)
	}
	tc.deferred = nil
}

// invalidate is called after a batch that wrote keys has committed, before
// the writer (from, nil for none) is answered.
func (tr *tracker) invalidate(from *conn, keys [][]byte) {
	if tr.active.Load() == 0 || len(keys) == 0 {
		return
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var bcast map[string][][]byte // prefix → its keys written
	for _, k := range keys {
		tr.invalidateKeyLocked(k, from)
		for p := range tr.bcast {
			if strings.HasPrefix(string(k), p) {
				if bcast == nil {
					bcast = map[string][][]byte{}
				}
				bcast[p] = append(bcast[p], k)
			}
		}
	}
	// As Redis: one message per prefix, prefixes in order.
	for _, p := range sortedKeys(bcast) {
		for id := range tr.bcast[p] {
			tc := tr.clients[id]
			if tc == nil {
				continue
			}
			ks := bcast[p]
			if tc.noloop && tc.c == from {
				continue
			}
			tr.sendLocked(tc, invalidation{keys: ks, self: tc.c == from})
		}
	}
}

func (tr *tracker) invalidateKeyLocked(k []byte, from *conn) {
	ids, ok := tr.keys[string(k)]
	if !ok {
		return
	}
	delete(tr.keys, string(k))
	tr.bytes -= len(k) + trackingKeyBytes + len(ids)*trackingIDBytes
	for id := range ids {
		tc := tr.clients[id]
		if tc == nil || tc.bcast || (tc.noloop && tc.c == from) {
			continue
		}
		tr.sendLocked(tc, invalidation{keys: [][]byte{k}, self: tc.c == from})
	}
}

// invalidateAll tells every tracking client to drop everything (FLUSHDB,
// FLUSHALL), and empties the table.
func (tr *tracker) invalidateAll() {
	if tr.active.Load() == 0 {
		return
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	clear(tr.keys)
	tr.bytes = 0
	for _, tc := range tr.clients {
		tr.sendLocked(tc, invalidation{all: true})
	}
}

func (tr *tracker) sendLocked(tc *trackedClient, inv invalidation) {
	if tc.busy || inv.self {
		if inv.keys != nil {
			inv.keys = cloneKeys(inv.keys)
		}
		tc.deferred = append(tc.deferred, inv)
		return
	}
	tr.deliverLocked(tc, inv)
}

func cloneKeys(keys [][]byte) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = append([]byte(nil), k...)
	}
	return out
}

// deliverLocked writes an invalidation to the client's output, or to its
// redirect's: a push in RESP3, a message on __redis__:invalidate to a RESP2
// redirect subscribed to it (a RESP2 client without a redirect gets
// nothing, as in Redis).
func (tr *tracker) deliverLocked(tc *trackedClient, inv invalidation) {
	target := tc.c
	if tc.redirect != 0 {
		target = tr.s.connByID(tc.redirect)
		if target == nil {
			if tc.c.resp3.Load() {
				b := append([]byte(">2\r\n"), "$21\r\ntracking-redir-broken\r\n"...)
				tc.c.out.message(redcon.AppendInt(b, tc.redirect), limits{})
			}
			tc.broken = true
			return
		}
	}
	var b []byte
	switch {
	case target.resp3.Load():
		b = append(b, ">2\r\n$10\r\ninvalidate\r\n"...)
	case tc.redirect != 0 && target.subscribedToInvalidate.Load():
		b = append(b, "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n"...)
	default:
		return
	}
	if inv.all {
		if target.resp3.Load() {
			b = append(b, "_\r\n"...)
		} else {
			b = append(b, "$-1\r\n"...)
		}
	} else {
		b = redcon.AppendArray(b, len(inv.keys))
		for _, k := range inv.keys {
			b = redcon.AppendBulk(b, k)
		}
	}
	target.out.message(b, limits{})
}

// keysOf returns the keys a read remembers for tracking: by the table's
// key positions, and for EXEC the keys of the queued reads.
func keysOf(cmd *commands.Command, args [][]byte, multi *commands.Multi) [][]byte {
	if cmd.Name == "exec" {
		if multi == nil {
			return nil
		}
		var keys [][]byte
		for _, q := range multi.Queued {
			if qc := commands.Lookup(q[0]); qc != nil && qc.Flags&commands.Read != 0 {
				keys = append(keys, qc.Keys(q)...)
			}
		}
		return keys
	}
	return cmd.Keys(args)
}

// trackingTableMaxKeys is tracking-table-max-keys (0: unlimited).
func (c *Config) trackingTableMaxKeys() int { return int(c.TrackingTableMaxKeys.Load()) }

// writerKey is the context key naming the conn that submitted an op
// (commands.Client.Context).
type writerKey struct{}

// Active implements mutex.WriteTracker.
func (tr *tracker) Active() bool { return tr.active.Load() > 0 }

// Written implements mutex.WriteTracker: a write op has written keys,
// inside its write phase, before the batch commits. No read runs during a
// write phase, so a client that drops its copy now reads the batch's
// outcome; and the table is consulted inside the phase, so a client that
// starts tracking while the write is queued is not missed.
func (tr *tracker) Written(ctx context.Context, keys [][]byte, all bool) {
	var from *conn
	if ctx != nil {
		from, _ = ctx.Value(writerKey{}).(*conn)
	}
	if all {
		tr.invalidateAll()
		return
	}
	tr.invalidate(from, keys)
}
