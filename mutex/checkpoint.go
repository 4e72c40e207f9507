package mutex

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Checkpoint writes a consistent copy of the whole store into dir, which
// must not exist: every batch committed before Checkpoint was called is in
// it, each batch whole, and the directory is itself a store that Open
// accepts. Pebble hard-links the immutable tables, so it is cheap; the
// write-ahead log is synced first and copied.
//
// A store in failed mode (a commit failed and was not undone yet) refuses,
// and so does a checkpoint during which a commit fails: the copy could hold
// a batch that was never acknowledged.
func (s *Store) Checkpoint(dir string) error {
	if err := s.Failed(); err != nil {
		return err
	}
	s.dbMu.RLock()
	db := s.db
	var err error
	if db == nil {
		err = s.Failed()
		if err == nil {
			err = ErrClosed
		}
	} else {
		err = db.Checkpoint(dir, pebble.WithFlushedWAL())
	}
	s.dbMu.RUnlock()
	if err != nil {
		return err
	}
	if ferr := s.Failed(); ferr != nil {
		return errors.Join(errors.New("mutex: a commit failed during the checkpoint"), ferr, s.opts.FS.RemoveAll(dir))
	}
	return nil
}

// StoreBatches opens the store in dir read-only (it must not be open
// elsewhere for writing, a checkpoint for example) and returns the last
// committed batch number of each keyspace in it.
func StoreBatches(dir string) (map[string]uint64, error) {
	db, err := pebble.Open(dir, &pebble.Options{ReadOnly: true, Logger: discardLogger{}})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{tagSeq}, UpperBound: []byte{tagSeq + 1}})
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for valid := it.First(); valid; valid = it.Next() {
		name, ok := decodeKeyspaceName(it.Key())
		if !ok {
			continue
		}
		seq, _, err := decodeSeqRecord(it.Value())
		if err != nil {
			it.Close()
			return nil, err
		}
		out[name] = seq
	}
	return out, it.Close()
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// discardLogger silences Pebble when a store is only inspected.
type discardLogger struct{}

func (discardLogger) Infof(string, ...any)  {}
func (discardLogger) Errorf(string, ...any) {}
func (discardLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
