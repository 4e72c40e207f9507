package mutex

import (
	"bytes"
	"errors"

	"github.com/cockroachdb/pebble/v2"
)

// Kind says which phase an Op runs in.
type Kind uint8

const (
	// KindRead ops run in read phases against one unchanging state.
	KindRead Kind = iota + 1
	// KindWrite ops run in write phases, in queue order, against the state
	// left by the writes before them in the same batch.
	KindWrite
	// KindAfterWrite ops complete once every write queued before them is
	// durable; their Result is the batch number (uint64) they waited for.
	KindAfterWrite
)

// An Op is one operation submitted to a Keyspace. Build it with ReadOp,
// WriteOp, AfterWrite or the helpers (Get, Put, Delete, …). When the Keyspace
// has run it, Result and Err hold its outcome.
type Op struct {
	kind  Kind
	read  func(*Reader) (any, error)
	write func(*Tx) (any, error)

	Result any
	Err    error
}

// Kind reports which phase the op runs in.
func (o *Op) Kind() Kind { return o.kind }

// ReadOp returns an op that runs fn in a read phase. fn must only read
// through r and must not keep r after it returns.
func ReadOp(fn func(r *Reader) (any, error)) Op { return Op{kind: KindRead, read: fn} }

// WriteOp returns an op that runs fn in a write phase. fn sees every write
// queued before it, including those of its own batch, and its mutations are
// seen by every op after it. The batch commits or fails as a whole: if the
// commit fails, Err is set to the commit error whatever fn returned. An error
// returned by fn does not undo the mutations fn already made, so fn should
// check its conditions before it mutates, as Redis commands do.
func WriteOp(fn func(tx *Tx) (any, error)) Op { return Op{kind: KindWrite, write: fn} }

// AfterWrite returns a durability barrier: it completes once every write
// queued in the keyspace before it has been flushed. Its Result is a uint64:
// the number of the last batch it waited for, or of the last committed batch
// when nothing was pending (0 if the keyspace never committed one).
func AfterWrite() Op { return Op{kind: KindAfterWrite} }

// Get reads one key. Result is the value ([]byte) or nil when absent.
func Get(key []byte) Op {
	return ReadOp(func(r *Reader) (any, error) {
		v, ok, err := r.Get(key)
		if !ok || err != nil {
			return nil, err
		}
		return v, nil
	})
}

// Put sets key to value. Result is nil.
func Put(key, value []byte) Op {
	return WriteOp(func(tx *Tx) (any, error) { return nil, tx.Set(key, value) })
}

// Delete removes key. Result is a bool: whether the key existed.
func Delete(key []byte) Op {
	return WriteOp(func(tx *Tx) (any, error) { return tx.Delete(key) })
}

// BoundKind is how one end of a Range is bounded.
type BoundKind uint8

const (
	Unbounded BoundKind = iota // "-" or "+": the end of the keyspace
	Inclusive                  // "[key"
	Exclusive                  // "(key"
	Empty                      // "+" as a minimum or "-" as a maximum: nothing is in range
)

// Bound is one end of a Range.
type Bound struct {
	Kind BoundKind
	Key  []byte
}

// Range is a lexicographic key range, as ZRANGEBYLEX has it.
type Range struct{ Min, Max Bound }

// KV is a key and its value.
type KV struct{ Key, Value []byte }

// Access describes one operation for the reads and writes events: "get",
// "exists", "peekfirst", "peeklast", "scan" (Key: where it resumes) and
// "count" for reads; "set", "del" and
// "flushdb" for writes. Key, Value and Range are set where they apply.
type Access struct {
	Op    string
	Key   []byte
	Value []byte
	Range *Range
}

// Reader reads one keyspace. In a read phase it reads the state left by the
// last committed batch; inside a Tx it reads the batch being built.
type Reader struct {
	r      pebble.Reader
	prefix []byte // tagData‖keyspace
	end    []byte // first key after the keyspace
	key    []byte // scratch for encoded keys
	rec    *[]Access
	// iter is reused by the peeks of a read phase (a snapshot does not
	// change); a Tx's batch does, so a Tx opens one per peek.
	iter      *pebble.Iterator
	reuseIter bool
}

// close releases the reader's iterator.
func (r *Reader) close() {
	if r.iter != nil {
		r.iter.Close()
		r.iter = nil
	}
}

// newIter returns an iterator over [lower, upper) and a function to call
// when done with it.
func (r *Reader) newIter(lower, upper []byte) (*pebble.Iterator, func(), error) {
	if !r.reuseIter {
		it, err := r.r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
		if err != nil {
			return nil, nil, err
		}
		return it, func() { it.Close() }, nil
	}
	if r.iter == nil {
		it, err := r.r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
		if err != nil {
			return nil, nil, err
		}
		r.iter = it
	} else {
		r.iter.SetBounds(lower, upper)
	}
	return r.iter, func() {}, nil
}

func (r *Reader) record(a Access) {
	if r.rec != nil {
		a.Key = bytes.Clone(a.Key)
		if a.Range != nil { // the event outlives the caller's buffers
			rng := *a.Range
			rng.Min.Key, rng.Max.Key = bytes.Clone(rng.Min.Key), bytes.Clone(rng.Max.Key)
			a.Range = &rng
		}
		*r.rec = append(*r.rec, a)
	}
}

func (r *Reader) encodeKey(key []byte) []byte {
	r.key = append(append(r.key[:0], r.prefix...), key...)
	return r.key
}

func (r *Reader) get(key []byte) ([]byte, bool, error) {
	raw, closer, err := r.r.Get(r.encodeKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer closer.Close()
	v, err := decodeValue(raw)
	if err != nil {
		return nil, false, err
	}
	return bytes.Clone(v), true, nil
}

// Get returns a copy of key's value and whether the key exists.
func (r *Reader) Get(key []byte) ([]byte, bool, error) {
	r.record(Access{Op: "get", Key: key})
	return r.get(key)
}

// Exists reports whether key exists.
func (r *Reader) Exists(key []byte) (bool, error) {
	r.record(Access{Op: "exists", Key: key})
	_, closer, err := r.r.Get(r.encodeKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	closer.Close()
	return true, nil
}

// PeekFirst returns the first key in rng and its value; ok is false when
// the range is empty.
func (r *Reader) PeekFirst(rng Range) (kv KV, ok bool, err error) {
	r.record(Access{Op: "peekfirst", Range: &rng})
	return r.peek(rng, false)
}

// PeekLast returns the last key in rng and its value; ok is false when the
// range is empty.
func (r *Reader) PeekLast(rng Range) (kv KV, ok bool, err error) {
	r.record(Access{Op: "peeklast", Range: &rng})
	return r.peek(rng, true)
}

func (r *Reader) bounds(rng Range) (lower, upper []byte) {
	lower, upper = r.prefix, r.end
	switch rng.Min.Kind {
	case Inclusive:
		lower = append(bytes.Clone(r.prefix), rng.Min.Key...)
	case Exclusive:
		lower = append(append(bytes.Clone(r.prefix), rng.Min.Key...), 0)
	}
	switch rng.Max.Kind {
	case Inclusive:
		upper = append(append(bytes.Clone(r.prefix), rng.Max.Key...), 0)
	case Exclusive:
		upper = append(bytes.Clone(r.prefix), rng.Max.Key...)
	}
	return lower, upper
}

func (r *Reader) peek(rng Range, last bool) (KV, bool, error) {
	if rng.Min.Kind == Empty || rng.Max.Kind == Empty {
		return KV{}, false, nil
	}
	lower, upper := r.bounds(rng)
	if upper != nil && bytes.Compare(lower, upper) >= 0 {
		return KV{}, false, nil
	}
	it, done, err := r.newIter(lower, upper)
	if err != nil {
		return KV{}, false, err
	}
	defer done()
	var valid bool
	if last {
		valid = it.Last()
	} else {
		valid = it.First()
	}
	if !valid {
		return KV{}, false, it.Error()
	}
	raw, err := it.ValueAndErr()
	if err != nil {
		return KV{}, false, err
	}
	v, err := decodeValue(raw)
	if err != nil {
		return KV{}, false, err
	}
	return KV{Key: bytes.Clone(it.Key()[len(r.prefix):]), Value: bytes.Clone(v)}, true, nil
}

// Scan calls fn with each key after after (from the first key when after
// is nil), in order, until fn returns false. The key passed to fn is only
// valid during the call.
func (r *Reader) Scan(after []byte, fn func(key []byte) bool) error {
	r.record(Access{Op: "scan", Key: after})
	lower := r.prefix
	if after != nil {
		lower = append(append(bytes.Clone(r.prefix), after...), 0)
	}
	it, done, err := r.newIter(lower, r.end)
	if err != nil {
		return err
	}
	defer done()
	for valid := it.First(); valid; valid = it.Next() {
		if !fn(it.Key()[len(r.prefix):]) {
			break
		}
	}
	return it.Error()
}

// Count returns the number of keys in the keyspace. It scans the keyspace.
func (r *Reader) Count() (int64, error) {
	r.record(Access{Op: "count"})
	it, done, err := r.newIter(r.prefix, r.end)
	if err != nil {
		return 0, err
	}
	defer done()
	var n int64
	for valid := it.First(); valid; valid = it.Next() {
		n++
	}
	return n, it.Error()
}

// Tx is the write batch being built in a write phase. Its Reader methods see
// every mutation made so far in the batch.
type Tx struct {
	Reader
	b         *pebble.Batch
	mutations int
	muts      *[]Access // nil when nobody listens to the writes event
	notes     *[]any    // nil when nobody listens to the flushed event
	watches   *watches
	lastSeq   uint64
}

func (tx *Tx) recordMutation(a Access) {
	tx.mutations++
	if tx.muts != nil {
		a.Key, a.Value = bytes.Clone(a.Key), bytes.Clone(a.Value)
		*tx.muts = append(*tx.muts, a)
	}
}

// Set sets key to value.
func (tx *Tx) Set(key, value []byte) error {
	op := tx.b.SetDeferred(len(tx.prefix)+len(key), valueHeaderLen+len(value))
	copy(op.Key, tx.prefix)
	copy(op.Key[len(tx.prefix):], key)
	encodeValue(op.Value[:0], value)
	if err := op.Finish(); err != nil {
		return err
	}
	tx.recordMutation(Access{Op: "set", Key: key, Value: value})
	tx.watches.touch(key)
	return nil
}

// Delete removes key and reports whether it existed. Deleting a missing key
// is not a mutation.
func (tx *Tx) Delete(key []byte) (bool, error) {
	if exists, err := tx.Exists(key); !exists || err != nil {
		return false, err
	}
	if err := tx.b.Delete(tx.encodeKey(key), nil); err != nil {
		return false, err
	}
	tx.recordMutation(Access{Op: "del", Key: key})
	tx.watches.touch(key)
	return true, nil
}

// Listening reports whether the keyspace's events have a subscriber: notes
// are only kept then, so a note that is costly to build can be skipped.
func (tx *Tx) Listening() bool { return tx.notes != nil }

// Note attaches n to the batch: the flushed event of a committed batch
// carries its ops' notes, in order (a failed batch carries none). The server
// uses notes for Redis keyspace notifications. Notes are dropped when
// nobody subscribes to the keyspace's events.
func (tx *Tx) Note(n any) {
	if tx.notes != nil {
		*tx.notes = append(*tx.notes, n)
	}
}

// Clear removes every key of the keyspace.
func (tx *Tx) Clear() error {
	tx.watches.touchExisting(func(key []byte) bool {
		ok, err := tx.Exists(key)
		return ok || err != nil
	})
	if err := tx.b.DeleteRange(tx.prefix, tx.end, nil); err != nil {
		return err
	}
	tx.recordMutation(Access{Op: "flushdb"})
	return nil
}

// RunIn runs op inside tx, whatever its kind: a read sees the batch being
// built. Transactions (MULTI/EXEC) use it to run their queued commands as
// one write op. An AfterWrite inside a transaction reports the last
// committed batch.
func (o *Op) RunIn(tx *Tx) (any, error) {
	switch o.kind {
	case KindRead:
		return o.read(&tx.Reader)
	case KindWrite:
		return o.write(tx)
	case KindAfterWrite:
		return tx.lastSeq, nil
	}
	return nil, errors.New("mutex: op has no kind")
}

// RunRead runs a read op against r (scripts run the reads they call against
// their read op's Reader). Any other kind of op is refused.
func (o *Op) RunRead(r *Reader) (any, error) {
	if o.kind != KindRead {
		return nil, errors.New("mutex: RunRead of an op that is not a read")
	}
	return o.read(r)
}
