package mutex

import (
	"bytes"
	"encoding/binary"
	"errors"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// The sweeper reclaims orphaned elements: those of a collection whose
// record was replaced by a blind write (SET over a hash, say), which
// cannot know what it overwrites. DEL, expiry, FLUSHDB and overwrites that
// read the old record drop elements themselves, with range deletions.
//
// An element group (tagElem‖ks ‖key gen) is an orphan when the record of
// key is missing or names another generation. Generations are never
// reused, so an orphan can never become reachable again, and the sweeper
// deletes it straight in Pebble, outside the mutex, without syncing: if
// the deletion is lost in a crash, the next sweep does it again. It costs
// one seek and one record read per collection, and runs once at start and
// then every sweepInterval.
const sweepInterval = 30 * time.Second

// sweepOrphans deletes the orphaned element groups and returns how many.
func (s *Store) sweepOrphans() (int, error) {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if s.db == nil {
		return 0, nil
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{tagElem}, UpperBound: []byte{tagElem + 1}})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	n := 0
	var rec []byte
	for valid := it.First(); valid; {
		ks, key, gen, ok := decodeElemGroup(it.Key())
		if !ok {
			valid = it.Next()
			continue
		}
		group := elemGroup(nil, ks, key, gen)
		rec = append(append(rec[:0], keyspacePrefix(tagData, ks)...), key...)
		live, err := s.recordHasGen(rec, gen)
		if err != nil {
			return n, err
		}
		end := prefixEnd(group)
		if !live {
			if err := s.deleteRange(group, end); err != nil {
				return n, err
			}
			n++
		}
		valid = it.SeekGE(end)
	}
	return n, it.Error()
}

// deleteRange deletes [start, end) in a batch of its own, through commit
// like every write (the read cache learns of it).
func (s *Store) deleteRange(start, end []byte) error {
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(start, end, nil); err != nil {
		return err
	}
	return s.commit(b, pebble.NoSync)
}

func (s *Store) recordHasGen(rec []byte, gen uint64) (bool, error) {
	raw, closer, err := s.db.Get(rec)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer closer.Close()
	m, err := decodeRecord(raw)
	if err != nil {
		return false, err
	}
	return m.IsCollection() && m.gen == gen, nil
}

// decodeElemGroup parses the group prefix of an element key.
func decodeElemGroup(k []byte) (ks string, key []byte, gen uint64, ok bool) {
	if len(k) == 0 || k[0] != tagElem {
		return "", nil, 0, false
	}
	name, rest, ok := splitLenPrefixed(k[1:])
	if !ok {
		return "", nil, 0, false
	}
	key, rest, ok = splitLenPrefixed(rest)
	if !ok || len(rest) < 8 {
		return "", nil, 0, false
	}
	return string(name), bytes.Clone(key), binary.BigEndian.Uint64(rest), true
}

func (s *Store) runSweeper() {
	defer close(s.exp.sweepDone)
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		s.sweepOrphans() // errors: the next sweep tries again
		select {
		case <-s.exp.stop:
			return
		case <-t.C:
		}
	}
}
