package integration

// A leader whose disk is full stops acknowledging writes, and the other
// nodes elect a leader that takes them. Each node's directory is a small
// tmpfs of its own (mount needs root, as CI has; skipped otherwise), and
// the leader's is filled up.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestClusterFullDiskLeaderStopsAcknowledging(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	for _, n := range c.nodes {
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", n.dir).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a tmpfs (needs root): %v %s", err, out)
		}
		dir := n.dir
		t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	}
	for i := range c.nodes {
		c.start(t, i)
	}
	li := c.leader(t)
	ctx := context.Background()
	lc := newClient(t, c.nodes[li].addr(), &redis.Options{MaxRetries: -1, ReadTimeout: 30 * time.Second})
	if err := lc.Set(ctx, "before", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}

	// Fill the leader's disk.
	f, err := os.Create(filepath.Join(c.nodes[li].dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for {
		if _, err := f.Write(chunk); err != nil {
			break // ENOSPC
		}
	}
	f.Close()

	// Its writes fail from now on: none is acknowledged.
	acked := 0
	for i := range 20 {
		if err := lc.Set(ctx, "during"+strconv.Itoa(i), "x", 0).Err(); err == nil {
			acked++
		}
	}
	if acked > 0 {
		// Raft may still have had room for a page or two of its log: the
		// first writes can commit. From then on none must.
		t.Logf("%d writes fit in what was left of the disk", acked)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := lc.Set(ctx, "probe", "x", 0).Err(); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the leader with a full disk kept acknowledging writes for 60s")
		}
	}

	// The others go on: a new leader takes writes and has what was acknowledged.
	nl := c.leaderExcept(t, li)
	nc := newClient(t, c.nodes[nl].addr(), nil)
	if err := nc.Set(ctx, "after", "1", 0).Err(); err != nil {
		t.Fatalf("the other nodes refuse writes: %v", err)
	}
	if v, err := nc.Get(ctx, "before").Result(); v != "1" {
		t.Errorf("before = %q, %v on the new leader", v, err)
	}
	c.kill(t, li) // it may have stopped on its own (its store failed): no clean exit to expect
}
