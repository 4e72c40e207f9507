package server

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"github.com/mutexredis/mutexredis/commands"
	"github.com/mutexredis/mutexredis/replication"
)

// ClusterConfig is the replication part of Config: with RaftPeers set the
// server is one node of a Raft cluster (package replication).
type ClusterConfig struct {
	NodeID      string
	RaftAddr    string
	RaftPeers   string // id@raftaddr@clientaddr,… : the initial voters, the same on every node
	ClusterName string // the master name Sentinel clients ask for
	RaftDir     string // "" : <dir>/raft
	// Snapshots: entries between two, and entries kept after one (0:
	// hashicorp/raft's defaults).
	SnapshotThreshold, TrailingLogs int
}

var replicationParams = []param{
	stringParam("node-id", "this node's id in the cluster (with raft-peers)", func(c *Config) *string { return &c.Cluster.NodeID }),
	stringParam("raft-addr", "host:port of this node's Raft transport (with raft-peers)", func(c *Config) *string { return &c.Cluster.RaftAddr }),
	{name: "raft-peers", words: true, usage: "the cluster's initial voters, id@raftaddr@clientaddr comma separated, the same on every node; empty: a single node",
		get: func(c *Config) string { return c.Cluster.RaftPeers },
		set: func(c *Config, v string) error {
			if v != "" {
				if _, err := replication.ParsePeers(v); err != nil {
					return err
				}
			}
			c.Cluster.RaftPeers = v
			return nil
		}},
	stringParam("cluster-name", "the master name Sentinel clients ask for", func(c *Config) *string { return &c.Cluster.ClusterName }),
	stringParam("raft-dir", "directory of the Raft log (default: <dir>/raft)", func(c *Config) *string { return &c.Cluster.RaftDir }),
	intParam("raft-snapshot-threshold", "log entries after which a node snapshots its store (a Pebble checkpoint) and truncates its log; 0: 8192",
		func(c *Config) *int { return &c.Cluster.SnapshotThreshold }, 0),
	intParam("raft-trailing-logs", "log entries kept after a snapshot, for followers to catch up from; 0: 10240",
		func(c *Config) *int { return &c.Cluster.TrailingLogs }, 0),
}

// newNode builds the replication node when the config asks for a cluster
// (nil otherwise). It starts once the store is open (startNode).
func (s *Server) newNode(cfg *Config) (*replication.Node, error) {
	cc := cfg.Cluster
	if cc.RaftPeers == "" {
		return nil, nil
	}
	peers, err := replication.ParsePeers(cc.RaftPeers)
	if err != nil {
		return nil, err
	}
	dir := cc.RaftDir
	if dir == "" {
		dir = filepath.Join(cfg.Dir, "raft")
	}
	return replication.New(replication.Config{NodeID: cc.NodeID, RaftAddr: cc.RaftAddr, Dir: dir, Peers: peers,
		Logger: s.log, OnSwitch: s.switchMaster, OnStepDown: s.killNormalClients,
		SnapshotThreshold: uint64(cc.SnapshotThreshold), TrailingLogs: uint64(cc.TrailingLogs)})
}

// switchMaster publishes Sentinel's +switch-master, which failover clients
// (go-redis, redis-py, ioredis) listen to: "<name> <old ip> <old port>
// <new ip> <new port>".
func (s *Server) switchMaster(from, to replication.Peer) {
	oh, op, _ := net.SplitHostPort(from.ClientAddr)
	nh, np, _ := net.SplitHostPort(to.ClientAddr)
	s.log.Info("the cluster has a new leader", "from", from.ID, "to", to.ID)
	s.Publish("+switch-master", fmt.Appendf(nil, "%s %s %s %s %s", s.cfg.Cluster.ClusterName, oh, op, nh, np))
}

// killNormalClients closes every connection that is not subscribed, as
// Sentinel does (CLIENT KILL TYPE normal) to a demoted master: its clients
// reconnect and ask Sentinel again, rather than read a follower's stale
// state thinking it the leader's. Subscribers stay: they are listening for
// +switch-master.
func (s *Server) killNormalClients() {
	subscribed := map[*conn]bool{}
	s.pubsub.mu.RLock()
	for _, table := range []map[string]map[*conn]struct{}{s.pubsub.channels, s.pubsub.patterns} {
		for _, subs := range table {
			for c := range subs {
				subscribed[c] = true
			}
		}
	}
	s.pubsub.mu.RUnlock()
	s.connMu.Lock()
	n := 0
	for c := range s.conns {
		if !subscribed[c] {
			c.out.fail()
			n++
		}
	}
	s.connMu.Unlock()
	s.log.Info("this node no longer leads: its clients were disconnected", "clients", n)
}

// ReadOnly implements commands.Replication: a follower refuses writes.
func (s *Server) ReadOnly() bool { return s.node != nil && !s.node.Leader() }

// ClusterName implements commands.Replication ("" on a single node).
func (s *Server) ClusterName() string {
	if s.node == nil {
		return ""
	}
	return s.cfg.Cluster.ClusterName
}

// ClusterStatus implements commands.Replication.
func (s *Server) ClusterStatus() (replication.Status, bool) {
	if s.node == nil {
		return replication.Status{}, false
	}
	return s.node.Status(), true
}

// ClusterAdd and ClusterRemove implement commands.Replication.
func (s *Server) ClusterAdd(p replication.Peer) error {
	if s.node == nil {
		return errNotClustered
	}
	return s.node.Add(p)
}

func (s *Server) ClusterRemove(id string) error {
	if s.node == nil {
		return errNotClustered
	}
	return s.node.Remove(id)
}

// ClusterSnapshot implements commands.Replication.
func (s *Server) ClusterSnapshot() error {
	if s.node == nil {
		return errNotClustered
	}
	return s.node.Snapshot()
}

var errNotClustered = errors.New("this server is not a cluster node (no --raft-peers)")

var _ commands.Replication = (*Server)(nil)

// infoClusterNode is INFO replication on a cluster node, with Redis's field
// names, plus mutex_* lines: the node's id, its lag in log entries and ms.
func (s *Server) infoClusterNode(b *infoBuf) {
	st := s.node.Status()
	lagEntries := st.CommitIndex - min(st.AppliedIndex, st.CommitIndex)
	if st.Leading {
		b.add("role", "master")
		followers := 0
		for _, p := range st.Peers {
			if p.ID == st.Self.ID || st.Unreachable[p.ID] {
				continue
			}
			h, port, _ := net.SplitHostPort(p.ClientAddr)
			b.add("slave"+strconv.Itoa(followers), fmt.Sprintf("ip=%s,port=%s,state=online,offset=%d,lag=0", h, port, st.CommitIndex))
			followers++
		}
		b.add("connected_slaves", followers)
	} else {
		h, port, _ := net.SplitHostPort(st.Leader.ClientAddr)
		b.add("role", "slave")
		b.add("master_host", h)
		b.add("master_port", port)
		link := "down"
		if st.Leader.ID != "" && st.LastContact >= 0 {
			link = "up"
		}
		b.add("master_link_status", link)
		b.add("master_last_io_seconds_ago", int(max(st.LastContact, 0).Seconds()))
		b.add("master_sync_in_progress", 0)
		b.add("slave_read_repl_offset", st.AppliedIndex)
		b.add("slave_repl_offset", st.AppliedIndex)
		b.add("slave_priority", 100)
		b.add("slave_read_only", 1)
		b.add("replica_announced", 1)
		b.add("connected_slaves", 0)
	}
	b.add("master_failover_state", "no-failover")
	b.add("master_replid", s.runID)
	b.add("master_replid2", "0000000000000000000000000000000000000000")
	b.add("master_repl_offset", st.AppliedIndex)
	b.add("second_repl_offset", -1)
	b.add("repl_backlog_active", 0)
	b.add("repl_backlog_size", 0)
	b.add("repl_backlog_first_byte_offset", 0)
	b.add("repl_backlog_histlen", 0)
	b.add("mutex_node_id", st.Self.ID)
	b.add("mutex_cluster_name", s.cfg.Cluster.ClusterName)
	b.add("mutex_raft_commit_index", st.CommitIndex)
	b.add("mutex_raft_applied_index", st.AppliedIndex)
	b.add("mutex_lag_entries", lagEntries)
	lagMs := int64(0)
	if lagEntries > 0 && st.LastApplyAgo >= 0 {
		lagMs = st.LastApplyAgo.Milliseconds()
	}
	b.add("mutex_lag_ms", lagMs)
}
