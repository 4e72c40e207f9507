package integration

// Failover with an ordinary Sentinel client: go-redis's NewFailoverClient,
// given the three nodes as its sentinels, keeps writing across a kill -9 of
// the leader; every node publishes +switch-master; no acknowledged write is
// lost; the killed node, restarted, catches up from the log.

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestClusterFailoverClient(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	ctx := context.Background()
	li := c.leader(t)
	var addrs []string
	for _, n := range c.nodes {
		addrs = append(addrs, n.addr())
	}
	fc := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: "mymaster", SentinelAddrs: addrs,
		DialTimeout: time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
	})
	t.Cleanup(func() { fc.Close() })

	// A surviving node's +switch-master, as Sentinel clients hear it.
	watcher := (li + 1) % 3
	wc := newClient(t, c.nodes[watcher].addr(), nil)
	sub := wc.Subscribe(ctx, "+switch-master")
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}

	acked := map[string]string{}
	write := func(i int) error {
		k, v := "k"+strconv.Itoa(i), "v"+strconv.Itoa(i)
		if err := fc.Set(ctx, k, v, 0).Err(); err != nil {
			return err
		}
		acked[k] = v
		return nil
	}
	i := 0
	for ; i < 200; i++ {
		if err := write(i); err != nil {
			t.Fatalf("write %d before the kill: %v", i, err)
		}
	}
	killedAt := time.Now()
	c.kill(t, li)
	var firstAck time.Duration
	deadline := time.Now().Add(60 * time.Second)
	for after := 0; after < 200; i++ {
		if err := write(i); err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("no write acknowledged within 60s of the kill: %v", err)
			}
			continue // the client finds the new leader through the surviving nodes
		}
		if after == 0 {
			firstAck = time.Since(killedAt)
		}
		after++
	}
	t.Logf("failover: first acknowledged write %v after the kill -9 of the leader", firstAck.Round(time.Millisecond))

	nl := c.leader(t)
	if nl == li {
		t.Fatalf("the killed node is still the leader")
	}
	msg, err := sub.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	oh, op, _ := net.SplitHostPort(c.nodes[li].addr())
	nh, np, _ := net.SplitHostPort(c.nodes[nl].addr())
	if want := fmt.Sprintf("mymaster %s %s %s %s", oh, op, nh, np); msg.Payload != want {
		t.Errorf("+switch-master %q, want %q", msg.Payload, want)
	}

	check := func(who string, cl *redis.Client) {
		t.Helper()
		for k, v := range acked {
			if got, err := cl.Get(ctx, k).Result(); got != v {
				t.Fatalf("%s: acknowledged %s=%s reads %q, %v", who, k, v, got, err)
			}
		}
	}
	check("the failover client", fc)

	// The killed node comes back as a follower and catches up.
	c.start(t, li)
	last := afterwrite(t, newClient(t, c.nodes[nl].addr(), nil))
	c.waitApplied(t, li, last)
	check("the restarted node", newClient(t, c.nodes[li].addr(), nil))
	if r := role(c.nodes[li].addr()); r != "slave" {
		t.Errorf("the restarted node's ROLE is %q, want slave", r)
	}
}
