package gemini

import (
	"context"
	"encoding/json"
	"io"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

var _ gateway.PromptCounter = (*Provider)(nil)

// CountTokensRequest is the body of models/{model}:countTokens. It carries
// the whole generateContent request rather than bare contents, so the
// system instruction and the function declarations are counted too, as
// the usage's promptTokenCount counts them.
type CountTokensRequest struct {
	GenerateContentRequest *CountedRequest `json:"generateContentRequest"`
}

// CountedRequest is a generateContent request named by its model, as
// countTokens requires it inside generateContentRequest.
type CountedRequest struct {
	Model string `json:"model"`
	*Request
}

// CountTokensResponse is countTokens' answer.
type CountTokensResponse struct {
	TotalTokens *int `json:"totalTokens"`
}

// CountTokens implements gateway.PromptCounter with the API's countTokens,
// on exactly the request Stream would send. Gemini's usage counts a final
// model turn as prompt, and so does this count: it is the promptTokenCount
// the call would report.
func (p *Provider) CountTokens(ctx context.Context, req *stream.Request) (int, error) {
	body, err := upstreamRequest(req)
	if err != nil {
		return 0, err
	}
	b, err := json.Marshal(CountTokensRequest{&CountedRequest{Model: modelPath(req.Model), Request: body}})
	if err != nil {
		return 0, stream.Errorf(stream.CodeInvalidRequest, "gemini: %v", err)
	}
	ep, err := p.counts.at(p.cfg.HTTPClient, req.Model)
	if err != nil {
		return 0, stream.Errorf(stream.CodeInternal, "gemini: %v", err)
	}
	resp, err := ep.Post(ctx, &b, 0)
	if err != nil {
		return 0, dialect.TransportError(ctx, p.cfg.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return 0, statusError(resp)
	}
	var c CountTokensResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&c); err != nil || c.TotalTokens == nil || *c.TotalTokens < 0 {
		return 0, stream.Errorf(stream.CodeUpstream, "gemini: counting tokens: no totalTokens in the answer (%v)", err)
	}
	return *c.TotalTokens, nil
}
