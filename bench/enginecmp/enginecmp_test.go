package enginecmp

import (
	"bytes"
	"context"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/runnel/runnel/engine/synth"
)

// llama-bench's JSON for one pp and one tg test (fields trimmed).
const llamaBenchOut = `[
  {"model_filename": "m.gguf", "n_threads": 2, "n_prompt": 16, "n_gen": 0, "avg_ns": 537134022, "avg_ts": 29.787724, "samples_ts": [ 29.7877 ]},
  {"model_filename": "m.gguf", "n_threads": 2, "n_prompt": 0, "n_gen": 16, "avg_ns": 1448645165, "avg_ts": 11.044803, "samples_ts": [ 11.0448 ]}
]`

func TestParseLlamaBench(t *testing.T) {
	pp, tg, err := parseLlamaBench([]byte(llamaBenchOut))
	if err != nil || pp != 29.787724 || tg != 11.044803 {
		t.Fatalf("pp %v tg %v err %v", pp, tg, err)
	}
	// A run of one test (-n 0 or -p 0) gives that test's rate alone.
	if pp, tg, err := parseLlamaBench([]byte(`[{"n_prompt": 16, "n_gen": 0, "avg_ts": 3}]`)); err != nil || pp != 3 || tg != 0 {
		t.Fatalf("pp only: pp %v tg %v err %v", pp, tg, err)
	}
	if pp, tg, err := parseLlamaBench([]byte(`[{"n_prompt": 0, "n_gen": 16, "avg_ts": 4}]`)); err != nil || pp != 0 || tg != 4 {
		t.Fatalf("tg only: pp %v tg %v err %v", pp, tg, err)
	}
	if _, _, err := parseLlamaBench([]byte(`[{"n_prompt": 16, "n_gen": 16, "avg_ts": 3}]`)); err == nil {
		t.Fatal("output with neither pp nor tg accepted")
	}
	if _, _, err := parseLlamaBench([]byte(`main: error`)); err == nil {
		t.Fatal("non-JSON accepted")
	}
}

// TestRunRunnel measures a small synthetic model with Runnel alone: every
// figure is positive, the prompt was exactly the asked length (measure
// checks it), and the table names the file and the limit.
func TestRunRunnel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	if _, err := synth.WriteGGUF(path, synth.Shapes[0], "q8_0", 1); err != nil {
		t.Fatal(err)
	}
	wb, err := weightBytes(path)
	if err != nil {
		t.Fatal(err)
	}
	// Tied embedding: every matrix is read; norms are 4 bytes an element.
	s := synth.Shapes[0]
	mats := int64(s.Vocab*s.Dim + s.Layers*(2*s.Dim*s.Dim+2*s.Dim*s.Dim+3*s.Dim*s.Hidden))
	if want := mats/32*34 + int64(4*s.Dim*(2*s.Layers+1)); wb != want {
		t.Fatalf("weight bytes %d, want %d", wb, want)
	}
	res, err := Run(context.Background(), Config{Files: []string{path}, Rounds: 1, Streams: 2, Tokens: 16, DecodeRuns: 3})
	if err != nil {
		t.Fatal(err)
	}
	f := res.Files[0].Runnel[0]
	if f.Decode <= 0 || f.Prompt <= 0 || f.Aggregate <= 0 || res.Bandwidth[0] <= 0 {
		t.Fatalf("figures %+v, bandwidth %v", f, res.Bandwidth)
	}
	if len(f.DecodeRuns) != 3 || f.Decode != Median(f.DecodeRuns) {
		t.Fatalf("decode %v of runs %v, want the median of 3", f.Decode, f.DecodeRuns)
	}
	if len(f.AggregateRuns) != 3 || f.Aggregate != Median(f.AggregateRuns) {
		t.Fatalf("aggregate %v of runs %v, want the median of 3", f.Aggregate, f.AggregateRuns)
	}
	if len(f.DecodeCPU) != 3 || len(f.AggregateCPU) != 3 || (runtime.GOOS == "linux" && (slices.Min(f.DecodeCPU) <= 0 || slices.Min(f.AggregateCPU) <= 0)) {
		t.Fatalf("CPU rates %v and %v, want 3 positive each", f.DecodeCPU, f.AggregateCPU)
	}
	var buf bytes.Buffer
	res.WriteTable(&buf)
	for _, want := range []string{"m.gguf", "decode 16", "prompt 16", "2 streams", "2÷1", "2÷1 cpu", "limit"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
}

// TestDecodePairs: each Runnel decode run is divided by the llama.cpp run
// of the same round and index, and the table prints their median and range.
func TestDecodePairs(t *testing.T) {
	fr := FileResult{File: "m.gguf", WeightBytes: 1e6,
		Runnel: []Figures{{Decode: 20, DecodeRuns: []float64{10, 20, 30}}, {Decode: 40, DecodeRuns: []float64{40}}},
		Llama:  []Figures{{Decode: 10, DecodeRuns: []float64{10, 10, 10}}, {Decode: 80, DecodeRuns: []float64{80}}}}
	got := decodePairs(fr)
	if want := []float64{1, 2, 3, 0.5}; !slices.Equal(got, want) {
		t.Fatalf("pairs %v, want %v", got, want)
	}
	res := &Result{Config: Config{Rounds: 2, DecodeRuns: 3, Threads: 2, Streams: 8, Tokens: 128}, Bandwidth: []float64{1e10}, Files: []FileResult{fr}}
	var buf bytes.Buffer
	res.WriteTable(&buf)
	if want := "per decode run: median 1.50 (0.50–3.00) of 4"; !strings.Contains(buf.String(), want) {
		t.Fatalf("table lacks %q:\n%s", want, buf.String())
	}
}

// fakeRunner stands for both engines: it records the calls in order and
// answers each decode and aggregate run with the rates of a host whose
// speed drifts from pair to pair; the CPU rates do not drift.
type fakeRunner struct {
	calls          []string
	speed          []float64 // by pair, over all rounds
	pair           int       // the pair the next aggregate run starts
	decs, aggs     []float64 // Runnel's rates at speed 1, by pair
	decCPU, aggCPU []float64 // its CPU rates, by pair
}

func (f *fakeRunner) call(s string) { f.calls = append(f.calls, s) }

func (f *fakeRunner) at(wall, cpu []float64) rate {
	return rate{wall[f.pair%len(wall)] * f.speed[f.pair%len(f.speed)], cpu[f.pair%len(cpu)]}
}

func (f *fakeRunner) prepare(context.Context, int) error { f.call("prepare"); return nil }
func (f *fakeRunner) aggregate(context.Context, int) (rate, error) {
	f.call("agg")
	return f.at(f.aggs, f.aggCPU), nil
}
func (f *fakeRunner) decode(context.Context, int) (rate, error) {
	f.call("dec")
	d := f.at(f.decs, f.decCPU)
	f.pair++
	return d, nil
}
func (f *fakeRunner) prompt(context.Context, int) (float64, error) {
	f.call("prompt")
	return 1000, nil
}

// fakeOther is the other engine, writing into the same record.
type fakeOther struct{ f *fakeRunner }

func (o fakeOther) decode(context.Context, string) (float64, error) {
	o.f.call("llama-dec")
	return 50, nil
}
func (o fakeOther) prompt(context.Context, string) (float64, error) {
	o.f.call("llama-prompt")
	return 500, nil
}
func (o fakeOther) aggregate(context.Context, string) (float64, error) {
	o.f.call("llama-agg")
	return 100, nil
}

// TestRoundsAlternate: each round is DecodeRuns pairs of an aggregate
// run and a one-stream run (then llama.cpp's decode run, given one), its
// prompt after; N÷1 is the ratio of the round's medians, and each pair's
// ratio is its own. A host whose speed drifts from pair to pair (from a
// quarter to twice its rate here) moves both sides of every pair alike,
// so the ratios stay exact.
func TestRoundsAlternate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	if _, err := synth.WriteGGUF(path, synth.Shapes[0], "q8_0", 1); err != nil {
		t.Fatal(err)
	}
	bw := func(int) float64 { return 1e10 }
	c := Config{Files: []string{path}, Rounds: 2, Streams: 8, DecodeRuns: 3}

	f := &fakeRunner{speed: []float64{0.5, 1, 2, 0.25, 1, 0.5}, decs: []float64{100}, aggs: []float64{250},
		decCPU: []float64{100}, aggCPU: []float64{250}}
	res, err := runRounds(context.Background(), c, f, nil, bw)
	if err != nil {
		t.Fatal(err)
	}
	round := []string{"prepare", "agg", "dec", "agg", "dec", "agg", "dec", "prompt"}
	if want := append(slices.Clone(round), round...); !slices.Equal(f.calls, want) {
		t.Fatalf("calls %v, want %v", f.calls, want)
	}
	for r, fig := range res.Files[0].Runnel {
		if fig.Batching() != 2.5 || !slices.Equal(fig.BatchingPairs(), []float64{2.5, 2.5, 2.5}) ||
			fig.BatchingCPU() != 2.5 || !slices.Equal(fig.BatchingCPUPairs(), []float64{2.5, 2.5, 2.5}) {
			t.Errorf("round %d: %v, pairs %v, by CPU %v, pairs %v, want 2.5 throughout",
				r+1, fig.Batching(), fig.BatchingPairs(), fig.BatchingCPU(), fig.BatchingCPUPairs())
		}
		if len(fig.DecodeRuns) != 3 || fig.Decode != Median(fig.DecodeRuns) || fig.Aggregate != Median(fig.AggregateRuns) {
			t.Errorf("round %d: figures %+v", r+1, fig)
		}
	}

	// Ratios that differ by pair: the round's figure is the ratio of its
	// medians (60 ÷ 20), not the median of the pairs' ratios.
	f = &fakeRunner{speed: []float64{1}, decs: []float64{10, 20, 30}, aggs: []float64{25, 60, 90},
		decCPU: []float64{100}, aggCPU: []float64{200, 300, 400}}
	c.Rounds = 1
	if res, err = runRounds(context.Background(), c, f, fakeOther{f}, bw); err != nil {
		t.Fatal(err)
	}
	want := []string{"prepare", "agg", "dec", "llama-dec", "agg", "dec", "llama-dec", "agg", "dec", "llama-dec", "prompt", "llama-prompt", "llama-agg"}
	if !slices.Equal(f.calls, want) {
		t.Fatalf("calls %v, want %v", f.calls, want)
	}
	fr := res.Files[0]
	if got, cpu := fr.Runnel[0].Batching(), fr.Runnel[0].BatchingCPU(); got != 3 || cpu != 3 {
		t.Fatalf("8÷1 %v, by CPU time %v, want 3 and 3", got, cpu)
	}
	if l := fr.Llama[0]; l.Decode != 50 || l.Prompt != 500 || l.Aggregate != 100 || len(l.AggregateRuns) != 0 {
		t.Fatalf("llama.cpp figures %+v", l)
	}
	var buf bytes.Buffer
	res.WriteTable(&buf)
	for _, want := range []string{
		"8 streams        60.0 (60.0–60.0)    100.0 (100.0–100.0)   0.60 (0.60–0.60)",
		"8÷1              3.00 (3.00–3.00)   runnel's own, rounds 3.00; per pair: median 3.00 (2.50–3.00) of 3",
		"8÷1 cpu          3.00 (3.00–3.00)   runnel's own, rounds 3.00; per pair: median 3.00 (2.00–4.00) of 3",
		"per decode run: median 0.40 (0.20–0.60) of 3",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
}

// FuzzParseLlamaBench: any output gives an error or a rate.
func FuzzParseLlamaBench(f *testing.F) {
	f.Add([]byte(llamaBenchOut))
	f.Add([]byte(`[{"n_prompt": 1, "n_gen": 1, "avg_ts": 1}]`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		pp, tg, err := parseLlamaBench(b)
		if err == nil && pp == 0 && tg == 0 {
			t.Fatalf("no error, pp %v tg %v", pp, tg)
		}
	})
}
