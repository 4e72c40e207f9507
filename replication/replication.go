// Package replication replicates a mutex.Store over Raft
// (github.com/hashicorp/raft, its TCP transport, the log in raft-boltdb).
//
// What it promises:
//
//   - Every write phase's batch becomes one Raft entry, proposed by the
//     leader only. A write is acknowledged once its entry is committed
//     (fsync'd in the logs of a majority of the voters) and applied on the
//     leader. So no acknowledged write is lost while a majority survives.
//   - Every node applies the same batches (Pebble bytes, batch numbers and
//     feed entries included) in log order, so keyspaces, batch numbers and
//     the change feed are identical on every node at the same log index.
//   - Reads on the leader are linearizable: each read phase checks first
//     that this node is still the leader of a quorum (VerifyLeader), once
//     per phase, not per read. Followers serve possibly stale reads, and
//     refuse writes with Redis's READONLY error.
//
// Recovery argument (what fsyncs, and why nothing acknowledged is lost):
// the Raft log (raft-boltdb) fsyncs every entry before it counts towards a
// commit, and an entry is committed on a majority before its write is
// answered. The Pebble apply is not synced: each applied batch carries, in
// the same atomic Pebble batch, the log index it came from (the store's
// AppliedIndex), and Pebble's WAL recovers a prefix of its writes in order,
// so after a crash the store holds exactly the entries up to its recorded
// index. On restart Raft applies its committed entries again and the FSM
// skips those at or below that index: the store catches up from the log,
// which still holds every entry after it, since the log is only truncated
// up to a snapshot, and a snapshot is a Pebble checkpoint, which syncs the
// store's WAL first (snapshot.go). A node too far behind to catch up from
// the log gets the leader's checkpoint and replaces its store's content
// with it.
//
// Ops are evaluated once, on the leader (its clock, its conditions); the
// entry carries the batch's effects, not its commands. An entry built on a
// state the log had moved past (a leader that had not applied a previous
// entry of the keyspace) is skipped by every node alike (mutex.ErrStaleBatch):
// it carries the batch number it was built on, which every node checks.
package replication

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/mutexredis/mutexredis/mutex"
)

// Peer is one voter of the initial configuration, or a node added later.
type Peer struct {
	ID         string
	RaftAddr   string // host:port of its Raft transport
	ClientAddr string // host:port clients reach it on
}

// ParsePeers parses --raft-peers: id@raftaddr@clientaddr, comma separated.
func ParsePeers(s string) ([]Peer, error) {
	var peers []Peer
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		f := strings.Split(item, "@")
		if len(f) != 3 || f[0] == "" {
			return nil, fmt.Errorf("raft peer %q is not id@raftaddr@clientaddr", item)
		}
		for _, a := range f[1:] {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return nil, fmt.Errorf("raft peer %q: %v", item, err)
			}
		}
		if seen[f[0]] {
			return nil, fmt.Errorf("raft peer id %q appears twice", f[0])
		}
		seen[f[0]] = true
		peers = append(peers, Peer{ID: f[0], RaftAddr: f[1], ClientAddr: f[2]})
	}
	if len(peers) == 0 {
		return nil, errors.New("raft-peers lists no peer")
	}
	return peers, nil
}

// Config configures a Node.
type Config struct {
	NodeID   string
	RaftAddr string // the address to bind and advertise
	Dir      string // the Raft log and state
	// Peers are the initial voters: a node with no Raft state bootstraps
	// from them if it is one of them; a node that is not waits to be
	// added (MUTEX.CLUSTER ADD on the leader).
	Peers  []Peer
	Logger *slog.Logger
	// OnSwitch, if set, is called when the leader changes from one known
	// node to another (Sentinel's +switch-master), on one goroutine, in
	// order.
	OnSwitch func(from, to Peer)
	// OnStepDown, if set, is called when this node stops leading (clients
	// that took it for the master should look again: Sentinel kills them).
	OnStepDown func()
	// Timing; zero means hashicorp/raft's defaults (1 s heartbeat and
	// election timeouts, 500 ms leader lease).
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout time.Duration
	// SnapshotThreshold is how many entries since the last snapshot make
	// Raft take one; TrailingLogs how many it keeps in the log after it.
	// Zero: hashicorp/raft's defaults (8192, 10240).
	SnapshotThreshold, TrailingLogs uint64
}

// Node is this process's member of the cluster. It implements
// mutex.Replicator; Start it once the store is open.
type Node struct {
	cfg   Config
	log   *slog.Logger
	store *mutex.Store
	raft  *raft.Raft
	trans *raft.NetworkTransport
	logs  *raftboltdb.BoltStore

	nonce uint64 // tells this process's proposals from others' (and its own earlier runs')
	next  atomic.Uint64

	mu       sync.Mutex
	pending  map[uint64]*proposal // by proposal id
	byKs     map[string]uint64    // keyspace → its pending proposal's id (one at a time: the write phase waits)
	applying map[string]int       // keyspaces with a foreign entry being applied
	members  map[string]Peer      // by ID: client addresses (the Raft configuration only has Raft's)
	// unreachable: followers this leader's heartbeats fail to reach.
	unreachable map[string]bool

	ready     atomic.Bool  // leader, and every earlier entry applied (barrier)
	startedAt uint64       // the store's applied index at start: the FSM skips entries up to it
	lastApply atomic.Int64 // unix ms of the last entry applied (INFO's lag)
	stopped   chan struct{}
	stopOnce  sync.Once
	failed    chan struct{} // closed by fatal
	failOnce  sync.Once
	failErr   error
	wg        sync.WaitGroup
}

// proposal is a batch this node proposed, waiting for the FSM.
type proposal struct {
	ks string
	// handoff receives the entry's index when the FSM reaches it (the
	// proposer then commits it and answers done), or 0 when the FSM found
	// it stale and skips it.
	handoff chan uint64
	done    chan error
}

// New checks cfg; the node does nothing until Start.
func New(cfg Config) (*Node, error) {
	if cfg.NodeID == "" {
		return nil, errors.New("node-id is required with raft-peers")
	}
	if _, _, err := net.SplitHostPort(cfg.RaftAddr); err != nil {
		return nil, fmt.Errorf("raft-addr: %v", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var b [8]byte
	rand.Read(b[:])
	n := &Node{cfg: cfg, log: cfg.Logger, nonce: binary.LittleEndian.Uint64(b[:]),
		pending: map[uint64]*proposal{}, byKs: map[string]uint64{}, applying: map[string]int{},
		members: map[string]Peer{}, unreachable: map[string]bool{}, stopped: make(chan struct{}), failed: make(chan struct{})}
	for _, p := range cfg.Peers {
		n.members[p.ID] = p
	}
	return n, nil
}

// Start opens the Raft log in cfg.Dir, bootstraps the cluster from the
// peers if this node has no Raft state, and joins.
func (n *Node) Start(store *mutex.Store) error {
	n.store = store
	applied, err := store.AppliedIndex()
	if err != nil {
		return err
	}
	n.startedAt = applied
	if err := os.MkdirAll(n.cfg.Dir, 0o755); err != nil {
		return err
	}
	rlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Output: slogWriter{n.log}, Level: hclog.Warn})
	if n.log.Enabled(context.Background(), slog.LevelDebug) {
		rlog.SetLevel(hclog.Info)
	}
	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(n.cfg.NodeID)
	conf.Logger = rlog
	if n.cfg.HeartbeatTimeout > 0 {
		conf.HeartbeatTimeout = n.cfg.HeartbeatTimeout
	}
	if n.cfg.ElectionTimeout > 0 {
		conf.ElectionTimeout = n.cfg.ElectionTimeout
	}
	if n.cfg.LeaderLeaseTimeout > 0 {
		conf.LeaderLeaseTimeout = n.cfg.LeaderLeaseTimeout
	}
	if n.cfg.SnapshotThreshold > 0 {
		conf.SnapshotThreshold = n.cfg.SnapshotThreshold
	}
	if n.cfg.TrailingLogs > 0 {
		conf.TrailingLogs = n.cfg.TrailingLogs
	}

	logs, err := raftboltdb.NewBoltStore(filepath.Join(n.cfg.Dir, "raft.db"))
	if err != nil {
		return fmt.Errorf("raft log: %w", err)
	}
	n.logs = logs
	cached, err := raft.NewLogCache(512, logs)
	if err != nil {
		return err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(n.cfg.Dir, 2, rlog)
	if err != nil {
		return err
	}
	addr, err := net.ResolveTCPAddr("tcp", n.cfg.RaftAddr)
	if err != nil {
		return err
	}
	trans, err := raft.NewTCPTransportWithLogger(n.cfg.RaftAddr, addr, 3, 10*time.Second, rlog)
	if err != nil {
		logs.Close()
		return fmt.Errorf("raft-addr: %w", err)
	}
	n.trans = trans
	has, err := raft.HasExistingState(cached, logs, snaps)
	if err != nil {
		return err
	}
	_, listed := n.members[n.cfg.NodeID]
	if !has && !listed {
		n.log.Info("this node is not among raft-peers: it waits to be added (MUTEX.CLUSTER ADD on the leader)", "node-id", n.cfg.NodeID)
	}
	if !has && listed {
		var servers []raft.Server
		for _, p := range n.cfg.Peers {
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.RaftAddr)})
		}
		if err := raft.BootstrapCluster(conf, cached, logs, snaps, trans, raft.Configuration{Servers: servers}); err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
	}
	r, err := raft.NewRaft(conf, (*fsm)(n), cached, logs, snaps, trans)
	if err != nil {
		return err
	}
	n.raft = r
	n.wg.Add(2)
	go n.watchLeadership()
	go n.watchLeader()
	return nil
}

// Shutdown hands leadership to another voter when this node leads (so
// clients fail over at once rather than after an election timeout), then
// stops Raft. Call it before closing the store.
func (n *Node) Shutdown() error {
	if n.raft == nil {
		return nil
	}
	var err error
	n.stopOnce.Do(func() {
		if n.raft.State() == raft.Leader && len(n.raft.GetConfiguration().Configuration().Servers) > 1 {
			if terr := n.raft.LeadershipTransfer().Error(); terr != nil {
				n.log.Warn("leadership transfer failed", "error", terr)
			}
		}
		n.ready.Store(false)
		close(n.stopped)
		err = n.raft.Shutdown().Error()
		n.wg.Wait()
		n.trans.Close()
		n.logs.Close()
	})
	return err
}

// watchLeadership keeps ready: true once this node leads and has applied
// every entry before its term (Barrier), false as soon as it does not.
func (n *Node) watchLeadership() {
	defer n.wg.Done()
	for {
		select {
		case <-n.stopped:
			return
		case leader := <-n.raft.LeaderCh():
			was := n.ready.Swap(false)
			if !leader {
				if was && n.cfg.OnStepDown != nil {
					n.cfg.OnStepDown()
				}
				continue
			}
			if err := n.raft.Barrier(0).Error(); err != nil {
				n.log.Warn("raft barrier failed after election", "error", err)
				continue
			}
			if n.raft.State() == raft.Leader {
				n.ready.Store(true)
				n.log.Info("this node leads the cluster", "node-id", n.cfg.NodeID)
			}
		}
	}
}

// watchLeader calls OnSwitch on every change of known leader, and keeps
// the leader's view of which followers it reaches.
func (n *Node) watchLeader() {
	defer n.wg.Done()
	ch := make(chan raft.Observation, 16)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation:
			return true
		}
		return false
	})
	n.raft.RegisterObserver(obs)
	defer n.raft.DeregisterObserver(obs)
	var last string
	for {
		select {
		case <-n.stopped:
			return
		case o := <-ch:
			switch d := o.Data.(type) {
			case raft.FailedHeartbeatObservation:
				n.mu.Lock()
				n.unreachable[string(d.PeerID)] = true
				n.mu.Unlock()
				continue
			case raft.ResumedHeartbeatObservation:
				n.mu.Lock()
				delete(n.unreachable, string(d.PeerID))
				n.mu.Unlock()
				continue
			}
			lo := o.Data.(raft.LeaderObservation)
			if lo.LeaderID == raft.ServerID(n.cfg.NodeID) {
				n.mu.Lock()
				clear(n.unreachable) // a new term: the leader's heartbeats tell again
				n.mu.Unlock()
			}
			id := string(lo.LeaderID)
			if id == "" || id == last {
				continue
			}
			if last != "" && n.cfg.OnSwitch != nil {
				from, _ := n.member(last)
				to, _ := n.member(id)
				n.cfg.OnSwitch(from, to)
			}
			last = id
		}
	}
}

func (n *Node) member(id string) (Peer, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	p, ok := n.members[id]
	return p, ok
}

// slogWriter sends hashicorp/raft's log lines to the server's logger.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Warn(strings.TrimSpace(string(p)))
	return len(p), nil
}

var _ io.Writer = slogWriter{}
