// Package bench is ahacc's load harness: it drives a function or an HTTP
// endpoint with bounded concurrency for a bounded number of operations and
// reports throughput and latency percentiles. `make bench` runs it through
// cmd/ahacc-bench; every target is on loopback.
package bench

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Result is one measured scenario.
type Result struct {
	Name        string
	Ops         int
	Errors      int
	Concurrency int
	Elapsed     time.Duration
	P50, P99    time.Duration
	Note        string
}

// PerSec is the achieved rate of successful operations.
func (r Result) PerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops-r.Errors) / r.Elapsed.Seconds()
}

// Run calls op n times from concurrency goroutines and measures each call.
// It stops early when ctx ends; Ops then counts the calls made.
func Run(ctx context.Context, name string, n, concurrency int, op func(ctx context.Context, i int) error) Result {
	if concurrency < 1 {
		concurrency = 1
	}
	lat := make([]time.Duration, n)
	var next, errs, done atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				if err := op(ctx, i); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
				lat[i] = time.Since(t0)
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	made := int(done.Load())
	got := make([]time.Duration, 0, made)
	for _, d := range lat {
		if d > 0 {
			got = append(got, d)
		}
	}
	r := Result{Name: name, Ops: made, Errors: int(errs.Load()), Concurrency: concurrency, Elapsed: elapsed,
		P50: Percentile(got, 50), P99: Percentile(got, 99)}
	if e, ok := firstErr.Load().(string); ok {
		r.Note = "first error: " + e
	}
	return r
}

// Percentile returns the p-th percentile (nearest rank) of ds; ds is sorted in place.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	rank := int(p/100*float64(len(ds))+0.5) - 1
	if rank < 0 {
		rank = 0
	}
	if rank >= len(ds) {
		rank = len(ds) - 1
	}
	return ds[rank]
}

// Markdown renders results as a table; baseline (by name) adds a ratio column.
func Markdown(results []Result, baseline map[string]string) string {
	s := "| scenario | ops | errors | conc. | ops/s | p50 | p99 | vs baseline |\n|---|---:|---:|---:|---:|---:|---:|---|\n"
	byName := map[string]Result{}
	for _, r := range results {
		byName[r.Name] = r
	}
	for _, r := range results {
		ratio := ""
		if b, ok := baseline[r.Name]; ok {
			if br, ok := byName[b]; ok && br.PerSec() > 0 {
				ratio = fmt.Sprintf("%.2f× %s", r.PerSec()/br.PerSec(), b)
			}
		}
		s += fmt.Sprintf("| %s | %d | %d | %d | %.0f | %s | %s | %s |\n", r.Name, r.Ops, r.Errors, r.Concurrency,
			r.PerSec(), round(r.P50), round(r.P99), ratio)
	}
	return s
}

func round(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}
