package enginecmp

import (
	"bytes"
	"context"
	"path/filepath"
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
	var buf bytes.Buffer
	res.WriteTable(&buf)
	for _, want := range []string{"m.gguf", "decode 16", "prompt 16", "2 streams", "limit"} {
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
