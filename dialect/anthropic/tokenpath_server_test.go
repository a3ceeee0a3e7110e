package anthropic

import (
	"net/http"
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// tokenPathCase is the Messages API over the Anthropic provider,
// streamed, with max_tokens max.
func tokenPathCase(max int) dialecttest.TokenPathCase {
	return dialecttest.TokenPathCase{
		Provider: func(c *http.Client) stream.Provider {
			return NewProvider(Config{BaseURL: "http://upstream", HTTPClient: c})
		},
		Register: func(gw *gateway.Gateway, mux *http.ServeMux) { NewServer(gw, Options{}).Register(mux) },
		Path:     "/v1/messages",
		Body:     `{"model":"m","stream":true,"max_tokens":` + string(rune('0'+max)) + `,"messages":[{"role":"user","content":"hi"}]}`,
	}
}

// TestTokenPathServer: a plain stream's text deltas take the token path,
// and the client gets what it gets without.
func TestTokenPathServer(t *testing.T) {
	up := tokenPathBody("Hello", " world", `"\u00e9 \"q\""`, `{"type":"ping"}`)
	if !dialecttest.TokenPathUsed(t, tokenPathCase(9), up) {
		t.Fatal("no token took the token path")
	}
	for _, max := range []int{9, 3} {
		dialecttest.TokenPaths(t, tokenPathCase(max), up)
	}
}

// FuzzTokenPathServer holds the Anthropic server over the Anthropic
// provider with the token path to the same without: the same bytes to
// the client and the same record from any texts, any raw text value and
// any event among them, with any max_tokens.
func FuzzTokenPathServer(f *testing.F) {
	f.Add("Hello", " world", `"a"`, `{"type":"ping"}`, uint8(9))
	f.Add("a<b", "é", `"a\nb"`, `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"x"}}`, uint8(2))
	f.Add("", "&", `"\ud800"`, `{"type":"error","error":{"type":"overloaded_error","message":"m"}}`, uint8(5))
	f.Add("x", "y", `"bad`+"\xff"+`"`, `{"type":"message_stop"}`, uint8(1))
	f.Fuzz(func(t *testing.T, a, b, raw, extra string, max uint8) {
		if strings.ContainsAny(raw+extra, "\r\n") {
			return
		}
		dialecttest.TokenPaths(t, tokenPathCase(1+int(max%9)), tokenPathBody(a, b, raw, extra))
	})
}
