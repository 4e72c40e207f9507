package integration

// A cluster of mutexredis processes on loopback: each node has a fixed
// client port and Raft port (the peers list names them), so a killed node
// restarts on the same addresses and directory.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

type cluster struct {
	peers string
	nodes []*clusterNode
	flags []string
}

type clusterNode struct {
	id       string
	port     int
	raftPort int
	dir      string
	s        *srv // the running process; nil while down
}

func (n *clusterNode) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port)) }

// startCluster starts size nodes bootstrapped from one peers list and
// waits for a leader.
func startCluster(t testing.TB, size int, flags ...string) *cluster {
	t.Helper()
	c := newCluster(t, size, flags...)
	for i := range c.nodes {
		c.start(t, i)
	}
	c.leader(t)
	return c
}

// portTaken reports whether a start failed because a node's port was
// taken meanwhile: its ports were free when the cluster was laid out, but
// any process's outgoing connection may take one from the ephemeral range.
func portTaken(err error) bool { return strings.Contains(err.Error(), "address already in use") }

// fixedPort returns a free loopback port below Linux's ephemeral range
// (32768–60999): a node keeps its ports across restarts, and a port of the
// ephemeral range may meanwhile be taken by any process's outgoing
// connection, for as long as that connection lives.
func fixedPort(t testing.TB) int {
	t.Helper()
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no free port in 20000–31999")
	return 0
}

// newCluster lays out size nodes (ports, directories, the peers list)
// without starting them.
func newCluster(t testing.TB, size int, flags ...string) *cluster {
	t.Helper()
	c := &cluster{flags: flags}
	var peers []string
	for i := range size {
		n := &clusterNode{id: fmt.Sprintf("n%d", i+1), port: fixedPort(t), raftPort: fixedPort(t), dir: t.TempDir()}
		c.nodes = append(c.nodes, n)
		peers = append(peers, fmt.Sprintf("%s@127.0.0.1:%d@%s", n.id, n.raftPort, n.addr()))
	}
	c.peers = strings.Join(peers, ",")
	return c
}

// start starts node i (again) on its directory and addresses.
func (c *cluster) start(t testing.TB, i int) {
	t.Helper()
	n := c.nodes[i]
	flags := append([]string{"--node-id", n.id, "--raft-addr", "127.0.0.1:" + strconv.Itoa(n.raftPort), "--raft-peers", c.peers}, c.flags...)
	s, err := launch(t, n.dir, n.port, flags)
	// A port held by someone's outgoing connection frees when it closes.
	for tries := 0; err != nil && portTaken(err) && tries < 50; tries++ {
		time.Sleep(100 * time.Millisecond) // polling for the port to be free
		s, err = launch(t, n.dir, n.port, flags)
	}
	if err != nil {
		t.Fatalf("start %s: %v", n.id, err)
	}
	t.Cleanup(func() { s.stop(t) })
	n.s = s
}

// kill kills node i with SIGKILL and checks its output for races and panics.
func (c *cluster) kill(t testing.TB, i int) {
	t.Helper()
	n := c.nodes[i]
	n.s.cmd.Process.Signal(syscall.SIGKILL)
	<-n.s.exited
	n.s.stopped = true
	n.s.waitErr = nil // killed: its exit status says so
	n.s.checkExit(t)
	n.s = nil
}

// stop stops node i with SIGTERM (a clean exit is checked).
func (c *cluster) stop(t testing.TB, i int) {
	t.Helper()
	c.nodes[i].s.stop(t)
	c.nodes[i].s = nil
}

// role asks a node for ROLE's first element ("" when it cannot answer).
func role(addr string) string {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: 2 * time.Second, Protocol: 2, DisableIdentity: true})
	defer c.Close()
	v, err := c.Do(context.Background(), "ROLE").Slice()
	if err != nil || len(v) == 0 {
		return ""
	}
	s, _ := v[0].(string)
	return s
}

// leader waits until exactly one running node says it is master, and
// returns its index.
func (c *cluster) leader(t testing.TB) int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		found := -1
		masters := 0
		for i, n := range c.nodes {
			if n.s != nil && role(n.addr()) == "master" {
				found = i
				masters++
			}
		}
		if masters == 1 {
			return found
		}
		if time.Now().After(deadline) {
			t.Fatalf("no single leader within 60s (%d masters)", masters)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// waitApplied waits until node i's keyspace 0 has reached batch number
// want (AFTERWRITE on a follower reports its last applied batch).
func (c *cluster) waitApplied(t testing.TB, i int, want int64) {
	t.Helper()
	cl := newClient(t, c.nodes[i].addr(), &redis.Options{MaxRetries: -1})
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := cl.Do(context.Background(), "AFTERWRITE").Int64()
		if err == nil && n >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not reach batch %d within 60s (at %d, %v)", c.nodes[i].id, want, n, err)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// addNode registers a node that is not among the bootstrap peers (it waits
// to be added with MUTEX.CLUSTER ADD) and starts it.
func (c *cluster) addNode(t testing.TB) int {
	t.Helper()
	n := &clusterNode{id: fmt.Sprintf("n%d", len(c.nodes)+1), port: freePort(t), raftPort: freePort(t), dir: t.TempDir()}
	c.nodes = append(c.nodes, n)
	c.start(t, len(c.nodes)-1)
	return len(c.nodes) - 1
}

// signal sends sig to node i's process (SIGSTOP, SIGCONT).
func (c *cluster) signal(t testing.TB, i int, sig syscall.Signal) {
	t.Helper()
	if err := c.nodes[i].s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// leaderExcept waits for a leader other than node skip (which may be
// stopped and still believe it leads).
func (c *cluster) leaderExcept(t testing.TB, skip int) int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		for i, n := range c.nodes {
			if i != skip && n.s != nil && role(n.addr()) == "master" {
				return i
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader but node %d within 60s", skip)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}
