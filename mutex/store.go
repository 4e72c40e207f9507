package mutex

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Options configure a Store. The zero value is a durable store.
type Options struct {
	// NoSync commits batches without waiting for fsync: faster, and a
	// power loss may lose the last moments of writes (never corrupts).
	NoSync bool
	// MaxQueuedOps bounds the ops queued per keyspace; submitters beyond it
	// wait. Default 65536.
	MaxQueuedOps int
	// CacheSize is Pebble's block cache size in bytes. Default 32 MiB.
	CacheSize int64
	// MemTableSize is Pebble's memtable size in bytes. Default 32 MiB.
	MemTableSize uint64
	// OnExpire, if set, is called inside the write phase for every key
	// deleted as expired (the server attaches Redis's "expired"
	// notification with it).
	OnExpire func(tx *Tx, key []byte)
	// FeedRetention turns on and bounds each keyspace's change feed (feed.go); zero: no feed.
	FeedRetention FeedRetention
	// FS is the filesystem Pebble uses; nil means the OS filesystem. Tests
	// use it to inject faults.
	FS vfs.FS
}

// ErrClosed is returned for work submitted to a closed Store.
var ErrClosed = errors.New("mutex: store closed")

// Store is one Pebble database holding any number of keyspaces, each guarded
// by its own cycling mutex. Its methods are safe for concurrent use.
type Store struct {
	dir  string
	opts Options

	// dbMu is held for reading by every phase that touches db or a
	// keyspace's snapshot; it is held for writing only to reopen the
	// database after a failed commit.
	dbMu  sync.RWMutex
	db    *pebble.DB
	cache *pebble.Cache

	// failErr is the error of a failed commit not yet undone; failed
	// mirrors failErr != nil for a lock-free check.
	failMu  sync.Mutex
	failErr error
	failed  atomic.Bool

	exp expirer

	mu        sync.Mutex // guards keyspaces and closed
	keyspaces map[string]*Keyspace
	closed    bool
	wg        sync.WaitGroup
}

// Open opens (creating if needed) the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	if opts.MaxQueuedOps <= 0 {
		opts.MaxQueuedOps = 65536
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 32 << 20
	}
	if opts.MemTableSize == 0 {
		opts.MemTableSize = 32 << 20
	}
	if opts.FS == nil {
		opts.FS = vfs.Default
	}
	s := &Store{dir: dir, opts: opts, keyspaces: map[string]*Keyspace{}, cache: pebble.NewCache(opts.CacheSize)}
	db, err := s.openDB()
	if err != nil {
		s.cache.Unref()
		return nil, err
	}
	if err := checkFormat(db); err != nil {
		db.Close()
		s.cache.Unref()
		return nil, err
	}
	s.db = db
	s.startExpirer()
	return s, nil
}

func (s *Store) openDB() (*pebble.DB, error) {
	return pebble.Open(s.dir, &pebble.Options{
		FS:                 s.opts.FS,
		Cache:              s.cache,
		MemTableSize:       s.opts.MemTableSize,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             quietLogger{},
	})
}

// checkFormat stores the format version in a new database and refuses one
// written in another format.
func checkFormat(db *pebble.DB) error {
	v, closer, err := db.Get(formatKey)
	if errors.Is(err, pebble.ErrNotFound) {
		it, err := db.NewIter(nil)
		if err != nil {
			return err
		}
		empty := !it.First()
		it.Close()
		if !empty {
			return fmt.Errorf("%w: data without a format version", ErrFormatVersion)
		}
		return db.Set(formatKey, []byte(strconv.Itoa(formatVersion)), pebble.Sync)
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	if string(v) == strconv.Itoa(formatVersion) {
		return nil
	}
	if slices.Contains(upgradableFormats, string(v)) {
		// Every older record is still readable (see encoding.go).
		return db.Set(formatKey, []byte(strconv.Itoa(formatVersion)), pebble.Sync)
	}
	return fmt.Errorf("%w: found %q, want %d", ErrFormatVersion, v, formatVersion)
}

// Keyspace returns the keyspace called name, creating its mutex on first
// use. Any name is valid, the empty one included.
func (s *Store) Keyspace(name string) (*Keyspace, error) {
	s.mu.Lock()
	k, ok := s.keyspaces[name]
	closed := s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case ok:
		return k, nil
	}
	// Lock order: dbMu before mu, as recoverFromFailure takes them.
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	k, err := newKeyspace(s, name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if other, ok := s.keyspaces[name]; ok || s.closed {
		if s.closed {
			return nil, ErrClosed
		}
		return other, nil
	}
	s.keyspaces[name] = k
	s.wg.Add(1)
	go k.run()
	return k, nil
}

// Keyspaces lists the keyspaces that have committed a batch (on disk) or
// been opened in this process, sorted.
func (s *Store) Keyspaces() ([]string, error) {
	s.mu.Lock()
	names := map[string]bool{}
	for n := range s.keyspaces {
		names[n] = true
	}
	s.mu.Unlock()
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if s.db == nil {
		return nil, s.Failed()
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{tagSeq}, UpperBound: []byte{tagSeq + 1}})
	if err != nil {
		return nil, err
	}
	for valid := it.First(); valid; valid = it.Next() {
		if n, ok := decodeKeyspaceName(it.Key()); ok {
			names[n] = true
		}
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	list := make([]string, 0, len(names))
	for n := range names {
		list = append(list, n)
	}
	slices.Sort(list)
	return list, nil
}

// Failed returns the error of a failed commit that has not been recovered
// from yet, or nil. While it is set, reads keep working and writes fail.
func (s *Store) Failed() error {
	if !s.failed.Load() {
		return nil
	}
	s.failMu.Lock()
	defer s.failMu.Unlock()
	return s.failErr
}

func (s *Store) setFailed(err error) {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	s.failErr = err
	s.failed.Store(err != nil)
}

// Close finishes every queued phase, then closes the database. Work
// submitted after Close begins gets ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	s.stopExpirer() // it submits to keyspaces: stop it first
	s.mu.Lock()
	for _, k := range s.keyspaces {
		k.close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	var err error
	if s.db != nil {
		err = s.db.Close()
		s.db = nil
	}
	s.cache.Unref()
	return err
}

// commitFailed puts the store in failed mode after a commit error; the
// first error is the one reported until recovery.
func (s *Store) commitFailed(err error) {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	if s.failErr == nil {
		s.failErr = err
		s.failed.Store(true)
	}
}

// recoverFromFailure reopens the database after a failed commit and undoes
// what each failed batch may have left behind: Pebble applies a batch to its
// memtable before its WAL sync reports the error, and the WAL may hold it,
// so the batch is reverted to the values of the last good snapshot. It
// returns nil once the store accepts writes again.
func (s *Store) recoverFromFailure() error {
	// Reopen only once the disk takes a synced write again: until then the
	// open database keeps serving reads from the last good snapshots.
	if err := s.probeDisk(); err != nil {
		return err
	}
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if !s.failed.Load() {
		return nil
	}
	s.mu.Lock()
	keyspaces := make([]*Keyspace, 0, len(s.keyspaces))
	for _, k := range s.keyspaces {
		keyspaces = append(keyspaces, k)
	}
	s.mu.Unlock()
	if s.db != nil {
		for _, k := range keyspaces {
			if k.snap != nil {
				k.snap.Close()
				k.snap = nil
			}
		}
		s.db.Close() // the error is the one we are recovering from
		s.db = nil
	}
	db, err := s.openDB()
	if err != nil {
		s.setFailed(err)
		return err
	}
	undo := db.NewBatch()
	for _, k := range keyspaces {
		for _, u := range k.undo {
			if u.value == nil {
				err = undo.Delete(u.key, nil)
			} else {
				err = undo.Set(u.key, u.value, nil)
			}
			if err != nil {
				break
			}
		}
	}
	if err == nil {
		err = commit(undo, pebble.Sync)
	}
	undo.Close()
	if err != nil {
		db.Close()
		s.setFailed(err)
		return err
	}
	s.db = db
	for _, k := range keyspaces {
		k.undo = nil
	}
	s.setFailed(nil)
	return nil
}

// probeDisk writes, syncs and removes a small file in the store's
// directory. Its name ends in .log so that it meets the same fate as the
// write-ahead log; Pebble ignores it (its WAL names are numbers).
func (s *Store) probeDisk() error {
	name := s.opts.FS.PathJoin(s.dir, "recovery-probe.log")
	f, err := s.opts.FS.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte("probe"))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := s.opts.FS.Remove(name); err == nil {
		err = rerr
	}
	return err
}

// undoEntry restores one Pebble key: value nil means delete it.
type undoEntry struct{ key, value []byte }

// undoFor lists the entries that put back, from snap, every key the batch b
// touched. Caller holds dbMu for reading.
func undoFor(b *pebble.Batch, snap *pebble.Snapshot) ([]undoEntry, error) {
	var undo []undoEntry
	restore := func(key []byte) error {
		v, closer, err := snap.Get(key)
		if errors.Is(err, pebble.ErrNotFound) {
			undo = append(undo, undoEntry{key: bytes.Clone(key)})
			return nil
		}
		if err != nil {
			return err
		}
		undo = append(undo, undoEntry{key: bytes.Clone(key), value: bytes.Clone(v)})
		return closer.Close()
	}
	r := b.Reader()
	for {
		kind, key, value, ok, err := r.Next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return undo, nil
		}
		switch kind {
		case pebble.InternalKeyKindRangeDelete:
			// Every key the range held comes back; keys the batch set in
			// the range are restored by their own entries.
			it, err := snap.NewIter(&pebble.IterOptions{LowerBound: key, UpperBound: value})
			if err != nil {
				return nil, err
			}
			for valid := it.First(); valid; valid = it.Next() {
				undo = append(undo, undoEntry{key: bytes.Clone(it.Key()), value: bytes.Clone(it.Value())})
			}
			if err := it.Close(); err != nil {
				return nil, err
			}
		default:
			if err := restore(key); err != nil {
				return nil, err
			}
		}
	}
}

// quietLogger keeps Pebble quiet. Pebble reports a failed commit through
// Fatalf (it considers its commit pipeline unusable afterwards); the panic
// carries it to commit, which turns it into the batch's error, and the store
// reopens the database before committing again.
type quietLogger struct{}

type fatalError struct{ msg string }

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fatalError{fmt.Sprintf(format, args...)})
}

// commit commits b, returning Pebble's fatal commit error as an error.
func commit(b *pebble.Batch, opts *pebble.WriteOptions) (err error) {
	defer func() {
		if r := recover(); r != nil {
			fe, ok := r.(fatalError)
			if !ok {
				panic(r)
			}
			err = errors.New(fe.msg)
		}
	}()
	return b.Commit(opts)
}
