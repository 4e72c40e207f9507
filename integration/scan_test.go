package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestScanAndKeys: SCAN visits every key exactly once, in key order, with
// MATCH and COUNT, also through a pooled client whose calls may use other
// connections; KEYS agrees with real Redis.
func TestScanAndKeys(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, &redis.Options{PoolSize: 4})
	var want []string
	p := c.Pipeline()
	for i := 0; i < 1000; i++ {
		k := fmt.Sprintf("scan:%04d", i)
		want = append(want, k)
		p.Set(ctx, k, i, 0)
	}
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	it := c.Scan(ctx, 0, "scan:*", 37).Iterator()
	for it.Next(ctx) {
		got = append(got, it.Val())
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("SCAN visited %d keys (first %v), want the 1000 keys once each, in order", len(got), got[:min(3, len(got))])
	}
	matched, err := c.Keys(ctx, "scan:09[0-4]?").Result()
	if err != nil || len(matched) != 50 || matched[0] != "scan:0900" || matched[49] != "scan:0949" {
		t.Fatalf("KEYS scan:09[0-4]? = %d keys %v (%v)", len(matched), matched[:min(2, len(matched))], err)
	}
	if _, _, err := c.Scan(ctx, 123456789, "", 10).Result(); err == nil {
		t.Fatal("SCAN with an unknown cursor succeeded")
	}
	raddr := realRedis(t)
	rc := newClient(t, raddr, &redis.Options{DB: 8}) // a database no other test uses
	if err := rc.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "ab", "abc", "b", "h?llo", "hello", "x:1", "x:2"} {
		rc.Set(ctx, k, 1, 0)
		c.Set(ctx, k, 1, 0)
	}
	for _, pat := range []string{"*", "a*", "h?llo", "h\\?llo", "x:[12]", "[^a]*"} {
		mine, err1 := c.Keys(ctx, pat).Result()
		theirs, err2 := rc.Keys(ctx, pat).Result()
		mine = slices.DeleteFunc(mine, func(k string) bool { return len(k) > 5 && k[:5] == "scan:" })
		slices.Sort(mine)
		slices.Sort(theirs)
		if err1 != nil || err2 != nil || !slices.Equal(mine, theirs) {
			t.Errorf("KEYS %q: mutexredis %v (%v), redis %v (%v)", pat, mine, err1, theirs, err2)
		}
	}
}
