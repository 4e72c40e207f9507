package integration

// redis-py's Sentinel(...).master_for(...) and ioredis's sentinels: option
// against a cluster whose leader is killed -9 mid-run: the client keeps
// writing through the new leader, and every write it saw acknowledged is
// there. Skipped when the client library is not installed (Debian:
// python3-redis; npm: ioredis, found through NODE_PATH).

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

const pySentinelClient = `
import sys, time, redis
from redis.sentinel import Sentinel
addrs = [(a.split(':')[0], int(a.split(':')[1])) for a in sys.argv[1].split(',')]
total = int(sys.argv[2])
s = Sentinel(addrs, socket_timeout=1)
m = s.master_for('mymaster', socket_timeout=2)
i, deadline = 0, time.time() + 90
while i < total and time.time() < deadline:
    try:
        m.set('py:%d' % i, str(i))
        print('ack %d' % i, flush=True)
        i += 1
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
            redis.exceptions.ReadOnlyError, redis.exceptions.ResponseError) as e:
        time.sleep(0.05)
print('done', flush=True)
`

const jsSentinelClient = `
const Redis = require('ioredis');
const [addrList, count] = process.argv.slice(-2);
const addrs = addrList.split(',').map(a => ({host: a.split(':')[0], port: +a.split(':')[1]}));
const total = +count;
const r = new Redis({sentinels: addrs, name: 'mymaster', connectTimeout: 1000,
  sentinelRetryStrategy: () => 50, retryStrategy: () => 50, maxRetriesPerRequest: null});
r.on('error', () => {}); // reconnecting through the sentinels is the point
(async () => {
  const deadline = Date.now() + 90000;
  for (let i = 0; i < total && Date.now() < deadline; ) {
    try {
      await r.set('js:' + i, String(i));
      console.log('ack ' + i);
      i++;
    } catch (e) {
      await new Promise(res => setTimeout(res, 50));
    }
  }
  console.log('done');
  r.disconnect();
})();
`

func TestClusterRedisPyFailover(t *testing.T) {
	t.Parallel()
	python := ""
	for _, p := range []string{"python3", "/usr/bin/python3"} { // Debian's package is for its own python3
		if exec.Command(p, "-c", "import redis.sentinel").Run() == nil {
			python = p
			break
		}
	}
	if python == "" {
		t.Skip("redis-py is not installed (python3-redis)")
	}
	clusterClientFailover(t, "py", exec.Command(python, "-c", pySentinelClient))
}

func TestClusterIoredisFailover(t *testing.T) {
	t.Parallel()
	if err := exec.Command("node", "-e", "require('ioredis')").Run(); err != nil {
		t.Skipf("ioredis is not installed (npm install ioredis; NODE_PATH): %v", err)
	}
	clusterClientFailover(t, "js", exec.Command("node", "-e", jsSentinelClient, "--"))
}

// clusterClientFailover runs cmd (which gets the nodes' addresses and a
// write count) and kills the leader once it has had 50 writes
// acknowledged; it must finish its writes through the new leader.
func clusterClientFailover(t *testing.T, prefix string, cmd *exec.Cmd) {
	const total = 150
	c := startCluster(t, 3)
	var addrs []string
	for _, n := range c.nodes {
		addrs = append(addrs, n.addr())
	}
	cmd.Args = append(cmd.Args, strings.Join(addrs, ","), strconv.Itoa(total))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	li := c.leader(t)
	acked := 0
	var killedAt time.Time
	var firstAfter time.Duration
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if line == "done" {
			break
		}
		if !strings.HasPrefix(line, "ack ") {
			continue
		}
		acked++
		switch {
		case acked == 50:
			c.kill(t, li)
			killedAt = time.Now()
		case acked == 51:
			firstAfter = time.Since(killedAt)
		}
	}
	if acked != total {
		t.Fatalf("the client had %d of %d writes acknowledged", acked, total)
	}
	t.Logf("%s client: first acknowledged write %v after the kill -9 of the leader", prefix, firstAfter.Round(time.Millisecond))
	nc := newClient(t, c.nodes[c.leader(t)].addr(), nil)
	for i := range total {
		k := fmt.Sprintf("%s:%d", prefix, i)
		if v, err := nc.Get(context.Background(), k).Result(); v != strconv.Itoa(i) {
			t.Fatalf("acknowledged %s reads %q, %v", k, v, err)
		}
	}
}
