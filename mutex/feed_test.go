package mutex

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/golang/snappy"
)

// feedEntries reads the whole feed of k.
func feedEntries(t testing.TB, k *Keyspace) (*Stream, []StreamEntry) {
	t.Helper()
	var st *Stream
	var out []StreamEntry
	do(t, k, ReadOp(func(r *Reader) (any, error) {
		s, ok, err := r.OpenStream(b(FeedKey))
		if err != nil || !ok {
			return nil, err
		}
		st = s
		return nil, r.StreamRange(s, StreamID{}, MaxStreamID, false, func(e StreamEntry) bool {
			out = append(out, e)
			return true
		})
	}))
	return st, out
}

func field(e StreamEntry, name string) string {
	for i := 0; i+1 < len(e.Fields); i += 2 {
		if string(e.Fields[i]) == name {
			return string(e.Fields[i+1])
		}
	}
	return ""
}

type feedOp struct {
	Op    string `json:"op"`
	Key   string `json:"key"`
	Value string `json:"value"`
	At    int64  `json:"at"`
}

func feedOps(t testing.TB, e StreamEntry) []feedOp {
	t.Helper()
	var ops []feedOp
	if err := json.Unmarshal([]byte(field(e, "ops")), &ops); err != nil {
		t.Fatalf("entry %v: ops %q: %v", e.ID, field(e, "ops"), err)
	}
	return ops
}

// TestFeedRecordsEveryBatch: one entry per committed batch, ID <batch>-0,
// its ops in order, and the entries survive a restart with the data.
func TestFeedRecordsEveryBatch(t *testing.T) {
	opts := Options{FeedRetention: FeedRetention{Batches: 1000}}
	s, dir := newStore(t, opts)
	k := keyspace(t, s, "0")
	put(t, k, "a", "1", "b", "2")
	do(t, k, Delete(b("a")), Delete(b("missing")))
	do(t, k, Delete(b("missing"))) // no mutation: no batch, no entry
	put(t, k, "c", "\xff")
	last := afterWrite(t, k)
	st, entries := feedEntries(t, k)
	if last != 3 || len(entries) != 3 || st.Length != 3 || st.Last != (StreamID{3, 0}) {
		t.Fatalf("last batch %d, %d entries, length %d, last %v", last, len(entries), st.Length, st.Last)
	}
	want := [][]feedOp{
		{{Op: "set", Key: "a", Value: "1"}, {Op: "set", Key: "b", Value: "2"}},
		{{Op: "del", Key: "a"}},
		{{Op: "set", Key: "c"}}, // value_b64
	}
	for i, e := range entries {
		if e.ID != (StreamID{uint64(i + 1), 0}) {
			t.Fatalf("entry %d has ID %v", i, e.ID)
		}
		ops := feedOps(t, e)
		if len(ops) != len(want[i]) {
			t.Fatalf("entry %d ops %+v, want %+v", i, ops, want[i])
		}
		for j := range ops {
			if ops[j] != want[i][j] {
				t.Fatalf("entry %d op %d: %+v, want %+v", i, j, ops[j], want[i][j])
			}
		}
		if field(e, "count") != strconv.Itoa(len(want[i])) || field(e, "time") == "" {
			t.Fatalf("entry %d fields %q", i, e.Fields)
		}
	}
	if got := field(entries[2], "ops"); got != `[{"op":"set","key":"c","value_b64":"/w=="}]` {
		t.Fatalf("binary value: %s", got)
	}
	// The feed is not a key: SCAN and Count do not see it.
	n := do(t, k, countOp())[0].Result.(int64)
	if n != 2 {
		t.Fatalf("Count = %d, want 2", n)
	}
	s.Close()
	s = openStore(t, dir, opts)
	k = keyspace(t, s, "0")
	if _, again := feedEntries(t, k); len(again) != 3 {
		t.Fatalf("after reopen: %d entries", len(again))
	}
	put(t, k, "d", "4")
	if _, again := feedEntries(t, k); len(again) != 4 || again[3].ID.Ms != 4 {
		t.Fatalf("after reopen and a write: %v", again)
	}
}

// TestFeedRetention trims by batches and by bytes inside the write phase,
// and never drops the newest batch.
func TestFeedRetention(t *testing.T) {
	s, _ := newStore(t, Options{FeedRetention: FeedRetention{Batches: 5}})
	k := keyspace(t, s, "0")
	for i := 0; i < 12; i++ {
		put(t, k, "k", strconv.Itoa(i))
	}
	st, entries := feedEntries(t, k)
	if len(entries) != 5 || entries[0].ID.Ms != 8 || st.FeedFirst() != 8 || st.MaxDeleted != (StreamID{7, 0}) || st.EntriesAdded != 12 {
		t.Fatalf("entries %d from %v, first %d, max deleted %v", len(entries), entries[0].ID, st.FeedFirst(), st.MaxDeleted)
	}

	s2, _ := newStore(t, Options{FeedRetention: FeedRetention{Bytes: 1}})
	k2 := keyspace(t, s2, "0")
	for i := 0; i < 4; i++ {
		put(t, k2, "k", strconv.Itoa(i))
	}
	if _, entries := feedEntries(t, k2); len(entries) != 1 || entries[0].ID.Ms != 4 {
		t.Fatalf("bytes retention kept %v", entries)
	}

	s3, _ := newStore(t, Options{FeedRetention: FeedRetention{Bytes: 1 << 20}})
	k3 := keyspace(t, s3, "0")
	rng := rand.New(rand.NewPCG(1, 2))
	letters := make([]byte, 100<<10) // incompressible: the feed stores ops compressed
	for i := 0; i < 30; i++ {
		for j := range letters {
			letters[j] = 'a' + byte(rng.IntN(26))
		}
		put(t, k3, "k", string(letters))
	}
	st3, entries := feedEntries(t, k3)
	var total int
	for _, e := range entries {
		total += len(field(e, "ops"))
	}
	if total > 2<<20 || len(entries) < 5 || len(entries) > 15 || entries[len(entries)-1].ID.Ms != 30 || st3.fm.bytes > 1<<20 {
		t.Fatalf("1 MiB retention kept %d entries, %d bytes of ops (accounted on disk %d)", len(entries), total, st3.fm.bytes)
	}
	// Repetitive ops are stored compressed: many more fit.
	s4, _ := newStore(t, Options{FeedRetention: FeedRetention{Bytes: 1 << 20}})
	k4 := keyspace(t, s4, "0")
	big := strings.Repeat("x", 100<<10)
	for i := 0; i < 30; i++ {
		put(t, k4, "k", big)
	}
	if _, entries := feedEntries(t, k4); len(entries) != 30 || field(entries[0], "ops") != `[{"op":"set","key":"k","value":"`+big+`"}]` {
		t.Fatalf("compressible ops: %d entries kept", len(entries))
	}
}

// TestFeedAge trims batches older than the age limit.
func TestFeedAge(t *testing.T) {
	s, _ := newStore(t, Options{FeedRetention: FeedRetention{Age: time.Millisecond}})
	k := keyspace(t, s, "0")
	put(t, k, "a", "1")
	first := time.Now()
	for time.Since(first) < 5*time.Millisecond { // the clock must pass the limit: nothing to wait on
		time.Sleep(time.Millisecond)
	}
	put(t, k, "a", "2")
	if _, entries := feedEntries(t, k); len(entries) != 1 || entries[0].ID.Ms != 2 {
		t.Fatalf("age retention kept %v", entries)
	}
}

// TestFeedResumesAfterGap: batches committed while the feed was off are
// not in it, so it restarts at the first batch it records.
func TestFeedResumesAfterGap(t *testing.T) {
	on := Options{FeedRetention: FeedRetention{Batches: 100}}
	s, dir := newStore(t, on)
	k := keyspace(t, s, "0")
	put(t, k, "a", "1")
	s.Close()
	s = openStore(t, dir, Options{})
	put(t, keyspace(t, s, "0"), "a", "2")
	s.Close()
	s = openStore(t, dir, on)
	k = keyspace(t, s, "0")
	put(t, k, "a", "3")
	st, entries := feedEntries(t, k)
	if len(entries) != 1 || entries[0].ID.Ms != 3 || st.FeedFirst() != 3 || st.MaxDeleted != (StreamID{2, 0}) {
		t.Fatalf("after a gap: %v, first %d, max deleted %v", entries, st.FeedFirst(), st.MaxDeleted)
	}
}

// TestFeedGroupStateIsHousekeeping: a consumer group's writes on the feed
// commit but take no batch number, so acknowledging adds no entry.
func TestFeedGroupStateIsHousekeeping(t *testing.T) {
	s, dir := newStore(t, Options{FeedRetention: FeedRetention{Batches: 100}})
	k := keyspace(t, s, "0")
	put(t, k, "a", "1")
	before := afterWrite(t, k)
	do(t, k, WriteOp(func(tx *Tx) (any, error) {
		st, ok, err := tx.OpenStream(b(FeedKey))
		if !ok || err != nil {
			t.Errorf("feed: %v %v", ok, err)
			return nil, err
		}
		if err := tx.PutStreamGroup(st, StreamGroup{Name: b("g"), LastID: StreamID{1, 0}, EntriesRead: 1}); err != nil {
			return nil, err
		}
		return nil, tx.PutStreamPending(st, b("g"), StreamPending{ID: StreamID{1, 0}, Consumer: b("c"), Deliveries: 1})
	}))
	if after := afterWrite(t, k); after != before {
		t.Fatalf("group writes took batch %d (was %d)", after, before)
	}
	if err := doErr(k, WriteOp(func(tx *Tx) (any, error) {
		st, _, err := tx.OpenStream(b(FeedKey))
		if err != nil {
			return nil, err
		}
		return nil, tx.StreamAppend(st, StreamID{9, 0}, [][]byte{b("f"), b("v")})
	})); err == nil {
		t.Fatal("appending to the feed succeeded")
	}
	s.Close()
	s = openStore(t, dir, Options{FeedRetention: FeedRetention{Batches: 100}})
	k = keyspace(t, s, "0")
	var g StreamGroup
	var p StreamPending
	do(t, k, ReadOp(func(r *Reader) (any, error) {
		st, _, err := r.OpenStream(b(FeedKey))
		if err != nil {
			return nil, err
		}
		g, _, err = r.StreamGroupGet(st, b("g"))
		if err != nil {
			return nil, err
		}
		p, _, err = r.StreamPendingGet(st, b("g"), StreamID{1, 0})
		return nil, err
	}))
	if g.LastID != (StreamID{1, 0}) || string(p.Consumer) != "c" {
		t.Fatalf("after reopen: group %+v, pending %+v", g, p)
	}
}

func TestFeedParseRetention(t *testing.T) {
	for _, c := range []struct {
		in   string
		want FeedRetention
		ok   bool
	}{
		{"0", FeedRetention{}, true},
		{"1000", FeedRetention{Batches: 1000}, true},
		{"1gb", FeedRetention{Bytes: 1 << 30}, true},
		{"500000 256mb 7d", FeedRetention{Batches: 500000, Bytes: 256 << 20, Age: 7 * 24 * time.Hour}, true},
		{"30m,12h", FeedRetention{Age: 12 * time.Hour}, true},
		{"90s", FeedRetention{Age: 90 * time.Second}, true},
		{"", FeedRetention{}, false},
		{"x", FeedRetention{}, false},
		{"-5", FeedRetention{}, false},
	} {
		got, err := ParseFeedRetention(c.in)
		if (err == nil) != c.ok || c.ok && got != c.want {
			t.Errorf("ParseFeedRetention(%q) = %+v, %v; want %+v ok=%v", c.in, got, err, c.want, c.ok)
		}
		if c.ok {
			again, err := ParseFeedRetention(got.String())
			if err != nil || again != got {
				t.Errorf("round trip of %q via %q: %+v %v", c.in, got.String(), again, err)
			}
		}
	}
}

// TestFeedOpsCodec: the binary ops render as exactly the JSON that
// AppendJSON writes, for every field, nil and empty told apart.
func TestFeedOpsCodec(t *testing.T) {
	cases := []Access{
		{Op: "set", Key: b("k"), Value: b("v")},
		{Op: "set", Key: []byte{}, Value: []byte{}},
		{Op: "set", Key: b("k")}, // a nil value still renders "value":""
		{Op: "del", Key: b("\xff\x00")},
		{Op: "pexpireat", Key: b("k"), At: 1764650000000},
		{Op: "pexpireat", Key: b("k"), At: -1},
		{Op: "persist", Key: b("k")},
		{Op: "flushdb"},
		{Op: "copy", Key: b("a"), To: b("b"), Value: b("other")},
		{Op: "hset", Key: b("h"), Items: [][]byte{b("f"), b("v\"q"), b("g"), b("")}, Pairs: true},
		{Op: "hdel", Key: b("h"), Items: [][]byte{b("f")}},
		{Op: "sadd", Key: b("s"), Items: [][]byte{b("a"), b("\xfe")}},
		{Op: "srem", Key: b("s"), Items: [][]byte{}},
		{Op: "zadd", Key: b("z"), Items: [][]byte{b("1.5"), b("m")}, At: 3},
		{Op: "peeklast", Range: &Range{Min: Bound{Kind: Inclusive, Key: b("a")}, Max: Bound{Kind: Empty}}},
		{Op: "x\u00e9\n", Key: b("tab\tkey")},
	}
	var bin, want []byte
	want = append(want, '[')
	for i := range cases {
		bin = appendFeedOp(bin, &cases[i])
		if i > 0 {
			want = append(want, ',')
		}
		want = cases[i].AppendJSON(want)
	}
	want = append(want, ']')
	got, err := appendFeedOpsJSON(nil, bin)
	if err != nil || string(got) != string(want) {
		t.Fatalf("rendered %s, %v\nwant     %s", got, err, want)
	}
	if got, err := appendFeedOpsJSON(nil, nil); err != nil || string(got) != "[]" {
		t.Fatalf("no ops: %s %v", got, err)
	}
	for n := 1; n < len(bin); n++ { // every truncation is an error, never a panic
		if _, err := appendFeedOpsJSON(nil, bin[:n]); err == nil && n < len(appendFeedOp(nil, &cases[0])) {
			t.Fatalf("truncated to %d bytes: no error", n)
		}
	}
}

// TestFeedUpgradeFromFormat2: a format-2 directory's feed entries (ops as
// snappy-compressed JSON) read as before after the upgrade, next to the
// entries written since.
func TestFeedUpgradeFromFormat2(t *testing.T) {
	opts := Options{FeedRetention: FeedRetention{Batches: 100}}
	s, dir := newStore(t, opts)
	k := keyspace(t, s, "0")
	put(t, k, "a", "1")
	s.Close()
	// Rewrite the store as format 2 wrote it.
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	old := `[{"op":"set","key":"a","value":"1"}]`
	st := &Stream{base: feedBase("0")}
	entry := encodeFields(feedSnappy, [][]byte{b("ops"), snappy.Encode(nil, b(old)), b("count"), b("1"), b("time"), b("5")})
	for _, kv := range [][2][]byte{{formatKey, b("2")}, {st.entryKey(StreamID{1, 0}), entry}} {
		if err := db.Set(kv[0], kv[1], pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s = openStore(t, dir, opts)
	k = keyspace(t, s, "0")
	put(t, k, "b", "2")
	_, entries := feedEntries(t, k)
	if len(entries) != 2 || field(entries[0], "ops") != old || field(entries[1], "ops") != `[{"op":"set","key":"b","value":"2"}]` {
		t.Fatalf("after the upgrade: %v", entries)
	}
}
