package integration

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRestartKeepsDataAndBatchNumbers: SIGTERM, restart on the same
// directory: every keyspace's data is there and AFTERWRITE continues +1.
func TestRestartKeepsDataAndBatchNumbers(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c0 := s.client(t, nil)
	c7 := s.client(t, &redis.Options{DB: 7})
	cn := named(t, s, "tenant-d", nil)
	if err := c0.MSet(ctx, "a", "1", "b", "2", "bin\x00\xff", "\xfe\x00").Err(); err != nil {
		t.Fatal(err)
	}
	c0.Del(ctx, "b")
	c7.Set(ctx, "seven", "7", 0)
	cn.Set(ctx, "doc", "rev:1", 0)
	cn.Set(ctx, "doc", "rev:2", 0)
	want0, want7, wantN := afterwrite(t, c0), afterwrite(t, c7), afterwrite(t, cn)
	if want0 != 2 || want7 != 1 || wantN != 2 {
		t.Fatalf("AFTERWRITE before restart: %d %d %d, want 2 1 2", want0, want7, wantN)
	}

	s2 := s.restart(t)
	ctx2 := context.Background()
	d0 := s2.client(t, nil)
	d7 := s2.client(t, &redis.Options{DB: 7})
	dn := named(t, s2, "tenant-d", nil)
	if v, _ := d0.MGet(ctx2, "a", "b", "bin\x00\xff").Result(); fmt.Sprint(v) != fmt.Sprint([]any{"1", nil, "\xfe\x00"}) {
		t.Errorf("db 0 after restart: %q", v)
	}
	if v, _ := d7.Get(ctx2, "seven").Result(); v != "7" {
		t.Errorf("db 7 after restart: %q", v)
	}
	if v, _ := dn.Get(ctx2, "doc").Result(); v != "rev:2" {
		t.Errorf("tenant-d after restart: %q", v)
	}
	if n, _ := d0.DBSize(ctx2).Result(); n != 2 {
		t.Errorf("db 0 DBSIZE after restart = %d, want 2", n)
	}
	if a0, a7, an := afterwrite(t, d0), afterwrite(t, d7), afterwrite(t, dn); a0 != want0 || a7 != want7 || an != wantN {
		t.Errorf("AFTERWRITE after restart: %d %d %d, want %d %d %d", a0, a7, an, want0, want7, wantN)
	}
	d0.Set(ctx2, "c", "3", 0)
	dn.Set(ctx2, "doc", "rev:3", 0)
	if a0, an := afterwrite(t, d0), afterwrite(t, dn); a0 != want0+1 || an != wantN+1 {
		t.Errorf("AFTERWRITE after a write after restart: %d %d, want %d %d", a0, an, want0+1, wantN+1)
	}

	// Once more, with events: the batch number in the events continues too.
	s3 := s2.restart(t)
	e0 := s3.client(t, nil)
	rx := subscribeEvents(t, s3.client(t, nil), false, "__mutex@0__:flushed")
	e0.Set(context.Background(), "d", "4", 0)
	if e := rx.next(); *e.Batch != uint64(want0+2) {
		t.Errorf("first batch after the second restart is %d, want %d", *e.Batch, want0+2)
	}
}

// kill stops the server with SIGKILL: no graceful shutdown at all.
func (s *srv) kill(t *testing.T) {
	t.Helper()
	s.stopped = true
	s.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("mutexredis did not die on SIGKILL")
	}
}

// TestAcknowledgedWritesSurviveKill9: with --fsync always, every write
// acknowledged before kill -9 is there after a restart (PRODUCT §6).
func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, &redis.Options{PoolSize: 8})
	const writers, each = 8, 25
	var mu sync.Mutex
	acked := map[string]string{}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				k, v := fmt.Sprintf("w%d:%03d", w, i), fmt.Sprintf("value %d %d", w, i)
				if err := c.Set(ctx, k, v, 0).Err(); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[k] = v
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	last := afterwrite(t, c)
	c.Close()
	s.kill(t)

	s2 := startServerDir(t, s.Dir)
	c2 := s2.client(t, nil)
	for k, v := range acked {
		if got, err := c2.Get(ctx, k).Result(); got != v {
			t.Errorf("after kill -9, GET %s = %q (%v), want %q", k, got, err, v)
		}
	}
	if n := afterwrite(t, c2); n != last {
		t.Errorf("AFTERWRITE after kill -9 = %d, want %d", n, last)
	}
}
