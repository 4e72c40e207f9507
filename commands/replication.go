package commands

import (
	"net"
	"strconv"
	"strings"

	"github.com/mutexredis/mutexredis/replication"
)

// Replication commands: ROLE; the subset of SENTINEL that failover clients
// (go-redis NewFailoverClient, redis-py Sentinel, ioredis sentinels) use,
// answered by every node of a cluster with the current leader as the
// master; and MUTEX.CLUSTER ADD/REMOVE, Raft membership changes.

// Replication is what a server that may be a cluster node offers the
// commands here (server.Server implements it).
type Replication interface {
	// ReadOnly reports whether this node is a follower (writes refused).
	ReadOnly() bool
	// ClusterName is the master name Sentinel clients ask for; ok is false
	// on a single node.
	ClusterName() string
	ClusterStatus() (st replication.Status, ok bool)
	ClusterAdd(p replication.Peer) error
	ClusterRemove(id string) error
	ClusterSnapshot() error
}

// ErrReadOnly is a replica's answer to a write, as Redis's.
const ErrReadOnly = Error("READONLY You can't write against a read only replica.")

func init() {
	register(
		&Command{Name: "role", Arity: 1, Flags: Fast | Loading, Run: role,
			Summary: "Returns the replication role: master with its followers, or slave with its master"},
		&Command{Name: "sentinel", Arity: -2, Flags: Admin | Loading,
			Subcommands: []string{"get-master-addr-by-name", "masters", "master", "replicas", "slaves", "sentinels", "myid", "help"},
			Run:         sentinel,
			Summary:     "The Sentinel subset failover clients use, answered by every cluster node"},
		&Command{Name: "mutex.cluster", Arity: -2, Flags: Admin,
			Subcommands: []string{"add", "remove", "snapshot", "help"},
			Run:         mutexCluster,
			Summary:     "Adds (ADD id raftaddr clientaddr) or removes (REMOVE id) a cluster voter, on the leader; SNAPSHOT truncates this node's log"},
	)
}

// readOnly reports whether cmd is a write refused on this follower.
func readOnly(cl *Client, cmd *Command) bool {
	if cmd.Flags&Write == 0 || cl.Server == nil {
		return false
	}
	r, ok := cl.Server.(Replication)
	return ok && r.ReadOnly()
}

func clusterStatus(c *Ctx) (replication.Status, bool) {
	r, ok := c.Server.(Replication)
	if !ok {
		return replication.Status{}, false
	}
	return r.ClusterStatus()
}

func hostPort(addr string) (string, int64) {
	h, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.ParseInt(p, 10, 64)
	return h, port
}

func role(c *Ctx) any {
	st, ok := clusterStatus(c)
	if !ok {
		return []any{"master", int64(0), []any{}}
	}
	if st.Leading {
		followers := []any{}
		for _, p := range st.Peers {
			if p.ID != st.Self.ID && !st.Unreachable[p.ID] {
				h, port := hostPort(p.ClientAddr)
				followers = append(followers, []any{h, strconv.FormatInt(port, 10), strconv.FormatUint(st.CommitIndex, 10)})
			}
		}
		return []any{"master", int64(st.AppliedIndex), followers}
	}
	h, port := hostPort(st.Leader.ClientAddr)
	state := "connect"
	if st.Leader.ID != "" {
		state = "connected"
	}
	return []any{"slave", h, port, state, int64(st.AppliedIndex)}
}

func sentinel(c *Ctx) any {
	sub := strings.ToLower(string(c.Args[1]))
	if sub == "help" {
		return []any{
			"SENTINEL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
			"GET-MASTER-ADDR-BY-NAME <master-name>", "    Return the ip and port number of the master with that name.",
			"MASTERS", "    Show a list of monitored masters and their state.",
			"MASTER <master-name>", "    Show the state and info of the specified master.",
			"REPLICAS <master-name>", "    Show a list of replicas for this master and their state.",
			"SENTINELS <master-name>", "    Show a list of Sentinel instances for this master and their state.",
			"MYID", "    Return the ID of the Sentinel instance.",
		}
	}
	st, ok := clusterStatus(c)
	if !ok {
		return Error("ERR this server is not a cluster node: start it with --raft-peers to answer SENTINEL")
	}
	name := c.Server.(Replication).ClusterName()
	needName := func(n int) (bool, any) {
		if len(c.Args) != n {
			return false, ArityError("sentinel|" + sub)
		}
		if n == 3 && string(c.Args[2]) != name {
			return false, Error("ERR No such master with that name")
		}
		return true, nil
	}
	switch sub {
	case "myid":
		if len(c.Args) != 2 {
			return ArityError("sentinel|myid")
		}
		return st.Self.ID
	case "get-master-addr-by-name":
		if len(c.Args) != 3 {
			return ArityError("sentinel|get-master-addr-by-name")
		}
		if string(c.Args[2]) != name || st.Leader.ClientAddr == "" {
			return NullArray{} // as Sentinel: no such master, or none known now
		}
		h, port := hostPort(st.Leader.ClientAddr)
		return []any{h, strconv.FormatInt(port, 10)}
	case "masters":
		if len(c.Args) != 2 {
			return ArityError("sentinel|masters")
		}
		if st.Leader.ID == "" {
			return []any{}
		}
		return []any{masterState(name, st)}
	case "master":
		if ok, bad := needName(3); !ok {
			return bad
		}
		if st.Leader.ID == "" {
			return Error("ERR No such master with that name")
		}
		return masterState(name, st)
	case "replicas", "slaves":
		if ok, bad := needName(3); !ok {
			return bad
		}
		return peerStates(st, st.Leader.ID, "slave")
	case "sentinels":
		if ok, bad := needName(3); !ok {
			return bad
		}
		return peerStates(st, st.Self.ID, "sentinel")
	}
	return ErrSyntax
}

// peerStates describes, as role, every peer but the one called except.
func peerStates(st replication.Status, except, role string) []any {
	out := []any{}
	for _, p := range st.Peers {
		if p.ID != except {
			out = append(out, nodeState(p, role, st))
		}
	}
	return out
}

func masterState(name string, st replication.Status) Map {
	h, port := hostPort(st.Leader.ClientAddr)
	return Map{
		"name", name, "ip", h, "port", strconv.FormatInt(port, 10), "runid", st.Leader.ID,
		"flags", "master", "link-pending-commands", "0", "link-refcount", "1",
		"last-ping-sent", "0", "last-ok-ping-reply", "0", "last-ping-reply", "0",
		"down-after-milliseconds", "1000", "info-refresh", "0", "role-reported", "master",
		"role-reported-time", "0", "config-epoch", "0",
		"num-slaves", strconv.Itoa(max(len(st.Peers)-1, 0)),
		"num-other-sentinels", strconv.Itoa(max(len(st.Peers)-1, 0)),
		"quorum", strconv.Itoa(len(st.Peers)/2 + 1), "failover-timeout", "1000", "parallel-syncs", "1",
	}
}

func nodeState(p replication.Peer, kind string, st replication.Status) Map {
	h, port := hostPort(p.ClientAddr)
	m := Map{
		"name", p.ClientAddr, "ip", h, "port", strconv.FormatInt(port, 10), "runid", p.ID,
		"flags", kind, "link-pending-commands", "0", "link-refcount", "1",
		"last-ping-sent", "0", "last-ok-ping-reply", "0", "last-ping-reply", "0",
		"down-after-milliseconds", "1000",
	}
	if kind == "slave" {
		mh, mp := hostPort(st.Leader.ClientAddr)
		m = append(m, "role-reported", "slave", "master-link-down-time", "0", "master-link-status", "ok",
			"master-host", mh, "master-port", strconv.FormatInt(mp, 10), "slave-priority", "100",
			"slave-repl-offset", strconv.FormatUint(st.CommitIndex, 10), "replica-announced", "1")
	}
	return m
}

func mutexCluster(c *Ctx) any {
	r, ok := c.Server.(Replication)
	if _, clustered := clusterStatus(c); !ok || !clustered {
		return Error("ERR this server is not a cluster node (no --raft-peers)")
	}
	var err error
	switch strings.ToLower(string(c.Args[1])) {
	case "help":
		return []any{
			"MUTEX.CLUSTER <subcommand> [<arg> ...]. Subcommands are:",
			"ADD <id> <raft-host:port> <client-host:port>", "    Add a voter (on the leader); it catches up from the log.",
			"REMOVE <id>", "    Remove a voter (on the leader).",
			"SNAPSHOT", "    Checkpoint this node's store as a Raft snapshot and truncate its log.",
		}
	case "add":
		if len(c.Args) != 5 {
			return ArityError("mutex.cluster|add")
		}
		peers, perr := replication.ParsePeers(string(c.Args[2]) + "@" + string(c.Args[3]) + "@" + string(c.Args[4]))
		if perr != nil {
			return Error("ERR " + perr.Error())
		}
		err = r.ClusterAdd(peers[0])
	case "remove":
		if len(c.Args) != 3 {
			return ArityError("mutex.cluster|remove")
		}
		err = r.ClusterRemove(string(c.Args[2]))
	case "snapshot":
		if len(c.Args) != 2 {
			return ArityError("mutex.cluster|snapshot")
		}
		err = r.ClusterSnapshot()
	}
	if err != nil {
		return Error("ERR " + oneLine(err.Error()))
	}
	return OK
}
