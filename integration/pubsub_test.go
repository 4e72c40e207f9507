package integration

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// ---- raw RESP values, for comparisons where order is unspecified ----

// psValue is one parsed RESP2 reply.
type psValue struct {
	kind  byte // '+', '-', ':', '$', '*'
	text  string
	null  bool
	elems []psValue
}

func psReadValue(rd *bufio.Reader) (psValue, error) {
	line, err := readLine(rd)
	if err != nil {
		return psValue{}, err
	}
	if line == "" {
		return psValue{}, fmt.Errorf("empty reply line")
	}
	v := psValue{kind: line[0]}
	switch line[0] {
	case '+', '-', ':':
		v.text = line[1:]
		return v, nil
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return v, fmt.Errorf("bad bulk length %q", line)
		}
		if n < 0 {
			v.null = true
			return v, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return v, err
		}
		v.text = string(buf[:n])
		return v, nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return v, fmt.Errorf("bad array length %q", line)
		}
		if n < 0 {
			v.null = true
			return v, nil
		}
		v.elems = make([]psValue, n)
		for i := range v.elems {
			if v.elems[i], err = psReadValue(rd); err != nil {
				return v, err
			}
		}
		return v, nil
	}
	return v, fmt.Errorf("unexpected reply line %q", line)
}

// String renders v as readReply does.
func (v psValue) String() string {
	switch v.kind {
	case '+', '-', ':':
		return string(v.kind) + v.text
	case '$':
		if v.null {
			return "(nil)"
		}
		return strconv.Quote(v.text)
	case '*':
		if v.null {
			return "(nil-array)"
		}
		parts := make([]string, len(v.elems))
		for i, e := range v.elems {
			parts[i] = e.String()
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return "?"
}

// psSortedElems renders an array with its elements sorted (PUBSUB CHANNELS).
func psSortedElems(v psValue) string {
	if v.kind != '*' || v.null {
		return v.String()
	}
	parts := make([]string, len(v.elems))
	for i, e := range v.elems {
		parts[i] = e.String()
	}
	sort.Strings(parts)
	return "sorted[" + strings.Join(parts, ", ") + "]"
}

func psReadOn(t testing.TB, c *rconn) psValue {
	t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	v, err := psReadValue(c.rd)
	if err != nil {
		t.Fatalf("read reply from %s: %v", c.nc.RemoteAddr(), err)
	}
	return v
}

// psNorm is how a step's replies are rendered for comparison.
type psNorm int

const (
	psAsIs       psNorm = iota // in order, as sent
	psAnyOrder                 // the replies as a set (pushes of one PUBLISH)
	psElemsOrder               // one array whose element order is unspecified
	psUnsubAll                 // (P)UNSUBSCRIBE without arguments: names in any order, counts in order
)

// psStep is one command sent on one of the script's connections, or (args
// nil) only reads of pushed messages.
type psStep struct {
	conn int
	args []string
	n    int
	norm psNorm
}

func psDo(conn int, args ...string) psStep { return psStep{conn: conn, args: args, n: 1} }

// psPush reads n pushed messages on conn, in any order.
func psPush(conn, n int) psStep { return psStep{conn: conn, n: n, norm: psAnyOrder} }

func (s psStep) times(n int) psStep     { s.n = n; return s }
func (s psStep) normed(m psNorm) psStep { s.norm = m; return s }

func psRender(vs []psValue, norm psNorm) string {
	switch norm {
	case psAnyOrder:
		parts := make([]string, len(vs))
		for i, v := range vs {
			parts[i] = v.String()
		}
		sort.Strings(parts)
		return strings.Join(parts, " ")
	case psElemsOrder:
		parts := make([]string, len(vs))
		for i, v := range vs {
			parts[i] = psSortedElems(v)
		}
		return strings.Join(parts, " ")
	case psUnsubAll:
		var names, rest []string
		for _, v := range vs {
			if v.kind == '*' && len(v.elems) == 3 {
				names = append(names, v.elems[1].String())
				rest = append(rest, v.elems[0].String()+"/"+v.elems[2].String())
			} else {
				rest = append(rest, v.String())
			}
		}
		sort.Strings(names)
		return fmt.Sprintf("names %v replies %v", names, rest)
	}
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.String()
	}
	return strings.Join(parts, " ")
}

// psPair is the same script's connections to mutexredis and to Redis.
type psPair struct {
	t             *testing.T
	mine, theirs  []*rconn
	closed        []bool
	stepsCompared int
}

func newPSPair(t *testing.T, maddr, raddr string, conns int) *psPair {
	p := &psPair{t: t, closed: make([]bool, conns)}
	for i := 0; i < conns; i++ {
		p.mine = append(p.mine, dialRaw(t, maddr))
		p.theirs = append(p.theirs, dialRaw(t, raddr))
	}
	return p
}

// run sends each step to both servers and compares the rendered replies.
func (p *psPair) run(steps ...psStep) {
	p.t.Helper()
	for _, st := range steps {
		if st.args != nil {
			p.mine[st.conn].send(st.args...)
			p.theirs[st.conn].send(st.args...)
		}
		var mv, tv []psValue
		for i := 0; i < st.n; i++ {
			mv = append(mv, psReadOn(p.t, p.mine[st.conn]))
			tv = append(tv, psReadOn(p.t, p.theirs[st.conn]))
		}
		got, want := psRender(mv, st.norm), psRender(tv, st.norm)
		p.stepsCompared++
		if got != want {
			what := fmt.Sprintf("conn %d %q", st.conn, st.args)
			if st.args == nil {
				what = fmt.Sprintf("conn %d: %d pushed messages", st.conn, st.n)
			}
			p.t.Errorf("%s:\n mutexredis: %s\n redis:      %s", what, got, want)
		}
	}
}

// quiet checks that no connection has anything more pending: a PING gets
// the same reply on both, not a stray message.
func (p *psPair) quiet() {
	p.t.Helper()
	for i := range p.mine {
		if !p.closed[i] {
			p.run(psDo(i, "PING", "quiet-check"))
		}
	}
}

// psWaitRedisQuiet waits until the shared redis-server has no pattern
// subscription and no channel starting with prefix (a connection of an
// earlier test may still be closing), so that global counts compare.
func psWaitRedisQuiet(t *testing.T, raddr, prefix string) {
	t.Helper()
	c := dialRaw(t, raddr)
	deadline := time.Now().Add(10 * time.Second)
	for {
		numpat := c.do("PUBSUB", "NUMPAT")
		chans := c.do("PUBSUB", "CHANNELS", prefix+"*")
		if numpat == ":0" && chans == "[]" {
			return
		}
		if time.Now().After(deadline) {
			t.Skipf("the shared redis-server is busy with other subscriptions (NUMPAT %s, channels %s)", numpat, chans)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// TestPubSubLikeRedis runs subscription scripts on several connections to
// mutexredis and to a real redis-server and compares every raw reply and
// pushed message. It does not run in parallel: PUBSUB NUMPAT and CHANNELS
// are global to the shared redis-server.
func TestPubSubLikeRedis(t *testing.T) {
	raddr := realRedis(t)
	s := startServer(t)
	psWaitRedisQuiet(t, raddr, "pst.")
	const A, B, C, P, D, E = 0, 1, 2, 3, 4, 5
	p := newPSPair(t, s.Addr, raddr, 6)
	t.Logf("mutexredis on %s, redis-server on %s", s.Addr, raddr)

	p.run(
		psDo(P, "PUBSUB", "NUMPAT"),
		psDo(P, "PUBSUB", "CHANNELS", "pst.*"),
		psDo(P, "PUBLISH", "pst.news.a", "nobody"),
		// A: a channel and a pattern that both match pst.news.a.
		psDo(A, "SUBSCRIBE", "pst.news.a", "pst.sport").times(2),
		psDo(A, "PSUBSCRIBE", "pst.news.*").times(1),
		psDo(A, "SUBSCRIBE", "pst.news.a").times(1), // again: the count does not change
		psDo(A, "PSUBSCRIBE", "pst.news.*").times(1),
		// B: two patterns that both match pst.news.a.
		psDo(B, "PSUBSCRIBE", "pst.n*", "pst.news.?").times(2),
		psDo(C, "SUBSCRIBE", "pst.news.a").times(1),
		// 2 for A (message + pmessage), 2 for B (two pmessages), 1 for C.
		psDo(P, "PUBLISH", "pst.news.a", "hello"),
		psPush(A, 2), psPush(B, 2), psPush(C, 1),
		psDo(P, "PUBLISH", "pst.news.ab", "x"), // A's pattern, B's pst.n*
		psPush(A, 1), psPush(B, 1),
		psDo(P, "PUBLISH", "pst.sport", "goal"),
		psPush(A, 1),
		psDo(P, "PUBLISH", "pst.n", "short"), // pst.n* only
		psPush(B, 1),
		psDo(P, "PUBLISH", "pst.other", "none"),
		psDo(P, "PUBLISH", "pst.news.a", "bin\x00\xff\r\n"),
		psPush(A, 2), psPush(B, 2), psPush(C, 1),

		// Introspection.
		psDo(P, "PUBSUB", "CHANNELS", "pst.*").normed(psElemsOrder),
		psDo(P, "PUBSUB", "CHANNELS", "pst.news.?").normed(psElemsOrder),
		psDo(P, "PUBSUB", "CHANNELS", "*sport").normed(psElemsOrder),
		psDo(P, "PUBSUB", "CHANNELS", "pst.[ns]*").normed(psElemsOrder),
		psDo(P, "PUBSUB", "CHANNELS", "nomatch*"),
		psDo(P, "PUBSUB", "NUMSUB", "pst.news.a", "pst.sport", "pst.none", "pst.news.*"),
		psDo(P, "PUBSUB", "NUMSUB"),
		psDo(P, "PUBSUB", "NUMPAT"),
		psDo(P, "pubsub", "numpat"),
		psDo(P, "PUBSUB", "CHANNELS", "a", "b"),
		psDo(P, "PUBSUB", "NUMPAT", "x"),
		psDo(P, "PUBSUB", "NOSUCH"),
		psDo(P, "PUBSUB"),

		// Subscribed mode: PING, and Redis's error for everything else.
		psDo(A, "PING"),
		psDo(A, "PING", "hi there"),
		psDo(A, "ping", ""),
		psDo(A, "PING", "a", "b"),
		psDo(A, "GET", "pst.k"),
		psDo(A, "gEt", "pst.k"),
		psDo(A, "SET", "pst.k", "1"),
		psDo(A, "PUBLISH", "pst.news.a", "from a subscriber"),
		psDo(A, "PUBSUB", "NUMPAT"),
		psDo(A, "SELECT", "1"),
		psDo(A, "MULTI"),
		psDo(A, "ECHO", "x"),
		psDo(A, "CONFIG", "GET", "port"),
		psDo(A, "AUTH", "x"),
		psDo(A, "CLIENT", "ID"),
		psDo(A, "CONFIG", "NOSUCH"),
		psDo(A, "CLIENT", "NOSUCH"),
		psDo(A, "PUBSUB", "NOSUCH"),
		psDo(A, "CONFIG"),
		psDo(A, "NOSUCHCOMMAND", "x"),
		psDo(A, "GET"),
		// Nothing of the above was executed: PUBLISH from A reached nobody.
		psDo(P, "PUBSUB", "NUMSUB", "pst.news.a"),

		// UNSUBSCRIBE / PUNSUBSCRIBE with and without arguments.
		psDo(A, "UNSUBSCRIBE", "pst.sport").times(1),
		psDo(A, "UNSUBSCRIBE", "pst.nosub").times(1),
		psDo(A, "UNSUBSCRIBE", "pst.x", "pst.news.a").times(2),
		psDo(A, "UNSUBSCRIBE").times(1), // none left: [unsubscribe, nil, 1]
		psDo(A, "PUNSUBSCRIBE", "pst.nopat").times(1),
		psDo(A, "PUNSUBSCRIBE").times(1), // the last one: count 0, out of subscribed mode
		psDo(A, "PUNSUBSCRIBE").times(1), // [punsubscribe, nil, 0]
		psDo(A, "UNSUBSCRIBE").times(1),
		psDo(A, "PING"), // +PONG again
		psDo(A, "GET", "pst.k"),

		psDo(B, "SUBSCRIBE", "pst.c1", "pst.c2", "pst.c3").times(3),
		psDo(B, "PUNSUBSCRIBE").times(2).normed(psUnsubAll),
		psDo(B, "PUBSUB", "NUMPAT").times(1), // B is still subscribed: an error
		psDo(P, "PUBSUB", "NUMPAT"),
		psDo(P, "PUBSUB", "CHANNELS", "pst.*").normed(psElemsOrder),
		psDo(B, "UNSUBSCRIBE").times(3).normed(psUnsubAll),
		psDo(B, "PING"),

		// RESET in subscribed mode: +RESET, no unsubscribe messages, and
		// the subscriptions are gone.
		psDo(C, "PSUBSCRIBE", "pst.r*").times(1),
		psDo(C, "RESET"),
		psDo(C, "PING"),
		psDo(P, "PUBSUB", "NUMSUB", "pst.news.a"),
		psDo(P, "PUBSUB", "NUMPAT"),
		psDo(P, "PUBLISH", "pst.news.a", "after reset"),
		psDo(C, "SUBSCRIBE", "pst.again").times(1), // a reset connection can subscribe again
		psDo(P, "PUBLISH", "pst.again", "m"),
		psPush(C, 1),
		psDo(C, "RESET"),

		// QUIT in subscribed mode: +OK, then the connection closes.
		psDo(D, "SUBSCRIBE", "pst.q").times(1),
		psDo(D, "QUIT"),

		// Many channels in one SUBSCRIBE, then UNSUBSCRIBE of all.
		psDo(E, "SUBSCRIBE", "pst.m1", "pst.m2", "pst.m3", "pst.m4", "pst.m5").times(5),
		psDo(E, "PSUBSCRIBE", "pst.m*", "pst.*1").times(2),
		psDo(P, "PUBLISH", "pst.m1", "x"),
		psPush(E, 3),
		psDo(E, "UNSUBSCRIBE").times(5).normed(psUnsubAll),
		psDo(E, "PUNSUBSCRIBE").times(2).normed(psUnsubAll),
	)
	for _, side := range [][]*rconn{p.mine, p.theirs} {
		side[D].expectClosed()
	}
	p.closed[D] = true
	p.quiet()
	t.Logf("%d steps compared", p.stepsCompared)

	// mutexredis's own commands are refused in subscribed mode too.
	own := dialRaw(t, s.Addr)
	if got := own.do("SUBSCRIBE", "pst.own"); got != `["subscribe", "pst.own", :1]` {
		t.Fatalf("SUBSCRIBE: %s", got)
	}
	for _, name := range []string{"AFTERWRITE", "PEEKFIRST", "peeklast"} {
		want := "-ERR Can't execute '" + strings.ToLower(name) + "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
		if got := own.do(name); got != want {
			t.Errorf("%s in subscribed mode: %s, want %s", name, got, want)
		}
	}
}

// TestPubSubGlobLikeRedis compares Redis glob patterns, in PSUBSCRIBE and
// in PUBSUB CHANNELS, with a real redis-server.
func TestPubSubGlobLikeRedis(t *testing.T) {
	raddr := realRedis(t)
	s := startServer(t)
	psWaitRedisQuiet(t, raddr, "pst.")
	patterns := []string{
		"pst.g?", "pst.g[abc]", "pst.g[^a]", "pst.g[a-c]x", "pst.g[c-a]", "pst.g\\*", "pst.g\\?",
		"pst.g[\\]]", "pst.g[abc", "pst.g\\", "pst.g**x", "pst.g*[0-9]", "pst.g[]", "pst.g[^]",
		"pst.g[a-]", "pst.g[-a]", "pst.g?\\[*", "pst.g[\\^]", "pst.g[^a-c]x", "pst.*", "*", "pst.g",
		"pst.g*b*", "pst.g\\a", "pst.G?", "pst.g[",
	}
	channels := []string{
		"pst.ga", "pst.gb", "pst.gc", "pst.gd", "pst.gax", "pst.gbx", "pst.gdx", "pst.g*", "pst.g?",
		"pst.g]", "pst.gx", "pst.g\\", "pst.g", "pst.gabc", "pst.g[abc", "pst.g^", "pst.g-", "pst.g9",
		"pst.gab9", "pst.g_", "pst.gA", "pst.gab", "pst.g[x", "pst.g?[", "pst.gaxb", "pst.g[",
	}
	const S, Q, P = 0, 1, 2
	p := newPSPair(t, s.Addr, raddr, 3)
	p.run(psDo(S, append([]string{"SUBSCRIBE"}, channels...)...).times(len(channels)))
	for _, pat := range patterns {
		p.run(psDo(P, "PUBSUB", "CHANNELS", pat).normed(psElemsOrder))
	}
	p.run(psDo(S, "UNSUBSCRIBE").times(len(channels)).normed(psUnsubAll))
	p.run(psDo(Q, append([]string{"PSUBSCRIBE"}, patterns...)...).times(len(patterns)))
	for _, ch := range channels {
		// The number of receivers is compared, then that many pmessages.
		p.mine[P].send("PUBLISH", ch, "m")
		p.theirs[P].send("PUBLISH", ch, "m")
		mv, tv := psReadOn(t, p.mine[P]), psReadOn(t, p.theirs[P])
		if mv.String() != tv.String() {
			t.Errorf("PUBLISH %q: mutexredis %s, redis %s", ch, mv, tv)
		}
		mn, _ := strconv.Atoi(mv.text)
		tn, _ := strconv.Atoi(tv.text)
		var mp, tp []psValue
		for i := 0; i < mn; i++ {
			mp = append(mp, psReadOn(t, p.mine[Q]))
		}
		for i := 0; i < tn; i++ {
			tp = append(tp, psReadOn(t, p.theirs[Q]))
		}
		if got, want := psRender(mp, psAnyOrder), psRender(tp, psAnyOrder); got != want {
			t.Errorf("PUBLISH %q, messages:\n mutexredis: %s\n redis:      %s", ch, got, want)
		}
	}
	p.run(psDo(Q, "PUNSUBSCRIBE").times(len(patterns)).normed(psUnsubAll))
	p.quiet()
}

// ---- the change feed ----

// psFeedOp is one op of a writes payload (PRODUCT §5).
type psFeedOp struct {
	Op       string  `json:"op"`
	Key      *string `json:"key"`
	KeyB64   *string `json:"key_b64"`
	Value    *string `json:"value"`
	ValueB64 *string `json:"value_b64"`
}

type psFeedEvent struct {
	Keyspace string     `json:"keyspace"`
	Batch    *uint64    `json:"batch"`
	Ops      []psFeedOp `json:"ops"`
	Count    *int       `json:"count"`
	Error    *string    `json:"error"`
}

// bytesField decodes name or name_b64 (exactly one must be present).
func psBytesField(t *testing.T, plain, b64 *string, what string) (string, bool) {
	t.Helper()
	switch {
	case plain != nil && b64 == nil:
		return *plain, true
	case plain == nil && b64 != nil:
		b, err := base64.StdEncoding.DecodeString(*b64)
		if err != nil {
			t.Errorf("%s_b64 %q: %v", what, *b64, err)
			return "", false
		}
		if utf8.Valid(b) {
			t.Errorf("%s_b64 used for valid UTF-8 %q", what, b)
		}
		return string(b), true
	}
	t.Errorf("op needs exactly one of %s and %s_b64", what, what)
	return "", false
}

// psRecorder records every message of a go-redis subscription.
type psRecorder struct {
	mu   sync.Mutex
	msgs []*redis.Message
	err  error
	done chan struct{}
}

func psRecord(t *testing.T, c *redis.Client, channels ...string) *psRecorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ps := c.Subscribe(ctx, channels...)
	for range channels {
		if _, err := ps.Receive(ctx); err != nil {
			t.Fatalf("SUBSCRIBE %v: %v", channels, err)
		}
	}
	r := &psRecorder{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			m, err := ps.ReceiveMessage(ctx)
			if err != nil {
				r.mu.Lock()
				r.err = err
				r.mu.Unlock()
				return
			}
			r.mu.Lock()
			r.msgs = append(r.msgs, m)
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); ps.Close(); <-r.done })
	return r
}

func (r *psRecorder) snapshot() []*redis.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*redis.Message(nil), r.msgs...)
}

// psWaitFlushed polls until the recorded feed has the flushed event of
// batch (or a later one).
func psWaitFlushed(t *testing.T, r *psRecorder, channel string, batch uint64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		msgs := r.snapshot()
		for i := len(msgs) - 1; i >= 0; i-- {
			if msgs[i].Channel == channel {
				if n, ok := psBatchOf(msgs[i].Payload); ok && n >= batch {
					return
				}
				break
			}
		}
		if time.Now().After(deadline) {
			r.mu.Lock()
			err := r.err
			r.mu.Unlock()
			t.Fatalf("the subscriber never saw %s for batch %d (%d messages recorded, receive error %v)", channel, batch, len(msgs), err)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// psBatchOf finds "batch":N in a payload without decoding all of it.
func psBatchOf(payload string) (uint64, bool) {
	i := strings.Index(payload, `"batch":`)
	if i < 0 {
		return 0, false
	}
	rest := payload[i+len(`"batch":`):]
	j := strings.IndexAny(rest, ",}")
	if j < 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(rest[:j], 10, 64)
	return n, err == nil
}

// psReadKeyspace reads a whole keyspace with PEEKFIRST.
func psReadKeyspace(t *testing.T, c *redis.Client) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	from := "-"
	for {
		kv, err := c.Do(ctx, "PEEKFIRST", from, "+").StringSlice()
		if errors.Is(err, redis.Nil) {
			return out
		}
		if err != nil || len(kv) != 2 {
			t.Fatalf("PEEKFIRST %q +: %v %v", from, kv, err)
		}
		if _, dup := out[kv[0]]; dup {
			t.Fatalf("PEEKFIRST returned %q twice", kv[0])
		}
		out[kv[0]] = kv[1]
		from = "(" + kv[0]
	}
}

// TestChangeFeedReplay: while many clients write concurrently (SET, DEL,
// INCR, MSET, MULTI/EXEC, FLUSHDB, binary keys and values), a subscriber
// to __mutex@0__:writes and :flushed records the feed. The flushed batch
// numbers are 1…AFTERWRITE with no gap or duplicate, each batch's writes
// comes before its flushed, and replaying the ops reproduces the keyspace.
func TestChangeFeedReplay(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	const writesCh, flushedCh = "__mutex@0__:writes", "__mutex@0__:flushed"
	rec := psRecord(t, s.client(t, nil), writesCh, flushedCh)
	wc := s.client(t, &redis.Options{PoolSize: 20})

	keys := []string{"\xff\xfebin", "nul\x00key", "\xc3\x28", "é-utf8", "quote\"\\"}
	for i := 0; i < 20; i++ {
		keys = append(keys, fmt.Sprintf("rk:%02d", i))
	}
	counters := []string{"rc:0", "rc:1", "rc:2", "rc:3", "\xfe-counter"}
	const writers, perWriter = 16, 125
	var commands atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rnd := rand.New(rand.NewSource(int64(w) + 1))
			key := func() string { return keys[rnd.Intn(len(keys))] }
			val := func() string {
				switch rnd.Intn(5) {
				case 0:
					return string([]byte{0xff, byte(rnd.Intn(256)), 0x80, byte(w)})
				case 1:
					return ""
				case 2:
					return fmt.Sprintf("v\x00%d\n\"é", rnd.Intn(1000))
				}
				return fmt.Sprintf("w%d-%d", w, rnd.Intn(1000000))
			}
			for i := 0; i < perWriter; i++ {
				var err error
				switch r := rnd.Intn(100); {
				case w == 7 && i == perWriter/2:
					err = wc.FlushDB(ctx).Err()
				case r < 35:
					err = wc.Set(ctx, key(), val(), 0).Err()
				case r < 50:
					err = wc.Del(ctx, key(), key()).Err()
				case r < 68:
					err = wc.Incr(ctx, counters[rnd.Intn(len(counters))]).Err()
					if err != nil && strings.Contains(err.Error(), "not an integer") {
						err = nil // a counter that a SET made binary
					}
				case r < 84:
					err = wc.MSet(ctx, key(), val(), key(), val(), counters[rnd.Intn(len(counters))], val()).Err()
				default:
					_, err = wc.TxPipelined(ctx, func(p redis.Pipeliner) error {
						p.Set(ctx, key(), val(), 0)
						p.Incr(ctx, counters[rnd.Intn(len(counters))])
						p.Del(ctx, key())
						p.SetNX(ctx, key(), val(), 0)
						p.Do(ctx, "SET", key(), val(), "XX")
						return nil
					})
					if err != nil && strings.Contains(err.Error(), "not an integer") {
						err = nil // one command of the transaction failed, as in Redis
					}
				}
				if err != nil && !errors.Is(err, redis.Nil) {
					errs <- fmt.Errorf("writer %d: %v", w, err)
					return
				}
				commands.Add(1)
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	last := uint64(afterwrite(t, wc))
	psWaitFlushed(t, rec, flushedCh, last)
	state := psReadKeyspace(t, wc)

	// Check the feed.
	msgs := rec.snapshot()
	writesAt := map[uint64]int{}
	ops := map[uint64][]psFeedOp{}
	flushed := map[uint64]psFeedEvent{}
	var flushedOrder []uint64
	for i, m := range msgs {
		dec := json.NewDecoder(strings.NewReader(m.Payload))
		dec.DisallowUnknownFields()
		var e psFeedEvent
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("payload on %s is not PRODUCT §5 JSON: %v\n%q", m.Channel, err, m.Payload)
		}
		if e.Keyspace != "0" || e.Batch == nil {
			t.Fatalf("payload on %s: keyspace %q batch %v", m.Channel, e.Keyspace, e.Batch)
		}
		b := *e.Batch
		switch m.Channel {
		case writesCh:
			if _, dup := writesAt[b]; dup {
				t.Errorf("writes of batch %d received twice", b)
			}
			if e.Count != nil || e.Ops == nil {
				t.Errorf("writes payload with count or without ops: %s", m.Payload)
			}
			writesAt[b] = i
			ops[b] = e.Ops
		case flushedCh:
			if _, dup := flushed[b]; dup {
				t.Errorf("flushed of batch %d received twice", b)
			}
			if e.Count == nil || e.Ops != nil {
				t.Errorf("flushed payload without count or with ops: %s", m.Payload)
			}
			flushed[b] = e
			flushedOrder = append(flushedOrder, b)
			at, ok := writesAt[b]
			if !ok || at > i {
				t.Errorf("flushed of batch %d came before (or without) its writes", b)
			} else if *e.Count != len(ops[b]) {
				t.Errorf("batch %d: flushed count %d, writes has %d ops", b, *e.Count, len(ops[b]))
			}
		default:
			t.Errorf("message on unexpected channel %s", m.Channel)
		}
	}
	for i, b := range flushedOrder {
		if b != uint64(i)+1 {
			t.Fatalf("flushed batches not consecutive from 1: position %d has batch %d (%v…)", i, b, flushedOrder[:min(len(flushedOrder), i+3)])
		}
	}
	if uint64(len(flushedOrder)) != last {
		t.Fatalf("flushed batches 1…%d received, AFTERWRITE says %d", len(flushedOrder), last)
	}
	// Replay.
	replay := map[string]string{}
	var nops, nbin, failed int
	for b := uint64(1); b <= last; b++ {
		if flushed[b].Error != nil {
			failed++
			continue
		}
		for _, op := range ops[b] {
			nops++
			if op.KeyB64 != nil || op.ValueB64 != nil {
				nbin++
			}
			switch op.Op {
			case "set":
				k, ok1 := psBytesField(t, op.Key, op.KeyB64, "key")
				v, ok2 := psBytesField(t, op.Value, op.ValueB64, "value")
				if ok1 && ok2 {
					replay[k] = v
				}
			case "del":
				if k, ok := psBytesField(t, op.Key, op.KeyB64, "key"); ok {
					delete(replay, k)
				}
				if op.Value != nil || op.ValueB64 != nil {
					t.Errorf("del op with a value: %+v", op)
				}
			case "flushdb":
				clear(replay)
			default:
				t.Errorf("unknown write op %q", op.Op)
			}
		}
	}
	var diffs []string
	for k, v := range state {
		if rv, ok := replay[k]; !ok || rv != v {
			diffs = append(diffs, fmt.Sprintf("key %q: keyspace %q, replay %q (present %v)", k, v, rv, ok))
		}
	}
	for k, v := range replay {
		if _, ok := state[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("key %q: not in the keyspace, replay %q", k, v))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("replaying the feed does not reproduce the keyspace (%d differences):\n%s", len(diffs), strings.Join(diffs[:min(len(diffs), 20)], "\n"))
	}
	if nbin == 0 {
		t.Errorf("no key_b64/value_b64 op in the feed: binary data was not exercised")
	}
	t.Logf("%d commands by %d writers → %d batches, %d ops (%d with _b64), %d failed batches; final keyspace %d keys",
		commands.Load(), writers, last, nops, nbin, failed, len(state))
}

// ---- output buffer limits ----

// psRSS reads a /proc/<pid>/status field in kB (VmRSS, VmHWM).
func psRSS(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// psDialStalled opens a connection with a tiny receive buffer that
// subscribes and then never reads.
func psDialStalled(t *testing.T, addr string, cmds ...[]string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	var b []byte
	for _, c := range cmds {
		b = encodeCommand(b, c...)
	}
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	return nc
}

// psPollInt polls an integer reply until ok(n), or fails after 30s.
func psPollInt(t *testing.T, what string, get func() (int64, error), ok func(int64) bool) int64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := get()
		if err == nil && ok(n) {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %d (%v) after 30s", what, n, err)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// psFeedCounter follows __mutex@0__:writes and :flushed with go-redis,
// cheaply (no JSON decoding), so it keeps up with large batches.
type psFeedCounter struct {
	mu       sync.Mutex
	flushed  []uint64
	writes   []uint64
	ops      int
	bytes    int64
	err      error
	done     chan struct{}
	lastSeen atomic.Uint64
}

func psCountFeed(t *testing.T, c *redis.Client) *psFeedCounter {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ps := c.Subscribe(ctx, "__mutex@0__:writes", "__mutex@0__:flushed")
	for i := 0; i < 2; i++ {
		if _, err := ps.Receive(ctx); err != nil {
			t.Fatal(err)
		}
	}
	f := &psFeedCounter{done: make(chan struct{})}
	go func() {
		defer close(f.done)
		for {
			m, err := ps.ReceiveMessage(ctx)
			if err != nil {
				f.mu.Lock()
				f.err = err
				f.mu.Unlock()
				return
			}
			b, _ := psBatchOf(m.Payload)
			f.mu.Lock()
			f.bytes += int64(len(m.Payload))
			if strings.HasSuffix(m.Channel, ":writes") {
				f.writes = append(f.writes, b)
				f.ops += strings.Count(m.Payload, `{"op":`)
			} else {
				f.flushed = append(f.flushed, b)
				f.lastSeen.Store(b)
			}
			f.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); ps.Close(); <-f.done })
	return f
}

func (f *psFeedCounter) waitFlushed(t *testing.T, batch uint64) {
	t.Helper()
	psPollInt(t, fmt.Sprintf("the reading subscriber's last flushed batch (want %d)", batch),
		func() (int64, error) { return int64(f.lastSeen.Load()), nil },
		func(n int64) bool { return uint64(n) >= batch })
}

// psBigWrites runs writers pipelines of SETs with valueSize-byte values
// until total value bytes reach budget; it returns the bytes written and
// the time taken.
func psBigWrites(t *testing.T, c *redis.Client, writers, pipeline, valueSize int, budget int64, tag string, progress *atomic.Int64) (int64, int, time.Duration) {
	t.Helper()
	ctx := context.Background()
	var written atomic.Int64
	if progress == nil {
		progress = new(atomic.Int64)
	}
	var sets atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			val := []byte(strings.Repeat(fmt.Sprintf("%s-%d-", tag, w), valueSize)[:valueSize])
			for i := 0; written.Add(int64(pipeline*valueSize)) <= budget; i++ {
				_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
					for j := 0; j < pipeline; j++ {
						val[0] = byte('a' + (i+j)%26)
						p.Set(ctx, fmt.Sprintf("big:%d:%d", w, (i*pipeline+j)%512), val, 0)
					}
					return nil
				})
				if err != nil {
					errs <- fmt.Errorf("writer %d: %v", w, err)
					return
				}
				sets.Add(int64(pipeline))
				progress.Add(int64(pipeline * valueSize))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return sets.Load() * int64(valueSize), int(sets.Load()), elapsed
}

// TestStalledSubscriberIsBounded: a subscriber that never reads (a raw
// connection with a 4 KB receive buffer, subscribed to the writes channel
// and to every channel by pattern) while ≥ 40 MB of events flow is
// disconnected at the configured client-output-buffer-limit; writers keep
// going, the server's memory stays bounded, and a subscriber that reads
// receives every batch.
func TestStalledSubscriberIsBounded(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--client-output-buffer-limit", "pubsub 4mb 1mb 5")
	pid := s.cmd.Process.Pid
	ctx := context.Background()
	c := s.client(t, &redis.Options{PoolSize: 8})
	feed := psCountFeed(t, s.client(t, nil))
	const writers, pipeline, valueSize = 4, 32, 4 << 10 // batches of at most 512 KB of values

	// Without the stalled subscriber.
	baseBytes, baseSets, baseTime := psBigWrites(t, c, writers, pipeline, valueSize, 8<<20, "base", nil)
	rssBefore, err := psRSS(pid, "VmRSS")
	if err != nil {
		t.Fatal(err)
	}

	// The stalled subscriber; its subscriptions are active once NUMSUB and
	// NUMPAT count it (it never reads its confirmations).
	stalled := psDialStalled(t, s.Addr, []string{"SUBSCRIBE", "__mutex@0__:writes"}, []string{"PSUBSCRIBE", "*"})
	psPollInt(t, "NUMSUB __mutex@0__:writes", func() (int64, error) {
		m, err := c.PubSubNumSub(ctx, "__mutex@0__:writes").Result()
		return m["__mutex@0__:writes"], err
	}, func(n int64) bool { return n == 2 })
	psPollInt(t, "NUMPAT", func() (int64, error) { return c.PubSubNumPat(ctx).Result() }, func(n int64) bool { return n == 1 })

	// Sample the server's RSS while ≥ 40 MB of events flow.
	var peak atomic.Int64
	peak.Store(rssBefore)
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if kb, err := psRSS(pid, "VmRSS"); err == nil && kb > peak.Load() {
				peak.Store(kb)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	var droppedAt atomic.Int64 // bytes written when the stalled subscriber was seen gone
	droppedAt.Store(-1)
	watchDone := make(chan struct{})
	var mainBytes atomic.Int64
	go func() {
		defer close(watchDone)
		for {
			n, err := c.PubSubNumPat(ctx).Result()
			if err == nil && n == 0 {
				droppedAt.Store(mainBytes.Load())
				return
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	const budget = 48 << 20
	stallBytes, stallSets, stallTime := psBigWrites(t, c, writers, pipeline, valueSize, budget, "stall", &mainBytes)
	last := uint64(afterwrite(t, c))
	feed.waitFlushed(t, last)
	// The stalled subscriber is gone (NUMPAT counted only it).
	psPollInt(t, "NUMPAT after the flood", func() (int64, error) { return c.PubSubNumPat(ctx).Result() }, func(n int64) bool { return n == 0 })
	close(stopSampling)
	<-sampled
	<-watchDone
	rssAfter, _ := psRSS(pid, "VmRSS")
	hwm, _ := psRSS(pid, "VmHWM")

	// Its connection was closed by the server: reading drains what the
	// kernel buffers held, then ends.
	stalled.SetReadDeadline(time.Now().Add(30 * time.Second))
	drained, err := io.Copy(io.Discard, stalled)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("stalled subscriber: %v after %d bytes (want its connection closed by the server)", err, drained)
	}

	// The reading subscriber got every batch, in order, and every op.
	feed.mu.Lock()
	flushedN, writesN, opsN, feedBytes, ferr := append([]uint64(nil), feed.flushed...), append([]uint64(nil), feed.writes...), feed.ops, feed.bytes, feed.err
	feed.mu.Unlock()
	if ferr != nil && !errors.Is(ferr, context.Canceled) {
		t.Errorf("reading subscriber: %v", ferr)
	}
	for _, seq := range [][]uint64{flushedN, writesN} {
		for i, b := range seq {
			if b != uint64(i)+1 {
				t.Fatalf("the reading subscriber missed batches: position %d has batch %d", i, b)
			}
		}
	}
	if uint64(len(flushedN)) < last || opsN != baseSets+stallSets {
		t.Errorf("the reading subscriber got %d flushed (want %d) and %d ops (want %d SETs)", len(flushedN), last, opsN, baseSets+stallSets)
	}

	const mb = 1 << 20
	growth := (peak.Load() - rssBefore) * 1024
	t.Logf("without the stalled subscriber: %.1f MB of values in %d SETs, %v, %.1f MB/s",
		float64(baseBytes)/mb, baseSets, baseTime.Round(time.Millisecond), float64(baseBytes)/mb/baseTime.Seconds())
	t.Logf("with the stalled subscriber:    %.1f MB of values in %d SETs, %v, %.1f MB/s; it was gone after ≈%.1f MB (%d bytes drained from its socket afterwards)",
		float64(stallBytes)/mb, stallSets, stallTime.Round(time.Millisecond), float64(stallBytes)/mb/stallTime.Seconds(),
		float64(droppedAt.Load())/mb, drained)
	t.Logf("events received by the reading subscriber: %.1f MB, %d batches, %d ops", float64(feedBytes)/mb, len(flushedN), opsN)
	t.Logf("server RSS: before %.1f MB, peak during the flood %.1f MB (+%.1f MB), after %.1f MB, VmHWM %.1f MB",
		float64(rssBefore)/1024, float64(peak.Load())/1024, float64(growth)/mb, float64(rssAfter)/1024, float64(hwm)/1024)

	// Unbounded buffering would keep everything the stalled subscriber is
	// owed: the writes events twice (its channel and its pattern), ≈ 96 MB
	// live. Bounded, it holds a few MB (4 MB pending + the chunk being
	// written). Measured on this flood (peak RSS growth over a run):
	//   without -race: bounded ≈ +45 MB, unbounded ("pubsub 0 0 0") ≈ +365…415 MB;
	//   with -race:    bounded ≈ +100…460 MB (GC garbage of the events and
	//                  the race detector's shadow memory), unbounded ≈ +990…1170 MB.
	// So the bound is what is owed without -race, 7× that with it.
	owed := 2 * stallBytes
	bound := owed
	if raceEnabled {
		bound = 7 * owed
	}
	if growth > bound {
		t.Errorf("server RSS grew by %.1f MB during the flood (bound %.0f MB): the stalled subscriber's output (%.0f MB owed) looks unbounded",
			float64(growth)/mb, float64(bound)/mb, float64(owed)/mb)
	}
}

// TestOutputLimitConfigSet: CONFIG SET client-output-buffer-limit changes
// the pubsub limits of a running server, with Redis's hard and soft
// semantics, and CONFIG GET shows them as Redis does.
func TestOutputLimitConfigSet(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, nil)
	r := dialRaw(t, s.Addr)
	getLimit := func() string {
		v, err := c.ConfigGet(ctx, "client-output-buffer-limit").Result()
		if err != nil {
			t.Fatal(err)
		}
		return v["client-output-buffer-limit"]
	}
	if got := getLimit(); !strings.HasSuffix(got, " pubsub 33554432 8388608 60") || !strings.HasPrefix(got, "normal ") {
		t.Errorf("default client-output-buffer-limit: %q, want Redis's (… pubsub 33554432 8388608 60)", got)
	}
	for _, tc := range [][2]string{
		{"pubsub 4mb 1mb 5", "pubsub 4194304 1048576 5"},
		{"PUBSUB 1k 2kb 0", "pubsub 1000 2048 0"},
		{"normal 0 0 0 pubsub 1gb 1g 7", "pubsub 1073741824 1000000000 7"},
		{"pubsub 1m 0 0", "pubsub 1000000 0 0"},
	} {
		if got := r.do("CONFIG", "SET", "client-output-buffer-limit", tc[0]); got != "+OK" {
			t.Errorf("CONFIG SET client-output-buffer-limit %q: %s", tc[0], got)
		}
		if got := getLimit(); !strings.HasSuffix(got, " "+tc[1]) {
			t.Errorf("after CONFIG SET %q: %q, want … %s", tc[0], got, tc[1])
		}
	}
	// Invalid values: Redis's errors (compared with the real one when it
	// runs; an invalid value changes nothing there), and no change here.
	var theirs *rconn
	if addr := psRealRedisOrEmpty(t); addr != "" {
		theirs = dialRaw(t, addr)
	}
	for _, bad := range []string{"pubsub 1mb", "pubsub 1mb 1mb", "foo 1 1 1", "pubsub x 1 1", "pubsub 1 1 x", "pubsub -1 1 1", "pubsub 1 1 1 normal"} {
		got := r.do("CONFIG", "SET", "client-output-buffer-limit", bad)
		if !strings.HasPrefix(got, "-ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - ") {
			t.Errorf("CONFIG SET client-output-buffer-limit %q: %s", bad, got)
		}
		if theirs != nil {
			if want := theirs.do("CONFIG", "SET", "client-output-buffer-limit", bad); got != want {
				t.Errorf("CONFIG SET client-output-buffer-limit %q:\n mutexredis: %s\n redis:      %s", bad, got, want)
			}
		}
	}
	if got := getLimit(); !strings.HasSuffix(got, " pubsub 1000000 0 0") {
		t.Errorf("an invalid CONFIG SET changed the limit: %q", got)
	}
	// An empty value is accepted by Redis and changes nothing.
	if got := r.do("CONFIG", "SET", "client-output-buffer-limit", ""); got != "+OK" {
		t.Errorf(`CONFIG SET client-output-buffer-limit "": %s, want +OK (as Redis: an empty list of classes changes nothing)`, got)
	}
	if got := getLimit(); !strings.HasSuffix(got, " pubsub 1000000 0 0") {
		t.Errorf(`CONFIG SET client-output-buffer-limit "" changed the limit: %q`, got)
	}

	// The hard limit set at run time (1 MB) applies: a subscriber that
	// never reads is dropped; another one, reading, is not.
	other := c.Subscribe(ctx, "lim.feed")
	defer other.Close()
	if _, err := other.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	otherGot := make(chan int, 1)
	go func() {
		n := 0
		for {
			if _, err := other.ReceiveMessage(ctx); err != nil {
				otherGot <- n
				return
			}
			n++
		}
	}()
	stalled := psDialStalled(t, s.Addr, []string{"SUBSCRIBE", "lim.feed"})
	psPollInt(t, "NUMSUB lim.feed", func() (int64, error) {
		m, err := c.PubSubNumSub(ctx, "lim.feed").Result()
		return m["lim.feed"], err
	}, func(n int64) bool { return n == 2 })
	msg := strings.Repeat("h", 64<<10)
	published := 0
	for ; published < 2000; published++ { // 128 MB at most
		n, err := c.Publish(ctx, "lim.feed", msg).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
	}
	if published == 2000 {
		t.Fatalf("a subscriber that never reads is still subscribed after %d MB with a 1 MB hard limit", published/16)
	}
	stalled.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.Copy(io.Discard, stalled); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("stalled subscriber: %v (want its connection closed)", err)
	}
	t.Logf("hard limit 1 MB: the stalled subscriber was dropped after %d messages of 64 KB", published)

	// The soft limit: over it, the subscriber is kept for soft-seconds,
	// then dropped at the next message.
	if got := r.do("CONFIG", "SET", "client-output-buffer-limit", "pubsub 0 256kb 2"); got != "+OK" {
		t.Fatalf("CONFIG SET: %s", got)
	}
	soft := psDialStalled(t, s.Addr, []string{"SUBSCRIBE", "lim.feed"})
	psPollInt(t, "NUMSUB lim.feed", func() (int64, error) {
		m, err := c.PubSubNumSub(ctx, "lim.feed").Result()
		return m["lim.feed"], err
	}, func(n int64) bool { return n == 2 })
	// Fill the kernel's buffers and pass the soft limit: nothing is
	// dropped at once (no hard limit), but once over the soft limit for
	// 2 s, the subscriber is dropped at the next message.
	start := time.Now()
	var dropped time.Time
	for i := 0; ; i++ {
		n, err := c.Publish(ctx, "lim.feed", msg).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			dropped = time.Now()
			break
		}
		if i > 400 {
			t.Fatalf("a subscriber over the soft limit for a long time is still subscribed")
		}
		if i > 100 {
			time.Sleep(50 * time.Millisecond) // let the soft period pass, publishing now and then
		}
	}
	if dropped.Sub(start) < 2*time.Second {
		t.Errorf("with only a soft limit of 2 s, the subscriber was dropped %v after the first message", dropped.Sub(start))
	}
	soft.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.Copy(io.Discard, soft); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("soft-limited subscriber: %v (want its connection closed)", err)
	}
	t.Logf("soft limit 256 KB for 2 s: dropped %v after the first publish", dropped.Sub(start).Round(time.Millisecond))

	// The reading subscriber was never dropped and got everything.
	if n, _ := c.PubSubNumSub(ctx, "lim.feed").Result(); n["lim.feed"] != 1 {
		t.Errorf("NUMSUB lim.feed = %d, want 1 (the reading subscriber)", n["lim.feed"])
	}
	if n, err := c.Publish(ctx, "lim.feed", "end").Result(); n != 1 || err != nil {
		t.Errorf("PUBLISH to the reading subscriber: %d %v", n, err)
	}
}

// psRealRedisOrEmpty is realRedis without skipping.
func psRealRedisOrEmpty(t *testing.T) string {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Logf("not compared with Redis: %v", err)
		return ""
	}
	return realRedis(t) // the test's own server, alive until the test ends
}

// TestConfigGetGlob: CONFIG GET takes Redis glob patterns, several of them,
// case-insensitively; every parameter named like one of Redis's answers
// for Redis's names too.
// oursAlone are the parameters mutexredis has and Redis does not.
var oursAlone = map[string]bool{"fsync": true, "max-command-args": true, "max-queued-ops": true, "read-cache-size": true, "feed-retention": true, "log-format": true,
	"metrics-addr": true, "checkpoint-dir": true, "checkpoint-keep": true, "cpuprofile": true,
	"node-id": true, "raft-addr": true, "raft-peers": true, "cluster-name": true, "raft-dir": true,
	"raft-snapshot-threshold": true, "raft-trailing-logs": true}

func TestConfigGetGlob(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--notify-keyspace-events", "KEA")
	r := dialRaw(t, s.Addr)
	pairs := func(c *rconn, args ...string) map[string]string {
		t.Helper()
		c.send(append([]string{"CONFIG", "GET"}, args...)...)
		v := psReadOn(t, c)
		if v.kind != '*' || len(v.elems)%2 != 0 {
			t.Fatalf("CONFIG GET %q: %s", args, v)
		}
		out := map[string]string{}
		for i := 0; i < len(v.elems); i += 2 {
			if _, dup := out[v.elems[i].text]; dup {
				t.Errorf("CONFIG GET %q: %q twice", args, v.elems[i].text)
			}
			out[v.elems[i].text] = v.elems[i+1].text
		}
		return out
	}
	names := func(m map[string]string) string {
		var n []string
		for k := range m {
			n = append(n, k)
		}
		sort.Strings(n)
		return strings.Join(n, " ")
	}
	all := pairs(r, "*")
	for _, want := range []string{"bind", "port", "dir", "databases", "maxclients", "notify-keyspace-events",
		"client-output-buffer-limit", "requirepass", "appendonly", "appendfsync", "save", "proto-max-bulk-len", "protected-mode", "tls-port"} {
		if _, ok := all[want]; !ok {
			t.Errorf("CONFIG GET * has no %s (got %s)", want, names(all))
		}
	}
	if all["dir"] != s.Dir || all["port"] != strconv.Itoa(s.Port) || all["notify-keyspace-events"] != "AKE" {
		t.Errorf("CONFIG GET *: dir %q port %q notify-keyspace-events %q", all["dir"], all["port"], all["notify-keyspace-events"])
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"*limit*"}, "client-output-buffer-limit client-query-buffer-limit lua-time-limit"},
		{[]string{"notify*"}, "notify-keyspace-events"},
		{[]string{"*port"}, "port tls-port"},
		{[]string{"?ort"}, "port"},
		{[]string{"[pd]ir"}, "dir"},
		{[]string{"[^p]ort"}, ""},
		{[]string{"DIR"}, "dir"},
		{[]string{"Port", "dir", "*port"}, "dir port tls-port"},
		{[]string{"nosuch*"}, ""},
		{[]string{"data[a-c]ases"}, "databases"},
		{[]string{"append*"}, "appendfsync appendonly"},
		{[]string{"d\\ir"}, "dir"},
	} {
		if got := names(pairs(r, tc.args...)); got != tc.want {
			t.Errorf("CONFIG GET %q: %q, want %q", tc.args, got, tc.want)
		}
	}
	// Against Redis: for each pattern, what mutexredis answers is among
	// what Redis answers (fsync is ours alone), with the same values where
	// both servers' defaults agree.
	raddr := psRealRedisOrEmpty(t)
	if raddr == "" {
		return
	}
	rr := dialRaw(t, raddr)
	for _, pat := range []string{"*", "*limit*", "*port", "?ort", "[pd]ir", "notify*", "d[a-z]tabases", "*max*", "*-*-*", "[^a-m]*"} {
		mine, theirs := pairs(r, pat), pairs(rr, pat)
		for name, v := range mine {
			if oursAlone[name] {
				continue
			}
			rv, ok := theirs[name]
			if !ok {
				t.Errorf("CONFIG GET %q: mutexredis answers %s, Redis does not (Redis: %s)", pat, name, names(theirs))
				continue
			}
			if name == "databases" || name == "maxclients" || name == "save" || name == "proto-max-bulk-len" {
				if v != rv {
					t.Errorf("CONFIG GET %s: mutexredis %q, Redis %q", name, v, rv)
				}
			}
		}
	}
}
