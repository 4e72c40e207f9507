package mutex

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	// ReadCacheSize bounds the read cache (readcache.go) in bytes: the
	// records read phases read recently. 0 is DefaultReadCacheSize; a
	// negative size turns the cache off.
	ReadCacheSize int64
	// OnExpire, if set, is called inside the write phase for every key
	// deleted as expired (the server attaches Redis's "expired"
	// notification with it).
	OnExpire func(tx *Tx, key []byte)
	// Tracker, if set, learns the keys every write op writes (written.go):
	// client-side caching's invalidations.
	Tracker WriteTracker
	// MaxReplyBytes, if set, is read once per phase: the bytes one op may
	// collect for its reply (Reader.MaxReply; 0: no limit).
	MaxReplyBytes func() int64
	// FeedRetention turns on and bounds each keyspace's change feed (feed.go); zero: no feed.
	FeedRetention FeedRetention
	// GoneLife is how long a deleted key's gone record stays before the
	// expirer deletes it for real (gone.go). Default one minute.
	GoneLife time.Duration
	// FS is the filesystem Pebble uses; nil means the OS filesystem. Tests
	// use it to inject faults.
	FS vfs.FS
	// OnKeyspace, if set, is called with each keyspace instance the store
	// creates (again, after an eviction), before anyone else can use it.
	// The store's lock is held: it must not call back into the store.
	OnKeyspace func(*Keyspace)
	// Replicator, if set, replicates every write batch (replicate.go).
	Replicator Replicator
	// Logger receives Pebble's log: errors at Error, its informational
	// lines at Debug (shown at --loglevel verbose). Nil discards them.
	Logger *slog.Logger
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
	dbMu   sync.RWMutex
	db     *pebble.DB
	cache  *pebble.Cache
	rcache *readCache // a copy of records Pebble holds (readcache.go)

	// failErr is the error of a failed commit not yet undone; failed
	// mirrors failErr != nil for a lock-free check.
	failMu  sync.Mutex
	failErr error
	failed  atomic.Bool

	exp expirer

	// commits counts the keyspaces' local commits; shared is the snapshot
	// their commits share for undo (snapshotBefore). Guarded by snapMu.
	commits atomic.Uint64
	snapMu  sync.Mutex
	shared  *sharedSnapshot

	// fatalErr is set once, when Pebble reported an error it cannot
	// recover from (pebbleLogger.Fatalf); fatalC closes then.
	fatalOnce sync.Once
	fatalErr  error
	fatalC    chan struct{}
	fatal     atomic.Bool // fatalC is closed

	mu        sync.Mutex           // guards keyspaces and closed
	keyspaces map[string]*Keyspace // resident: in use, or used since the last sweep
	names     *nameFilter          // names that may have a batch number on disk (names.go)
	stats     storeStats           // every keyspace's counters, summed (stats.go)
	sweepAt   int                  // resident count at which the next creation sweeps
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
	if opts.ReadCacheSize == 0 {
		opts.ReadCacheSize = DefaultReadCacheSize
	}
	if opts.GoneLife <= 0 {
		opts.GoneLife = defaultGoneLife
	}
	if opts.FS == nil {
		opts.FS = vfs.Default
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{dir: dir, opts: opts, keyspaces: map[string]*Keyspace{}, fatalC: make(chan struct{}),
		cache: pebble.NewCache(blockCacheCapacity(opts.CacheSize, opts.MemTableSize)), rcache: newReadCache(max(opts.ReadCacheSize, 0))}
	db, err := s.openDB()
	if err != nil {
		s.cache.Unref()
		return nil, err
	}
	s.names = newNameFilter()
	if err := errors.Join(checkFormat(db), s.names.loadNames(db)); err != nil {
		db.Close()
		s.cache.Unref()
		return nil, err
	}
	s.db = db
	s.startExpirer()
	return s, nil
}

// blockCacheCapacity is the capacity of the Pebble cache that gives blocks
// at least cacheSize bytes.
//
// Issue 20, after a restart that replays the WAL, GETs missed the block
// cache every time: Pebble (v2.1.7, the newest v2 release on the module
// proxy, so no release fixes it) charges every memtable against the block
// cache: DB.newMemTable calls Cache.Reserve(size) for each memtable, and
// the reservation lasts until the memtable is flushed and released — and
// one flushed memtable is stashed for reuse (memTableRecycle) with its
// reservation. A shard's usable size is then maxSize − reservedSize, and
// shard.metaAdd refuses every block larger than that, so once the
// reservations reach the capacity nothing is cached at all (0 hits, every
// read pays index, second-level index and data block from disk). Memtable
// sizes start at 256 KiB and double per memtable up to MemTableSize; a
// process that writes little stays small, but replaying a WAL at Open
// (replayWAL, one memtable per log, then "recreate the mutable memtable")
// climbs the ladder to full size, so a 32 MiB cache with 32 MiB memtables
// ended with 48 MiB reserved: the mutable memtable and the recycled one.
// The same happens in a long-running process that writes enough.
//
// So the cache is the budget of blocks and memtables together, sized for
// the most memtables Pebble keeps: the mutable one, one being flushed
// (MemTableStopWritesThreshold defaults to 2) and the recycled one. The
// blocks keep cacheSize whatever the memtables reserve; memtables are not
// allocated by the cache, so this adds no memory beyond what they use.
func blockCacheCapacity(cacheSize int64, memTableSize uint64) int64 {
	return cacheSize + 3*int64(memTableSize)
}

func (s *Store) openDB() (*pebble.DB, error) {
	return pebble.Open(s.dir, &pebble.Options{
		FS:                 s.opts.FS,
		Cache:              s.cache,
		MemTableSize:       s.opts.MemTableSize,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{s},
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
		b := db.NewBatch()
		defer b.Close()
		if err := b.Set(formatKey, []byte(formatVersionText), nil); err != nil {
			return err
		}
		return pebbleCommit(b, pebble.Sync)
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	if string(v) == formatVersionText {
		return nil
	}
	if slices.Contains(upgradableFormats, string(v)) {
		// Every older record is still readable (see encoding.go); only the
		// key counts are new.
		return upgradeCounts(db)
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
	if len(s.keyspaces) >= s.sweepAt {
		s.sweep()
	}
	s.names.add(name)  // before it can commit: its next instance reads its batch number
	k.used.Store(true) // not evicted before its first use
	if s.opts.OnKeyspace != nil {
		s.opts.OnKeyspace(k) // before anyone else can find it
	}
	s.keyspaces[name] = k // its goroutine starts with its first work (Do)
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
	if _, err := s.Fatal(); err != nil {
		// Pebble's goroutines may be parked (pebbleLogger.Fatalf): waiting
		// for them would hang. The process is about to end.
		return err
	}
	s.wg.Wait()
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	var err error
	s.dropSharedSnapshot()
	if s.db != nil {
		// Flush the memtables first, so that the next Open has no WAL to
		// replay: a faster start, and see blockCacheCapacity.
		if s.Failed() == nil {
			if ferr := s.db.Flush(); ferr != nil {
				s.opts.Logger.Warn("flush before close failed; the next start replays the log", "error", ferr)
			}
		}
		err = s.db.Close()
		s.db = nil
	}
	s.cache.Unref()
	return err
}

// Metrics returns Pebble's metrics (block cache hits and misses among
// them), or nil while the database is closed for recovery.
func (s *Store) Metrics() *pebble.Metrics {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if s.db == nil {
		return nil
	}
	return s.db.Metrics()
}

// commitFailed puts the store in failed mode after a commit error; the
// first error is the one reported until recovery.
func (s *Store) commitFailed(err error) {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	if s.failErr == nil {
		s.failErr = err
		s.failed.Store(true)
		if !errors.Is(err, ErrFatal) {
			s.opts.Logger.Error("a write batch could not be committed; writes are refused until the store recovers", "error", err)
		}
	}
}

// recoverFromFailure reopens the database after a failed commit and undoes
// what each failed batch may have left behind: Pebble applies a batch to its
// memtable before its WAL sync reports the error, and the WAL may hold it,
// so the batch is reverted to the values of the last good snapshot. It
// returns nil once the store accepts writes again.
func (s *Store) recoverFromFailure() error {
	if _, err := s.Fatal(); err != nil {
		return err // nothing to recover: the store failed for good
	}
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
				s.releaseSnapshot(k.snap)
				k.snap = nil
			}
		}
		s.dropSharedSnapshot()
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
		err = s.commit(undo, pebble.Sync)
	}
	undo.Close()
	if err != nil {
		db.Close()
		s.setFailed(err)
		return err
	}
	s.db = db
	s.rcache.clear() // a reopened database: start again from what it holds
	for _, k := range keyspaces {
		k.undo = nil
	}
	// Logged before writes are let in, so the line precedes any reply
	// from a write that the recovery made possible.
	s.opts.Logger.Info("the store recovered; writes are accepted again")
	s.setFailed(nil)
	return nil
}

// probeDisk writes, syncs and removes a small file in the store's
// directory: whether the disk takes a synced write again. Pebble ignores
// the file (its own names are numbered or upper case).
func (s *Store) probeDisk() error {
	name := s.opts.FS.PathJoin(s.dir, "disk-probe")
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

// sharedSnapshot is a Pebble snapshot that several keyspaces' commits
// use, each holding a reference.
type sharedSnapshot struct {
	snap    *pebble.Snapshot
	takenAt uint64 // Store.commits when it was taken
	refs    int    // guarded by Store.snapMu; the store holds one while it is Store.shared
}

// snapshotReuse is how many commits may follow a shared snapshot before a
// newer one replaces it: an open snapshot keeps Pebble from dropping the
// versions it shows.
const snapshotReuse = 4096

// snapshotBefore returns a snapshot that shows the state a keyspace's
// commit starts from, should the commit fail and need undoing
// (undoFor), with a reference the caller releases. committedAt is the
// keyspace's (Keyspace.committedAt). Keyspaces write disjoint keys, so
// one snapshot serves every keyspace that has not committed since it was
// taken: a new tenant's commit costs no snapshot of its own (a snapshot
// costs its creation and, when closed, a look for compactions it held
// back). A keyspace that committed since gets one of its own, released
// after its commit, as before sharing: keeping the shared one newer than
// every busy keyspace would close one per commit all the same, and an
// open snapshot holds versions back. Caller holds dbMu for reading and
// the keyspace's baton.
func (s *Store) snapshotBefore(committedAt uint64) *sharedSnapshot {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	// Every commit counted before the load is visible in a snapshot taken
	// after it.
	now := s.commits.Load()
	sh := s.shared
	if sh == nil || now-sh.takenAt > snapshotReuse {
		if sh != nil {
			s.releaseLocked(sh) // the store's reference
		}
		sh = &sharedSnapshot{takenAt: now, refs: 1, snap: s.db.NewSnapshot()}
		s.shared = sh
	}
	if sh.takenAt < committedAt {
		return &sharedSnapshot{takenAt: now, refs: 1, snap: s.db.NewSnapshot()}
	}
	sh.refs++
	return sh
}

func (s *Store) releaseSnapshot(sh *sharedSnapshot) {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	s.releaseLocked(sh)
}

func (s *Store) releaseLocked(sh *sharedSnapshot) {
	if sh.refs--; sh.refs == 0 {
		sh.snap.Close()
	}
}

// dropSharedSnapshot lets go of the shared snapshot: the database is about
// to be closed, or replaced under every keyspace (RestoreReplica).
func (s *Store) dropSharedSnapshot() {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	if s.shared != nil {
		s.releaseLocked(s.shared)
		s.shared = nil
	}
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

// pebbleLogger sends Pebble's log to the store's slog.Logger.
//
// Fatalf is how Pebble reports what it considers unrecoverable; its callers
// expect it not to return. A failed commit comes as "pebble: fatal commit
// error" on the committing goroutine: the panic carries it to commit, which
// turns it into the batch's error, and the store reopens the database
// before committing again. Any other fatal error (a MANIFEST sync that
// failed in a background flush, an invariant violation) fails the store
// for good: it is recorded (Store.Fatal), writes and reads get it, and the
// calling goroutine is parked forever, so that Pebble never goes on in a
// state it does not trust and the process never dies of a panic. The
// owner of the store is expected to stop (the server exits non-zero);
// every acknowledged write was synced before it was acknowledged.
type pebbleLogger struct{ s *Store }

type fatalError struct{ msg string }

func (l pebbleLogger) Infof(format string, args ...any) {
	if log := l.s.opts.Logger; log.Enabled(context.Background(), slog.LevelDebug) {
		log.Debug("pebble: " + strings.TrimPrefix(fmt.Sprintf(format, args...), "pebble: "))
	}
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.s.opts.Logger.Error("pebble: " + strings.TrimPrefix(fmt.Sprintf(format, args...), "pebble: "))
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if strings.HasPrefix(format, "pebble: fatal commit error") {
		panic(fatalError{msg})
	}
	l.s.fail(errors.New(msg))
	select {} // see pebbleLogger
}

// ErrFatal wraps the error of a store that failed for good.
var ErrFatal = errors.New("mutex: store failed")

// fail records a fatal error: every later write and read gets it, and
// Fatal's channel closes.
func (s *Store) fail(err error) {
	s.fatalOnce.Do(func() {
		s.fatalErr = fmt.Errorf("%w: %w", ErrFatal, err)
		s.commitFailed(s.fatalErr)
		s.opts.Logger.Error("the store failed and cannot recover; restart on the same directory", "error", err)
		s.fatal.Store(true)
		close(s.fatalC)
	})
}

// Fatal returns a channel closed once the store has failed for good, and
// the error then (nil before). A store that failed for good must not be
// used any more: its owner should stop; Close then returns the error at
// once without waiting for the database.
func (s *Store) Fatal() (<-chan struct{}, error) {
	select {
	case <-s.fatalC:
		return s.fatalC, s.fatalErr
	default:
		return s.fatalC, nil
	}
}

// commit commits b to the store's database and brings the read cache up
// to date with it: every batch a store commits goes through here.
func (s *Store) commit(b *pebble.Batch, opts *pebble.WriteOptions) error {
	err := pebbleCommit(b, opts)
	if err != nil {
		s.rcache.clear() // the database may show the batch or not
	} else {
		s.rcache.applied(b)
	}
	return err
}

// pebbleCommit commits b, returning Pebble's fatal commit error as an
// error. Only Store.commit and the format checks that run before a store
// exists call it.
func pebbleCommit(b *pebble.Batch, opts *pebble.WriteOptions) (err error) {
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

// ListKeyspaces lists up to n of the keyspaces that have committed a batch,
// in their stored order (by name length, then bytes), from the opaque
// position start (nil: the beginning). It returns the position to go on
// from, nil once the list is complete. It reads the store's batch-number
// keys only, never the keyspaces' data.
func (s *Store) ListKeyspaces(start []byte, n int) (names []string, next []byte, err error) {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if s.db == nil {
		return nil, nil, s.Failed()
	}
	lower := []byte{tagSeq}
	if start != nil {
		lower = start
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: []byte{tagSeq + 1}})
	if err != nil {
		return nil, nil, err
	}
	for valid := it.First(); valid; valid = it.Next() {
		if len(names) == n {
			next = bytes.Clone(it.Key())
			break
		}
		if name, ok := decodeKeyspaceName(it.Key()); ok {
			names = append(names, name)
		}
	}
	return names, next, it.Close()
}

// minSweep is the number of resident keyspaces below which none is evicted.
const minSweep = 1024

// sweep evicts the keyspaces idle since the previous sweep: no goroutine,
// nothing queued, no watch, no subscription, no blocked client, no failed
// batch to undo, and
// no submission since the previous sweep (a second chance, so that a busy
// keyspace is not dropped between two pipelines). An evicted keyspace
// keeps nothing in memory: its batch number is on disk, and the next use
// of its name creates it again; stale pointers to it forward (Keyspace.live).
// Sweeps run on creation, when the resident count doubles, so they cost
// O(1) per creation. Caller holds s.mu and dbMu for reading (snap, undo).
func (s *Store) sweep() {
	for name, k := range s.keyspaces {
		if k.used.Swap(false) {
			continue
		}
		k.inMu.Lock()
		if !k.running && len(k.inbox) == 0 && !k.closing && k.nsubs.Load() == 0 && k.watches.n.Load() == 0 &&
			k.block.waiting.Load() == 0 && k.snap == nil && len(k.undo) == 0 {
			k.evicted = true
			delete(s.keyspaces, name)
		}
		k.inMu.Unlock()
	}
	s.sweepAt = max(minSweep, 2*len(s.keyspaces))
}

// Resident calls fn for every keyspace currently in memory (the others are
// idle, with no watch or subscription). fn must not call into the store.
func (s *Store) Resident(fn func(*Keyspace)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.keyspaces {
		fn(k)
	}
}
