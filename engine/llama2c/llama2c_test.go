package llama2c

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runnel/runnel/internal/testmodels"
)

func TestOpenStories260K(t *testing.T) {
	c, err := Open(testmodels.Path(t, "stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := Config{Dim: 64, HiddenDim: 172, Layers: 5, Heads: 8, KVHeads: 4, VocabSize: 512, SeqLen: 512, SharedClassifier: true}
	if c.Config != want {
		t.Fatalf("config = %+v, want %+v", c.Config, want)
	}
	if len(c.Blocks) != 5 || len(c.Blocks[0].WK) != 32*64 || len(c.Blocks[4].W2) != 64*172 {
		t.Fatalf("bad tensor shapes: %d layers, wk %d, w2 %d", len(c.Blocks), len(c.Blocks[0].WK), len(c.Blocks[4].W2))
	}
	if &c.Classifier[0] != &c.TokenEmbedding[0] {
		t.Fatal("shared classifier is not the embedding table")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func tinyConfig(shared bool) Config {
	return Config{Dim: 8, HiddenDim: 12, Layers: 2, Heads: 4, KVHeads: 2, VocabSize: 10, SeqLen: 6, SharedClassifier: shared}
}

func writeTiny(t *testing.T, c Config) (string, Weights) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	w := Random(c, func() float32 { return r.Float32() - 0.5 })
	var buf bytes.Buffer
	if err := Write(&buf, c, w); err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != c.FileSize() {
		t.Fatalf("wrote %d bytes, FileSize says %d", buf.Len(), c.FileSize())
	}
	p := filepath.Join(t.TempDir(), "tiny.bin")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, w
}

func TestRoundTrip(t *testing.T) {
	for _, shared := range []bool{true, false} {
		c := tinyConfig(shared)
		p, w := writeTiny(t, c)
		ck, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if ck.Config != c {
			t.Fatalf("config %+v, want %+v", ck.Config, c)
		}
		if got, want := ck.Blocks[1].W3[5], w.Blocks[1].W3[5]; got != want {
			t.Fatalf("W3[5] = %v, want %v", got, want)
		}
		if got, want := ck.Classifier[len(ck.Classifier)-1], w.Classifier[len(w.Classifier)-1]; got != want {
			t.Fatalf("shared=%v: last classifier weight %v, want %v", shared, got, want)
		}
		if !shared && &ck.Classifier[0] == &ck.TokenEmbedding[0] {
			t.Fatal("separate classifier aliases the embedding")
		}
		ck.Close()
	}
}

func TestOpenErrors(t *testing.T) {
	c := tinyConfig(true)
	p, _ := writeTiny(t, c)
	full, _ := os.ReadFile(p)
	dir := t.TempDir()
	versioned := binary.LittleEndian.AppendUint32(nil, versionMagic)
	versioned = append(versioned, make([]byte, 100)...)
	bad := append([]byte(nil), full...)
	binary.LittleEndian.PutUint32(bad[12:], 3) // n_heads 3 does not divide dim 8
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "shorter than the 28-byte header"},
		{"header only", full[:HeaderSize], "truncated"},
		{"truncated", full[:len(full)-4], "truncated"},
		{"trailing", append(append([]byte(nil), full...), 0, 0, 0, 0), "trailing data"},
		{"versioned", versioned, "versioned llama2.c export"},
		{"heads", bad, "not a multiple of n_heads"},
		{"zero dim", make([]byte, 64), "dim = 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			os.WriteFile(path, tc.data, 0o644)
			_, err := Open(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if _, err := Open(filepath.Join(dir, "missing.bin")); !os.IsNotExist(err) {
		t.Fatalf("missing file: %v", err)
	}
}

func FuzzParseHeader(f *testing.F) {
	var hdr bytes.Buffer
	binary.Write(&hdr, binary.LittleEndian, []int32{288, 768, 6, 6, 6, 32000, 256})
	f.Add(hdr.Bytes())
	hdr.Reset()
	binary.Write(&hdr, binary.LittleEndian, []int32{64, 172, 5, 8, 4, -512, 512})
	f.Add(hdr.Bytes())
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseHeader(b)
		if err != nil {
			return
		}
		if c.Dim%c.Heads != 0 || c.Heads%c.KVHeads != 0 || c.FileSize() <= HeaderSize || c.Params() <= 0 {
			t.Fatalf("accepted inconsistent config %+v", c)
		}
	})
}
