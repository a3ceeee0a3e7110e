package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runnel/runnel/engine/ggml"
	"github.com/runnel/runnel/engine/gguf"
	"github.com/runnel/runnel/engine/synth"
)

// TestUnloadableModel: a model file the engine cannot run reaches the
// client as a 422 in the dialect's own error shape, naming the model and
// what is wrong with it, and never the server's paths.
func TestUnloadableModel(t *testing.T) {
	dir := t.TempDir()
	base, _ := synth.Named("llama")
	base = base.Tiny()
	base.Dim, base.Hidden = 32, 32 // rows of 32: a whole block of the 32-wide types
	gpt2 := map[string]any{"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt-2",
		"tokenizer.ggml.tokens": tinyTokens(base.VocabSize), "tokenizer.ggml.merges": []string{"a b"}}
	with := func(m map[string]any, k string, v any) map[string]any {
		out := map[string]any{k: v}
		for mk, mv := range m {
			if mk != k {
				out[mk] = mv
			}
		}
		return out
	}
	other := base
	other.Arch = "mamba"
	cases := []struct {
		name, cause string
		spec        synth.Spec
		keys        map[string]any
		retype      map[string]ggml.Type
	}{
		{"arch", `architecture "mamba" is not supported`, other, gpt2, nil},
		{"tensortype", `Q8_1`, base, gpt2, map[string]ggml.Type{"blk.0.attn_q.weight": ggml.Q8_1}},
		{"pretokenizer", `"nonesuch"`, base, with(gpt2, "tokenizer.ggml.pre", "nonesuch"), nil},
		{"tokenizer", `tokenizer.ggml.model "nonesuch"`, base, with(gpt2, "tokenizer.ggml.model", "nonesuch"), nil},
		{"vocabsize", `the tokenizer has 23 tokens, the model 24`, base, with(gpt2, "tokenizer.ggml.tokens", tinyTokens(23)), nil},
	}
	for _, c := range cases {
		writeBadModel(t, filepath.Join(dir, c.name+".gguf"), c.spec, c.keys, c.retype)
	}
	ts := serveTest(t, accountOptions{}, map[string]string{"RUNNEL_MODELS": dir})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := fmt.Sprintf("model %s cannot be served: ", c.name)
			for _, d := range []struct{ dialect, path, body string }{
				{"openai", "/v1/chat/completions", `{"model":"engine/%s","messages":[{"role":"user","content":"hi"}]}`},
				{"openai stream", "/v1/chat/completions", `{"model":"engine/%s","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
				{"ollama", "/api/chat", `{"model":"engine/%s","messages":[{"role":"user","content":"hi"}]}`},
				{"ollama generate", "/api/generate", `{"model":"engine/%s","prompt":"hi"}`},
			} {
				status, body := do(t, "POST", ts.URL+d.path, "", fmt.Sprintf(d.body, c.name))
				var msg string
				if strings.HasPrefix(d.dialect, "openai") {
					var e struct {
						Error struct{ Message, Type, Code, Param string }
					}
					if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Type != "invalid_request_error" ||
						e.Error.Code != "model_not_supported" || e.Error.Param != "model" {
						t.Errorf("%s: %d %s", d.dialect, status, body)
					}
					msg = e.Error.Message
				} else {
					var e struct{ Error string }
					if err := json.Unmarshal([]byte(body), &e); err != nil {
						t.Errorf("%s: %d %s", d.dialect, status, body)
					}
					msg = e.Error
				}
				if status != 422 || !strings.HasPrefix(msg, want) || !strings.Contains(msg, c.cause) || strings.Contains(body, dir) {
					t.Errorf("%s: %d %s; want 422, %q… naming %q", d.dialect, status, body, want, c.cause)
				}
			}
		})
	}
}

// tinyTokens is a byte-level BPE vocabulary of n tokens: letters, then
// "ab".
func tinyTokens(n int) []string {
	toks := make([]string, n)
	for i := range toks {
		toks[i] = string(rune('a' + i))
	}
	toks[n-1] = "ab"
	return toks
}

// writeBadModel writes spec's synthetic model with the given metadata,
// each tensor of retype stored (zeroed) in that type instead of F32.
func writeBadModel(t *testing.T, path string, spec synth.Spec, keys map[string]any, retype map[string]ggml.Type) {
	t.Helper()
	w, err := synth.GGUF(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	out := gguf.NewWriter()
	for _, kv := range f.KV {
		if kv.Key != "general.alignment" {
			if err := out.Add(kv.Key, kv.Value); err != nil {
				t.Fatal(err)
			}
		}
	}
	for k, v := range keys {
		if err := out.Add(k, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, ti := range f.Tensors {
		tn, err := f.Tensor(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		typ, data := tn.Type, tn.Data
		if rt, ok := retype[ti.Name]; ok {
			row, err := ggml.RowBytes(rt, int(tn.Dims[0]))
			if err != nil {
				t.Fatal(err)
			}
			typ, data = rt, make([]byte, row*len(data)/4/int(tn.Dims[0]))
		}
		if err := out.AddTensor(ti.Name, typ, tn.Dims, data); err != nil {
			t.Fatal(err)
		}
	}
	b := new(bytes.Buffer)
	if _, err := out.WriteTo(b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
