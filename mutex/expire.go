package mutex

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Expiry. A key's deadline is an absolute time in ms since the Unix epoch,
// kept in its record, so it survives restarts. A key past its deadline does
// not exist for any op (Reader checks it against the phase's one clock
// reading), and is deleted by a write of its keyspace's mutex, announced as
// "expired": either by the write op that meets it, or by the expirer.
//
// The expirer is one goroutine per Store. Each cycle it reads the due part
// of the deadline index (ordered by deadline, across keyspaces), at most
// expireBudget entries, and submits to each keyspace concerned one write
// op that deletes those of its keys that are still due; a full budget
// makes it run again at once (Redis's adaptive active-expire cycle), so a
// million keys due together are deleted in bounded batches that let other
// writes in between.
//
// Handled index entries are deleted, but a scan from the start of the
// index would still step over their tombstones while they sit in the
// memtable — every cycle, over every entry handled since the last flush.
// So the expirer keeps a floor (its own): every entry with a deadline below
// it has been handled, and a cycle scans from it. A commit that indexed a
// deadline keeps the earliest in pending; each cycle takes pending first
// and lowers its floor to it, so an entry committed while a cycle ran is
// found by the next one.
//
// The clock is the wall clock, as Redis's: a jump backwards delays expiry
// and never brings back a deleted key.

// expireBudget bounds the index entries one expirer cycle handles, and so
// the keys one keyspace's expiry op deletes.
const expireBudget = 10000

// expireInterval is how often the expirer looks when nothing pokes it.
const expireInterval = 100 * time.Millisecond

type expirer struct {
	poke chan struct{} // capacity 1: "look now"
	stop chan struct{} // closed to stop the expirer and the sweeper
	done chan struct{}
	// sweepDone is closed when the sweeper (sweep.go) has stopped.
	sweepDone chan struct{}
	once      sync.Once
	// expired counts the keys deleted as expired (INFO's expired_keys).
	expired atomic.Int64
	// floor: every index entry with a deadline below it has been handled
	// (the expirer's own).
	floor int64
	// pending is the earliest deadline committed since the expirer last
	// took it (math.MaxInt64: none).
	pending atomic.Int64
	// onExpire is Store.expired as a func value, made once (a Tx's hook).
	onExpire func(tx *Tx, key []byte)
}

// lowerExpireFloor tells the expirer that a commit indexed deadline d (0:
// none).
func (s *Store) lowerExpireFloor(d int64) {
	for {
		p := s.exp.pending.Load()
		if d == 0 || d >= p || s.exp.pending.CompareAndSwap(p, d) {
			return
		}
	}
}

// now is the clock of a phase.
func (s *Store) now() int64 { return time.Now().UnixMilli() }

// expired counts a key deleted as expired and calls Options.OnExpire.
func (s *Store) expired(tx *Tx, key []byte) {
	s.exp.expired.Add(1)
	if s.opts.OnExpire != nil {
		s.opts.OnExpire(tx, key)
	}
}

// ExpiredKeys is the number of keys deleted as expired since Open.
func (s *Store) ExpiredKeys() int64 { return s.exp.expired.Load() }

// expireSoon asks the expirer to look now.
func (s *Store) expireSoon() {
	select {
	case s.exp.poke <- struct{}{}:
	default:
	}
}

func (s *Store) startExpirer() {
	s.exp.pending.Store(math.MaxInt64)
	s.exp.poke = make(chan struct{}, 1)
	s.exp.stop = make(chan struct{})
	s.exp.done = make(chan struct{})
	s.exp.sweepDone = make(chan struct{})
	s.exp.onExpire = s.expired
	go s.runExpirer()
	go s.runSweeper()
}

// stopExpirer stops the expirer and the sweeper and waits for them.
func (s *Store) stopExpirer() {
	s.exp.once.Do(func() { close(s.exp.stop) })
	<-s.exp.done
	<-s.exp.sweepDone
}

func (s *Store) runExpirer() {
	defer close(s.exp.done)
	t := time.NewTicker(expireInterval)
	defer t.Stop()
	for {
		select {
		case <-s.exp.stop:
			return
		case <-t.C:
		case <-s.exp.poke:
		}
		for n, ok := s.expireCycle(); n == expireBudget && ok; n, ok = s.expireCycle() {
			select {
			case <-s.exp.stop:
				return
			default:
			}
		}
	}
}

// dueEntry is one deadline index entry found due.
type dueEntry struct {
	deadline int64
	key      []byte
}

// expireCycle handles up to expireBudget due index entries and returns how
// many it found, and whether every keyspace took its part.
func (s *Store) expireCycle() (int, bool) {
	if !s.expiring() {
		return 0, true
	}
	floor := min(s.exp.floor, s.exp.pending.Swap(math.MaxInt64))
	now := s.now()
	due, n, last := s.dueEntries(floor, now)
	// Below next, every entry this cycle read gets handled: all of them
	// before now, or, when the budget cut the scan, those before the last
	// deadline read (more may share it).
	next := now
	if n == expireBudget {
		next = last
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := false
	leave := func(d int64, fail bool) {
		mu.Lock()
		defer mu.Unlock()
		next, failed = min(next, d), failed || fail
	}
	for name, entries := range due {
		k, err := s.Keyspace(name)
		if err != nil {
			leave(entries[0].deadline, true) // closed or failed: a later cycle tries again
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ops := []Op{expireOp(entries)}
			if err := k.Do(context.Background(), ops); err != nil || ops[0].Err != nil {
				leave(entries[0].deadline, true)
				return
			}
			leave(ops[0].Result.(int64), false)
		}()
	}
	wg.Wait()
	s.exp.floor = max(floor, next)
	return n, !failed
}

// dueEntries reads, by keyspace, up to expireBudget index entries with a
// deadline in [floor, now), and returns how many and the last deadline.
func (s *Store) dueEntries(floor, now int64) (map[string][]dueEntry, int, int64) {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if s.db == nil {
		return nil, 0, 0
	}
	it, err := s.db.NewIter(&pebble.IterOptions{
		LowerBound: expireKey(nil, floor, "", nil),
		UpperBound: expireKey(nil, now, "", nil),
	})
	if err != nil {
		return nil, 0, 0
	}
	defer it.Close()
	due := map[string][]dueEntry{}
	n, last := 0, int64(0)
	for valid := it.First(); valid && n < expireBudget; valid = it.Next() {
		deadline, ks, key, ok := decodeExpireKey(it.Key())
		if !ok {
			continue
		}
		due[ks] = append(due[ks], dueEntry{deadline, append([]byte(nil), key...)})
		n, last = n+1, deadline
	}
	return due, n, last
}

// expireOp deletes, inside a write phase, the keys of entries that are
// still due, and the index entries that are done with: a key expired now,
// gone, or given another deadline since. Its result is the earliest
// deadline of an entry it left (math.MaxInt64 if none).
func expireOp(entries []dueEntry) Op {
	return WriteOp(func(tx *Tx) (any, error) {
		left := int64(math.MaxInt64)
		for _, e := range entries {
			m, ok, err := tx.storedRecord(e.key)
			if err != nil {
				return nil, err
			}
			if ok && m.Deadline == e.deadline && !tx.isExpired(&m) {
				left = min(left, e.deadline)
				continue // the clock went back: not due after all
			}
			tx.scratch = expireKey(tx.scratch, e.deadline, tx.ks, e.key)
			if err := tx.b.Delete(tx.scratch, nil); err != nil {
				return nil, err
			}
			tx.dirty = true
			if ok && m.isGone() {
				if m.Deadline == e.deadline { // gone for goneLife: delete it for real
					stored := tx.encodeKey(e.key)
					tx.wroteKey(stored)
					if err := tx.b.Delete(stored, nil); err != nil {
						return nil, err
					}
				}
				continue
			}
			if ok && tx.isExpired(&m) {
				if err := tx.expire(e.key, &m); err != nil {
					return nil, err
				}
			}
		}
		return left, nil
	})
}
