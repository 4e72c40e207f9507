package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// event is a PRODUCT §5 payload.
type event struct {
	Keyspace string   `json:"keyspace"`
	Phase    *uint64  `json:"phase"`
	Batch    *uint64  `json:"batch"`
	Ops      []access `json:"ops"`
	Count    *int     `json:"count"`
	Error    *string  `json:"error"`

	channel string
}

type access struct {
	Op       string `json:"op"`
	Key      string `json:"key,omitempty"`
	KeyB64   string `json:"key_b64,omitempty"`
	Value    string `json:"value,omitempty"`
	ValueB64 string `json:"value_b64,omitempty"`
	Min      string `json:"min,omitempty"`
	Max      string `json:"max,omitempty"`
}

// receiver reads mutex events from a subscription.
type receiver struct {
	t  *testing.T
	ps *redis.PubSub
}

func subscribeEvents(t *testing.T, c *redis.Client, pattern bool, names ...string) *receiver {
	t.Helper()
	ctx := context.Background()
	var ps *redis.PubSub
	if pattern {
		ps = c.PSubscribe(ctx, names...)
	} else {
		ps = c.Subscribe(ctx, names...)
	}
	t.Cleanup(func() { ps.Close() })
	for range names { // wait for every confirmation: the subscriptions are active
		if _, err := ps.Receive(ctx); err != nil {
			t.Fatalf("subscribe %v: %v", names, err)
		}
	}
	return &receiver{t: t, ps: ps}
}

// next returns the next event, strictly parsed.
func (r *receiver) next() event {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := r.ps.ReceiveMessage(ctx)
	if err != nil {
		r.t.Fatalf("no event: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(m.Payload))
	dec.DisallowUnknownFields()
	var e event
	if err := dec.Decode(&e); err != nil {
		r.t.Fatalf("event on %s is not the JSON of PRODUCT §5: %v\n%s", m.Channel, err, m.Payload)
	}
	e.channel = m.Channel
	kind := m.Channel[strings.LastIndexByte(m.Channel, ':')+1:]
	if want := "__mutex@" + e.Keyspace + "__:" + kind; m.Channel != want {
		r.t.Errorf("event for keyspace %q on channel %s", e.Keyspace, m.Channel)
	}
	// The fields each kind has, and only those.
	ok := true
	switch kind {
	case "reads":
		ok = e.Phase != nil && e.Batch == nil && e.Count == nil && e.Ops != nil
	case "writes":
		ok = e.Batch != nil && e.Phase == nil && e.Count == nil && e.Ops != nil
	case "flushed":
		ok = e.Batch != nil && e.Phase == nil && e.Count != nil && e.Ops == nil
	default:
		ok = false
	}
	if !ok {
		r.t.Errorf("event on %s has the wrong fields: %s", m.Channel, m.Payload)
	}
	return e
}

func (e event) kind() string { return e.channel[strings.LastIndexByte(e.channel, ':')+1:] }

func (e event) String() string {
	b, _ := json.Marshal(e)
	return e.channel + " " + string(b)
}

// expectWrite reads the writes then flushed events of one batch.
func (r *receiver) expectWrite(ks string, batch uint64, ops ...access) {
	r.t.Helper()
	w := r.next()
	if w.kind() != "writes" || w.Keyspace != ks || *w.Batch != batch || !reflect.DeepEqual(w.Ops, ops) {
		r.t.Errorf("got %v\nwant writes of keyspace %s batch %d ops %+v", w, ks, batch, ops)
	}
	f := r.next()
	if f.kind() != "flushed" || f.Keyspace != ks || *f.Batch != batch || *f.Count != len(ops) || f.Error != nil {
		r.t.Errorf("got %v\nwant flushed of keyspace %s batch %d count %d", f, ks, batch, len(ops))
	}
}

// expectRead reads one reads event.
func (r *receiver) expectRead(ks string, phase uint64, ops ...access) {
	r.t.Helper()
	e := r.next()
	if e.kind() != "reads" || e.Keyspace != ks || *e.Phase != phase || !reflect.DeepEqual(e.Ops, ops) {
		r.t.Errorf("got %v\nwant reads of keyspace %s phase %d ops %+v", e, ks, phase, ops)
	}
}

func TestEventsPayloads(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := named(t, s, "ev", nil)
	rx := subscribeEvents(t, s.client(t, nil), true, "__mutex@*__:*")

	must := func(err error) {
		t.Helper()
		if err != nil && err != redis.Nil {
			t.Fatal(err)
		}
	}
	must(c.Set(ctx, "a", "1", 0).Err())
	rx.expectWrite("ev", 1, access{Op: "set", Key: "a", Value: "1"})

	must(c.Get(ctx, "a").Err())
	rx.expectRead("ev", 1, access{Op: "get", Key: "a"})

	// One transaction is one batch: its mutations in order, conditions
	// evaluated (the NX that fails and the DEL of a missing key are absent).
	_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.MSet(ctx, "b", "2", "c", "3")
		p.SetNX(ctx, "a", "no", 0)
		p.Del(ctx, "a", "missing")
		p.Set(ctx, "quote\"\\\n", "tab\t", 0)
		return nil
	})
	must(err)
	rx.expectWrite("ev", 2,
		access{Op: "set", Key: "b", Value: "2"}, access{Op: "set", Key: "c", Value: "3"},
		access{Op: "del", Key: "a"}, access{Op: "set", Key: "quote\"\\\n", Value: "tab\t"})

	// A write that changes nothing makes no batch: the next one is 3.
	must(c.SetNX(ctx, "b", "x", 0).Err())
	must(c.Do(ctx, "SET", "b", "x", "IFEQ", "wrong").Err())
	// Binary keys and values: key_b64 / value_b64; NUL is valid UTF-8.
	must(c.Set(ctx, "\xff\xfe", "\xc3\x28", 0).Err())
	rx.expectWrite("ev", 3, access{Op: "set", KeyB64: base64.StdEncoding.EncodeToString([]byte("\xff\xfe")), ValueB64: base64.StdEncoding.EncodeToString([]byte("\xc3\x28"))})
	must(c.Set(ctx, "nul\x00", "é", 0).Err())
	rx.expectWrite("ev", 4, access{Op: "set", Key: "nul\x00", Value: "é"})

	// Reads: PEEKLAST with an end bound, PEEKFIRST with a start bound,
	// EXISTS, MGET, DBSIZE, a binary key; one read phase per pipeline here.
	_, err = c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Do(ctx, "PEEKLAST", "-", "[k")
		p.Do(ctx, "PEEKFIRST", "(b", "+")
		p.Exists(ctx, "b")
		p.MGet(ctx, "b", "\xff\xfe")
		p.DBSize(ctx)
		return nil
	})
	must(err)
	rx.expectRead("ev", 2,
		access{Op: "peeklast", Min: "-", Max: "[k"}, access{Op: "peekfirst", Min: "(b", Max: "+"},
		access{Op: "exists", Key: "b"}, access{Op: "get", Key: "b"},
		access{Op: "get", KeyB64: base64.StdEncoding.EncodeToString([]byte("\xff\xfe"))}, access{Op: "count"})

	must(c.Do(ctx, "PEEKFIRST").Err())
	rx.expectRead("ev", 3, access{Op: "peekfirst", Min: "-", Max: "+"})

	must(c.FlushDB(ctx).Err())
	rx.expectWrite("ev", 5, access{Op: "flushdb"})
	if n := afterwrite(t, c); n != 5 {
		t.Errorf("AFTERWRITE = %d, want 5 (the last batch in the events)", n)
	}
}

// TestEventsPerChannel: SUBSCRIBE to one event channel of one keyspace gets
// only those events; PSUBSCRIBE __mutex@*__:flushed follows every keyspace.
func TestEventsPerChannel(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	db0 := s.client(t, nil)
	db5 := s.client(t, &redis.Options{DB: 5})
	tn := named(t, s, "tenant-x", nil)
	only0 := subscribeEvents(t, s.client(t, nil), false, "__mutex@0__:flushed")
	writes5 := subscribeEvents(t, s.client(t, nil), false, "__mutex@5__:writes", "__mutex@5__:reads")
	all := subscribeEvents(t, s.client(t, nil), true, "__mutex@*__:flushed")

	db0.Get(ctx, "r") // a read in keyspace 0: not on only0's channel
	db0.Set(ctx, "k", "v0", 0)
	db5.Set(ctx, "k", "v5", 0)
	db5.Get(ctx, "k")
	tn.Set(ctx, "k", "vt", 0)
	db0.Set(ctx, "k2", "v0", 0)

	for _, want := range []uint64{1, 2} {
		e := only0.next()
		if e.channel != "__mutex@0__:flushed" || e.Keyspace != "0" || *e.Batch != want || *e.Count != 1 {
			t.Errorf("subscriber of __mutex@0__:flushed got %v, want batch %d", e, want)
		}
	}
	// Keyspace 5's writes and reads, in the order they happened; no flushed.
	if e := writes5.next(); e.kind() != "writes" || *e.Batch != 1 || !reflect.DeepEqual(e.Ops, []access{{Op: "set", Key: "k", Value: "v5"}}) {
		t.Errorf("first event of keyspace 5: %v, want the writes of SET k v5", e)
	}
	writes5.expectRead("5", 1, access{Op: "get", Key: "k"})
	var got []string
	for i := 0; i < 4; i++ {
		e := all.next()
		got = append(got, fmt.Sprintf("%s/%d/%d", e.Keyspace, *e.Batch, *e.Count))
	}
	sort.Strings(got)
	if want := "[0/1/1 0/2/1 5/1/1 tenant-x/1/1]"; fmt.Sprint(got) != want {
		t.Errorf("PSUBSCRIBE __mutex@*__:flushed got %v, want %s", got, want)
	}
}
