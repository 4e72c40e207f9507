package mutex

import (
	"context"
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
	s.exp.poke = make(chan struct{}, 1)
	s.exp.stop = make(chan struct{})
	s.exp.done = make(chan struct{})
	s.exp.sweepDone = make(chan struct{})
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
	due, n := s.dueEntries(s.now())
	var wg sync.WaitGroup
	var failed atomic.Bool
	for name, entries := range due {
		k, err := s.Keyspace(name)
		if err != nil {
			failed.Store(true) // closed or failed: a later cycle tries again
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ops := []Op{expireOp(entries)}
			if err := k.Do(context.Background(), ops); err != nil || ops[0].Err != nil {
				failed.Store(true)
			}
		}()
	}
	wg.Wait()
	return n, !failed.Load()
}

// dueEntries reads the index entries with a deadline before now, by
// keyspace.
func (s *Store) dueEntries(now int64) (map[string][]dueEntry, int) {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if s.db == nil {
		return nil, 0
	}
	it, err := s.db.NewIter(&pebble.IterOptions{
		LowerBound: []byte{tagExpire},
		UpperBound: expireKey(nil, now, "", nil),
	})
	if err != nil {
		return nil, 0
	}
	defer it.Close()
	due := map[string][]dueEntry{}
	n := 0
	for valid := it.First(); valid && n < expireBudget; valid = it.Next() {
		deadline, ks, key, ok := decodeExpireKey(it.Key())
		if !ok {
			continue
		}
		due[ks] = append(due[ks], dueEntry{deadline, append([]byte(nil), key...)})
		n++
	}
	return due, n
}

// expireOp deletes, inside a write phase, the keys of entries that are
// still due, and the index entries that are done with: a key expired now,
// gone, or given another deadline since.
func expireOp(entries []dueEntry) Op {
	return WriteOp(func(tx *Tx) (any, error) {
		for _, e := range entries {
			m, ok, err := tx.rawRecord(e.key)
			if err != nil {
				return nil, err
			}
			if ok && m.Deadline == e.deadline && !tx.isExpired(&m) {
				continue // the clock went back: not due after all
			}
			tx.scratch = expireKey(tx.scratch, e.deadline, tx.ks, e.key)
			if err := tx.b.Delete(tx.scratch, nil); err != nil {
				return nil, err
			}
			tx.dirty = true
			if ok && tx.isExpired(&m) {
				if err := tx.expire(e.key, &m); err != nil {
					return nil, err
				}
			}
		}
		return nil, nil
	})
}
