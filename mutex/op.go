package mutex

import "errors"

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
// through r and must not keep r after it returns. The reads of one phase
// run in parallel, on several submitters' goroutines, so what fn shares
// with other ops must be safe for concurrent use.
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
