package dialect

import (
	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

// SendTokens writes the plain tokens tok passes (stream.TokenStream), each
// as te's event around its text (sse.Writer.SendText), until tok passes
// none; false when a write failed (the client is gone). The dialects'
// token loop, in a function of its own: the few instructions a token runs
// here stay together at the function's start, where inlined in each
// dialect's event loop they fell across code lines as the code around
// them moved (docs/benchmarks.md, issue 13, dialfoot session).
//
//go:noinline
func SendTokens(tok stream.TokenStream, out *sse.Writer, te *sse.TextEvent) bool {
	for {
		text, ok := tok.RecvToken()
		if !ok {
			return true
		}
		if out.SendText(te, text) != nil {
			return false
		}
	}
}
