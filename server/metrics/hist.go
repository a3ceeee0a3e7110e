package metrics

import (
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// durationHistVec is a histogram vector of durations, observed on the
// per-token path: the bucket is found from the duration's nanoseconds
// (the power of two it is in, then a compare or two), and an observation
// is one atomic add to its bucket and one to the sum. Its text exposition
// is byte for byte that of a prometheus.HistogramVec with the same
// buckets given the same observations (TestDurationHistMatchesPrometheus),
// which takes a lock-free hot/cold swap of three atomic counts and a
// linear bucket search over float64s per observation. The price: a scrape
// during an observation may see the observation's sum before its bucket
// (the count is the buckets' total, so _count and the +Inf bucket always
// agree).
type durationHistVec struct {
	desc   *prometheus.Desc
	bounds []float64 // seconds, as configured
	ns     []int64   // bounds in nanoseconds: d <= ns[i] iff d.Seconds() <= bounds[i]
	// first[k] is the index of the first bound at or above 2^k ns, the
	// bucket search's start for a duration in [2^k, 2^(k+1)); bit k of
	// whole is set when no bound falls inside that range, which is then
	// all in bucket first[k]: no compare (a token's gap, most often).
	first [64]uint8
	whole uint64

	mu       sync.Mutex
	children map[[2]string]*durationHist
}

type durationHist struct {
	vec     *durationHistVec
	labels  [2]string
	created time.Time
	counts  []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sum     atomic.Uint64   // float64 bits of the sum, in seconds
	// ttft is with's: the TTFT histogram's child of the same labels,
	// which FirstToken observes, so that the child is a call's whole
	// gateway.TokenObserver and its TokenGap is called directly, not
	// through a promoted method's wrapper (a code line a token).
	ttft prometheus.Observer
}

// newDurationHistVec returns the histogram vector of two labels; bounds
// must be sorted, positive and under 2^63 ns.
func newDurationHistVec(opts prometheus.HistogramOpts, labels [2]string) *durationHistVec {
	v := &durationHistVec{
		desc:     prometheus.NewDesc(prometheus.BuildFQName(opts.Namespace, opts.Subsystem, opts.Name), opts.Help, labels[:], nil),
		bounds:   opts.Buckets,
		ns:       make([]int64, len(opts.Buckets)),
		children: make(map[[2]string]*durationHist),
	}
	for i, b := range opts.Buckets {
		v.ns[i] = boundNanos(b)
	}
	for k := range v.first {
		i := 0
		for i < len(v.ns) && v.ns[i] < 1<<k {
			i++
		}
		v.first[k] = uint8(i)
		if top := uint64(1)<<(k+1) - 1; i == len(v.ns) || uint64(v.ns[i]) >= top {
			v.whole |= 1 << k
		}
	}
	return v
}

// boundNanos is the greatest count of nanoseconds whose Seconds are at
// most b.
func boundNanos(b float64) int64 {
	n := int64(math.Round(b * 1e9))
	for time.Duration(n).Seconds() > b {
		n--
	}
	for time.Duration(n+1).Seconds() <= b {
		n++
	}
	return n
}

// with returns the child of the label values, made on first use with
// ttft, the TTFT's child of the same labels (FirstToken's), or nil.
func (v *durationHistVec) with(a, b string, ttft prometheus.Observer) *durationHist {
	k := [2]string{a, b}
	v.mu.Lock()
	defer v.mu.Unlock()
	h := v.children[k]
	if h == nil {
		h = &durationHist{vec: v, labels: k, created: time.Now(), counts: make([]atomic.Uint64, len(v.bounds)+1), ttft: ttft}
		v.children[k] = h
	}
	return h
}

// bucket is the index of the first bound at or above d.
func (v *durationHistVec) bucket(d time.Duration) int {
	if d <= 0 {
		return v.firstAtLeast(0, int64(d))
	}
	k := bits.Len64(uint64(d)) - 1
	if v.whole>>k&1 != 0 {
		return int(v.first[k])
	}
	return v.firstAtLeast(int(v.first[k]), int64(d))
}

func (v *durationHistVec) firstAtLeast(i int, ns int64) int {
	for i < len(v.ns) && ns > v.ns[i] {
		i++
	}
	return i
}

// TokenGap counts d, as Observe(d.Seconds()) on a prometheus histogram:
// the ITL's observation (gateway.TokenObserver).
func (h *durationHist) TokenGap(d time.Duration) {
	s := seconds(d)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+s)) {
			break
		}
	}
	h.counts[h.vec.bucket(d)].Add(1)
}

// FirstToken implements gateway.TokenObserver: the call's TTFT.
func (h *durationHist) FirstToken(ttft time.Duration) { h.ttft.Observe(ttft.Seconds()) }

// seconds is d.Seconds(), bit for bit: under a second, Seconds adds its
// fraction to 0.0, which changes nothing, so one division makes it (a
// token's gap, most often) without Seconds' integer division and modulus,
// which are out of line (longSeconds): TokenGap's common run stays short.
func seconds(d time.Duration) float64 {
	if uint64(d) < uint64(time.Second) {
		return float64(d) / 1e9
	}
	return longSeconds(d)
}

// longSeconds is d.Seconds().
//
//go:noinline
func longSeconds(d time.Duration) float64 { return d.Seconds() }

// Describe implements prometheus.Collector.
func (v *durationHistVec) Describe(ch chan<- *prometheus.Desc) { ch <- v.desc }

// Collect implements prometheus.Collector.
func (v *durationHistVec) Collect(ch chan<- prometheus.Metric) {
	v.mu.Lock()
	hs := make([]*durationHist, 0, len(v.children))
	for _, h := range v.children {
		hs = append(hs, h)
	}
	v.mu.Unlock()
	for _, h := range hs {
		sum := math.Float64frombits(h.sum.Load())
		buckets := make(map[float64]uint64, len(v.bounds))
		var n uint64
		for i, b := range v.bounds {
			n += h.counts[i].Load()
			buckets[b] = n
		}
		n += h.counts[len(v.bounds)].Load()
		ch <- prometheus.MustNewConstHistogramWithCreatedTimestamp(v.desc, n, sum, buckets, h.created, h.labels[0], h.labels[1])
	}
}
