package integration

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Sets, compared with a real redis-server 7.0 (the runner is in
// hash_test.go), and the promises of the mutex for SPOP and SMOVE under
// concurrency.

var setScripts = []collScript{
	{"sadd srem sismember", []collStep{
		ex("SADD", "s", "a", "b", "a"), ex("SADD", "s", "b"), ex("SADD", "s", "c", ""), ex("SCARD", "s"),
		ex("SISMEMBER", "s", "a"), ex("SISMEMBER", "s", "z"), ex("SISMEMBER", "s", ""), ex("SISMEMBER", "nokey", "a"),
		ex("SMISMEMBER", "s", "a", "z", "c"), ex("SMISMEMBER", "nokey", "a", "b"), ex("SMISMEMBER", "s"),
		ex("SREM", "s", "a", "a", "z"), ex("SREM", "s", "z"), ex("SREM", "nokey", "a"), ex("SCARD", "s"), ex("SCARD", "nokey"),
		ex("SREM", "s", "b", "c", ""), ex("EXISTS", "s"), ex("SADD", "s"), ex("SREM", "s"), ex("SCARD"), ex("SISMEMBER", "s"),
		ex("SADD", "s", "bin\x00\xff"), ex("SISMEMBER", "s", "bin\x00\xff"), uno("SMEMBERS", "s"), ex("TYPE", "s"),
		uno("SMEMBERS", "nokey"), ex("SMEMBERS"), ex("SMEMBERS", "a", "b"),
	}},
	{"spop srandmember", []collStep{
		ex("SPOP", "nokey"), ex("SPOP", "nokey", "2"), ex("SRANDMEMBER", "nokey"), ex("SRANDMEMBER", "nokey", "2"),
		ex("SADD", "p", "a", "b", "c"), shp("SPOP", "p"), ex("SCARD", "p"), shp("SPOP", "p", "1"), ex("SCARD", "p"), shp("SPOP", "p", "5"),
		ex("EXISTS", "p"), ex("SADD", "s", "a", "b", "c"), ex("SPOP", "s", "0"), ex("SPOP", "s", "-1"),
		ex("SPOP", "s", "x"), ex("SPOP", "s", "1", "2"), ex("SPOP", "s", "1.5"),
		shp("SRANDMEMBER", "s"), shp("SRANDMEMBER", "s", "1"), shp("SRANDMEMBER", "s", "-5"), shp("SRANDMEMBER", "s", "2"),
		uno("SRANDMEMBER", "s", "5"), ex("SRANDMEMBER", "s", "0"), ex("SRANDMEMBER", "s", "x"), ex("SRANDMEMBER", "s", "1", "2"),
		ex("SRANDMEMBER", "s", "-9223372036854775808"), ex("SRANDMEMBER", "s", "9223372036854775807", "x"),
		uno("SPOP", "s", "9223372036854775807"), ex("EXISTS", "s"), ex("SADD", "one", "x"), ex("SPOP", "one"), ex("EXISTS", "one"),
		ex("SADD", "two", "x", "y"), uno("SPOP", "two", "2"), ex("EXISTS", "two"), ex("SPOP"), ex("SRANDMEMBER"),
	}},
	{"smove", []collStep{
		ex("SADD", "a", "1", "2", "3"), ex("SADD", "b", "3", "4"),
		ex("SMOVE", "a", "b", "1"), ex("SMOVE", "a", "b", "1"), ex("SMOVE", "a", "b", "3"), uno("SMEMBERS", "a"), uno("SMEMBERS", "b"),
		ex("SMOVE", "a", "new", "2"), ex("EXISTS", "a"), uno("SMEMBERS", "new"), ex("SMOVE", "nokey", "b", "1"),
		ex("SMOVE", "b", "b", "4"), ex("SMOVE", "b", "b", "zz"), uno("SMEMBERS", "b"), ex("SMOVE", "b", "c"), ex("SMOVE", "b", "c", "4", "x"),
	}},
	{"sinter sunion sdiff", []collStep{
		ex("SADD", "a", "1", "2", "3", "4"), ex("SADD", "b", "3", "4", "5"), ex("SADD", "c", "4", "5", "6"),
		uno("SINTER", "a", "b"), uno("SINTER", "a", "b", "c"), uno("SINTER", "a"), uno("SINTER", "a", "nokey"), uno("SINTER", "nokey"),
		uno("SINTER", "a", "a"), uno("SUNION", "a", "b", "c"), uno("SUNION", "nokey", "a"), uno("SUNION", "nokey"),
		uno("SDIFF", "a", "b"), uno("SDIFF", "a", "b", "c"), uno("SDIFF", "a", "nokey"), uno("SDIFF", "nokey", "a"), uno("SDIFF", "a", "a"),
		ex("SINTER"), ex("SUNION"), ex("SDIFF"),
		ex("SINTERCARD", "2", "a", "b"), ex("SINTERCARD", "3", "a", "b", "c"), ex("SINTERCARD", "2", "a", "nokey"),
		ex("SINTERCARD", "1", "a", "LIMIT", "2"), ex("SINTERCARD", "1", "a", "LIMIT", "0"), ex("SINTERCARD", "1", "a", "limit", "100"),
		ex("SINTERCARD", "0", "a"), ex("SINTERCARD", "x", "a"), ex("SINTERCARD", "-1", "a"), ex("SINTERCARD", "3", "a", "b"),
		ex("SINTERCARD", "1", "a", "LIMIT", "-1"), ex("SINTERCARD", "1", "a", "LIMIT", "x"), ex("SINTERCARD", "1", "a", "LIMIT"),
		ex("SINTERCARD", "1", "a", "FOO", "1"), ex("SINTERCARD", "1", "a", "b"), ex("SINTERCARD", "1"),
		ex("SINTERCARD", "1", "a", "LIMIT", "1", "LIMIT", "3"),
	}},
	{"store", []collStep{
		ex("SADD", "a", "1", "2", "3"), ex("SADD", "b", "2", "3", "4"), ex("SET", "str", "x"),
		ex("SINTERSTORE", "d", "a", "b"), uno("SMEMBERS", "d"), ex("SUNIONSTORE", "d", "a", "b"), uno("SMEMBERS", "d"),
		ex("SDIFFSTORE", "d", "a", "b"), uno("SMEMBERS", "d"), ex("EXPIRE", "d", "100"), ex("SUNIONSTORE", "d", "d", "b"),
		uno("SMEMBERS", "d"), ex("TTL", "d"), ex("SINTERSTORE", "d", "a", "nokey"), ex("EXISTS", "d"),
		ex("SINTERSTORE", "str", "a", "b"), ex("TYPE", "str"), uno("SMEMBERS", "str"), ex("SET", "str", "x"),
		ex("SDIFFSTORE", "d", "a", "a"), ex("EXISTS", "d"), ex("SUNIONSTORE", "d", "nokey"), ex("SINTERSTORE", "d", "str"),
		ex("SUNIONSTORE", "a", "a", "b"), uno("SMEMBERS", "a"), ex("SINTERSTORE", "d"), ex("SDIFFSTORE", "d"), ex("SUNIONSTORE"),
		ex("SINTERSTORE", "d", "a"), uno("SMEMBERS", "d"),
	}},
	{"sscan", []collStep{
		ex("SSCAN", "nokey", "0"), ex("SSCAN", "nokey", "0", "COUNT", "x"), ex("SSCAN", "s", "x"),
		ex("SADD", "s", "a1", "a2", "b1", "1", "2"),
		scn("SSCAN", "s", "0"), scn("SSCAN", "s", "0", "MATCH", "a*"), scn("SSCAN", "s", "0", "COUNT", "1"),
		scn("SSCAN", "s", "0", "MATCH", "*1", "COUNT", "100"), ex("SSCAN", "s", "0", "COUNT", "0"), ex("SSCAN", "s", "0", "NOVALUES"),
		ex("SSCAN", "s", "0", "COUNT"), ex("SSCAN", "s", "0", "FOO", "x"), ex("SSCAN", "s"),
	}},
	{"scan family errors", []collStep{
		// Redis checks the key before the options: a missing key answers an
		// empty scan whatever follows its cursor (SCAN has no key: at once).
		ex("ZSCAN", "nokey", "0", "COUNT", "x"), ex("ZSCAN", "nokey", "0", "FOO"), ex("ZSCAN", "nokey", "0", "COUNT", "0"),
		ex("ZSCAN", "nokey", "0", "MATCH"), ex("ZSCAN", "nokey", "0", "NOVALUES"), ex("ZSCAN", "nokey", "-1"), ex("ZSCAN", "nokey", "99"),
		ex("ZSCAN", "nokey", "x"), ex("ZSCAN", "nokey", "18446744073709551616"), ex("HSCAN", "nokey", "0", "FOO"), ex("SSCAN", "nokey", "99", "COUNT", "x"),
		ex("SET", "str", "x"), ex("ZSCAN", "str", "0", "FOO"), ex("HSCAN", "str", "0", "COUNT", "x"),
		ex("ZADD", "z", "1", "a"), ex("ZSCAN", "z", "0", "COUNT", "x"), ex("ZSCAN", "z", "0", "FOO"), ex("ZSCAN", "z", "0", "COUNT", "0"),
		ex("ZSCAN", "z", "0", "NOVALUES"), ex("ZSCAN", "z", "0", "MATCH"),
		ex("SCAN", "0", "COUNT", "x"), ex("SCAN", "0", "FOO"), ex("SCAN", "0", "NOVALUES"), ex("SCAN", "0", "TYPE"), ex("SCAN", "x"),
		ex("SCAN", "0", "TYPE", "nosuchtype"), ex("SCAN", "0", "COUNT", "0"),
	}},
	{"zscan big", []collStep{
		ex("EVAL", "for i = 1, 300 do redis.call('zadd', KEYS[1], i % 7, 'member:' .. i) end", "1", "zbig"),
		scn("ZSCAN", "zbig", "0"), scn("ZSCAN", "zbig", "0", "COUNT", "7"), scn("ZSCAN", "zbig", "0", "MATCH", "*1*", "COUNT", "3"),
		ex("ZREMRANGEBYRANK", "zbig", "0", "199"), scn("ZSCAN", "zbig", "0", "COUNT", "1"),
	}},
	{"set wrongtype", []collStep{
		ex("SET", "str", "x"), ex("HSET", "h", "f", "v"), ex("SADD", "s", "m"),
		ex("SADD", "str", "m"), ex("SREM", "str", "m"), ex("SISMEMBER", "h", "m"), ex("SMISMEMBER", "h", "m"), ex("SMEMBERS", "str"),
		ex("SCARD", "h"), ex("SPOP", "str"), ex("SPOP", "str", "2"), ex("SPOP", "str", "x"), ex("SRANDMEMBER", "h"), ex("SRANDMEMBER", "h", "2"),
		ex("SMOVE", "str", "s", "m"), ex("SMOVE", "s", "str", "m"), ex("SMOVE", "s", "str", "nomember"), ex("SMOVE", "nokey", "str", "m"),
		ex("SINTER", "s", "str"), ex("SINTER", "nokey", "str"), ex("SINTER", "str", "nokey"), ex("SUNION", "s", "h"), ex("SDIFF", "nokey", "h"),
		ex("SDIFF", "s", "h"), ex("SINTERCARD", "2", "s", "h"), ex("SINTERSTORE", "d", "s", "h"), ex("SUNIONSTORE", "d", "h"),
		ex("SDIFFSTORE", "d", "nokey", "str"), ex("SSCAN", "str", "0"), ex("SSCAN", "h", "0", "COUNT", "0"), ex("EXISTS", "d"),
		ex("HGET", "s", "m"), ex("GET", "s"), ex("INCR", "s"), uno("SMEMBERS", "s"),
	}},
	{"set multi", []collStep{
		ex("MULTI"), ex("SADD", "s", "a", "b"), ex("SCARD", "s"), ex("SMOVE", "s", "t", "a"), ex("SADD", "s"), ex("EXEC"),
		uno("SMEMBERS", "t"), ex("MULTI"), ex("SADD", "t", "x"), ex("HSET", "t", "f", "v"), ex("SCARD", "t"), ex("EXEC"),
	}},
}

func TestSetCompareWithRedis(t *testing.T) {
	t.Parallel()
	runCollScripts(t, setScripts)
}

// TestSetScanBig: SSCAN visits every member of a large set exactly once,
// and so does an iteration whose cursors are continued on another
// connection and after a restart (cursors derived from the member order
// need no server state).
func TestSetScanBig(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--fsync", "never")
	ctx := context.Background()
	c := s.client(t, nil)
	args := []any{"SADD", "s"}
	want := map[string]bool{}
	for i := 0; i < 3000; i++ {
		m := strconv.Itoa(i * 104729 % 1000003)
		args = append(args, m)
		want[m] = true
	}
	if err := c.Do(ctx, args...).Err(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	var cursor uint64
	for round := 0; ; round++ {
		if round > 5000 {
			t.Fatal("the scan does not end")
		}
		if round == 10 {
			s = s.restart(t)
		}
		members, next, err := s.client(t, nil).SScan(ctx, "s", cursor, "", 25).Result()
		if err != nil {
			t.Fatalf("round %d, cursor %d: %v", round, cursor, err)
		}
		for _, m := range members {
			seen[m]++
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	for m := range want {
		if seen[m] != 1 {
			t.Errorf("member %s seen %d times", m, seen[m])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("scan returned %d members, want %d", len(seen), len(want))
	}
}

// TestSetRandomMembers: SRANDMEMBER, HRANDFIELD and SPOP answer members of
// the set with the counts' rules (distinct for a positive count, repeats
// allowed for a negative one), and every member can come out, of small
// sets (read whole) and of large ones (sampled by a random walk).
func TestSetRandomMembers(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--fsync", "never")
	ctx := context.Background()
	c := s.client(t, nil)
	for _, size := range []int{3, 5000} {
		key := "s" + strconv.Itoa(size)
		members := map[string]bool{}
		args := []any{"SADD", key}
		hargs := []any{"HSET", "h" + key}
		for i := 0; i < size; i++ {
			m := fmt.Sprintf("member:%d", i)
			members[m] = true
			args = append(args, m)
			hargs = append(hargs, m, "v"+m)
		}
		c.Do(ctx, args...)
		c.Do(ctx, hargs...)
		// Every member of the small set, and a spread of the large one.
		seen := map[string]bool{}
		for i := 0; i < 300; i++ {
			m, err := c.SRandMember(ctx, key).Result()
			if err != nil || !members[m] {
				t.Fatalf("SRANDMEMBER %s = %q, %v", key, m, err)
			}
			seen[m] = true
		}
		if size == 3 && len(seen) != 3 {
			t.Errorf("300 SRANDMEMBER of 3 members gave only %v", seen)
		}
		if size > 3 && len(seen) < 100 {
			t.Errorf("300 SRANDMEMBER of %d members gave only %d different ones", size, len(seen))
		}
		for _, n := range []int64{2, 40, int64(size) - 1} {
			n = min(n, int64(size)) // a count past the size gives the whole set
			got, err := c.SRandMemberN(ctx, key, n).Result()
			if err != nil || int64(len(got)) != n {
				t.Fatalf("SRANDMEMBER %s %d: %d members, %v", key, n, len(got), err)
			}
			distinct := map[string]bool{}
			for _, m := range got {
				if !members[m] || distinct[m] {
					t.Fatalf("SRANDMEMBER %s %d: %q is not a member or repeated", key, n, m)
				}
				distinct[m] = true
			}
			fv, err := c.HRandFieldWithValues(ctx, "h"+key, int(n)).Result()
			if err != nil || int64(len(fv)) != n {
				t.Fatalf("HRANDFIELD %d WITHVALUES: %d, %v", n, len(fv), err)
			}
			for _, kv := range fv {
				if kv.Value != "v"+kv.Key {
					t.Fatalf("HRANDFIELD WITHVALUES: %q has value %q", kv.Key, kv.Value)
				}
			}
		}
		rep, err := c.SRandMemberN(ctx, key, -50).Result()
		if err != nil || len(rep) != 50 {
			t.Fatalf("SRANDMEMBER -50: %d, %v", len(rep), err)
		}
		// SPOP takes members out, each once.
		popped, err := c.SPopN(ctx, key, int64(min(size, 40))).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range popped {
			if !members[m] {
				t.Fatalf("SPOP returned %q", m)
			}
			if c.SIsMember(ctx, key, m).Val() {
				t.Fatalf("SPOP left %q in the set", m)
			}
		}
		if n := c.SCard(ctx, key).Val(); n != int64(size-len(popped)) || (size == 3 && n != 0) {
			t.Fatalf("SCARD after popping %d of %d: %d", len(popped), size, n)
		}
	}
}

// TestSetConcurrentPopAndMove: clients popping one set at once receive
// every member exactly once; clients moving members between two sets keep
// every member in exactly one of them.
func TestSetConcurrentPopAndMove(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, nil)
	const n = 600
	args := []any{"SADD", "jobs"}
	for i := 0; i < n; i++ {
		args = append(args, "job"+strconv.Itoa(i))
	}
	c.Do(ctx, args...)
	c.SAdd(ctx, "left", "m1", "m2", "m3", "m4")
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 8; w++ {
		wg.Add(2)
		go func(w int) {
			defer wg.Done()
			cl := s.client(t, nil)
			for {
				var m []string
				var err error
				if w%2 == 0 {
					m, err = cl.SPopN(ctx, "jobs", 3).Result()
				} else {
					var one string
					one, err = cl.SPop(ctx, "jobs").Result()
					m = []string{one}
				}
				if err == redis.Nil || (err == nil && len(m) == 0) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, x := range m {
					got[x]++
				}
				mu.Unlock()
			}
		}(w)
		go func(w int) {
			defer wg.Done()
			cl := s.client(t, nil)
			for i := 0; i < 50; i++ {
				from, to := "left", "right"
				if (i+w)%2 == 1 {
					from, to = to, from
				}
				if err := cl.SMove(ctx, from, to, "m"+strconv.Itoa(1+(i+w)%4)).Err(); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Errorf("popped %d different members, want %d", len(got), n)
	}
	for m, k := range got {
		if k != 1 {
			t.Errorf("%s popped %d times", m, k)
		}
	}
	all := append(c.SMembers(ctx, "left").Val(), c.SMembers(ctx, "right").Val()...)
	slices.Sort(all)
	if want := []string{"m1", "m2", "m3", "m4"}; !slices.Equal(all, want) {
		t.Errorf("after the moves left ∪ right = %q, want %q", all, want)
	}
}

// TestSetBigDeleteIsOneWrite: deleting, overwriting or expiring a large
// set writes one op whatever its size, and the key can be reused at once.
func TestSetBigDeleteIsOneWrite(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--fsync", "never")
	ctx := context.Background()
	c := s.client(t, nil)
	for round := 0; round < 3; round++ {
		for i := 0; i < 20; i++ {
			args := []any{"SADD", "big"}
			for j := 0; j < 1000; j++ {
				args = append(args, strconv.Itoa(i*1000+j))
			}
			c.Do(ctx, args...)
		}
		if n := c.SCard(ctx, "big").Val(); n != 20000 {
			t.Fatalf("SCARD = %d", n)
		}
		ev := rawWrites(t, s.client(t, nil), "0")
		switch round {
		case 0:
			c.Del(ctx, "big")
		case 1:
			c.Set(ctx, "big", "x", 0)
			c.Del(ctx, "big")
		case 2:
			c.Unlink(ctx, "big")
		}
		if p := ev(); !slices.Contains([]string{
			`{"keyspace":"0","batch":` + batchOf(p) + `,"ops":[{"op":"del","key":"big"}]}`,
			`{"keyspace":"0","batch":` + batchOf(p) + `,"ops":[{"op":"set","key":"big","value":"x"}]}`,
		}, p) {
			t.Fatalf("writes event of the delete: %s", p)
		}
		if n := c.SCard(ctx, "big").Val(); n != 0 {
			t.Fatalf("SCARD after delete = %d", n)
		}
		if c.SAdd(ctx, "big", "5").Val() != 1 || c.SCard(ctx, "big").Val() != 1 {
			t.Fatal("a new set at the key is not empty")
		}
		c.Del(ctx, "big")
	}
}

// batchOf extracts the batch number of a writes payload.
func batchOf(p string) string {
	var ks string
	var b int
	fmt.Sscanf(p, `{"keyspace":%q,"batch":%d`, &ks, &b)
	return strconv.Itoa(b)
}

// TestHashSetCrash: clients run transactions that touch a hash counter, a
// set and a hash together while the server is killed with SIGKILL, three
// times over. After each restart every acknowledged transaction is there,
// and each transaction is all or nothing: the counter, the set's size and
// the hash's size agree, and the members are exactly those of the applied
// transactions.
func TestHashSetCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	const workers = 6
	acked := make([]int64, workers) // per worker: transactions acknowledged so far (all cycles)
	for cycle := 0; cycle < 3; cycle++ {
		s := ownStartPlain(t, dir)
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		enough := make(chan struct{})
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				c := s.client(t, &redis.Options{MaxRetries: -1})
				for i := acked[w]; ; i++ {
					_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
						p.HIncrBy(ctx, "crash:ctr", strconv.Itoa(w), 1)
						p.SAdd(ctx, "crash:members:"+strconv.Itoa(w), fmt.Sprintf("%d-%d", w, i))
						p.HSet(ctx, "crash:doc:"+strconv.Itoa(w), strconv.FormatInt(i, 10), "x")
						return nil
					})
					if err != nil {
						return // killed
					}
					mu.Lock()
					acked[w] = i + 1
					total++
					if total == 120 {
						close(enough)
					}
					mu.Unlock()
				}
			}(w)
		}
		<-enough
		s.sigkill(t)
		wg.Wait()
		s = ownStartPlain(t, dir)
		c := s.client(t, nil)
		for w := 0; w < workers; w++ {
			ws := strconv.Itoa(w)
			n, err := c.HGet(ctx, "crash:ctr", ws).Int64()
			if err != nil && err != redis.Nil {
				t.Fatal(err)
			}
			if n < acked[w] || n > acked[w]+1 {
				t.Fatalf("cycle %d worker %d: counter %d, %d transactions acknowledged", cycle, w, n, acked[w])
			}
			members := c.SMembers(ctx, "crash:members:"+ws).Val()
			if hl := c.HLen(ctx, "crash:doc:"+ws).Val(); int64(len(members)) != n || hl != n {
				t.Fatalf("cycle %d worker %d: counter %d, %d members, %d fields: a transaction was applied in part", cycle, w, n, len(members), hl)
			}
			for i := int64(0); i < n; i++ {
				if !slices.Contains(members, fmt.Sprintf("%d-%d", w, i)) {
					t.Fatalf("cycle %d worker %d: member %d-%d missing", cycle, w, w, i)
				}
			}
			acked[w] = n // the next cycle continues from what is there
		}
		s.stop(t)
	}
}
