package engine

import (
	"fmt"

	"github.com/runnel/runnel/engine/gguf"
	"github.com/runnel/runnel/engine/model"
	"github.com/runnel/runnel/engine/models"
	"github.com/runnel/runnel/engine/template"
	"github.com/runnel/runnel/engine/tokenizer"
)

// open loads a model file and its tokenizer: for a llama2.c checkpoint the
// tokenizer file beside it (or tokenizerPath), for GGUF its own metadata,
// with its chat template if it has one.
func open(m models.Model, tokenizerPath string) (*model.Model, tokenizer.Tokenizer, *template.Template, error) {
	var (
		mdl  *model.Model
		tok  tokenizer.Tokenizer
		tmpl *template.Template
		err  error
	)
	switch m.Format {
	case models.FormatLlama2C:
		if tokenizerPath == "" {
			tokenizerPath = m.Tokenizer
		}
		if tokenizerPath == "" {
			return nil, nil, nil, fmt.Errorf("no tokenizer beside %s (looked for tok<vocab size>.bin and tokenizer.bin with a matching vocabulary)", m.Path)
		}
		if mdl, err = model.OpenLlama2C(m.Path); err != nil {
			return nil, nil, nil, err
		}
		tok, err = tokenizer.Open(tokenizerPath)
	case models.FormatGGUF:
		var f *gguf.File
		if mdl, f, err = model.OpenGGUF(m.Path); err != nil {
			return nil, nil, nil, err
		}
		if tok, err = tokenizer.FromGGUF(f); err == nil {
			tmpl, err = template.FromGGUF(f, tok)
		}
		if sc, ok := tok.(interface{ ShowControl(...string) }); ok && tmpl != nil {
			// The tool-call parser must see the markers the template teaches.
			sc.ShowControl(tmpl.ForTools().ToolMarkers()...)
		}
	default:
		return nil, nil, nil, fmt.Errorf("model format %q is not supported", m.Format)
	}
	if err == nil && tok.VocabSize() != mdl.VocabSize {
		err = fmt.Errorf("the tokenizer has %d tokens, the model %d", tok.VocabSize(), mdl.VocabSize)
	}
	if err != nil {
		mdl.Close()
		return nil, nil, nil, err
	}
	return mdl, tok, tmpl, nil
}
