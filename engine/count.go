package engine

import (
	"context"

	"github.com/runnel/runnel/engine/models"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

var (
	_ gateway.TokenCounter  = (*Engine)(nil)
	_ gateway.PromptCounter = (*Engine)(nil)
)

// CountPrompt implements gateway.TokenCounter: the tokens req's prompt takes
// on model, BOS included, exactly as Stream feeds it. Only loaded models are
// counted (a call the engine served has loaded its model); counting never
// loads one. An answer begun is not part of the prompt (see Continuer).
func (e *Engine) CountPrompt(model string, req *stream.Request) (int, bool) {
	r := e.loaded(model)
	if r == nil {
		return 0, false
	}
	p, err := r.promptTokens(req)
	if err != nil {
		return 0, false
	}
	return len(p.ids) - p.prefix, true
}

// CountTokens implements gateway.PromptCounter: the prompt tokens req
// takes on its model (loaded if it is not yet), as Stream feeds and
// reports them: the template, BOS and EOS included, an answer begun
// counted as output. A prompt longer than the model's context is still
// counted; Stream is what refuses it.
func (e *Engine) CountTokens(ctx context.Context, req *stream.Request) (int, error) {
	name := req.Model
	if models.Name(name) == "" {
		name = e.o.DefaultModel
	}
	r, err := e.runner(name)
	if err != nil {
		return 0, err
	}
	p, err := r.promptTokens(req)
	if err != nil {
		return 0, err
	}
	return len(p.ids) - p.prefix, nil
}

// CountText implements gateway.TokenCounter with model's own tokenizer.
func (e *Engine) CountText(model, text string) (int, bool) {
	r := e.loaded(model)
	if r == nil {
		return 0, false
	}
	return len(r.vocab.Encode(text, false)), true
}

// loaded returns the runner of a loaded model, or nil.
func (e *Engine) loaded(name string) *runner {
	if models.Name(name) == "" {
		name = e.o.DefaultModel
	}
	m, err := models.Resolve(e.o.ModelsDir, name)
	if err != nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.runners[m.Path]
}
