package integration

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSubscribeConfirmationFirst: a subscription's confirmation reaches the
// client before any message published on it, even while a publisher
// publishes in a loop and the subscribe is followed by more commands in
// the same pipeline.
func TestSubscribeConfirmationFirst(t *testing.T) {
	s := startServer(t)
	pub := dialRaw(t, s.Addr)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			pub.nc.Write(encodeCommand(nil, "PUBLISH", "ch", "m"))
			if _, err := readReply(pub.rd); err != nil {
				return
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	for try := 0; try < 20; try++ {
		c := dialRaw(t, s.Addr)
		var b []byte
		b = encodeCommand(b, "SUBSCRIBE", "ch")
		for i := 0; i < 2000; i++ {
			b = encodeCommand(b, "PING")
		}
		if _, err := c.nc.Write(b); err != nil {
			t.Fatal(err)
		}
		if got := c.read(); got != `["subscribe", "ch", :1]` {
			t.Fatalf("try %d: first reply %s, want the subscribe confirmation", try, got)
		}
		// Messages may interleave with the PING replies, never precede them
		// out of order with respect to the confirmation.
		for pongs := 0; pongs < 2000; {
			r := c.read()
			switch {
			case r == `["pong", ""]`:
				pongs++
			case strings.HasPrefix(r, `["message", "ch"`):
			default:
				t.Fatalf("try %d: unexpected reply %s", try, r)
			}
		}
		c.nc.Close()
	}
}

// flushedBatch extracts the batch number and keyspace of a flushed payload.
func flushedBatch(t *testing.T, payload string) (string, uint64) {
	t.Helper()
	var p struct {
		Keyspace string `json:"keyspace"`
		Batch    uint64 `json:"batch"`
	}
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		t.Fatalf("payload %q: %v", payload, err)
	}
	return p.Keyspace, p.Batch
}

// TestFeedChurnNeverGoesBack: a client that unsubscribes and subscribes
// again in one pipeline, over and over, while large writes pour in, never
// sees a flushed batch number repeat or go back: a stopped feed publishes
// nothing more, even with events still in its buffer.
func TestFeedChurnNeverGoesBack(t *testing.T) {
	s := startServer(t, "--fsync", "never", "--client-output-buffer-limit", "pubsub 0 0 0")
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	value := strings.Repeat("v", 20<<10)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := s.client(t, nil)
			for {
				select {
				case <-stop:
					return
				default:
				}
				p := c.Pipeline()
				for j := 0; j < 20; j++ {
					p.Set(ctx, "k"+strconv.Itoa(j), value, 0)
				}
				if _, err := p.Exec(ctx); err != nil {
					return
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	c := dialRaw(t, s.Addr)
	chans := []string{"__mutex@0__:writes", "__mutex@0__:flushed"}
	c.send(append([]string{"SUBSCRIBE"}, chans...)...)
	var last uint64
	seen := 0
	for round := 0; round < 40; {
		v, err := psReadValue(c.rd)
		if err != nil {
			// A feed that falls behind disconnects its subscribers (the
			// server says so); a new connection must still never see a
			// batch go back.
			if !strings.Contains(s.stderr.String(), "event feed fell behind") {
				t.Fatalf("round %d: %v\n%s", round, err, s.stderr.String())
			}
			c = dialRaw(t, s.Addr)
			c.send(append([]string{"SUBSCRIBE"}, chans...)...)
			round++
			continue
		}
		switch v.elems[0].text {
		case "message":
			if v.elems[1].text != chans[1] {
				continue
			}
			_, b := flushedBatch(t, v.elems[2].text)
			if b <= last {
				t.Fatalf("round %d: batch %d after batch %d", round, b, last)
			}
			last = b
			if seen++; seen%3 == 0 {
				var p []byte
				p = encodeCommand(p, append([]string{"UNSUBSCRIBE"}, chans...)...)
				p = encodeCommand(p, append([]string{"SUBSCRIBE"}, chans...)...)
				c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.nc.Write(p); err != nil {
					t.Fatal(err)
				}
				round++
			}
		}
	}
}

// TestPatternSeesFirstBatchOfNewKeyspaces: a PSUBSCRIBE __mutex@*__:flushed
// subscriber sees batch 1 of every keyspace created after it subscribed,
// even when several connections create and write it at once.
func TestPatternSeesFirstBatchOfNewKeyspaces(t *testing.T) {
	s := startServer(t, "--fsync", "never")
	sub := dialRaw(t, s.Addr)
	if got := sub.do("PSUBSCRIBE", "__mutex@*__:flushed"); got != `["psubscribe", "__mutex@*__:flushed", :1]` {
		t.Fatalf("psubscribe: %s", got)
	}
	const names, writers = 1500, 4
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dialRaw(t, s.Addr)
			for i := 0; i < names; i++ {
				c.send("SELECT", "t-"+strconv.Itoa(i))
				c.send("SET", "k", "v")
				c.read()
				c.read()
			}
		}()
	}
	wg.Wait()
	// Every keyspace had writers batches; the first one must be seen.
	seen := map[string]bool{}
	for len(seen) < names {
		v, err := psReadValue(sub.rd)
		if err != nil {
			t.Fatal(err)
		}
		ks, b := flushedBatch(t, v.elems[3].text)
		if b == 1 {
			seen[ks] = true
		}
		if b == writers && !seen[ks] {
			t.Fatalf("keyspace %s: batch 1 missed", ks)
		}
	}
}

// TestScanCursorBelongsToKeyspace: a SCAN cursor continues in the keyspace
// it was taken in, from any connection, and is invalid in another one.
func TestScanCursorBelongsToKeyspace(t *testing.T) {
	s := startServer(t)
	a, b := dialRaw(t, s.Addr), dialRaw(t, s.Addr)
	for _, c := range []*rconn{a, b} {
		c.do("MSET", "k1", "1", "k2", "2", "k3", "3")
	}
	b.do("SELECT", "1")
	b.do("MSET", "x1", "1", "x2", "2", "x3", "3")
	v, err := func() (psValue, error) { a.send("SCAN", "0", "COUNT", "1"); return psReadValue(a.rd) }()
	if err != nil {
		t.Fatal(err)
	}
	cursor := v.elems[0].text
	if cursor == "0" {
		t.Fatalf("SCAN 0 COUNT 1 ended the scan: %s", v)
	}
	if got := b.do("SCAN", cursor, "COUNT", "1"); got != "-ERR invalid cursor (unknown or expired)" {
		t.Fatalf("db 0's cursor in db 1: %s", got)
	}
	b.do("SELECT", "0")
	if got := b.do("SCAN", cursor, "COUNT", "1"); !strings.HasSuffix(got, `["k2"]]`) {
		t.Fatalf("db 0's cursor on another connection in db 0: %s", got)
	}
}

// TestKeyspacesCommand: KEYSPACES lists every keyspace holding data once,
// cursor by cursor, with MATCH filtering the names.
func TestKeyspacesCommand(t *testing.T) {
	s := startServer(t)
	c := dialRaw(t, s.Addr)
	want := map[string]bool{"0": true}
	c.do("SET", "a", "1")
	for i := 0; i < 25; i++ {
		name := "tenant-" + strconv.Itoa(i)
		c.do("SELECT", name)
		c.do("SET", "k", "v")
		want[name] = true
	}
	c.do("SELECT", "empty") // opened, never written: holds nothing
	got := map[string]bool{}
	cursor := "0"
	for rounds := 0; ; rounds++ {
		c.send("KEYSPACES", cursor, "COUNT", "10")
		v, err := psReadValue(c.rd)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range v.elems[1].elems {
			if got[e.text] {
				t.Fatalf("keyspace %s listed twice", e.text)
			}
			got[e.text] = true
		}
		if cursor = v.elems[0].text; cursor == "0" {
			break
		}
		if rounds > 10 {
			t.Fatal("KEYSPACES does not end")
		}
	}
	if len(got) != len(want) {
		t.Fatalf("KEYSPACES listed %v, want %v", got, want)
	}
	for n := range want {
		if !got[n] {
			t.Fatalf("KEYSPACES missed %s", n)
		}
	}
	if r := c.do("KEYSPACES", "0", "MATCH", "tenant-1?", "COUNT", "100"); !strings.HasPrefix(r, `["0", [`) || strings.Count(r, "tenant-1") != 10 {
		t.Fatalf("KEYSPACES 0 MATCH tenant-1? COUNT 100: %s", r)
	}
}

// TestRepliesWaitForPubSubFlush: while a flusher is stuck writing a pub/sub
// message to a client that does not read, the client's own replies do not
// pile up in the server: it stops taking its requests instead.
func TestRepliesWaitForPubSubFlush(t *testing.T) {
	s := startServer(t, "--client-output-buffer-limit", "pubsub 0 0 0")
	nc := psDialStalled(t, s.Addr, []string{"SUBSCRIBE", "ch"})
	pub := s.client(t, nil)
	ctx := context.Background()
	// A big message: the flusher blocks writing it to the full socket.
	psPollInt(t, "subscribers of ch", func() (int64, error) {
		m, err := pub.PubSubNumSub(ctx, "ch").Result()
		return m["ch"], err
	}, func(n int64) bool { return n == 1 })
	if err := pub.Publish(ctx, "ch", strings.Repeat("m", 8<<20)).Err(); err != nil {
		t.Fatal(err)
	}
	before, err := psRSS(s.cmd.Process.Pid, "VmRSS")
	if err != nil {
		t.Fatal(err)
	}
	// 256 MiB of PING replies, sent until the server stops reading.
	ping := encodeCommand(nil, "PING", strings.Repeat("p", 1<<20))
	sent := 0
	nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	for ; sent < 256; sent++ {
		if _, err := nc.Write(ping); err != nil {
			break
		}
	}
	after, err := psRSS(s.cmd.Process.Pid, "VmRSS")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d MiB of PINGs taken; server RSS %d → %d MiB", sent, before>>10, after>>10)
	if grown := (after - before) >> 10; grown > 64 {
		t.Fatalf("the server's RSS grew by %d MiB while its replies could not be written", grown)
	}
}

// TestEvictedKeyspaceEvents: a keyspace dropped from memory as idle still
// delivers its events to a subscription made meanwhile, with its batch
// numbers going on.
func TestEvictedKeyspaceEvents(t *testing.T) {
	s := startServer(t, "--fsync", "never")
	c := dialRaw(t, s.Addr)
	var b []byte
	const n = 5000 // several sweeps: tenant-5 is idle long before the end
	for i := 0; i < n; i++ {
		b = encodeCommand(b, "SELECT", "tenant-"+strconv.Itoa(i))
		b = encodeCommand(b, "SET", "k", "v")
	}
	c.nc.Write(b)
	for i := 0; i < 2*n; i++ {
		if r := c.read(); r != "+OK" {
			t.Fatalf("reply %d: %s", i, r)
		}
	}
	sub := dialRaw(t, s.Addr)
	if r := sub.do("SUBSCRIBE", "__mutex@tenant-5__:flushed"); r != `["subscribe", "__mutex@tenant-5__:flushed", :1]` {
		t.Fatal(r)
	}
	w := dialRaw(t, s.Addr)
	w.do("SELECT", "tenant-5")
	if r := w.do("SET", "k", "w"); r != "+OK" {
		t.Fatal(r)
	}
	v, err := psReadValue(sub.rd)
	if err != nil {
		t.Fatal(err)
	}
	if ks, batch := flushedBatch(t, v.elems[2].text); ks != "tenant-5" || batch != 2 {
		t.Fatalf("flushed event %s, want tenant-5 batch 2", v)
	}
	if r := w.do("GET", "k"); r != `"w"` {
		t.Fatalf("GET k in tenant-5: %s", r)
	}
}
