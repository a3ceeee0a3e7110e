package template

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/dialect/openai"
	"github.com/runnel/runnel/stream"
)

// templatesDir finds ../shared/testdata/templates beside the module root
// (or under $RUNNEL_SHARED), skipping the test when it is absent.
func templatesDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("RUNNEL_SHARED")
	if root == "" {
		dir, _ := os.Getwd()
		for dir != filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				break
			}
			dir = filepath.Dir(dir)
		}
		root = filepath.Join(dir, "..", "shared")
	}
	p := filepath.Join(root, "testdata", "templates")
	if _, err := os.Stat(p); err != nil {
		t.Skip("shared templates absent")
	}
	return p
}

// references are llama.cpp's renderings (testdata/README.md says how they
// were made).
type references struct {
	Date    string                                `json:"date"`
	Cases   map[string]json.RawMessage            `json:"cases"`
	Prompts map[string]map[string]json.RawMessage `json:"prompts"`
}

func loadReferences(t *testing.T) references {
	t.Helper()
	b, err := os.ReadFile("testdata/llamacpp-prompts.json")
	if err != nil {
		t.Fatal(err)
	}
	var r references
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func request(t *testing.T, body json.RawMessage) *stream.Request {
	t.Helper()
	var c openai.ChatRequest
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	c.Model = "m"
	req, err := c.ToRequest()
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// ownToolProtocol lists the templates whose tools llama.cpp does not
// render with the template: it writes its own tool instructions into the
// system turn (a JSON protocol for templates without a tool format of
// llama.cpp's knowing, a tool list for those that only render tool calls).
// Runnel renders the template as written; these prompts must render but
// are not compared.
var ownToolProtocol = map[string]bool{
	"CohereForAI-c4ai-command-r-plus-tool_use": true,
	"deepseek-ai-DeepSeek-R1-Distill-Llama-8B": true,
	"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B": true,
	"microsoft-Phi-3.5-mini-instruct":          true,
}

// TestTemplatesMatchLlamaCpp renders every template of the shared set with
// each conversation of the references and compares with llama.cpp's
// rendering, byte for byte; a conversation llama.cpp's template refuses is
// refused here too.
func TestTemplatesMatchLlamaCpp(t *testing.T) {
	dir := templatesDir(t)
	refs := loadReferences(t)
	now, err := time.Parse("2006-01-02", refs.Date)
	if err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.jinja"))
	if len(paths) != 17 {
		t.Fatalf("%d templates, want 17", len(paths))
	}
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".jinja")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			// The vocabulary is stories260K's: llama2.c writes BOS and EOS with newlines.
			tm, err := Parse(string(src), "\n<s>\n", "\n</s>\n")
			if err != nil {
				t.Fatal(err)
			}
			now := now
			if strings.Contains(name, "firefunction") {
				// llama.cpp gives this template a fixed datetime; Runnel
				// gives the time of the request.
				now = time.Date(2025, 1, 29, 13, 0, 0, 0, time.UTC)
			}
			want := refs.Prompts[name]
			if len(want) == 0 {
				t.Fatalf("no reference for %s", name)
			}
			for cname, body := range refs.Cases {
				req := request(t, body)
				got, err := tm.Render(Input{Messages: req.Messages, Tools: req.Tools, AddGenerationPrompt: true, StripBOS: true, Now: now}, nil)
				var text string
				if json.Unmarshal(want[cname], &text) != nil { // llama.cpp refused it
					if !errors.Is(err, ErrRender) {
						t.Errorf("%s: rendered %q, llama.cpp refused: %s", cname, got.Text, want[cname])
					}
					continue
				}
				if err != nil {
					t.Errorf("%s: %v", cname, err)
					continue
				}
				if cname == "tools" && ownToolProtocol[name] {
					continue
				}
				if got.Text != text {
					i := 0
					for i < len(got.Text) && i < len(text) && got.Text[i] == text[i] {
						i++
					}
					from := max(0, i-80)
					t.Errorf("%s: differs at byte %d:\n got …%q\nwant …%q", cname, i, got.Text[from:min(len(got.Text), i+120)], text[from:min(len(text), i+120)])
				}
			}
		})
	}
}
