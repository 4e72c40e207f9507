package mutex

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// takeAttempt serves a waiter with the value of key, deleting it.
func takeAttempt(key []byte) Attempt {
	return func(tx *Tx) (any, bool, error) {
		v, ok, err := tx.Get(key)
		if !ok || err != nil {
			return nil, false, err
		}
		if _, err := tx.Delete(key); err != nil {
			return nil, false, err
		}
		return string(v), true, nil
	}
}

func waitWaiters(t *testing.T, k *Keyspace, n int64) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for k.Blocked() != n {
		if time.Now().After(deadline) {
			t.Fatalf("Blocked() = %d, want %d", k.Blocked(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// Waiters are served in the order they blocked, one value each.
func TestBlockFIFO(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "0")
	const n = 8
	got := make([]chan any, n)
	for i := range n {
		got[i] = make(chan any, 1)
		go func() {
			res, err := k.Block(context.Background(), [][]byte{b("q")}, takeAttempt(b("q")))
			if err != nil {
				got[i] <- err
				return
			}
			got[i] <- res
		}()
		waitWaiters(t, k, int64(i+1)) // the order they block in is the order of i
	}
	for i := range n {
		do(t, k, Put(b("q"), b(fmt.Sprint("v", i))))
		if res := <-got[i]; res != fmt.Sprint("v", i) {
			t.Fatalf("waiter %d got %v, want v%d", i, res, i)
		}
	}
	waitWaiters(t, k, 0)
}

// A waiter whose context ends leaves, and what it did not take stays.
func TestBlockCancel(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := k.Block(ctx, [][]byte{b("q")}, takeAttempt(b("q")))
		done <- err
	}()
	waitWaiters(t, k, 1)
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Block after cancel: %v", err)
	}
	waitWaiters(t, k, 0)
	do(t, k, Put(b("q"), b("x")))
	if v := get(t, k, "q"); v != "x" {
		t.Fatalf("q = %s after a cancelled waiter, want x", v)
	}
}

// Many producers and consumers: every value is taken by exactly one
// consumer, none is lost.
func TestBlockManyProducersConsumers(t *testing.T) {
	s, _ := newStore(t, Options{NoSync: true})
	k := keyspace(t, s, "0")
	const producers, perProducer, consumers = 8, 50, 16
	keys := [][]byte{b("q0"), b("q1"), b("q2")}
	attempt := func(tx *Tx) (any, bool, error) {
		for _, key := range keys {
			if res, ok, err := takeAttempt(key)(tx); ok || err != nil {
				return res, ok, err
			}
		}
		return nil, false, nil
	}
	var mu sync.Mutex
	taken := map[string]int{}
	total := producers * perProducer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				res, err := k.Block(ctx, keys, attempt)
				if err != nil {
					return
				}
				mu.Lock()
				taken[res.(string)]++
				if len(taken) == total {
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perProducer {
				key := keys[i%len(keys)]
				v := fmt.Sprintf("p%d-%d", p, i)
				// Wait for the key to be free so no value overwrites another.
				for {
					ops := []Op{WriteOp(func(tx *Tx) (any, error) {
						if ok, err := tx.Exists(key); ok || err != nil {
							return false, err
						}
						return true, tx.Set(key, b(v))
					})}
					if err := doErr(k, ops...); err != nil {
						t.Error(err)
						return
					}
					if ops[0].Result.(bool) {
						break
					}
					time.Sleep(100 * time.Microsecond)
				}
			}
		}()
	}
	wg.Wait()
	if len(taken) != total {
		t.Fatalf("%d distinct values taken, want %d", len(taken), total)
	}
	for v, n := range taken {
		if n != 1 {
			t.Fatalf("%s taken %d times", v, n)
		}
	}
}
