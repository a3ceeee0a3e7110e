package anthropic

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// prefillAPI is a Messages API that, as Anthropic's does, refuses a final
// assistant text ending in white space and prefilled answers with thinking,
// and streams the given text deltas after the prefill, billing the prefill
// as input.
type prefillAPI struct {
	deltas []string
	input  int
	got    MessagesRequest
}

func (f *prefillAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.got = MessagesRequest{}
	if err := json.NewDecoder(r.Body).Decode(&f.got); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	refuse := func(msg string) {
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"type":"error","error":{"type":"invalid_request_error","message":%q}}`, msg)
	}
	if n := len(f.got.Messages); n > 0 && f.got.Messages[n-1].Role == "assistant" {
		b := f.got.Messages[n-1].Content.Blocks
		if len(b) == 0 || b[len(b)-1].Text == "" {
			refuse("messages: text content blocks must be non-empty")
			return
		}
		if t := b[len(b)-1].Text; strings.TrimRightFunc(t, unicode.IsSpace) != t {
			refuse("messages: final assistant content cannot end with trailing whitespace")
			return
		}
		if f.got.Thinking != nil {
			refuse("thinking: a final assistant message cannot be prefilled with thinking enabled")
			return
		}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fmt.Fprintf(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":%d,\"output_tokens\":1}}}\n\n", f.input)
	io.WriteString(w, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	for _, d := range f.deltas {
		b, _ := json.Marshal(d)
		fmt.Fprintf(w, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":%s}}\n\n", b)
	}
	io.WriteString(w, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":7}}\n\n")
	io.WriteString(w, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
}

// A continuation is sent as a prefill trimmed of its trailing white space;
// the white space the model writes again is dropped, so prefix + rest is
// the answer with nothing repeated; the prefix's tokens move from input to
// output, marked estimated.
func TestContinuePrefill(t *testing.T) {
	f := &prefillAPI{input: 30}
	ts := httptest.NewServer(f)
	defer ts.Close()
	p := NewProvider(Config{BaseURL: ts.URL})
	if !p.CanContinue("claude-sonnet-4-5") {
		t.Fatal("CanContinue = false")
	}
	prefix := "The answer is \n "
	sent := "The answer is"
	k := gateway.ApproxCounter{}.Count("claude-sonnet-4-5", sent)
	for _, tc := range []struct {
		deltas []string
		rest   string
	}{
		{[]string{" \n", " ", "forty", "-two."}, "forty-two."}, // the white space again, split
		{[]string{" \n forty-two."}, "forty-two."},             // in one delta
		{[]string{"forty-two."}, "forty-two."},                 // not written again
		{[]string{" \tforty-two."}, "\tforty-two."},            // other white space: kept
		{[]string{" \n ", " ", "forty-two."}, " forty-two."},   // more than was trimmed: kept
	} {
		f.deltas = tc.deltas
		s, err := p.Stream(context.Background(), &stream.Request{Model: "claude-sonnet-4-5", Thinking: true,
			Messages: []stream.Message{{Role: "user", Content: "Q?"}, {Role: "assistant", Content: prefix}}})
		if err != nil {
			t.Fatal(err)
		}
		res := stream.Collect(s)
		if res.Err != nil || res.Text != tc.rest {
			t.Fatalf("deltas %q: %v rest %q, want %q", tc.deltas, res.Err, res.Text, tc.rest)
		}
		if want := (stream.Usage{PromptTokens: 30 - k, CompletionTokens: 7 + k, Estimated: true}); res.Usage == nil || *res.Usage != want {
			t.Fatalf("usage %+v, want %+v", res.Usage, want)
		}
		last := f.got.Messages[len(f.got.Messages)-1]
		if last.Role != "assistant" || last.Content.Blocks[0].Text != sent || f.got.Thinking != nil {
			t.Fatalf("upstream request %+v", f.got)
		}
	}

	// A completion's continuation keeps its prompt as the user turn; a
	// prefix of white space only is not sent, and is not written twice.
	f.deltas = []string{"\n", "Hi"}
	s, err := p.Stream(context.Background(), &stream.Request{Model: "claude-sonnet-4-5", Prompt: "Say hi", RawPrompt: true,
		Messages: []stream.Message{{Role: "assistant", Content: "\n"}}})
	if err != nil {
		t.Fatal(err)
	}
	res := stream.Collect(s)
	if res.Err != nil || res.Text != "Hi" || res.Usage == nil || *res.Usage != (stream.Usage{PromptTokens: 30, CompletionTokens: 7}) {
		t.Fatalf("%v %q %+v", res.Err, res.Text, res.Usage)
	}
	if len(f.got.Messages) != 1 || f.got.Messages[0].Role != "user" || f.got.Messages[0].Content.Blocks[0].Text != "Say hi" {
		t.Fatalf("upstream messages %+v", f.got.Messages)
	}
}
