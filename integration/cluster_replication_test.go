package integration

// Replication on 3 nodes: every write phase's batch reaches every node in
// the same order (same data, batch numbers and feed), followers refuse
// writes as a Redis replica does, and ROLE, INFO replication and the
// Sentinel subset name the leader. Replies are compared with a real
// redis-server master and its replica.

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// realReplica starts a real redis-server replicating the test's realRedis
// and waits until its link is up and the master has it online; it returns the master's and the
// replica's addresses.
func realReplica(t *testing.T) (master, replica string) {
	t.Helper()
	master = realRedis(t)
	mh, mp, _ := net.SplitHostPort(master)
	port := freePort(t)
	cmd := exec.Command("redis-server", "--save", "", "--appendonly", "no", "--port", strconv.Itoa(port),
		"--bind", "127.0.0.1", "--dir", t.TempDir(), "--replicaof", mh, mp)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Skipf("no real redis-server replica: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	replica = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c := redis.NewClient(&redis.Options{Addr: replica, MaxRetries: -1})
	defer c.Close()
	mc := redis.NewClient(&redis.Options{Addr: master, MaxRetries: -1})
	defer mc.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Both ends: the replica's link comes up a moment before the master
		// counts it online (and lists it in ROLE).
		info, _ := c.Info(context.Background(), "replication").Result()
		minfo, _ := mc.Info(context.Background(), "replication").Result()
		if strings.Contains(info, "master_link_status:up") && strings.Contains(minfo, "state=online") {
			return master, replica
		}
		select {
		case <-exited:
			t.Skipf("redis-server replica exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("real replica's link not up within 20s: %s", out.String())
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// infoFields returns the field names of an INFO section's text.
func infoFields(text string) []string {
	var names []string
	for _, line := range strings.Split(text, "\r\n") {
		if k, _, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") {
			names = append(names, k)
		}
	}
	return names
}

// shape renders a reply's types only (values differ between servers).
func replyShape(v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = replyShape(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	default:
		return fmt.Sprintf("%T", v)
	}
}

func TestClusterReplicates(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	li := c.leader(t)
	ctx := context.Background()
	lc := newClient(t, c.nodes[li].addr(), nil)

	// One batch of every kind of write: each type, expiry, a transaction, a script.
	for _, cmd := range [][]any{
		{"SET", "s", "v"}, {"INCR", "n"}, {"INCRBY", "n", "41"},
		{"HSET", "h", "f", "1", "g", "2"}, {"RPUSH", "l", "a", "b", "c"}, {"LPOP", "l"},
		{"SADD", "set", "x", "y"}, {"ZADD", "z", "1", "one", "2", "two"},
		{"XADD", "st", "1-1", "k", "v"}, {"SET", "ttl", "v", "EX", "1000"},
		{"SET", "gone", "v"}, {"DEL", "gone"},
		{"EVAL", "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])", "2", "script", "n", "s1"},
	} {
		if err := lc.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%v on the leader: %v", cmd, err)
		}
	}
	tx := lc.TxPipeline()
	tx.Set(ctx, "m1", "1", 0)
	tx.Set(ctx, "m2", "2", 0)
	if _, err := tx.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	last := afterwrite(t, lc)
	if n, err := lc.Do(ctx, "WAIT", "1", "0").Int64(); n != 1 {
		t.Errorf("WAIT 1 0 on the leader of 3 = %d, %v; want 1 (a majority has every acknowledged write)", n, err)
	}

	read := func(cl *redis.Client) []any {
		var out []any
		for _, cmd := range [][]any{
			{"GET", "s"}, {"GET", "n"}, {"HGETALL", "h"}, {"LRANGE", "l", "0", "-1"}, {"SMEMBERS", "set"},
			{"ZRANGE", "z", "0", "-1", "WITHSCORES"}, {"XRANGE", "st", "-", "+"}, {"EXISTS", "gone"},
			{"GET", "script"}, {"MGET", "m1", "m2"}, {"DBSIZE"}, {"XRANGE", "__mutex:feed", "-", "+"},
		} {
			v, err := cl.Do(ctx, cmd...).Result()
			if err != nil {
				v = err.Error()
			}
			if vs, ok := v.([]any); ok && cmd[0] == "SMEMBERS" {
				slices.SortFunc(vs, func(a, b any) int { return strings.Compare(a.(string), b.(string)) })
			}
			out = append(out, v)
		}
		ttl, err := cl.TTL(ctx, "ttl").Result()
		out = append(out, err == nil && ttl > 900*time.Second)
		return out
	}
	want := read(lc)
	for i := range c.nodes {
		if i == li {
			continue
		}
		c.waitApplied(t, i, last)
		fc := newClient(t, c.nodes[i].addr(), nil)
		if got := read(fc); !reflect.DeepEqual(got, want) {
			t.Errorf("%s (follower) differs from the leader:\n got %v\nwant %v", c.nodes[i].id, got, want)
		}
		if n := afterwrite(t, fc); n != last {
			t.Errorf("%s: batch number %d, leader's %d", c.nodes[i].id, n, last)
		}
	}

	// A follower answers as a real replica: writes refused with its text,
	// also inside MULTI, reads served; ROLE and INFO replication alike.
	fi := (li + 1) % 3
	rm, rr := realReplica(t)
	for _, script := range [][][]string{
		{{"SET", "k", "v"}},
		{{"GET", "s"}},
		{{"MULTI"}, {"SET", "k", "v"}, {"GET", "k"}, {"EXEC"}},
		{{"INCR", "n"}},
		{{"BLPOP", "nolist", "1"}},
	} {
		ours, theirs := dialRaw(t, c.nodes[fi].addr()), dialRaw(t, rr)
		for _, cmd := range script {
			got, want := ours.do(cmd...), theirs.do(cmd...)
			if cmd[0] == "GET" && !strings.HasPrefix(got, "-") && !strings.HasPrefix(want, "-") {
				continue // values differ; both answered
			}
			if got != want {
				t.Errorf("follower %v = %q, a real replica answers %q", cmd, got, want)
			}
		}
	}
	fcl := newClient(t, c.nodes[fi].addr(), &redis.Options{Protocol: 2})
	rcl := newClient(t, rr, &redis.Options{Protocol: 2})
	mcl := newClient(t, rm, &redis.Options{Protocol: 2})
	ourRole, _ := fcl.Do(ctx, "ROLE").Result()
	theirRole, _ := rcl.Do(ctx, "ROLE").Result()
	if replyShape(ourRole) != replyShape(theirRole) {
		t.Errorf("follower ROLE %v (%s), a real replica's %v (%s)", ourRole, replyShape(ourRole), theirRole, replyShape(theirRole))
	}
	if r := ourRole.([]any); r[0] != "slave" || r[1] != "127.0.0.1" || r[2] != int64(c.nodes[li].port) {
		t.Errorf("follower ROLE %v does not name the leader %s", r, c.nodes[li].addr())
	}
	ourRole, _ = lc.Do(ctx, "ROLE").Result()
	theirRole, _ = mcl.Do(ctx, "ROLE").Result()
	if r := ourRole.([]any); r[0] != "master" || len(r[2].([]any)) != 2 {
		t.Errorf("leader ROLE %v: want master with 2 followers", r)
	} else if replyShape(r[2].([]any)[0]) != replyShape(theirRole.([]any)[2].([]any)[0]) {
		t.Errorf("leader ROLE %v, a real master's %v", ourRole, theirRole)
	}
	for _, pair := range []struct {
		name         string
		ours, theirs *redis.Client
	}{{"follower", fcl, rcl}, {"leader", lc, mcl}} {
		ours, _ := pair.ours.Info(ctx, "replication").Result()
		theirs, _ := pair.theirs.Info(ctx, "replication").Result()
		for _, f := range infoFields(theirs) {
			if !slices.Contains(infoFields(ours), f) && !strings.HasPrefix(f, "slave0") {
				t.Errorf("%s's INFO replication lacks %q (a real %s has it)", pair.name, f, pair.name)
			}
		}
	}

	// Every node names the leader to Sentinel clients.
	for i, n := range c.nodes {
		cl := newClient(t, n.addr(), nil)
		got, err := cl.Do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster").StringSlice()
		if err != nil || len(got) != 2 || net.JoinHostPort(got[0], got[1]) != c.nodes[li].addr() {
			t.Errorf("%s: SENTINEL GET-MASTER-ADDR-BY-NAME = %v, %v; want %s", c.nodes[i].id, got, err, c.nodes[li].addr())
		}
		if err := cl.Do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "other").Err(); err != redis.Nil {
			t.Errorf("%s: an unknown master name answered %v, want a null", c.nodes[i].id, err)
		}
		sentinels, err := redis.NewSentinelClient(&redis.Options{Addr: n.addr()}).Sentinels(ctx, "mymaster").Result()
		if err != nil || len(sentinels) != 2 {
			t.Errorf("%s: SENTINEL SENTINELS = %v, %v; want the 2 other nodes", c.nodes[i].id, sentinels, err)
		}
		replicas, err := redis.NewSentinelClient(&redis.Options{Addr: n.addr()}).Replicas(ctx, "mymaster").Result()
		if err != nil || len(replicas) != 2 {
			t.Errorf("%s: SENTINEL REPLICAS = %v, %v; want the 2 followers", c.nodes[i].id, replicas, err)
		}
		master, err := redis.NewSentinelClient(&redis.Options{Addr: n.addr()}).Master(ctx, "mymaster").Result()
		if err != nil || net.JoinHostPort(master["ip"], master["port"]) != c.nodes[li].addr() || master["flags"] != "master" {
			t.Errorf("%s: SENTINEL MASTER = %v, %v", c.nodes[i].id, master, err)
		}
	}
}

// A single node (no --raft-peers) is unchanged: a master with no followers,
// and no Sentinel.
func TestClusterSingleNodeUnchanged(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := dialRaw(t, s.Addr)
	if got := c.do("ROLE"); got != `["master", :0, []]` {
		t.Errorf("ROLE = %s", got)
	}
	if got := c.do("SENTINEL", "MYID"); !strings.HasPrefix(got, "-ERR") {
		t.Errorf("SENTINEL on a single node = %s, want an error", got)
	}
	if got := c.do("SET", "a", "1"); got != "+OK" {
		t.Errorf("SET = %s", got)
	}
}
