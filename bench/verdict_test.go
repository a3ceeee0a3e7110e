package bench

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// verdict is one hop's figures against the proxy's over one run of
// BenchmarkGatewayOverhead: issue 13's targets, each round's and the
// run's, its rounds pooled (every request of the run as one sample, the
// CPU of all rounds over all their tokens).
type verdict struct {
	name, ref string // the hop, and the hop it is measured against ("" for the proxy)
	rounds    int
	// cpu is the hop's CPU a token over the proxy's, pooled; ttft50 and
	// ttft99 its added TTFT p50 and p99 less the proxy's (ms), pooled;
	// itl its ITL p99 over the proxy's, pooled.
	cpu, ttft50, ttft99, itl float64
	// The same, round by round.
	cpuRounds, ttft50Rounds, ttft99Rounds, itlRounds []float64
	bad                                              int
}

// runVerdict is hop k's verdict (the index in a round's figures; the
// proxy is 0) against the proxy: rounds are the run's rounds, whole the
// run's requests pooled by hop, direct first (so the proxy is whole[1]
// and hop k whole[k+1]).
func runVerdict(rounds [][]hopRound, whole []*Result, k int) verdict {
	return runVerdictAgainst(rounds, whole, 0, k)
}

// runVerdictAgainst is hop k's verdict against hop ref (indices as
// runVerdict's): a base Runnel as the control is measured against the
// proxy, and Runnel against it.
func runVerdictAgainst(rounds [][]hopRound, whole []*Result, ref, k int) verdict {
	v := verdict{rounds: len(rounds)}
	var cpu, tokens [2]float64
	for _, r := range rounds {
		p, h := r[ref], r[k]
		v.cpuRounds = append(v.cpuRounds, h.cpuPerToken/p.cpuPerToken)
		v.ttft50Rounds = append(v.ttft50Rounds, h.ttftP50-p.ttftP50)
		v.ttft99Rounds = append(v.ttft99Rounds, h.ttftP99-p.ttftP99)
		v.itlRounds = append(v.itlRounds, h.itlP99/p.itlP99)
		v.bad += h.bad
		for i, x := range []hopRound{p, h} {
			cpu[i] += float64(x.cpu)
			tokens[i] += float64(x.tokens)
		}
	}
	v.cpu = cpu[1] / tokens[1] / (cpu[0] / tokens[0])
	// Added TTFT is the hop's less direct's, so the difference of two
	// hops' is theirs alone.
	p, h := whole[ref+1], whole[k+1]
	v.ttft50, v.ttft99 = h.TTFT.P50-p.TTFT.P50, h.TTFT.P99-p.TTFT.P99
	v.itl = h.ITL.P99 / p.ITL.P99
	return v
}

func (v verdict) String() string {
	var b strings.Builder
	count := func(x []float64, ok func(float64) bool) int {
		n := 0
		for _, f := range x {
			if ok(f) {
				n++
			}
		}
		return n
	}
	list := func(x []float64, format string) string {
		s := make([]string, len(x))
		for i, f := range x {
			s[i] = fmt.Sprintf(format, f)
		}
		return strings.Join(s, " ")
	}
	le := func(max float64) func(float64) bool { return func(f float64) bool { return f <= max } }
	ref := v.ref
	if ref == "" {
		ref = "proxy"
	}
	fmt.Fprintf(&b, "%s against the %s, this run of %d rounds pooled (each round): ", v.name, ref, v.rounds)
	fmt.Fprintf(&b, "CPU a token %.3f× (%s; ≤ 1.1× in %d), ", v.cpu, list(v.cpuRounds, "%.2f"), count(v.cpuRounds, le(1.1)))
	fmt.Fprintf(&b, "added TTFT p50 %+.3f ms (%s; ≤ 0 in %d), ", v.ttft50, list(v.ttft50Rounds, "%+.2f"), count(v.ttft50Rounds, le(0)))
	fmt.Fprintf(&b, "p99 %+.2f ms (%s; ≤ 0 in %d), ", v.ttft99, list(v.ttft99Rounds, "%+.2f"), count(v.ttft99Rounds, le(0)))
	fmt.Fprintf(&b, "ITL p99 %.3f× (%s; within 10%% in %d), ", v.itl, list(v.itlRounds, "%.2f"), count(v.itlRounds, le(1.1)))
	fmt.Fprintf(&b, "bad streams %d", v.bad)
	return b.String()
}

// TestRunVerdict: the run's CPU is all rounds' CPU over all their
// tokens (not a mean of the rounds' ratios), its TTFT the pooled
// requests' percentiles, and each round is counted against the targets.
func TestRunVerdict(t *testing.T) {
	round := func(pCPU, pTok, hCPU, hTok int, p50, h50 float64) []hopRound {
		return []hopRound{
			{ttftP50: p50, ttftP99: 1, itlP99: 20, cpu: time.Duration(pCPU) * time.Microsecond, tokens: pTok, cpuPerToken: float64(pCPU) / float64(pTok)},
			{ttftP50: h50, ttftP99: 2, itlP99: 23, cpu: time.Duration(hCPU) * time.Microsecond, tokens: hTok, cpuPerToken: float64(hCPU) / float64(hTok), bad: 1},
		}
	}
	// Round 1: 1.0×; round 2: 1.5×, but ten times the tokens of round 1.
	rounds := [][]hopRound{round(1000, 100, 1000, 100, 0.5, 0.4), round(10000, 1000, 15000, 1000, 0.5, 0.6)}
	ttfts := func(ms ...float64) *Result {
		var reqs []Request
		for _, m := range ms {
			reqs = append(reqs, Request{TTFT: time.Duration(m * float64(time.Millisecond)), ITL: []time.Duration{20 * time.Millisecond}, OutputTokens: 1})
		}
		return summarise(Config{}, reqs, 0)
	}
	whole := []*Result{ttfts(1, 1, 1), ttfts(1.5, 1.5, 1.5), ttfts(1.2, 1.2, 1.2)}
	v := runVerdict(rounds, whole, 1)
	v.name = "hop"
	if want := (16000.0 / 1100) / (11000.0 / 1100); fmt.Sprintf("%.4f", v.cpu) != fmt.Sprintf("%.4f", want) {
		t.Errorf("pooled CPU ratio %.4f, want %.4f", v.cpu, want)
	}
	if d := v.ttft50 - (-0.3); d > 1e-9 || d < -1e-9 {
		t.Errorf("pooled TTFT p50 difference %.3f, want -0.3", v.ttft50)
	}
	if v.itl != 1 || v.bad != 2 {
		t.Errorf("ITL ratio %.3f and bad %d, want 1 and 2", v.itl, v.bad)
	}
	// Against another hop than the proxy: the hop as a second round's
	// reference (whole[2] is hop 1, 1.2 ms; whole[3] hop 2, 1.1 ms).
	rounds3 := [][]hopRound{append(round(1000, 100, 1000, 100, 0.5, 0.4), hopRound{cpu: 2000 * time.Microsecond, tokens: 100, cpuPerToken: 20, ttftP50: 0.5, itlP99: 23})}
	w := runVerdictAgainst(rounds3, append(whole, ttfts(1.1, 1.1, 1.1)), 1, 2)
	if fmt.Sprintf("%.4f", w.cpu) != "2.0000" || fmt.Sprintf("%.3f", w.ttft50) != "-0.100" || w.bad != 0 {
		t.Errorf("against hop 1: CPU %.4f, TTFT p50 %.3f, bad %d; want 2.0000, -0.100, 0", w.cpu, w.ttft50, w.bad)
	}
	s := v.String()
	for _, want := range []string{"CPU a token 1.455× (1.00 1.50; ≤ 1.1× in 1)", "added TTFT p50 -0.300 ms (-0.10 +0.10; ≤ 0 in 1)", "p99 -0.30 ms (+1.00 +1.00; ≤ 0 in 0)", "ITL p99 1.000× (1.15 1.15; within 10% in 0)", "bad streams 2"} {
		if !strings.Contains(s, want) {
			t.Errorf("verdict %q lacks %q", s, want)
		}
	}
}

// TestRoundOrder: every round runs each hop once, and over n rounds (2n
// for n odd) each hop takes each place equally often and follows more
// than one other hop.
func TestRoundOrder(t *testing.T) {
	for _, n := range []int{2, 3, 4} {
		rounds := n
		if n%2 == 1 {
			rounds = 2 * n
		}
		places := make([][]int, n) // hop → place → count
		for j := range places {
			places[j] = make([]int, n)
		}
		after := make([]map[int]bool, n) // hop → the hops it ran right after
		for j := range after {
			after[j] = map[int]bool{}
		}
		for i := range rounds {
			order := roundOrder(i, n)
			seen := make([]bool, n)
			for k, j := range order {
				if seen[j] {
					t.Fatalf("n=%d round %d: order %v runs hop %d twice", n, i, order, j)
				}
				seen[j] = true
				places[j][k]++
				if k > 0 {
					after[j][order[k-1]] = true
				}
			}
		}
		for j := range places {
			for k, c := range places[j] {
				if c != rounds/n {
					t.Errorf("n=%d: hop %d took place %d %d times in %d rounds, want %d", n, j, k, c, rounds, rounds/n)
				}
			}
			if n > 2 && len(after[j]) < 2 {
				t.Errorf("n=%d: hop %d always ran after the same hop: %v", n, j, after[j])
			}
		}
	}
}
