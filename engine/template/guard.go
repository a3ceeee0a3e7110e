package template

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// guard keeps the request's text from forging control tokens. Before
// rendering, every occurrence of a control token's text in a request
// string is replaced by a placeholder code point from Unicode's
// supplementary private use area; after rendering, the placeholders are
// put back and the ranges they cover are reported as plain text. Templates
// still see (and may trim, split or slice) the rest of the text as it is.
//
// Code points of that area already in the request are escaped the same way,
// so every placeholder in the output is one of ours.
type guard struct {
	specials []string // longest first, as the tokenizer matches them
	texts    []string // placeholder i stands for texts[i]
	index    map[string]rune
}

const (
	placeholderFirst = 0xF0000
	placeholderLast  = 0x10FFFD // the two private use planes
)

func newGuard(specials []string) *guard {
	s := make([]string, 0, len(specials))
	for _, t := range specials {
		if t != "" {
			s = append(s, t)
		}
	}
	slices.SortStableFunc(s, func(a, b string) int { return len(b) - len(a) })
	return &guard{specials: s, index: map[string]rune{}}
}

func isPlaceholder(r rune) bool { return r >= placeholderFirst && r <= placeholderLast }

func (g *guard) placeholder(text string) (rune, bool) {
	if r, ok := g.index[text]; ok {
		return r, true
	}
	if len(g.texts) > placeholderLast-placeholderFirst {
		return 0, false
	}
	r := rune(placeholderFirst + len(g.texts))
	g.texts = append(g.texts, text)
	g.index[text] = r
	return r, true
}

// escape returns s with its control-token texts and placeholder-area code
// points replaced by placeholders.
func (g *guard) escape(s string) string {
	if !g.needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if isPlaceholder(r) {
			g.write(&b, s[i:i+n])
			i += n
			continue
		}
		matched := false
		for _, t := range g.specials {
			if strings.HasPrefix(s[i:], t) {
				g.write(&b, t)
				i += len(t)
				matched = true
				break
			}
		}
		if !matched {
			b.WriteString(s[i : i+n])
			i += n
		}
	}
	return b.String()
}

func (g *guard) write(b *strings.Builder, text string) {
	if r, ok := g.placeholder(text); ok {
		b.WriteRune(r)
	} else {
		b.WriteString(text) // over a million distinct texts: give up guarding
	}
}

func (g *guard) needsEscape(s string) bool {
	for _, t := range g.specials {
		if strings.Contains(s, t) {
			return true
		}
	}
	for _, r := range s {
		if isPlaceholder(r) {
			return true
		}
	}
	return false
}

// restore puts the texts back in place of the placeholders of out.
func (g *guard) restore(out string) Prompt {
	if len(g.texts) == 0 {
		return Prompt{Text: out}
	}
	var p Prompt
	var b strings.Builder
	for j := 0; j < len(out); {
		r, n := utf8.DecodeRuneInString(out[j:])
		i := int(r - placeholderFirst)
		if !isPlaceholder(r) || i >= len(g.texts) {
			b.WriteString(out[j : j+n]) // bytes as they are, even invalid ones
			j += n
			continue
		}
		j += n
		start := b.Len()
		b.WriteString(g.texts[i])
		p.Plain = append(p.Plain, [2]int{start, b.Len()})
	}
	p.Text = b.String()
	return p
}
