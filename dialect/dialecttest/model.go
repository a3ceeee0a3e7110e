package dialecttest

import (
	"hash/fnv"
	"strings"
	"unicode"

	"github.com/runnel/runnel/mock"
)

// The fake upstreams (ollamatest, anthropictest) share one deterministic
// model, as a real one is at temperature 0: each token is a function of
// the whole text before it, so a continuation given the text so far,
// exactly, writes what an uninterrupted answer writes, and one given a
// lost or repeated piece writes something else.

var words = strings.Fields(`river stone light across the quiet valley where morning
	rain finds every open field and old roads turn toward distant hills while
	birds call over water beneath clouds`)

// NextToken is the token the model writes after context: a word (led by
// a space, or by a blank line), or a comma, chosen by a hash of the whole
// context; first says the answer has no text yet (then a bare word). Each
// is one of the mock's tokens (mock.Tokens), and joined they split back
// into the same tokens.
func NextToken(context string, first bool) string {
	h := fnv.New64a()
	h.Write([]byte(context))
	v := h.Sum64()
	w := words[v%uint64(len(words))]
	switch {
	case first:
		return w
	case v>>40%7 == 0:
		return ","
	case v>>40%11 == 1:
		return "\n\n" + string(unicode.ToUpper(rune(w[0]))) + w[1:]
	}
	return " " + w
}

// Cuts returns where text may be cut between its tokens (mock.Tokens),
// and, for each blank line it holds, inside it (after the white space of
// the token it leads: a prefix ending in white space): where a stream of
// the model's tokens may have been interrupted.
func Cuts(text string) []int {
	var at []int
	n := 0
	for _, tok := range mock.Tokens(text) {
		if strings.HasPrefix(tok, "\n\n") {
			at = append(at, n+2)
		}
		n += len(tok)
		at = append(at, n)
	}
	return at[:len(at)-1]
}
