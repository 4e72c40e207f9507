package integration

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestInfoKeyCounts: INFO's db line, kept by the write phases (no scan),
// matches a count by SCAN after random commands of every type, expiry
// included, and after kill -9 and a restart: exactly without plain SETs
// (which do not read what they overwrite), as an upper bound with them.
func TestInfoKeyCounts(t *testing.T) {
	t.Parallel()
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("plainSET=%v", plain), func(t *testing.T) {
			s := startServer(t)
			c := s.client(t, nil)
			rng := rand.New(rand.NewPCG(7, 0))
			for range 1500 {
				args := randomCommand(rng, plain)
				var reply redis.Error // an error reply (WRONGTYPE, no such key …) is an outcome like another
				if err := c.Do(context.Background(), args...).Err(); err != nil && err != redis.Nil && !errors.As(err, &reply) {
					t.Fatalf("%v: %v", args, err)
				}
			}
			check := func(when string) {
				t.Helper()
				info, scanned := infoKeys(t, c), scanKeys(t, c)
				if plain {
					// An upper bound: INFO counts each plain SET as creating its key.
					if info < scanned {
						t.Fatalf("%s: INFO keys=%d, below the %d SCAN finds", when, info, scanned)
					}
					return
				}
				// Keys past their deadline count until the expirer deletes
				// them: wait until SCAN and INFO agree.
				waitFor(t, when+": INFO's keys= as SCAN counts", func() bool {
					info, scanned = infoKeys(t, c), scanKeys(t, c)
					return info == scanned
				})
				t.Logf("%s: INFO keys=%d, SCAN %d", when, info, scanned)
			}
			check("after the commands")
			s.kill(t)
			s2 := startServerDir(t, s.Dir)
			c = s2.client(t, nil)
			check("after kill -9")
			// DBSIZE counts by scan when it must, and makes INFO exact (once
			// the keys past their deadline are deleted).
			waitFor(t, "INFO's keys= as DBSIZE counts", func() bool {
				n, err := c.DBSize(context.Background()).Result()
				if err != nil {
					t.Fatal(err)
				}
				return infoKeys(t, c) == n
			})
		})
	}
}

// randomCommand is one of the commands that create, replace, expire or
// delete keys, of every type, over a few keys so that they collide.
func randomCommand(rng *rand.Rand, plain bool) []any {
	k := "k" + strconv.Itoa(rng.IntN(12))
	k2 := "k" + strconv.Itoa(rng.IntN(12))
	m := strconv.Itoa(rng.IntN(3))
	cmds := [][]any{
		{"SET", k, "v", "GET"}, {"SET", k, "v", "NX", "EX", "1000"}, {"SET", k, "v", "XX", "PX", "1"},
		{"DEL", k}, {"GETDEL", k}, {"EXPIRE", k, "1000"}, {"PEXPIRE", k, "1"}, {"PERSIST", k},
		{"INCR", k}, {"APPEND", k, "x"}, {"GETEX", k, "PX", "1"},
		{"HSET", k, m, "v"}, {"HDEL", k, m}, {"SADD", k, m}, {"SREM", k, m}, {"SPOP", k},
		{"LPUSH", k, m}, {"RPOP", k}, {"LPOP", k}, {"LMOVE", k, k2, "LEFT", "RIGHT"},
		{"ZADD", k, "1", m}, {"ZREM", k, m}, {"ZPOPMIN", k},
		{"XADD", k, "*", "f", "v"}, {"DEL", k},
		{"RENAME", k, k2}, {"COPY", k, k2, "REPLACE"}, {"SUNIONSTORE", k2, k, k2},
		{"SETNX", k, "v"}, {"MSETNX", k, "v", k2, "v"},
	}
	if plain {
		cmds = append(cmds, []any{"SET", k, "v"}, []any{"SET", k, "v", "PX", "1"}, []any{"MSET", k, "v", k2, "v"},
			[]any{"SETEX", k, "1000", "v"})
	}
	if rng.IntN(300) == 0 {
		return []any{"FLUSHDB"}
	}
	return cmds[rng.IntN(len(cmds))]
}

var dbKeys = regexp.MustCompile(`(?m)^db0:keys=(\d+),`)

func infoKeys(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "keyspace").Result()
	if err != nil {
		t.Fatal(err)
	}
	m := dbKeys.FindStringSubmatch(info)
	if m == nil {
		return 0 // Redis lists only the databases that hold keys
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

func scanKeys(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	var n int64
	iter := c.Scan(context.Background(), 0, "*", 100).Iterator()
	for iter.Next(context.Background()) {
		n++
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
