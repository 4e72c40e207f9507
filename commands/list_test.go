package commands

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mutexredis/mutexredis/mutex"
)

// listKeyspace opens a store (no fsync) and returns a keyspace and a
// function running one command in it, returning the reply.
func listKeyspace(t testing.TB) (*mutex.Keyspace, func(args ...string) any) {
	t.Helper()
	store, err := mutex.Open(t.TempDir(), mutex.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ks, err := store.Keyspace("0")
	if err != nil {
		t.Fatal(err)
	}
	return ks, func(args ...string) any {
		t.Helper()
		return listRun(t, ks, args...)
	}
}

func listRun(t testing.TB, ks *mutex.Keyspace, args ...string) any {
	t.Helper()
	a := make([][]byte, len(args))
	for i, s := range args {
		a[i] = []byte(s)
	}
	cmd := Lookup(a[0])
	if cmd == nil || !cmd.CheckArity(len(a)) {
		t.Fatalf("%q: unknown command or wrong arity", args)
	}
	op, bad := cmd.Op(a)
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

// render writes a reply as text for comparisons.
func render(v any) string {
	switch v := v.(type) {
	case []byte:
		if v == nil {
			return "nil"
		}
		return strconv.Quote(string(v))
	case []any:
		s := "["
		for i, e := range v {
			if i > 0 {
				s += " "
			}
			s += render(e)
		}
		return s + "]"
	case nil:
		return "nil"
	}
	return fmt.Sprint(v)
}

// TestListEnds: pushes at either end move head and tail by one each, from
// the middle of the number range; pops move them back; the record's count
// is their distance.
func TestListEnds(t *testing.T) {
	ks, run := listKeyspace(t)
	run("LPUSH", "l", "b", "a")
	run("RPUSH", "l", "c", "d", "e")
	read := func() *list {
		var l *list
		ops := []mutex.Op{mutex.ReadOp(func(r *mutex.Reader) (any, error) {
			var err error
			l, err = readList(r, []byte("l"))
			return nil, err
		})}
		if err := ks.Do(context.Background(), ops); err != nil || ops[0].Err != nil {
			t.Fatal(err, ops[0].Err)
		}
		return l
	}
	l := read()
	if l.head != listOrigin-2 || l.tail != listOrigin+3 || l.m.Count != 5 {
		t.Fatalf("head %d tail %d count %d", l.head-listOrigin, l.tail-listOrigin, l.m.Count)
	}
	if got := render(run("LRANGE", "l", "0", "-1")); got != `["a" "b" "c" "d" "e"]` {
		t.Fatalf("LRANGE = %s", got)
	}
	run("LPOP", "l", "2")
	run("RPOP", "l")
	l = read()
	if l.head != listOrigin || l.tail != listOrigin+2 || l.m.Count != 2 {
		t.Fatalf("after pops: head %d tail %d count %d", l.head-listOrigin, l.tail-listOrigin, l.m.Count)
	}
	// LINSERT near the head shifts the head side; near the tail, the tail side.
	run("RPUSH", "l", "f", "g", "h", "i")
	run("LINSERT", "l", "BEFORE", "d", "x") // [c x d f g h i]
	if l = read(); l.head != listOrigin-1 || l.tail != listOrigin+6 {
		t.Fatalf("after LINSERT near the head: head %d tail %d", l.head-listOrigin, l.tail-listOrigin)
	}
	run("LINSERT", "l", "AFTER", "h", "y") // [c x d f g h y i]
	if l = read(); l.head != listOrigin-1 || l.tail != listOrigin+7 {
		t.Fatalf("after LINSERT near the tail: head %d tail %d", l.head-listOrigin, l.tail-listOrigin)
	}
	run("LREM", "l", "0", "y") // near the tail: the tail moves back
	if l = read(); l.head != listOrigin-1 || l.tail != listOrigin+6 {
		t.Fatalf("after LREM near the tail: head %d tail %d", l.head-listOrigin, l.tail-listOrigin)
	}
	run("LREM", "l", "0", "x") // near the head: the head moves on
	if l = read(); l.head != listOrigin || l.tail != listOrigin+6 {
		t.Fatalf("after LREM near the head: head %d tail %d", l.head-listOrigin, l.tail-listOrigin)
	}
	if got := render(run("LRANGE", "l", "0", "-1")); got != `["c" "d" "f" "g" "h" "i"]` {
		t.Fatalf("LRANGE = %s", got)
	}
}

// listModel is a list keyspace replayed from the writes events.
type listModel map[string][][]byte

func (m listModel) apply(t *testing.T, a mutex.Access) {
	t.Helper()
	k := string(a.Key)
	l := m[k]
	num := func(b []byte) int {
		n, err := strconv.Atoi(string(b))
		if err != nil {
			t.Fatalf("%s: %q is not a number", a.Op, b)
		}
		return n
	}
	switch a.Op {
	case "rpush":
		for _, it := range a.Items {
			l = append(l, bytes.Clone(it))
		}
	case "lpush":
		for _, it := range a.Items {
			l = append([][]byte{bytes.Clone(it)}, l...)
		}
	case "lpop":
		l = l[a.At:]
	case "rpop":
		l = l[:len(l)-int(a.At)]
	case "lset":
		l[a.At] = bytes.Clone(a.Value)
	case "linsert":
		i := slices.IndexFunc(l, func(e []byte) bool { return bytes.Equal(e, a.Items[1]) })
		if i < 0 {
			t.Fatalf("linsert announced without its pivot")
		}
		if string(a.Items[0]) == "AFTER" {
			i++
		}
		l = slices.Insert(l, i, bytes.Clone(a.Items[2]))
	case "lrem":
		limit, reverse := a.At, a.At < 0
		if reverse {
			limit = -limit
		}
		gone := make([]bool, len(l))
		removed := int64(0)
		for j := range l {
			p := j
			if reverse {
				p = len(l) - 1 - j
			}
			if bytes.Equal(l[p], a.Value) && (limit <= 0 || removed < limit) {
				gone[p] = true
				removed++
			}
		}
		var out [][]byte
		for j, e := range l {
			if !gone[j] {
				out = append(out, e)
			}
		}
		l = out
	case "ltrim":
		start, stop := num(a.Items[0]), num(a.Items[1])
		if start > stop {
			l = nil
		} else {
			l = l[start : stop+1]
		}
	case "del", "expired":
		l = nil
	default:
		t.Fatalf("unknown write op %q", a.Op)
	}
	if len(l) == 0 {
		delete(m, k)
	} else {
		m[k] = l
	}
}

// TestListWritesReplay: the writes events of random list commands, applied
// in order to an empty model, give the lists the keyspace holds (PRODUCT
// §5: the ops replay).
func TestListWritesReplay(t *testing.T) {
	ks, run := listKeyspace(t)
	sub := ks.Subscribe(1 << 16)
	defer sub.Close()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	keys := []string{"a", "b", "c"}
	key := func() string { return keys[rng.IntN(len(keys))] }
	e := func() string { return strconv.Itoa(rng.IntN(5)) }
	i := func() string { return strconv.Itoa(rng.IntN(12) - 6) }
	end := func() string { return []string{"LEFT", "RIGHT"}[rng.IntN(2)] }
	for n := 0; n < 1500; n++ {
		var args []string
		switch rng.IntN(13) {
		case 0, 1:
			args = []string{"RPUSH", key(), e(), e()}
		case 2, 3:
			args = []string{"LPUSH", key(), e(), e(), e()}
		case 4:
			args = []string{[]string{"LPOP", "RPOP"}[rng.IntN(2)], key(), strconv.Itoa(rng.IntN(3))}
		case 5:
			args = []string{"LSET", key(), i(), e()}
		case 6:
			args = []string{"LINSERT", key(), []string{"BEFORE", "AFTER"}[rng.IntN(2)], e(), e()}
		case 7:
			args = []string{"LREM", key(), strconv.Itoa(rng.IntN(5) - 2), e()}
		case 8:
			args = []string{"LTRIM", key(), i(), i()}
		case 9:
			args = []string{"LMOVE", key(), key(), end(), end()}
		case 10:
			args = []string{"LMPOP", "2", key(), key(), end(), "COUNT", "2"}
		case 11:
			args = []string{"BLPOP", key(), key(), "0"} // served at once or answers *Blocking: nothing written
		default:
			if rng.IntN(10) == 0 {
				args = []string{"DEL", key()}
			} else {
				args = []string{"BLMOVE", key(), key(), end(), end(), "0"}
			}
		}
		run(args...)
	}
	model := listModel{}
	last := ks.LastBatch()
	for done := false; !done; {
		select {
		case ev := <-sub.C:
			if ev.Kind == mutex.EventWrites {
				for _, a := range ev.Ops {
					model.apply(t, a)
				}
			}
			done = ev.Kind == mutex.EventFlushed && ev.Seq == last
		case <-time.After(30 * time.Second):
			t.Fatalf("no flushed event for batch %d", last)
		}
	}
	for _, k := range keys {
		got := render(run("LRANGE", k, "0", "-1"))
		want := render(bulks(model[k]))
		if model[k] == nil {
			want = "[]"
		}
		if got != want {
			t.Errorf("seed %d: %s holds %s, the replayed writes give %s", seed, k, got, want)
		}
	}
}

// TestListBlockingUnit: the commands' *Blocking replies, waited on with
// mutex.Keyspace.Block as the server does: FIFO service, a first attempt
// that reports WRONGTYPE, later ones that skip a key of another type, and
// BLMOVE's replies inside and outside MULTI.
func TestListBlockingUnit(t *testing.T) {
	ks, run := listKeyspace(t)
	waitBlocked := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for ks.Blocked() != n {
			if time.Now().After(deadline) {
				t.Fatalf("Blocked() = %d, want %d", ks.Blocked(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	block := func(args ...string) chan any {
		t.Helper()
		b, ok := run(args...).(*Blocking)
		if !ok {
			t.Fatalf("%q did not block", args)
		}
		ch := make(chan any, 1)
		go func() {
			res, err := ks.Block(context.Background(), b.Keys, b.Attempt)
			if err != nil {
				ch <- err
				return
			}
			ch <- res
		}()
		return ch
	}
	const n = 6
	var got []chan any
	for i := range n {
		got = append(got, block("BLPOP", "q", "0"))
		waitBlocked(int64(i + 1))
	}
	run("RPUSH", "q", "0", "1", "2", "3", "4", "5")
	for i, ch := range got {
		if r := render(<-ch); r != fmt.Sprintf(`["q" "%d"]`, i) {
			t.Errorf("waiter %d got %s", i, r)
		}
	}
	waitBlocked(0)

	run("SET", "s", "x")
	if r := run("BLPOP", "s", "0"); r != ErrWrongType {
		t.Fatalf("BLPOP on a string = %v", r)
	}
	ch := block("BRPOP", "w", "0")
	waitBlocked(1)
	run("SET", "w", "string") // Redis 7.0 keeps the client blocked
	run("DEL", "w")
	run("RPUSH", "w", "v")
	if r := render(<-ch); r != `["w" "v"]` {
		t.Fatalf("BRPOP after the type change = %s", r)
	}
	waitBlocked(0)

	// A destination of another type when the move is served: WRONGTYPE,
	// and the element stays where it was (Redis 7.0).
	ch = block("BLMOVE", "src", "dst", "LEFT", "RIGHT", "0")
	waitBlocked(1)
	run("SET", "dst", "string")
	run("RPUSH", "src", "e")
	if r := <-ch; r != ErrWrongType {
		t.Fatalf("BLMOVE onto a string = %v", r)
	}
	if r := render(run("LRANGE", "src", "0", "-1")); r != `["e"]` {
		t.Fatalf("after the refused move src = %s", r)
	}
	waitBlocked(0)

	// The same key twice: served once, registered nowhere afterwards.
	ch = block("BLPOP", "dup", "dup", "0")
	waitBlocked(1)
	run("RPUSH", "dup", "1", "2")
	if r := render(<-ch); r != `["dup" "1"]` {
		t.Fatalf("BLPOP dup dup = %s", r)
	}
	waitBlocked(0)
	if r := render(run("LRANGE", "dup", "0", "-1")); r != `["2"]` {
		t.Fatalf("dup = %s", r)
	}

	b := run("BLMOVE", "none", "d", "LEFT", "LEFT", "5").(*Blocking)
	if b.Timeout != 5*time.Second || b.TimeoutReply != (NullArray{}) || NonBlocking(b) != nil {
		t.Fatalf("BLMOVE: timeout %v, timeout reply %#v, non-blocking reply %#v", b.Timeout, b.TimeoutReply, NonBlocking(b))
	}
	if NonBlocking(run("BLMPOP", "0", "1", "none", "LEFT")) != (NullArray{}) {
		t.Fatal("BLMPOP's non-blocking reply is not a null array")
	}
}

func TestParseTimeoutLikeRedis70(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0": 0, "1": time.Second, "0.5": 500 * time.Millisecond, "0.0001": time.Millisecond, "-0": 0, "-0.0001": 0,
		"1e-300": time.Millisecond, "2.0001": 2001 * time.Millisecond,
	} {
		if got, bad := ParseTimeout([]byte(in)); bad != nil || got != want {
			t.Errorf("ParseTimeout(%q) = %v, %v; want %v", in, got, bad, want)
		}
	}
	for in, want := range map[string]any{
		"-1": Error("ERR timeout is negative"), "inf": Error("ERR timeout is negative"), "-inf": Error("ERR timeout is negative"),
		"1e30": Error("ERR timeout is negative"), "9223372036854776": Error("ERR timeout is negative"),
		"x": Error("ERR timeout is not a float or out of range"), "nan": Error("ERR timeout is not a float or out of range"),
		"": Error("ERR timeout is not a float or out of range"), " 1": Error("ERR timeout is not a float or out of range"),
	} {
		if _, bad := ParseTimeout([]byte(in)); bad != want {
			t.Errorf("ParseTimeout(%q) = %v, want %v", in, bad, want)
		}
	}
}

func BenchmarkListLRange100(b *testing.B) {
	ks, run := listKeyspace(b)
	args := []string{"RPUSH", "l"}
	for i := range 600 {
		args = append(args, "element-"+strconv.Itoa(i))
	}
	run(args...)
	op := func() mutex.Op {
		o, _ := lrangeOp([][]byte{[]byte("lrange"), []byte("l"), []byte("0"), []byte("99")})
		return o
	}
	b.ResetTimer()
	for range b.N / 16 {
		ops := make([]mutex.Op, 16)
		for i := range ops {
			ops[i] = op()
		}
		ks.Do(context.Background(), ops)
	}
}

// BenchmarkListQueue: one RPUSH and one RPOP per element on a list that
// empties after every pop (a job queue that keeps up), and on one that
// keeps a sentinel element (never emptied). The first pays for Pebble's
// memtable holding a tombstone and a new version of the record per
// emptying: looking up a deleted key walks past every older version.
func BenchmarkListQueue(b *testing.B) {
	for _, sentinel := range []bool{false, true} {
		b.Run(fmt.Sprintf("sentinel=%v", sentinel), func(b *testing.B) {
			ks, run := listKeyspace(b)
			if sentinel {
				run("RPUSH", "l", "sentinel")
			}
			b.ResetTimer()
			for range b.N / 16 {
				ops := make([]mutex.Op, 16)
				for i := range ops {
					if i%2 == 0 {
						ops[i], _ = listPushOp(false, false)([][]byte{[]byte("rpush"), []byte("l"), []byte("x")})
					} else {
						ops[i], _ = listPopOp(popName(!sentinel), !sentinel)([][]byte{[]byte(popName(!sentinel)), []byte("l")})
					}
				}
				ks.Do(context.Background(), ops)
			}
		})
	}
}
