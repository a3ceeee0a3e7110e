package anthropic

import (
	"strings"
	"unicode"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

var _ gateway.Continuer = (*Provider)(nil)

// CanContinue implements gateway.Continuer: the Messages API continues a
// final assistant message (prefill), which is how a stream whose replica
// died is carried on.
func (p *Provider) CanContinue(model string) bool { return true }

// prefill is a request's answer begun as sent upstream: the API refuses
// a final assistant text that ends in white space, so that is trimmed
// (ws) and dropped again from the start of the answer's rest, which
// writes it anew; tokens is the sent text's estimated share of the input
// tokens.
type prefill struct {
	ws     string
	tokens int
}

// withPrefill returns req ready to send when its last message is the
// assistant's answer begun: trimmed of trailing white space (dropped if
// nothing is left), with a completion-style prompt kept as the user turn
// before it; and what the answer's stream must undo (nil if none).
func (p *Provider) withPrefill(req *stream.Request) (*stream.Request, *prefill) {
	n := len(req.Messages)
	if n == 0 {
		return req, nil
	}
	last := req.Messages[n-1]
	if last.Role != stream.RoleAssistant || len(last.ToolCalls) > 0 {
		return req, nil
	}
	text := strings.TrimRightFunc(last.Content, unicode.IsSpace)
	pf := &prefill{ws: last.Content[len(text):]}
	r := *req
	r.Messages = append([]stream.Message(nil), req.Messages[:n-1]...)
	if len(r.Messages) == 0 && r.Prompt != "" {
		// A completion's continuation: the gateway put the answer after
		// the prompt, which upstreamRequest only sends without messages.
		r.Messages = append(r.Messages, stream.Message{Role: stream.RoleUser, Content: r.Prompt})
	}
	if text != "" {
		last.Content = text
		r.Messages = append(r.Messages, last)
		pf.tokens = p.cfg.Counter.Count(req.Model, text)
		// Extended thinking refuses a prefilled answer; an answer begun is
		// past its thinking anyway.
		r.Thinking = false
	}
	return &r, pf
}
