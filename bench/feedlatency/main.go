// Command feedlatency measures change-feed delivery: a client blocked in
// XREAD BLOCK on the reserved stream __mutex:feed, and a writer that sends
// one SET at a time. It reports, per SET, the time from the SET's
// acknowledgement to the XREAD reply carrying its batch (negative when the
// feed entry arrives first: both follow the same commit), and from sending
// the SET to that reply (the commit's fsync included), as p50/p99.
//
//	go run ./bench/feedlatency -addr 127.0.0.1:6379 -n 2000
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "mutexredis address")
	n := flag.Int("n", 2000, "SETs to time")
	flag.Parse()
	ctx := context.Background()
	writer := redis.NewClient(&redis.Options{Addr: *addr})
	reader := redis.NewClient(&redis.Options{Addr: *addr, ReadTimeout: -1})
	defer writer.Close()
	defer reader.Close()

	last := "$"
	var fromAck, fromSend []time.Duration
	for i := 0; i < *n; i++ {
		got := make(chan time.Time, 1)
		go func(from string) {
			res, err := reader.XRead(ctx, &redis.XReadArgs{Streams: []string{"__mutex:feed", from}, Block: 0, Count: 1}).Result()
			if err != nil {
				log.Fatal(err)
			}
			last = res[0].Messages[0].ID
			got <- time.Now()
		}(last)
		// The reader must be blocked before the write: wait for the server
		// to count it (blocked_clients).
		for !blocked(ctx, writer) {
			time.Sleep(100 * time.Microsecond)
		}
		sent := time.Now()
		if err := writer.Set(ctx, "feedlatency:"+strconv.Itoa(i), i, 0).Err(); err != nil {
			log.Fatal(err)
		}
		acked := time.Now()
		at := <-got
		fromAck = append(fromAck, at.Sub(acked))
		fromSend = append(fromSend, at.Sub(sent))
	}
	fmt.Printf("%d SETs: SET ack -> XREAD reply p50 %v p99 %v; SET sent -> XREAD reply p50 %v p99 %v\n",
		*n, pct(fromAck, 50), pct(fromAck, 99), pct(fromSend, 50), pct(fromSend, 99))
}

func blocked(ctx context.Context, c *redis.Client) bool {
	info, err := c.Info(ctx, "clients").Result()
	if err != nil {
		log.Fatal(err)
	}
	return !strings.Contains(info, "\nblocked_clients:0\r\n")
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100].Round(time.Microsecond)
}
