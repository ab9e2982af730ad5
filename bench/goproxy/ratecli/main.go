// A fixed-rate (open-loop) HTTP/1.1 keep-alive load generator for the proxy benchmark, as wrk2 does:
// requests are scheduled at exact times (rate R), and each latency is measured from its scheduled
// time, so a stalled proxy shows as latency instead of a lower request rate (no coordinated
// omission). Bounded: it stops scheduling after -d and waits at most 5 s for answers.
// Usage: ratecli -addr 127.0.0.1:PORT -rate 20000 -c 32 -d 5s   → one JSON line on stdout.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"
)

type result struct {
	Rate     float64 `json:"rate"`
	Sent     int     `json:"sent"`
	Errors   int     `json:"errors"`
	Achieved float64 `json:"achieved_rps"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	P999Ms   float64 `json:"p999_ms"`
	MaxMs    float64 `json:"max_ms"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:80", "host:port")
	rate := flag.Float64("rate", 1000, "requests per second (all connections together)")
	conns := flag.Int("c", 32, "connections")
	dur := flag.Duration("d", 5*time.Second, "duration")
	flag.Parse()

	total := int(*rate * dur.Seconds())
	start := time.Now().Add(100 * time.Millisecond)
	slots := make(chan time.Time, total)
	for i := 0; i < total; i++ {
		slots <- start.Add(time.Duration(float64(i) / *rate * float64(time.Second)))
	}
	close(slots)
	deadline := start.Add(*dur + 5*time.Second)

	var mu sync.Mutex
	lat := make([]float64, 0, total)
	errors := 0
	var wg sync.WaitGroup
	req := []byte("GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
	for w := 0; w < *conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c net.Conn
			var br *bufio.Reader
			for at := range slots {
				if time.Now().After(deadline) {
					mu.Lock()
					errors++
					mu.Unlock()
					continue
				}
				if d := time.Until(at); d > 0 {
					time.Sleep(d)
				}
				if c == nil {
					var err error
					if c, err = net.DialTimeout("tcp", *addr, 2*time.Second); err != nil {
						c = nil
						mu.Lock()
						errors++
						mu.Unlock()
						continue
					}
					br = bufio.NewReader(c)
				}
				_ = c.SetDeadline(time.Now().Add(2 * time.Second))
				ok := false
				if _, err := c.Write(req); err == nil {
					if resp, err := http.ReadResponse(br, nil); err == nil {
						_, err = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						ok = err == nil && resp.StatusCode == 200
					}
				}
				done := time.Now()
				mu.Lock()
				if ok {
					lat = append(lat, float64(done.Sub(at).Microseconds())/1000)
				} else {
					errors++
				}
				mu.Unlock()
				if !ok {
					c.Close()
					c = nil
				}
			}
			if c != nil {
				c.Close()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	sort.Float64s(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		i := int(p * float64(len(lat)-1))
		return lat[i]
	}
	r := result{Rate: *rate, Sent: total, Errors: errors, Achieved: float64(len(lat)) / elapsed, P50Ms: pct(0.5), P99Ms: pct(0.99), P999Ms: pct(0.999)}
	if len(lat) > 0 {
		r.MaxMs = lat[len(lat)-1]
	}
	out, _ := json.Marshal(r)
	fmt.Fprintln(os.Stdout, string(out))
}
