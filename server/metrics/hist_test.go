package metrics

import (
	"io"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// text is reg's exposition in Prometheus' text format.
func text(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	rr := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rr, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rr.Body)
	return string(b)
}

// TestDurationHistMatchesPrometheus: the same observations give the same
// exposition, byte for byte, as a prometheus.HistogramVec: durations on,
// one nanosecond around and between every bound, zero, negative and huge
// ones, on two series of each bucket layout.
func TestDurationHistMatchesPrometheus(t *testing.T) {
	for _, buckets := range [][]float64{tokenBuckets, callBuckets, {1e-9, 3e-9, 0.1, 0.3, 0.7, 1.1, 1e9}} {
		opts := prometheus.HistogramOpts{Namespace: "runnel", Name: "gap_seconds", Help: "A gap.", Buckets: buckets}
		ref := prometheus.NewHistogramVec(opts, []string{"model", "provider"})
		ours := newDurationHistVec(opts, [2]string{"model", "provider"})
		regRef, regOurs := prometheus.NewRegistry(), prometheus.NewRegistry()
		regRef.MustRegister(ref)
		regOurs.MustRegister(ours)
		ds := []time.Duration{0, -1, -time.Hour, 1, time.Duration(1<<63 - 1), 17 * time.Hour}
		for _, b := range buckets {
			n := time.Duration(boundNanos(b))
			ds = append(ds, n-1, n, n+1, n*3/2, n/2)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		for range 2000 {
			ds = append(ds, time.Duration(rng.Int64N(int64(40*time.Millisecond))), time.Duration(rng.Int64N(int64(20*time.Minute))))
		}
		for i, d := range ds {
			labels := [2]string{"m", "p"}
			if i%3 == 0 {
				labels[0] = "other"
			}
			ref.WithLabelValues(labels[0], labels[1]).Observe(d.Seconds())
			ours.with(labels[0], labels[1], nil).TokenGap(d)
		}
		if got, want := text(t, regOurs), text(t, regRef); got != want {
			t.Fatalf("buckets %v:\n%s\nwant\n%s", buckets, got, want)
		}
	}
}

// TestDurationHistBucket holds the search from the duration's bits (with
// no compare for a power of two's range that holds no bound) to a linear
// search over the bounds in seconds, as Prometheus makes it, for each
// bucket layout.
func TestDurationHistBucket(t *testing.T) {
	for _, buckets := range [][]float64{tokenBuckets, callBuckets, {1e-9, 3e-9, 0.1, 0.3, 0.7, 1.1, 1e9}} {
		v := newDurationHistVec(prometheus.HistogramOpts{Name: "x", Buckets: buckets}, [2]string{"a", "b"})
		linear := func(d time.Duration) int {
			i := 0
			for i < len(buckets) && d.Seconds() > buckets[i] {
				i++
			}
			return i
		}
		check := func(d time.Duration) {
			if got, want := v.bucket(d), linear(d); got != want {
				t.Fatalf("%v: %v (%d ns): bucket %d, want %d", buckets, d, int64(d), got, want)
			}
		}
		for k := range 63 {
			for _, d := range []int64{1<<k - 1, 1 << k, 1<<k + 1, 3 << k >> 1, 1<<(k+1) - 2} {
				check(time.Duration(d))
			}
		}
		for _, b := range buckets {
			n := boundNanos(b)
			for d := n - 2; d <= n+2; d++ {
				check(time.Duration(d))
			}
		}
		rng := rand.New(rand.NewPCG(3, 4))
		for range 20000 {
			check(time.Duration(rng.Int64N(int64(1) << rng.IntN(63))))
		}
	}
}

// seconds is Duration.Seconds bit for bit: its own path under a second,
// Seconds' beyond.
func TestSecondsIsDurationSeconds(t *testing.T) {
	ds := []time.Duration{0, 1, -1, time.Second - 1, time.Second, time.Second + 1, -time.Second, -time.Second + 1,
		time.Duration(1<<63 - 1), time.Duration(-1 << 63)}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 100000 {
		ds = append(ds, time.Duration(rng.Int64N(int64(time.Second))), time.Duration(rng.Int64N(int64(1)<<rng.IntN(63)))-time.Second)
	}
	for _, d := range ds {
		if got, want := seconds(d), d.Seconds(); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("seconds(%d) = %v, want %v", int64(d), got, want)
		}
	}
}

// An observation costs no allocation.
func TestDurationHistAllocs(t *testing.T) {
	h := newDurationHistVec(prometheus.HistogramOpts{Name: "x", Buckets: tokenBuckets}, [2]string{"a", "b"}).with("m", "p", nil)
	if n := testing.AllocsPerRun(100, func() { h.TokenGap(20 * time.Millisecond) }); n != 0 {
		t.Fatalf("%v allocations an observation", n)
	}
}

// BenchmarkITL observes a token's gap on the per-call series: the
// durationHist against the prometheus.Histogram it replaces.
func BenchmarkITL(b *testing.B) {
	opts := prometheus.HistogramOpts{Name: "x", Buckets: tokenBuckets}
	b.Run("prometheus", func(b *testing.B) {
		h := prometheus.NewHistogramVec(opts, []string{"a", "b"}).WithLabelValues("m", "p")
		for i := 0; b.Loop(); i++ {
			h.Observe((time.Duration(i&0xffff) * time.Microsecond).Seconds())
		}
	})
	b.Run("duration", func(b *testing.B) {
		h := newDurationHistVec(opts, [2]string{"a", "b"}).with("m", "p", nil)
		for i := 0; b.Loop(); i++ {
			h.TokenGap(time.Duration(i&0xffff) * time.Microsecond)
		}
	})
}

// Observations from many goroutines are all counted, each in its bucket
// (run with -race for the atomics).
func TestDurationHistConcurrent(t *testing.T) {
	v := newDurationHistVec(prometheus.HistogramOpts{Name: "x", Buckets: tokenBuckets}, [2]string{"a", "b"})
	h := v.with("m", "p", nil)
	const workers, each = 4, 1000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				h.TokenGap(time.Duration(w*each+i) * 10 * time.Microsecond) // 0 to 40 ms
			}
		})
	}
	wg.Wait()
	var total uint64
	for i := range h.counts {
		total += h.counts[i].Load()
	}
	// Gaps of 0-100 µs (11 of them) fall at or under the first bound.
	if total != workers*each || h.counts[0].Load() != 11 {
		t.Fatalf("%d observations counted, %d in the first bucket; want %d and 11", total, h.counts[0].Load(), workers*each)
	}
}
