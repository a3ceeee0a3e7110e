package openai

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/stream"
)

// tokenPathCase is the chat API over the OpenAI provider, streamed (the
// legacy completions API for a body with a prompt).
func tokenPathCase(body string) dialecttest.TokenPathCase {
	path := "/v1/chat/completions"
	if strings.Contains(body, `"prompt"`) {
		path = "/v1/completions"
	}
	return dialecttest.TokenPathCase{
		Provider: func(c *http.Client) stream.Provider {
			return NewProvider(Config{BaseURL: "http://upstream/v1", HTTPClient: c})
		},
		Register: func(gw *gateway.Gateway, mux *http.ServeMux) { NewServer(gw, Options{}).Register(mux) },
		Path:     path,
		Body:     body,
	}
}

const tokenPathChat = `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`

// tokenPathUpstream is an upstream's chat stream whose chunks carry
// contents a and b (as JSON strings) and raw (a JSON value as it is),
// with extra, any chunk, among them; finish ends it with or without
// usage.
func tokenPathUpstream(a, b, raw, extra string, finish uint8) string {
	str := func(s string) string { j, _ := json.Marshal(s); return string(j) }
	chunk := func(content string) string {
		return "data: " + mockHead + `[{"index":0,"delta":{"content":` + content + `},"logprobs":null,"finish_reason":null}]}` + "\n\n"
	}
	var sb strings.Builder
	sb.WriteString("data: " + mockHead + `[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}` + "\n\n")
	for _, c := range []string{chunk(str(a)), chunk(str(b)), chunk(raw), chunk(str(a)), "data: " + extra + "\n\n", chunk(str(b)), chunk(str(b))} {
		sb.WriteString(c)
	}
	reasons := []string{"stop", "length", "tool_calls", "content_filter", "other"}
	sb.WriteString("data: " + mockHead + `[{"index":0,"delta":{},"logprobs":null,"finish_reason":"` + reasons[int(finish)%len(reasons)] + `"}]}` + "\n\n")
	if finish&0x10 == 0 {
		sb.WriteString("data: " + mockHead + `[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}` + "\n\n")
	}
	if finish&0x20 == 0 {
		sb.WriteString("data: [DONE]\n\n")
	}
	return sb.String()
}

// TestTokenPathServer: a plain stream's tokens take the token path, and
// the client gets what it gets without.
func TestTokenPathServer(t *testing.T) {
	up := tokenPathUpstream("Hello", " world", `"\u00e9 \"q\""`, mockHead+`[{"index":0,"delta":{"reasoning_content":"r"},"finish_reason":null}]}`, 0)
	if !dialecttest.TokenPathUsed(t, tokenPathCase(tokenPathChat), up) {
		t.Fatal("no token took the token path")
	}
	dialecttest.TokenPaths(t, tokenPathCase(tokenPathChat), up)
	dialecttest.TokenPaths(t, tokenPathCase(strings.Replace(tokenPathChat, `"stream":true`, `"stream":true,"max_tokens":3`, 1)), up)
	legacy := `{"model":"m","stream":true,"prompt":"hi"}`
	if !dialecttest.TokenPathUsed(t, tokenPathCase(legacy), up) {
		t.Fatal("no completion token took the token path")
	}
	dialecttest.TokenPaths(t, tokenPathCase(legacy), up)
}

// FuzzTokenPathServer holds the OpenAI server over the OpenAI provider
// with the token path to the same without: the same bytes to the client
// and the same record from any contents, any raw content value and any
// chunk among them, any finish, with usage or without, with or without
// [DONE], and a max_tokens; chat, or legacy completions.
func FuzzTokenPathServer(f *testing.F) {
	f.Add("Hello", " world", `"a"`, `{"choices":[]}`, uint8(0), uint8(0))
	f.Add("a<b", "é", `"a\nb"`, mockHead+`[{"index":0,"delta":{"content":"x"},"logprobs":{"content":[]},"finish_reason":null}]}`, uint8(0x11), uint8(2))
	f.Add("", "&", `"\ud800"`, `{"error":{"message":"m"}}`, uint8(0x22), uint8(1))
	f.Add("x", "y", `"bad`+"\xff"+`"`, `[DONE]`, uint8(3), uint8(5))
	f.Add("Hello", " world", `"a"`, `{"choices":[]}`, uint8(0), uint8(0x80))
	f.Fuzz(func(t *testing.T, a, b, raw, extra string, finish, max uint8) {
		if strings.ContainsAny(raw+extra, "\r\n") {
			return
		}
		body := tokenPathChat
		if max&0x80 != 0 {
			body = `{"model":"m","stream":true,"prompt":"hi"}`
		}
		if max%8 != 0 {
			body = strings.Replace(body, `"stream":true`, `"stream":true,"max_tokens":`+string(rune('0'+max%8)), 1)
		}
		dialecttest.TokenPaths(t, tokenPathCase(body), tokenPathUpstream(a, b, raw, extra, finish))
	})
}

// TestTokenPathNamed: an upstream that names its chunks' events takes
// the token path too (the shape holds the event line), and the client
// gets what it gets without.
func TestTokenPathNamed(t *testing.T) {
	up := dialecttest.Reframe(tokenPathUpstream("Hello", " world", `"c"`, `{"choices":[]}`, 0), []byte{8})
	if !dialecttest.TokenPathUsed(t, tokenPathCase(tokenPathChat), up) {
		t.Fatal("no token took the token path")
	}
	dialecttest.TokenPaths(t, tokenPathCase(tokenPathChat), up)
}

// FuzzTokenPathFraming is FuzzTokenPathServer over chunks framed in the
// other ways SSE allows (dialecttest.Reframe): the token path, which
// matches a chunk's lines as it reads them (sse.Reader.NextShaped), takes
// only what Recv reads the same.
func FuzzTokenPathFraming(f *testing.F) {
	f.Add("Hello", " world", []byte{0, 3, 0, 1, 3, 2, 5, 4, 6, 7})
	f.Add("a", "b", []byte{3})
	f.Add("x", "", []byte{7, 0})
	f.Add("x", "y", []byte{8, 8, 0, 8, 3})
	// A first byte from 0x80 adds OpenAI's obfuscation to every chunk.
	f.Add("Hello", " world", []byte{0x80, 3, 0, 1, 3, 2, 5, 4, 6, 7})
	f.Add("a", "b", []byte{0x83})
	f.Add("x", "y", []byte{0x88, 8, 0, 8, 3})
	f.Fuzz(func(t *testing.T, a, b string, frame []byte) {
		up := tokenPathUpstream(a, b, `"c"`, `{"choices":[]}`, 0)
		if len(frame) > 0 && frame[0] >= 0x80 {
			up = string(mock.Obfuscate([]byte(up), uint64(frame[0])))
		}
		dialecttest.TokenPaths(t, tokenPathCase(tokenPathChat), dialecttest.Reframe(up, frame))
	})
}
