package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runnel/runnel/engine/models"
	"github.com/runnel/runnel/internal/testmodels"
)

func runTemplate(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newTemplateCmd()
	var out, errOut bytes.Buffer
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestTemplateCommand(t *testing.T) {
	src := testmodels.Dir(t)
	dir := t.TempDir()
	gguf := filepath.Join(dir, "stories.gguf")
	if _, err := models.Convert(filepath.Join(src, "stories260K.bin"), filepath.Join(src, "tok512.bin"), gguf, models.ConvertTypes["f32"]); err != nil {
		t.Fatal(err)
	}
	tmpl := filepath.Join(dir, "chatml.jinja")
	if err := os.WriteFile(tmpl, []byte("{{ bos_token }}{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"+
		"{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"), 0o644); err != nil {
		t.Fatal(err)
	}
	const req = `{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello"}]}`

	// The vocabulary adds BOS itself, so the template's BOS text is left out.
	out, _, err := runTemplate(t, req, gguf, "--template", tmpl)
	want := "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"
	if err != nil || out != want {
		t.Fatalf("template = %q, %v; want %q", out, err, want)
	}
	// A chat that ends with the assistant's message is that answer begun:
	// the generation prompt, then its text, which the engine continues.
	begun := `{"messages":[{"role":"user","content":"Hello"},{"role":"assistant","content":"Hi, I"}]}`
	out, _, err = runTemplate(t, begun, gguf, "--template", tmpl)
	if want := "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi, I"; err != nil || out != want {
		t.Fatalf("answer begun: %q, %v; want %q", out, err, want)
	}
	// By name, from the models directory; without a template the
	// messages are joined, and stderr says so.
	out, stderr, err := runTemplate(t, req, "stories", "--models-dir", dir)
	if err != nil || out != "Be brief.\nHello" || !strings.Contains(stderr, "no chat template") {
		t.Fatalf("no template: %q %q %v", out, stderr, err)
	}
	for _, c := range []struct{ stdin, arg, want string }{
		{"not json", gguf, "not a chat request"},
		{`{"messages":[]}`, gguf, "messages must contain at least one message"},
		{req, filepath.Join(dir, "nope"), "not in the models directory"},
	} {
		if _, _, err := runTemplate(t, c.stdin, c.arg, "--models-dir", dir); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q %s: err = %v, want %q", c.stdin, c.arg, err, c.want)
		}
	}
}

// With a real model's template from the shared set.
func TestTemplateCommandShared(t *testing.T) {
	qwen := sharedFile(t, "testdata/templates/Qwen-Qwen2.5-7B-Instruct.jinja")
	src := testmodels.Dir(t)
	gguf := filepath.Join(t.TempDir(), "stories.gguf")
	if _, err := models.Convert(filepath.Join(src, "stories260K.bin"), filepath.Join(src, "tok512.bin"), gguf, models.ConvertTypes["f32"]); err != nil {
		t.Fatal(err)
	}
	out, _, err := runTemplate(t, `{"messages":[{"role":"user","content":"Hi"}]}`, gguf, "--template", qwen)
	want := "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
	if err != nil || out != want {
		t.Fatalf("%q %v", out, err)
	}
}
