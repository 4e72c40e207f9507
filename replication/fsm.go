package replication

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/mutexredis/mutexredis/mutex"
)

// Entry format (the Raft log's Data), version 1:
//
//	'B' nonce(8 LE) uvarint(proposal id) uvarint(len ks) ks uvarint(base) uvarint(seq) uvarint(count) repr
//	'M' uvarint(len id) id uvarint(len raftaddr) raftaddr uvarint(len clientaddr) clientaddr
//
// 'B' is a write phase's batch (mutex.Batch); 'M' tells every node a
// member's client address (the Raft configuration only knows its Raft one).
const (
	entryBatch  = 'B'
	entryMember = 'M'
)

// refusal is a Replicate error: nothing was committed locally. It is
// mutex.ErrNotReplicated, and its text is the Redis error the client gets.
type refusal string

func (r refusal) Error() string { return string(r) }
func (r refusal) Unwrap() error { return mutex.ErrNotReplicated }

var (
	errReadOnly = refusal("READONLY You can't write against a read only replica.")
	// errUncertain: the entry was proposed, and leadership changed before
	// it was committed; the new leader may still commit it.
	errUncertain  = refusal("TRYAGAIN leadership changed before the write was acknowledged; it may or may not have been applied")
	errStale      = refusal("TRYAGAIN leadership changed before the write was committed; it was not applied")
	errNoQuorum   = refusal("TRYAGAIN this node is no longer sure it leads the cluster; retry on the leader")
	errCatchingUp = refusal("TRYAGAIN this node was just elected and is still applying the log; retry")
)

// Leader reports whether this node leads and may propose.
func (n *Node) Leader() bool { return n.ready.Load() }

// VerifyRead checks, on a node that believes it leads, that a quorum still
// follows it; followers serve their (possibly stale) state unchecked. A
// leader still applying its predecessors' entries answers TRYAGAIN: its
// state is behind what was acknowledged (and its FSM may be waiting for
// the very keyspace this read phase holds).
func (n *Node) VerifyRead() error {
	if n.raft == nil || n.raft.State() != raft.Leader {
		return nil
	}
	if !n.ready.Load() {
		return errCatchingUp
	}
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return errNoQuorum
	}
	return nil
}

// Replicate implements mutex.Replicator.
func (n *Node) Replicate(b *mutex.Batch, commit func(index uint64) error) error {
	if n.raft == nil || !n.ready.Load() {
		return errReadOnly
	}
	p := &proposal{ks: b.Keyspace, handoff: make(chan uint64, 1), done: make(chan error, 1)}
	id := n.next.Add(1)
	n.mu.Lock()
	if n.applying[b.Keyspace] > 0 {
		// An entry from the log is waiting for this keyspace's mutex,
		// which this write phase holds: its state is not settled.
		n.mu.Unlock()
		return errStale
	}
	n.pending[id] = p
	n.byKs[b.Keyspace] = id
	n.mu.Unlock()

	data := make([]byte, 0, 40+len(b.Keyspace)+len(b.Repr))
	data = append(data, entryBatch)
	data = binary.LittleEndian.AppendUint64(data, n.nonce)
	data = binary.AppendUvarint(data, id)
	data = binary.AppendUvarint(data, uint64(len(b.Keyspace)))
	data = append(data, b.Keyspace...)
	data = binary.AppendUvarint(data, b.Base)
	data = binary.AppendUvarint(data, b.Seq)
	data = binary.AppendUvarint(data, uint64(b.Count))
	data = append(data, b.Repr...)

	f := n.raft.Apply(data, 0)
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }() // the FSM answers the future only after the handoff below
	select {
	case idx := <-p.handoff:
		return n.commitOwn(p, idx, commit)
	case err := <-errc:
		n.mu.Lock()
		_, still := n.pending[id]
		if still {
			n.forget(id, b.Keyspace)
		}
		n.mu.Unlock()
		if !still { // the FSM took it meanwhile: its handoff is on its way
			return n.commitOwn(p, <-p.handoff, commit)
		}
		if errors.Is(err, raft.ErrNotLeader) {
			return errReadOnly // never entered the log
		}
		return errUncertain
	}
}

// commitOwn commits this node's own entry at index idx (0: the FSM skipped
// it as stale) and tells the FSM, which waits for it.
func (n *Node) commitOwn(p *proposal, idx uint64, commit func(uint64) error) error {
	if idx == 0 {
		return errStale
	}
	err := commit(idx)
	p.done <- err
	return err
}

// forget drops a pending proposal. Caller holds n.mu.
func (n *Node) forget(id uint64, ks string) {
	delete(n.pending, id)
	if n.byKs[ks] == id {
		delete(n.byKs, ks)
	}
}

// fsm is the Node seen as Raft's state machine.
type fsm Node

// Apply applies one committed entry, in log order on every node.
func (f *fsm) Apply(l *raft.Log) any {
	n := (*Node)(f)
	if l.Type != raft.LogCommand || len(l.Data) == 0 {
		return nil
	}
	switch l.Data[0] {
	case entryMember:
		p, err := decodeMember(l.Data[1:])
		if err != nil {
			n.fatal(fmt.Errorf("raft entry %d: %w", l.Index, err))
			return err
		}
		n.mu.Lock()
		n.members[p.ID] = p
		n.mu.Unlock()
		return nil
	case entryBatch:
	default:
		err := fmt.Errorf("raft entry %d: unknown kind %q", l.Index, l.Data[0])
		n.fatal(err)
		return err
	}
	nonce, id, b, err := decodeBatch(l.Data[1:])
	if err != nil {
		n.fatal(fmt.Errorf("raft entry %d: %w", l.Index, err))
		return err
	}
	defer n.lastApply.Store(time.Now().UnixMilli())
	if l.Index <= n.startedAt {
		return nil // the store had it before this start
	}
	n.mu.Lock()
	var own, stale *proposal
	if nonce == n.nonce {
		own = n.pending[id]
	}
	if own != nil {
		n.forget(id, b.Keyspace)
	} else {
		if sid, ok := n.byKs[b.Keyspace]; ok {
			// A later proposal of this keyspace was built without this
			// entry: every node will skip it (its base is behind).
			stale = n.pending[sid]
			n.forget(sid, b.Keyspace)
		}
		n.applying[b.Keyspace]++
	}
	n.mu.Unlock()
	if own != nil {
		own.handoff <- l.Index
		if err := <-own.done; err != nil {
			// The log has the batch and this store does not: stop, and
			// the next start applies it from the log.
			n.fatal(fmt.Errorf("raft entry %d committed but not applied here: %w", l.Index, err))
			return err
		}
		return nil
	}
	if stale != nil {
		stale.handoff <- 0
	}
	err = n.store.ApplyReplicated(b, l.Index)
	n.mu.Lock()
	if n.applying[b.Keyspace]--; n.applying[b.Keyspace] == 0 {
		delete(n.applying, b.Keyspace)
	}
	n.mu.Unlock()
	switch {
	case errors.Is(err, mutex.ErrStaleBatch):
		n.log.Info("skipped a replicated batch built on a stale state", "index", l.Index, "keyspace", b.Keyspace, "base", b.Base)
	case err != nil && !errors.Is(err, mutex.ErrClosed):
		n.fatal(fmt.Errorf("raft entry %d not applied: %w", l.Index, err))
		return err
	}
	return nil
}

// fatal stops the node for good: its store no longer follows the log.
func (n *Node) fatal(err error) {
	n.log.Error("replication stopped", "error", err)
	n.ready.Store(false)
	n.failOnce.Do(func() {
		n.failErr = err
		close(n.failed)
	})
	go n.raft.Shutdown()
}

// Failed returns a channel closed once the node stopped replicating for
// good (fatal), and the error then: its owner should exit, and a restart
// on the same directories catches up from the log.
func (n *Node) Failed() (<-chan struct{}, error) {
	select {
	case <-n.failed:
		return n.failed, n.failErr
	default:
		return n.failed, nil
	}
}

func decodeBatch(d []byte) (nonce, id uint64, b *mutex.Batch, err error) {
	bad := errors.New("malformed batch entry")
	if len(d) < 8 {
		return 0, 0, nil, bad
	}
	nonce, d = binary.LittleEndian.Uint64(d), d[8:]
	var ok bool
	next := func() uint64 {
		x, k := binary.Uvarint(d)
		if k <= 0 {
			ok = false
			return 0
		}
		d = d[k:]
		return x
	}
	ok = true
	id = next()
	kl := next()
	if !ok || kl > uint64(len(d)) {
		return 0, 0, nil, bad
	}
	b = &mutex.Batch{Keyspace: string(d[:kl])}
	d = d[kl:]
	b.Base, b.Seq = next(), next()
	b.Count = int(next())
	if !ok {
		return 0, 0, nil, bad
	}
	b.Repr = d
	return nonce, id, b, nil
}

func encodeMember(p Peer) []byte {
	d := []byte{entryMember}
	for _, s := range []string{p.ID, p.RaftAddr, p.ClientAddr} {
		d = binary.AppendUvarint(d, uint64(len(s)))
		d = append(d, s...)
	}
	return d
}

func decodeMember(d []byte) (Peer, error) {
	var f [3]string
	for i := range f {
		l, k := binary.Uvarint(d)
		if k <= 0 || l > uint64(len(d)-k) {
			return Peer{}, errors.New("malformed member entry")
		}
		f[i], d = string(d[k:k+int(l)]), d[k+int(l):]
	}
	return Peer{ID: f[0], RaftAddr: f[1], ClientAddr: f[2]}, nil
}
