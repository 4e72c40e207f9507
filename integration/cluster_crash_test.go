package integration

// kill -9 of the leader, over and over, under write load: clients follow
// the leader (found with ROLE), their history of GET / SET / SET IFEQ /
// DEL / INCR must be linearizable across every failover (porcupine), every
// acknowledged write must be there at the end on every node, and the
// killed node restarts and catches up each time.
//
// MUTEXREDIS_CLUSTER_CYCLES sets the number of kills (default 6, a short
// form for the normal run; `make cluster-crash` runs 100).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestClusterKillLeaderCycles(t *testing.T) {
	t.Parallel()
	cycles := 6
	if v := os.Getenv("MUTEXREDIS_CLUSTER_CYCLES"); v != "" {
		var err error
		if cycles, err = strconv.Atoi(v); err != nil {
			t.Fatalf("MUTEXREDIS_CLUSTER_CYCLES=%q: %v", v, err)
		}
	}
	c := startCluster(t, 3)
	var addr atomic.Value
	addr.Store(c.nodes[c.leader(t)].addr())
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)

	h := newLinHistory()
	var st linStats
	var lastAck atomic.Int64 // h.now() of the latest acknowledged write
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const clients, keys = 6, 3
	for cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clusterClient(t, h, &addr, newLinWorkload(cl, keys, seed), cl, stop, &st, &lastAck)
		}()
	}
	// Two writers of unique keys: every acknowledged one must survive.
	var ackMu sync.Mutex
	var acked []string
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := linClient(t, &addr)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("ack:%d:%d", w, i)
				if err := cl.Set(context.Background(), k, k, 0).Err(); err != nil {
					if clusterRetryable(err) {
						time.Sleep(5 * time.Millisecond) // the leader is moving: let it settle
						cl = renewClient(t, cl, &addr)
						continue
					}
					t.Errorf("unique writer: %v", err)
					return
				}
				ackMu.Lock()
				acked = append(acked, k)
				ackMu.Unlock()
			}
		}()
	}

	var failovers []time.Duration
	for cycle := 1; cycle <= cycles; cycle++ {
		// Let the writers get going on this leader.
		target := st.done.Load() + 100
		for progress := time.Now().Add(60 * time.Second); st.done.Load() < target; {
			if time.Now().After(progress) {
				t.Fatalf("cycle %d: the clients made no progress for 60s", cycle)
			}
			time.Sleep(2 * time.Millisecond) // polling the clients' progress
		}
		li := c.leader(t)
		c.kill(t, li)
		killedAt := h.now()
		nl := c.leader(t)
		addr.Store(c.nodes[nl].addr())
		deadline := time.Now().Add(60 * time.Second)
		for lastAck.Load() < killedAt {
			if time.Now().After(deadline) {
				t.Fatalf("cycle %d: no write acknowledged within 60s of the kill", cycle)
			}
			time.Sleep(2 * time.Millisecond) // polling for the first acknowledgement after the kill
		}
		failovers = append(failovers, time.Duration(lastAck.Load()-killedAt))
		c.start(t, li)
	}
	close(stop)
	wg.Wait()

	slices.Sort(failovers)
	t.Logf("%d kill -9 of the leader; kill to first acknowledged write: p50 %v, max %v", cycles,
		failovers[len(failovers)/2].Round(time.Millisecond), failovers[len(failovers)-1].Round(time.Millisecond))
	t.Logf("%d ops recorded, %d with unknown outcome, %d refused (not applied); %d unique writes acknowledged",
		st.done.Load(), st.unknown.Load(), st.notSent.Load(), len(acked))
	if st.unexpected.Load() > 0 {
		t.Fatalf("%d unexpected replies", st.unexpected.Load())
	}

	// Every node ends with every acknowledged write.
	ctx := context.Background()
	li := c.leader(t)
	last := afterwrite(t, newClient(t, c.nodes[li].addr(), nil))
	for i, n := range c.nodes {
		c.waitApplied(t, i, last)
		cl := newClient(t, n.addr(), nil)
		for start := 0; start < len(acked); start += 1000 {
			batch := acked[start:min(start+1000, len(acked))]
			vals, err := cl.MGet(ctx, batch...).Result()
			if err != nil {
				t.Fatal(err)
			}
			for j, v := range vals {
				if v != batch[j] {
					t.Fatalf("%s: acknowledged write %s lost (reads %v)", n.id, batch[j], v)
				}
			}
		}
	}
	linRequireOk(t, fmt.Sprintf("%d clients across %d leader kills, %d keys", clients, cycles, keys), h.snapshot())
}

// clusterRetryable reports whether err is what a client meets while the
// leader moves: a dead connection, or a node that no longer leads.
func clusterRetryable(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return true // the connection: killed node, disconnected by a demoted one
	}
	s := err.Error()
	return strings.HasPrefix(s, "READONLY ") || strings.HasPrefix(s, "TRYAGAIN ")
}

// clusterRefused reports whether err certainly had no effect: refused
// before it was proposed, or dropped by every node.
func clusterRefused(err error) bool {
	s := err.Error()
	return linNotSent(err) || strings.HasPrefix(s, "READONLY ") ||
		strings.HasPrefix(s, "TRYAGAIN ") && !strings.Contains(s, "may or may not have been applied")
}

// renewClient replaces cl by a client of the current leader: a node that
// is now a follower names its leader in ROLE (an election the test did not
// cause moved it), as a Sentinel client would ask.
func renewClient(t *testing.T, cl *redis.Client, addr *atomic.Value) *redis.Client {
	cl.Close()
	rc := redis.NewClient(&redis.Options{Addr: addr.Load().(string), MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: 2 * time.Second, Protocol: 2, DisableIdentity: true})
	if r, err := rc.Do(context.Background(), "ROLE").Slice(); err == nil && len(r) == 5 && r[0] == "slave" && r[1] != "" {
		addr.CompareAndSwap(rc.Options().Addr, net.JoinHostPort(r[1].(string), strconv.FormatInt(r[2].(int64), 10)))
	}
	rc.Close()
	return linClient(t, addr)
}

// clusterClient runs one client's random operations until stop, following
// the leader, and records them in h.
func clusterClient(t *testing.T, h *linHistory, addr *atomic.Value, w *linWorkload, id int, stop chan struct{}, st *linStats, lastAck *atomic.Int64) {
	ctx := context.Background()
	cl := linClient(t, addr)
	for {
		select {
		case <-stop:
			return
		default:
		}
		in := w.next()
		call := h.now()
		out, err := linExec(ctx, cl, in)
		ret := h.now()
		if err != nil {
			if !clusterRetryable(err) {
				st.unexpected.Add(1)
				t.Errorf("client %d: %s: unexpected reply %v", id, in.Kind, err)
				return
			}
			cl = renewClient(t, cl, addr)
			if clusterRefused(err) {
				st.notSent.Add(1)
				time.Sleep(5 * time.Millisecond) // the leader is moving: let it settle
				continue
			}
			st.unknown.Add(1)
			if in.Kind == linGet {
				continue // a read with no answer says nothing
			}
			out = linOutput{Unknown: true}
		} else if in.Kind != linGet {
			for prev := lastAck.Load(); prev < ret && !lastAck.CompareAndSwap(prev, ret); prev = lastAck.Load() {
			}
		}
		h.add(id, in, call, out, ret)
		w.observe(in, out)
		st.done.Add(1)
	}
}
