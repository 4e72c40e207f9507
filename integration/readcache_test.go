package integration

import (
	"context"
	"strconv"
	"strings"
	"testing"
)

// TestReadCacheConfig checks the read cache through the server: reads hit
// it (INFO's store_read_cache_*), a value written after it was cached
// reads back new, and CONFIG SET read-cache-size 0 empties it while reads
// go on.
func TestReadCacheConfig(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.client(t, nil)
	ctx := context.Background()
	info := func(field string) int64 {
		t.Helper()
		text, err := c.Info(ctx, "mutex").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(text, "\r\n") {
			if v, ok := strings.CutPrefix(line, field+":"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		t.Fatalf("INFO has no %s", field)
		return 0
	}
	if got := c.ConfigGet(ctx, "read-cache-size").Val()["read-cache-size"]; got != strconv.Itoa(32<<20) {
		t.Errorf("CONFIG GET read-cache-size = %q, want the 32mb default", got)
	}
	get := func(want string) {
		t.Helper()
		if got := c.Get(ctx, "k").Val(); got != want {
			t.Fatalf("GET k = %q, want %q", got, want)
		}
	}
	c.Set(ctx, "k", "1", 0)
	get("1") // read from Pebble, cached
	get("1") // from the cache
	c.Set(ctx, "k", "2", 0)
	get("2") // the commit replaced the cached copy
	if hits := info("store_read_cache_hits"); hits < 2 {
		t.Errorf("store_read_cache_hits = %d after repeated GETs", hits)
	}
	if err := c.ConfigSet(ctx, "read-cache-size", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if n, limit := info("store_read_cache_entries"), info("store_read_cache_limit"); n != 0 || limit != 0 {
		t.Errorf("after CONFIG SET read-cache-size 0: %d entries, limit %d", n, limit)
	}
	get("2")
	if err := c.ConfigSet(ctx, "read-cache-size", "lots").Err(); err == nil {
		t.Error("CONFIG SET read-cache-size lots was accepted")
	}
}
