package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/runnel/runnel/dialect/openai"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// TestConcurrentLongPromptsReachTheirUpstream: many calls at once, each
// with a long prompt of its own (with escapes, some spelled \uXXXX or
// \/, which the gateway unescapes in the body's own memory), through
// each hop: the upstream answers each call with a digest of the prompt
// it got, which must be the client's own prompt's. The prompts are
// views of the request bodies, and the upstream bodies are written from
// them into pooled buffers at the transport's first read: a buffer
// reused while still read would mix prompts. With an Admission, which
// keeps the request for the record, every record still holds its own
// prompt once all calls are done and the pools have served others.
func TestConcurrentLongPromptsReachTheirUpstream(t *testing.T) {
	for _, api := range []string{"openai", "anthropic"} {
		for _, admitted := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, admission %v", api, admitted), func(t *testing.T) {
				concurrentPrompts(t, api, admitted)
			})
		}
	}
}

func concurrentPrompts(t *testing.T, api string, admitted bool) {
	upstream := httptest.NewServer(digestUpstream(t, api))
	defer upstream.Close()
	acct := &keeper{}
	var h http.Handler
	if api == "openai" {
		h = gatewayOver(upstream.URL, nil, func(g *gateway.Options, _ *openai.Options) {
			if admitted {
				g.Accountant = acct
			}
		})
	} else {
		h = gatewayAnthropicOver(upstream.URL, nil, func(g *gateway.Options) {
			if admitted {
				g.Accountant = acct
			}
		})
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	const workers, calls = 16, 8
	prompts := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range calls {
				prompt := longPrompt(w, c)
				prompts[w] = append(prompts[w], prompt)
				if got, want := postPrompt(t, srv.URL, api, prompt), digest(prompt); got != want {
					t.Errorf("call %d/%d: the upstream got a prompt of digest %s, want %s", w, c, got, want)
				}
			}
		}()
	}
	wg.Wait()
	if !admitted {
		return
	}
	held := map[string]bool{}
	for _, rec := range acct.all() {
		if rec.Request == nil || len(rec.Request.Messages) == 0 {
			t.Fatalf("a record without its request: %+v", rec)
		}
		held[rec.Request.Messages[len(rec.Request.Messages)-1].Content] = true
	}
	for w := range prompts {
		for c, p := range prompts[w] {
			if !held[p] {
				t.Errorf("call %d/%d: no record holds its prompt", w, c)
			}
		}
	}
	if len(held) != workers*calls {
		t.Errorf("%d distinct prompts recorded, want %d", len(held), workers*calls)
	}
}

// longPrompt is call c of worker w's prompt: 9 to 20 KiB, its own, with
// characters JSON escapes.
func longPrompt(w, c int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "worker %d call %d: ", w, c)
	for i := 0; b.Len() < 9000+(w*8+c)*90; i++ {
		fmt.Fprintf(&b, "%d-%d-%d é/\"<&>\n\t😀 x\\y ", w, c, i)
	}
	return b.String()
}

// promptJSON is s as a JSON string, with é and / escaped as \u00e9 and
// \/ every other time (encoding/json writes neither).
func promptJSON(s string) string {
	b, _ := json.Marshal(s)
	var out strings.Builder
	alt := false
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == 'é' && alt:
			out.WriteString(`\u00e9`)
		case r == '/' && alt:
			out.WriteString(`\/`)
		default:
			out.Write(b[:n])
		}
		if r == 'é' || r == '/' {
			alt = !alt
		}
		b = b[n:]
	}
	return out.String()
}

// postPrompt streams a call of prompt through the hop at url and returns
// its text.
func postPrompt(t *testing.T, url, api, prompt string) string {
	path, body := "/v1/chat/completions", `{"model":"openai/m","messages":[{"role":"user","content":`+promptJSON(prompt)+`}],"stream":true}`
	if api == "anthropic" {
		path, body = "/v1/messages", `{"model":"anthropic/m","max_tokens":16,"messages":[{"role":"user","content":[{"type":"text","text":`+promptJSON(prompt)+`}]}],"stream":true}`
	}
	resp, err := http.Post(url+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return ""
	}
	defer resp.Body.Close()
	all, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d: %s", resp.StatusCode, all)
		return ""
	}
	// The digest is the one token: 16 hex digits, in either dialect's
	// events.
	i := bytes.Index(all, []byte("digest-"))
	if i < 0 || i+7+16 > len(all) {
		t.Errorf("no digest in %s", all)
		return ""
	}
	return string(all[i+7 : i+7+16])
}

func digest(prompt string) string {
	h := sha256.Sum256([]byte(prompt))
	return hex.EncodeToString(h[:8])
}

// digestUpstream answers each streamed call with one token: the digest
// of its last message's text, as the upstream decoded it.
func digestUpstream(t *testing.T, api string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Messages []struct {
				Content json.RawMessage `json:"content"`
			} `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Messages) == 0 {
			t.Errorf("upstream body: %v", err)
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		raw := body.Messages[len(body.Messages)-1].Content
		var text string
		if err := json.Unmarshal(raw, &text); err != nil {
			var blocks []struct{ Text string }
			if err := json.Unmarshal(raw, &blocks); err != nil || len(blocks) != 1 {
				t.Errorf("upstream content %.80s: %v", raw, err)
			} else {
				text = blocks[0].Text
			}
		}
		tok := "digest-" + digest(text)
		w.Header().Set("Content-Type", "text/event-stream")
		if api == "openai" {
			fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":%q},\"finish_reason\":null}]}\n\n", tok)
			io.WriteString(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}\n\ndata: [DONE]\n\n")
			return
		}
		io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":1,\"output_tokens\":0}}}\n\n")
		io.WriteString(w, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
		fmt.Fprintf(w, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":%q}}\n\n", tok)
		io.WriteString(w, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
		io.WriteString(w, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":1}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	})
}

// keeper is an Accountant that admits every call and keeps its record,
// request and all.
type keeper struct {
	mu      sync.Mutex
	records []*gateway.Record
}

func (k *keeper) Admit(context.Context, *stream.Request) (gateway.Admission, error) { return k, nil }
func (k *keeper) Warnings() []string                                                { return nil }
func (k *keeper) Done(rec *gateway.Record) {
	k.mu.Lock()
	k.records = append(k.records, rec)
	k.mu.Unlock()
}

func (k *keeper) all() []*gateway.Record {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]*gateway.Record(nil), k.records...)
}
