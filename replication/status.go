package replication

import (
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// Status is what ROLE, INFO replication and SENTINEL report.
type Status struct {
	Self    Peer
	Leading bool   // this node leads and takes writes
	Leader  Peer   // the known leader (zero while none)
	Peers   []Peer // every voter, by ID, this node included
	// Unreachable lists the followers this leader's heartbeats fail to
	// reach (ROLE and INFO leave them out of the connected replicas).
	Unreachable map[string]bool
	// AppliedIndex is the log index this node has applied (the offset
	// ROLE and INFO give); CommitIndex the one it knows committed.
	AppliedIndex, CommitIndex uint64
	LastContact               time.Duration // followers: since the leader was last heard from (-1: never)
	LastApplyAgo              time.Duration // since the last batch was applied (-1: none yet)
}

// Status returns the node's view of the cluster.
func (n *Node) Status() Status {
	st := Status{Self: n.self(), LastContact: -1, LastApplyAgo: -1}
	if n.raft == nil {
		return st
	}
	st.Leading = n.ready.Load()
	if _, id := n.raft.LeaderWithID(); id != "" {
		st.Leader, _ = n.member(string(id))
	}
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			p, ok := n.member(string(s.ID))
			if !ok {
				p = Peer{ID: string(s.ID), RaftAddr: string(s.Address)}
			}
			st.Peers = append(st.Peers, p)
		}
	}
	slices.SortFunc(st.Peers, func(a, b Peer) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	if st.Leading {
		n.mu.Lock()
		st.Unreachable = maps.Clone(n.unreachable)
		n.mu.Unlock()
	}
	st.AppliedIndex = n.raft.AppliedIndex()
	st.CommitIndex = n.raft.CommitIndex()
	if t := n.raft.LastContact(); !t.IsZero() {
		st.LastContact = time.Since(t)
	}
	if ms := n.lastApply.Load(); ms > 0 {
		st.LastApplyAgo = time.Since(time.UnixMilli(ms))
	}
	return st
}

func (n *Node) self() Peer {
	if p, ok := n.member(n.cfg.NodeID); ok {
		return p
	}
	return Peer{ID: n.cfg.NodeID, RaftAddr: n.cfg.RaftAddr}
}

// ErrNotLeader is returned by membership changes asked of a follower.
var ErrNotLeader = errors.New("membership changes are made on the leader")

// Add makes p a voter: every node first learns its client address through
// the log, then Raft's membership change adds it; it catches up from the
// log. Only the leader can.
func (n *Node) Add(p Peer) error {
	if n.raft == nil || !n.ready.Load() {
		return ErrNotLeader
	}
	if err := n.raft.Apply(encodeMember(p), 0).Error(); err != nil {
		return err
	}
	return n.raft.AddVoter(raft.ServerID(p.ID), raft.ServerAddress(p.RaftAddr), 0, 0).Error()
}

// Remove takes the node id out of the voters. Only the leader can; a
// leader removing itself steps down once the change commits.
func (n *Node) Remove(id string) error {
	if n.raft == nil || !n.ready.Load() {
		return ErrNotLeader
	}
	return n.raft.RemoveServer(raft.ServerID(id), 0, 0).Error()
}

// Snapshot takes a Raft snapshot now (a checkpoint of the store), after
// which the log is truncated to its trailing entries.
func (n *Node) Snapshot() error {
	if n.raft == nil {
		return ErrNotLeader
	}
	return n.raft.Snapshot().Error()
}
