package commands

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mutexredis/mutexredis/mutex"
)

func TestZsetScoreEncodingOrder(t *testing.T) {
	scores := []float64{math.Inf(-1), -math.MaxFloat64, -1e300, -2.5, -1, -math.SmallestNonzeroFloat64,
		math.Copysign(0, -1), 0, math.SmallestNonzeroFloat64, 1e-300, 0.1, 1, 2.5, 1e300, math.MaxFloat64, math.Inf(1)}
	for i := range scores {
		if got := zunsortable(zsortable(scores[i])); got != scores[i] {
			t.Errorf("round trip of %v gives %v", scores[i], got)
		}
		if i == 0 {
			continue
		}
		a, b := zscoreSub(scores[i-1], []byte("m")), zscoreSub(scores[i], []byte("m"))
		switch c := bytes.Compare(a, b); {
		case scores[i-1] == scores[i] && c != 0: // -0 and +0
			t.Errorf("%v and %v are equal but encode differently", scores[i-1], scores[i])
		case scores[i-1] < scores[i] && c >= 0:
			t.Errorf("%v < %v but encodes at or after it", scores[i-1], scores[i])
		}
	}
	if math.Signbit(zunsortable(zsortable(math.Copysign(0, -1)))) {
		t.Errorf("-0 is stored as -0, want +0")
	}
	// Equal scores order by member bytes.
	if bytes.Compare(zscoreSub(1, []byte("a")), zscoreSub(1, []byte("b"))) >= 0 ||
		bytes.Compare(zscoreSub(1, []byte("b")), zscoreSub(1, []byte("b\x00"))) >= 0 {
		t.Errorf("equal scores do not order by member")
	}
	// Random pairs.
	for i := 0; i < 10000; i++ {
		x, y := math.Float64frombits(rand.Uint64()), math.Float64frombits(rand.Uint64())
		if math.IsNaN(x) || math.IsNaN(y) || x == y {
			continue
		}
		if (x < y) != (zsortable(x) < zsortable(y)) {
			t.Fatalf("order of %v and %v not kept", x, y)
		}
	}
}

func TestZsetParseScore(t *testing.T) {
	for in, want := range map[string]float64{"1": 1, "-1.5": -1.5, "inf": math.Inf(1), "-inf": math.Inf(-1), "+Infinity": math.Inf(1),
		"0x10": 16, "1e-310": 1e-310, "0": 0, "0e-400": 0, "1e308": 1e308} {
		if got, ok := zparseScore([]byte(in)); !ok || got != want {
			t.Errorf("zparseScore(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", " 1", "1 ", "nan", "NaN", "1e400", "-1e400", "1e-400", "abc", "1x", "0x"} {
		if _, ok := zparseScore([]byte(in)); ok {
			t.Errorf("zparseScore(%q) accepted", in)
		}
	}
	for in, want := range map[string]float64{"": 0, " 1": 1, "1e400": math.Inf(1), "-inf": math.Inf(-1)} {
		if got, ok := zparseRangeFloat([]byte(in)); !ok || got != want {
			t.Errorf("zparseRangeFloat(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{" ", "1 ", "nan", "x"} {
		if _, ok := zparseRangeFloat([]byte(in)); ok {
			t.Errorf("zparseRangeFloat(%q) accepted", in)
		}
	}
}

// ---- running commands against a real store ----

func openKeyspace(t testing.TB, name string) (*mutex.Store, *mutex.Keyspace) {
	t.Helper()
	store, err := mutex.Open(t.TempDir(), mutex.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ks, err := store.Keyspace(name)
	if err != nil {
		t.Fatal(err)
	}
	return store, ks
}

// zrun runs one command in ks and returns its reply rendered as RESP2.
func zrun(t testing.TB, ks *mutex.Keyspace, args ...string) string {
	t.Helper()
	return string(AppendReply(nil, zrunReply(t, ks, args...)))
}

// zclient is the connection the tests' commands run on: one cursor table.
var zclient = &Client{Keyspace: "0", Conn: oneCursorTable{NewScanCursors()}}

func zrunReply(t testing.TB, ks *mutex.Keyspace, args ...string) any {
	t.Helper()
	bargs := make([][]byte, len(args))
	for i, a := range args {
		bargs[i] = []byte(a)
	}
	cmd := Lookup(bargs[0])
	if cmd == nil || (cmd.Op == nil && cmd.OpCtx == nil) {
		t.Fatalf("%s: not a keyspace command", args[0])
	}
	if !cmd.CheckArity(len(bargs)) {
		return ArityError(cmd.Name)
	}
	op, bad := cmd.buildOp(&Ctx{Args: bargs, Client: zclient})
	if bad != nil {
		return bad
	}
	ops := []mutex.Op{op}
	if err := ks.Do(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
	if ops[0].Err != nil {
		t.Fatalf("%q: %v", args, ops[0].Err)
	}
	return ops[0].Result
}

func TestZsetBlockingPopsServedInOrder(t *testing.T) {
	_, ks := openKeyspace(t, "0")
	ctx := context.Background()
	type res struct {
		v   any
		err error
	}
	block := func(args ...string) chan res {
		t.Helper()
		b, ok := zrunReply(t, ks, args...).(*Blocking)
		if !ok {
			t.Fatalf("%q did not block", args)
		}
		ch := make(chan res, 1)
		go func() {
			v, err := ks.Block(ctx, b.Keys, b.Attempt)
			ch <- res{v, err}
		}()
		return ch
	}
	waitBlocked := func(n int64) {
		for ks.Blocked() != n {
			time.Sleep(time.Millisecond) // polling the condition
		}
	}
	first := block("BZPOPMIN", "q1", "q2", "0")
	waitBlocked(1)
	second := block("BZMPOP", "0", "1", "q2", "MAX", "COUNT", "5")
	waitBlocked(2)
	third := block("BZPOPMAX", "q2", "0")
	waitBlocked(3)
	// A write to another key wakes nobody.
	zrun(t, ks, "ZADD", "other", "1", "x")
	if got := zrun(t, ks, "ZADD", "q2", "1", "a", "2", "b", "3", "c"); got != ":3\r\n" {
		t.Fatalf("ZADD: %q", got)
	}
	r := <-first
	if got := string(AppendReply(nil, r.v)); r.err != nil || got != "*3\r\n$2\r\nq2\r\n$1\r\na\r\n$1\r\n1\r\n" {
		t.Fatalf("first: %q, %v", got, r.err)
	}
	r = <-second
	if got := string(AppendReply(nil, r.v)); r.err != nil || got != "*2\r\n$2\r\nq2\r\n*2\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n" {
		t.Fatalf("second: %q, %v", got, r.err)
	}
	// The third found nothing left and still waits.
	waitBlocked(1)
	zrun(t, ks, "ZADD", "q2", "5", "z")
	r = <-third
	if got := string(AppendReply(nil, r.v)); r.err != nil || got != "*3\r\n$2\r\nq2\r\n$1\r\nz\r\n$1\r\n5\r\n" {
		t.Fatalf("third: %q, %v", got, r.err)
	}
	if got := zrun(t, ks, "EXISTS", "q2"); got != ":0\r\n" {
		t.Fatalf("q2 left: %s", got)
	}
	// A timeout answers the timeout reply's null array (the server's job;
	// here the Blocking carries it).
	b := zrunReply(t, ks, "BZPOPMIN", "none", "0.01").(*Blocking)
	if b.Timeout != 10*time.Millisecond || string(AppendReply(nil, b.TimeoutReply)) != "*-1\r\n" {
		t.Fatalf("timeout %v, reply %q", b.Timeout, AppendReply(nil, b.TimeoutReply))
	}
}

// TestZsetSetInputs checks that ZUNION, ZINTER, ZDIFF and ZINTERCARD take
// plain sets (members scoring 1), as Redis does.
func TestZsetSetInputs(t *testing.T) {
	_, ks := openKeyspace(t, "0")
	ops := []mutex.Op{mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
		m := tx.NewCollection(mutex.TypeSet)
		for _, s := range []string{"a", "b", "c"} {
			if err := tx.SetElem([]byte("set"), &m, []byte(s), nil); err != nil {
				return nil, err
			}
			m.Count++
		}
		return nil, tx.PutMeta([]byte("set"), &m)
	})}
	if err := ks.Do(context.Background(), ops); err != nil || ops[0].Err != nil {
		t.Fatal(err, ops[0].Err)
	}
	zrun(t, ks, "ZADD", "z", "5", "b", "7", "d")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ZUNION", "2", "set", "z", "WITHSCORES"}, "a 1 c 1 b 6 d 7"},
		{[]string{"ZINTER", "2", "set", "z", "WEIGHTS", "3", "1", "WITHSCORES"}, "b 8"},
		{[]string{"ZDIFF", "2", "set", "z"}, "a c"},
		{[]string{"ZINTERCARD", "2", "z", "set"}, "1"},
	} {
		if got := flatReply(zrunReply(t, ks, c.args...)); got != c.want {
			t.Errorf("%q = %q, want %q", c.args, got, c.want)
		}
	}
}

// flatReply renders a reply as space-separated words.
func flatReply(v any) string {
	switch v := v.(type) {
	case Pairs:
		return flatReply([]any(v))
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = flatReply(e)
		}
		return strings.Join(parts, " ")
	case []byte:
		return string(v)
	case Double:
		return string(FormatDouble(float64(v)))
	case int64:
		return strconv.FormatInt(v, 10)
	case nil:
		return "(nil)"
	}
	return fmt.Sprint(v)
}

func TestZrankWithScore(t *testing.T) {
	_, ks := openKeyspace(t, "0")
	zrun(t, ks, "ZADD", "z", "1", "a", "2", "b", "3", "c")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ZRANK", "z", "b", "WITHSCORE"}, "*2\r\n:1\r\n$1\r\n2\r\n"},
		{[]string{"ZREVRANK", "z", "c", "withscore"}, "*2\r\n:0\r\n$1\r\n3\r\n"},
		{[]string{"ZRANK", "z", "x", "WITHSCORE"}, "*-1\r\n"},
		{[]string{"ZRANK", "nokey", "x", "WITHSCORE"}, "*-1\r\n"},
		{[]string{"ZRANK", "z", "x"}, "$-1\r\n"},
		{[]string{"ZRANK", "z", "a", "FOO"}, "-ERR syntax error\r\n"},
		{[]string{"ZRANK", "z", "a", "WITHSCORE", "x"}, "-ERR wrong number of arguments for 'zrank' command\r\n"},
	} {
		if got := zrun(t, ks, c.args...); got != c.want {
			t.Errorf("%q = %q, want %q", c.args, got, c.want)
		}
	}
}

// TestZrankLargeSet checks ranks at both ends and in the middle of a set
// larger than one walk from either end.
func TestZrankLargeSet(t *testing.T) {
	_, ks := openKeyspace(t, "0")
	const n = 2000
	args := []string{"ZADD", "z"}
	for i := 0; i < n; i++ {
		args = append(args, strconv.Itoa(i/2), fmt.Sprintf("m%05d", i))
	}
	zrun(t, ks, args...)
	for _, i := range []int{0, 1, 2, 999, 1000, 1001, 1500, n - 2, n - 1} {
		m := fmt.Sprintf("m%05d", i)
		if got, want := zrun(t, ks, "ZRANK", "z", m), fmt.Sprintf(":%d\r\n", i); got != want {
			t.Errorf("ZRANK %s = %q, want %q", m, got, want)
		}
		if got, want := zrun(t, ks, "ZREVRANK", "z", m), fmt.Sprintf(":%d\r\n", n-1-i); got != want {
			t.Errorf("ZREVRANK %s = %q, want %q", m, got, want)
		}
		if got, want := flatReply(zrunReply(t, ks, "ZRANGE", "z", strconv.Itoa(i), strconv.Itoa(i))), m; got != want {
			t.Errorf("ZRANGE %d %d = %q, want %q", i, i, got, want)
		}
	}
	if got := flatReply(zrunReply(t, ks, "ZRANGE", "z", "-3", "-1")); got != "m01997 m01998 m01999" {
		t.Errorf("ZRANGE -3 -1 = %q", got)
	}
	if got := flatReply(zrunReply(t, ks, "ZRANGE", "z", "0", "2", "REV")); got != "m01999 m01998 m01997" {
		t.Errorf("ZRANGE 0 2 REV = %q", got)
	}
	if got := flatReply(zrunReply(t, ks, "ZRANGE", "z", "1997", "1998", "REV")); got != "m00002 m00001" {
		t.Errorf("ZRANGE 1997 1998 REV = %q", got)
	}
	// ZSCAN pages through a large set, each member once.
	seen := map[string]bool{}
	cursor := "0"
	for {
		res := zrunReply(t, ks, "ZSCAN", "z", cursor, "COUNT", "300").([]any)
		items := res[1].([]any)
		for i := 0; i < len(items); i += 2 {
			m := string(items[i].([]byte))
			if seen[m] {
				t.Fatalf("ZSCAN returned %s twice", m)
			}
			seen[m] = true
		}
		if cursor = res[0].(string); cursor == "0" {
			break
		}
	}
	if len(seen) != n {
		t.Fatalf("ZSCAN saw %d members, want %d", len(seen), n)
	}
	// ZRANDMEMBER: distinct members of the set.
	res := zrunReply(t, ks, "ZRANDMEMBER", "z", "50").([]any)
	distinct := map[string]bool{}
	for _, m := range res {
		distinct[string(m.([]byte))] = true
	}
	if len(res) != 50 || len(distinct) != 50 {
		t.Fatalf("ZRANDMEMBER 50: %d members, %d distinct", len(res), len(distinct))
	}
	if res := zrunReply(t, ks, "ZRANDMEMBER", "z", "-3000").([]any); len(res) != 3000 {
		t.Fatalf("ZRANDMEMBER -3000: %d members", len(res))
	}
}

// TestZsetWritesEventReplays runs random sorted-set writes on one keyspace,
// replays the ops of its writes events on another, and compares them.
func TestZsetWritesEventReplays(t *testing.T) {
	store, ks := openKeyspace(t, "src")
	dst, err := store.Keyspace("dst")
	if err != nil {
		t.Fatal(err)
	}
	sub := ks.Subscribe(1 << 16)
	defer sub.Close()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	keys := []string{"a", "b", "c"}
	key := func() string { return keys[rng.IntN(len(keys))] }
	member := func() string { return []string{"x", "y", "z", "w", "v"}[rng.IntN(5)] }
	score := func() string { return []string{"0", "-0", "1", "2.5", "-inf", "inf", "0.1", "1e300"}[rng.IntN(8)] }
	for i := 0; i < 400; i++ {
		var args []string
		switch rng.IntN(9) {
		case 0, 1:
			args = []string{"ZADD", key(), score(), member(), score(), member()}
		case 2:
			args = []string{"ZINCRBY", key(), score(), member()}
		case 3:
			args = []string{"ZREM", key(), member()}
		case 4:
			args = []string{"ZPOPMIN", key(), "2"}
		case 5:
			args = []string{"ZREMRANGEBYRANK", key(), "0", []string{"0", "-1"}[rng.IntN(2)]}
		case 6:
			args = []string{"ZUNIONSTORE", key(), "2", key(), key(), "WEIGHTS", "2", "-1"}
		case 7:
			args = []string{"ZRANGESTORE", key(), key(), "1", "-1"}
		default:
			args = []string{"ZMPOP", "2", key(), key(), "MAX", "COUNT", "2"}
		}
		zrun(t, ks, args...)
	}
	zrun(t, ks, "ZADD", "done", "1", "x")
	for {
		ev := <-sub.C
		if ev.Kind != mutex.EventWrites {
			continue
		}
		last := false
		for _, a := range ev.Ops {
			var args []string
			switch a.Op {
			case "zadd":
				args = []string{"ZADD", string(a.Key)}
				for i := 0; i < len(a.Items); i += 2 {
					args = append(args, string(a.Items[i+1]), string(a.Items[i]))
				}
				last = string(a.Key) == "done"
			case "zrem":
				args = []string{"ZREM", string(a.Key)}
				for _, m := range a.Items {
					args = append(args, string(m))
				}
			case "del":
				args = []string{"DEL", string(a.Key)}
			default:
				t.Fatalf("unexpected op %q", a.Op)
			}
			zrun(t, dst, args...)
		}
		if last {
			break
		}
	}
	for _, k := range append(keys, "done") {
		got, want := zrun(t, dst, "ZRANGE", k, "0", "-1", "WITHSCORES"), zrun(t, ks, "ZRANGE", k, "0", "-1", "WITHSCORES")
		if got != want {
			t.Errorf("%s replayed: %q, want %q", k, got, want)
		}
	}
}

// TestZsetConcurrentIncrInOneKeyspace submits many ZINCRBYs from many
// goroutines: none is lost.
func TestZsetConcurrentIncrInOneKeyspace(t *testing.T) {
	_, ks := openKeyspace(t, "0")
	const workers, n = 8, 200
	done := make(chan struct{})
	for w := 0; w < workers; w++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < n; i++ {
				zrun(t, ks, "ZINCRBY", "z", "0.5", []string{"a", "b"}[i%2])
			}
		}()
	}
	for w := 0; w < workers; w++ {
		<-done
	}
	want := fmt.Sprintf("a %d b %d", workers*n/4, workers*n/4)
	if got := flatReply(zrunReply(t, ks, "ZRANGE", "z", "0", "-1", "WITHSCORES")); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// BenchmarkZrank measures ZRANK on a set of 100k members at several ranks:
// with no order-statistic index its cost grows with the distance to the
// nearer end.
func BenchmarkZrank(b *testing.B) {
	_, ks := openKeyspace(b, "0")
	const n = 100000
	for i := 0; i < n; i += 1000 {
		args := []string{"ZADD", "z"}
		for j := i; j < i+1000; j++ {
			args = append(args, strconv.Itoa(j), fmt.Sprintf("m%06d", j))
		}
		zrun(b, ks, args...)
	}
	for _, rank := range []int{0, 100, 1000, 10000, 50000, 99000} {
		b.Run(fmt.Sprintf("rank=%d", rank), func(b *testing.B) {
			m := fmt.Sprintf("m%06d", rank)
			for i := 0; i < b.N; i++ {
				if got := zrun(b, ks, "ZRANK", "z", m); got != fmt.Sprintf(":%d\r\n", rank) {
					b.Fatal(got)
				}
			}
		})
	}
	b.Run("zrange-100-at-rank-50000", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			zrun(b, ks, "ZRANGE", "z", "50000", "50099")
		}
	})
	b.Run("zrangebyscore-100-at-50000", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			zrun(b, ks, "ZRANGEBYSCORE", "z", "50000", "50099")
		}
	})
}

// BenchmarkZaddZrange is redis-benchmark's ZADD (one set, random members)
// and ZRANGE 0 9 on it, in-process and one op per phase.
func BenchmarkZaddZrange(b *testing.B) {
	_, ks := openKeyspace(b, "0")
	b.Run("zadd", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			zrun(b, ks, "ZADD", "myzset", "0", fmt.Sprintf("element:%d", rand.IntN(1000)))
		}
	})
	b.Run("zrange", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			zrun(b, ks, "ZRANGE", "myzset", "0", "9")
		}
	})
	b.Run("get", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			zrun(b, ks, "GET", "x")
		}
	})
}

// FuzzZset runs arbitrary sorted-set command lines (NUL-separated
// arguments) against a store holding a few sets: nothing may panic, fail
// the op, or give an unencodable reply.
func FuzzZset(f *testing.F) {
	store, err := mutex.Open(f.TempDir(), mutex.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	ks, err := store.Keyspace("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	zrun(f, ks, "ZADD", "a", "1", "x", "2", "y", "-inf", "z", "inf", "w")
	zrun(f, ks, "ZADD", "b", "0", "p", "0", "q", "0", "x")
	zrun(f, ks, "SET", "s", "v")
	for _, seed := range []string{
		"zadd\x00a\x00gt\x00ch\x00incr\x003\x00x", "zrange\x00a\x00(1\x00+inf\x00byscore\x00rev\x00limit\x000\x002\x00withscores",
		"zrangebylex\x00b\x00[p\x00(x", "zunionstore\x00d\x002\x00a\x00b\x00weights\x002\x00nan", "zinter\x002\x00a\x00s",
		"zmpop\x002\x00a\x00b\x00max\x00count\x005", "zrandmember\x00a\x00-5\x00withscores", "zscan\x00a\x000\x00match\x00*\x00count\x001",
		"zremrangebyrank\x00a\x00-100\x00100", "zrank\x00a\x00x\x00withscore", "zrangestore\x00a\x00b\x00-\x00+\x00bylex",
		"zintercard\x002\x00a\x00b\x00limit\x001", "zdiff\x002\x00a\x00b\x00withscores", "zcount\x00a\x00(\x00 1e400",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := [][]byte{}
		for _, a := range strings.Split(line, "\x00") {
			args = append(args, []byte(a))
		}
		cmd := Lookup(args[0])
		if cmd == nil || cmd.Op == nil || !cmd.CheckArity(len(args)) || !strings.Contains(cmd.Name, "z") {
			return
		}
		op, bad := cmd.Op(args)
		if bad != nil {
			if _, ok := bad.(Error); !ok {
				t.Fatalf("%q: rejection %#v is not an Error", line, bad)
			}
			return
		}
		ops := []mutex.Op{op}
		if err := ks.Do(context.Background(), ops); err != nil {
			t.Fatal(err)
		}
		if ops[0].Err != nil {
			t.Fatalf("%q: op failed: %v", line, ops[0].Err)
		}
		res := NonBlocking(ops[0].Result)
		if out := AppendReply(nil, res); len(out) == 0 || bytes.Contains(out, []byte("internal error")) {
			t.Fatalf("%q: reply %q", line, out)
		}
	})
}
