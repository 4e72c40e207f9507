package integration

// Cluster operations: a follower that was down catches up from the log; a
// leader cut off from its quorum stops acknowledging writes; voters are
// added and removed at run time; SHUTDOWN of the leader hands over.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// A follower stopped while 10,000 writes commit catches up when restarted.
func TestClusterFollowerCatchesUp(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	ctx := context.Background()
	li := c.leader(t)
	fi := (li + 1) % 3
	c.stop(t, fi)
	lc := newClient(t, c.nodes[li].addr(), nil)
	waitFollowers(t, lc, 1) // ROLE lists the replicas the leader reaches
	const writes = 10000
	for start := 0; start < writes; start += 500 {
		pipe := lc.Pipeline()
		for i := start; i < start+500; i++ {
			pipe.Set(ctx, "k"+strconv.Itoa(i), i, 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	last := afterwrite(t, lc)
	c.start(t, fi)
	c.waitApplied(t, fi, last)
	waitFollowers(t, lc, 2)
	fc := newClient(t, c.nodes[fi].addr(), nil)
	if n, err := fc.DBSize(ctx).Result(); err != nil || n != writes {
		t.Fatalf("caught-up follower holds %d keys (%v), want %d", n, err, writes)
	}
	for _, i := range []int{0, 1234, writes - 1} {
		if v, err := fc.Get(ctx, "k"+strconv.Itoa(i)).Result(); v != strconv.Itoa(i) {
			t.Errorf("k%d on the caught-up follower = %q, %v", i, v, err)
		}
	}
	want, _ := lc.XRevRangeN(ctx, "__mutex:feed", "+", "-", 1).Result()
	got, _ := fc.XRevRangeN(ctx, "__mutex:feed", "+", "-", 1).Result()
	if len(want) != 1 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the follower's last feed entry %v, the leader's %v", got, want)
	}
}

// A follower down while the leader snapshots and truncates its log gets
// the leader's checkpoint (InstallSnapshot), then the entries after it;
// restarted again, it keeps what it has.
func TestClusterFollowerRestoresSnapshot(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, "--raft-trailing-logs", "10")
	ctx := context.Background()
	li := c.leader(t)
	fi := (li + 1) % 3
	lc := newClient(t, c.nodes[li].addr(), nil)
	if err := lc.Set(ctx, "early", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	c.waitApplied(t, fi, afterwrite(t, lc))
	c.stop(t, fi)
	for i := range 300 { // one entry each
		if err := lc.HSet(ctx, "h", "f"+strconv.Itoa(i), i).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := lc.Do(ctx, "MUTEX.CLUSTER", "SNAPSHOT").Err(); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := lc.Set(ctx, "late"+strconv.Itoa(i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	last := afterwrite(t, lc)
	c.start(t, fi)
	c.waitApplied(t, fi, last)
	if !strings.Contains(c.nodes[fi].s.stderr.String(), "restored the store from the leader's snapshot") {
		t.Errorf("the follower caught up without the snapshot:\n%s", c.nodes[fi].s.stderr.String())
	}
	check := func(when string) {
		t.Helper()
		fc := newClient(t, c.nodes[fi].addr(), nil)
		if n, err := fc.HLen(ctx, "h").Result(); n != 300 {
			t.Errorf("%s: HLEN h = %d, %v", when, n, err)
		}
		if v, err := fc.Get(ctx, "late19").Result(); v != "19" {
			t.Errorf("%s: late19 = %q, %v", when, v, err)
		}
		want, _ := lc.XRevRangeN(ctx, "__mutex:feed", "+", "-", 1).Result()
		got, _ := fc.XRevRangeN(ctx, "__mutex:feed", "+", "-", 1).Result()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: last feed entry %v, the leader's %v", when, got, want)
		}
	}
	check("after the snapshot")
	c.stop(t, fi)
	c.start(t, fi)
	c.waitApplied(t, fi, last)
	check("after a restart")
}

// A leader whose followers are stopped (SIGSTOP: alive, silent) must not
// acknowledge a write; once they resume the cluster takes writes again.
func TestClusterIsolatedLeaderStopsAcknowledging(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	ctx := context.Background()
	li := c.leader(t)
	lc := newClient(t, c.nodes[li].addr(), &redis.Options{MaxRetries: -1, ReadTimeout: 30 * time.Second})
	if err := lc.Set(ctx, "k", "before", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var stopped []int
	for i := range c.nodes {
		if i != li {
			c.signal(t, i, syscall.SIGSTOP)
			stopped = append(stopped, i)
		}
	}
	resumed := false
	resume := func() {
		if !resumed {
			for _, i := range stopped {
				c.signal(t, i, syscall.SIGCONT)
			}
			resumed = true
		}
	}
	defer resume()
	err := lc.Set(ctx, "k", "during", 0).Err()
	if err == nil {
		t.Fatalf("the isolated leader acknowledged a write")
	}
	// Stepping down, it answers TRYAGAIN or closes the connection (as a
	// demoted master's clients are disconnected).
	if !clusterRetryable(err) {
		t.Errorf("the isolated leader's write answered %v, want TRYAGAIN or a closed connection", err)
	}
	if v, err := lc.Get(ctx, "k").Result(); err == nil && v != "before" {
		t.Errorf("the isolated node reads %q", v)
	}
	resume()
	nl := c.leader(t)
	nc := newClient(t, c.nodes[nl].addr(), nil)
	if err := nc.Set(ctx, "k", "after", 0).Err(); err != nil {
		t.Fatalf("the healed cluster refuses writes: %v", err)
	}
}

// A leader stopped (SIGSTOP) is replaced; resumed, it does not acknowledge
// the write it was sent while stopped, and it follows the new leader.
func TestClusterStoppedLeaderResumesAsFollower(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	ctx := context.Background()
	li := c.leader(t)
	old := dialRaw(t, c.nodes[li].addr())
	c.signal(t, li, syscall.SIGSTOP)
	old.send("SET", "k", "stale") // waits in the socket
	nl := c.leaderExcept(t, li)
	nc := newClient(t, c.nodes[nl].addr(), nil)
	if err := nc.Set(ctx, "k", "new", 0).Err(); err != nil {
		t.Fatal(err)
	}
	c.signal(t, li, syscall.SIGCONT)
	if got, err := old.readErr(); err == nil && got == "+OK" {
		t.Fatalf("the resumed old leader acknowledged a write sent while it was replaced")
	}
	last := afterwrite(t, nc)
	c.waitApplied(t, li, last)
	if v, err := newClient(t, c.nodes[li].addr(), nil).Get(ctx, "k").Result(); v != "new" {
		t.Errorf("the old leader reads k = %q, %v; want the new leader's value", v, err)
	}
}

// MUTEX.CLUSTER ADD makes a fresh node a voter that catches up from the
// log; REMOVE takes it out again.
func TestClusterAddRemoveNode(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	ctx := context.Background()
	li := c.leader(t)
	lc := newClient(t, c.nodes[li].addr(), nil)
	for i := range 100 {
		if err := lc.Set(ctx, "k"+strconv.Itoa(i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	ni := c.addNode(t)
	n := c.nodes[ni]
	fc := newClient(t, c.nodes[(li+1)%3].addr(), nil)
	if err := fc.Do(ctx, "MUTEX.CLUSTER", "ADD", n.id, "127.0.0.1:"+strconv.Itoa(n.raftPort), n.addr()).Err(); err == nil {
		t.Errorf("a follower accepted MUTEX.CLUSTER ADD")
	}
	if err := lc.Do(ctx, "MUTEX.CLUSTER", "ADD", n.id, "127.0.0.1:"+strconv.Itoa(n.raftPort), n.addr()).Err(); err != nil {
		t.Fatal(err)
	}
	last := afterwrite(t, lc)
	c.waitApplied(t, ni, last)
	nc := newClient(t, n.addr(), nil)
	if v, err := nc.Get(ctx, "k99").Result(); v != "99" {
		t.Fatalf("the added node reads k99 = %q, %v", v, err)
	}
	sentinels, err := redis.NewSentinelClient(&redis.Options{Addr: n.addr()}).Sentinels(ctx, "mymaster").Result()
	if err != nil || len(sentinels) != 3 {
		t.Errorf("the added node's SENTINEL SENTINELS = %v, %v; want the 3 others", sentinels, err)
	}
	if r, _ := lc.Do(ctx, "ROLE").Slice(); len(r) != 3 || len(r[2].([]any)) != 3 {
		t.Errorf("leader ROLE after ADD = %v, want 3 followers", r)
	}
	if err := lc.Do(ctx, "MUTEX.CLUSTER", "REMOVE", n.id).Err(); err != nil {
		t.Fatal(err)
	}
	if r, _ := lc.Do(ctx, "ROLE").Slice(); len(r) != 3 || len(r[2].([]any)) != 2 {
		t.Errorf("leader ROLE after REMOVE = %v, want 2 followers", r)
	}
	if err := lc.Do(ctx, "MUTEX.CLUSTER", "ADD", "bad").Err(); err == nil || !strings.Contains(err.Error(), "wrong number of arguments") {
		t.Errorf("MUTEX.CLUSTER ADD with one argument: %v", err)
	}
	if err := lc.Do(ctx, "MUTEX.CLUSTER", "ADD", "x", "nohost", "127.0.0.1:1").Err(); err == nil {
		t.Errorf("MUTEX.CLUSTER ADD with a bad address was accepted")
	}
}

// SHUTDOWN of the leader hands leadership over before it exits: another
// node leads and takes writes, and the old leader exits cleanly.
func TestClusterShutdownHandsOver(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	ctx := context.Background()
	li := c.leader(t)
	lc := newClient(t, c.nodes[li].addr(), nil)
	if err := lc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	lc.Do(ctx, "SHUTDOWN")
	c.nodes[li].s.waitExit(t)
	out := c.nodes[li].s.stderr.String()
	c.nodes[li].s = nil
	if strings.Contains(out, "leadership transfer failed") {
		t.Errorf("the leader did not hand over:\n%s", out)
	}
	nl := c.leader(t)
	nc := newClient(t, c.nodes[nl].addr(), nil)
	if err := nc.Set(ctx, "k2", "v2", 0).Err(); err != nil {
		t.Fatalf("after the leader's SHUTDOWN: %v", err)
	}
	if v, _ := nc.Get(ctx, "k").Result(); v != "v" {
		t.Errorf("k = %q after the hand-over", v)
	}
}

// waitFollowers waits until the leader's ROLE lists n followers.
func waitFollowers(t *testing.T, lc *redis.Client, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := lc.Do(context.Background(), "ROLE").Slice()
		if err == nil && len(r) == 3 && len(r[2].([]any)) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the leader's ROLE is %v (%v), want %d followers", r, err, n)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}
