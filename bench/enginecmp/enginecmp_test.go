package enginecmp

import (
	"bytes"
	"context"
	"path/filepath"
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
	if _, _, err := parseLlamaBench([]byte(`[{"n_prompt": 16, "n_gen": 0, "avg_ts": 3}]`)); err == nil {
		t.Fatal("output without tg accepted")
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
	res, err := Run(context.Background(), Config{Files: []string{path}, Rounds: 1, Streams: 2, Tokens: 16})
	if err != nil {
		t.Fatal(err)
	}
	f := res.Files[0].Runnel[0]
	if f.Decode <= 0 || f.Prompt <= 0 || f.Aggregate <= 0 || res.Bandwidth[0] <= 0 {
		t.Fatalf("figures %+v, bandwidth %v", f, res.Bandwidth)
	}
	var buf bytes.Buffer
	res.WriteTable(&buf)
	for _, want := range []string{"m.gguf", "decode 16", "prompt 16", "2 streams", "limit"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
}

// FuzzParseLlamaBench: any output gives an error or both rates.
func FuzzParseLlamaBench(f *testing.F) {
	f.Add([]byte(llamaBenchOut))
	f.Add([]byte(`[{"n_prompt": 1, "n_gen": 1, "avg_ts": 1}]`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		pp, tg, err := parseLlamaBench(b)
		if err == nil && (pp == 0 || tg == 0) {
			t.Fatalf("no error, pp %v tg %v", pp, tg)
		}
	})
}
