package tokenizer

import "unicode"

// A splitter splits cps into words, appending the end of each word to ends;
// the words cover cps in order.
type splitter func(cps []rune, ends []int32) []int32

// pretokenizers are the tokenizer.ggml.pre values supported: each is the
// hand-written equivalent of the expressions llama.cpp applies for it.
var pretokenizers = map[string]splitter{
	"default": chain(find(run(isPunctOrSym)), splitGPT2, find(run(isNumber)), find(asciiTriple)),

	"gpt-2": splitGPT2, "phi-2": splitGPT2, "mpt": splitGPT2, "olmo": splitGPT2,
	"jais": splitGPT2, "gigachat": splitGPT2, "roberta-bpe": splitGPT2,
	"jina-es": splitGPT2, "jina-de": splitGPT2, "jina-v1-en": splitGPT2,
	"jina-v2-es": splitGPT2, "jina-v2-de": splitGPT2, "jina-v2-code": splitGPT2,

	"llama3": splitLlama3, "llama-v3": splitLlama3, "llama-bpe": splitLlama3,
	"falcon3": splitLlama3, "dbrx": splitLlama3, "smaug-bpe": splitLlama3,
	"chatglm-bpe": splitLlama3,

	"qwen2": splitQwen2, "deepseek-r1-qwen": splitQwen2, "stablelm2": splitQwen2,
	"megrez": splitQwen2,

	// Digits one by one, then GPT-2's expression.
	"starcoder": splitDigitsGPT2, "refact": splitDigitsGPT2, "command-r": splitDigitsGPT2,
	"smollm": splitDigitsGPT2, "codeshell": splitDigitsGPT2, "exaone": splitDigitsGPT2,
	"minerva-7b": splitDigitsGPT2,

	"falcon": chain(find(run(isFalconPunct)), splitGPT2, find(asciiTriple)),

	"deepseek-llm": chain(
		find(one(isBreak)),
		find(spaceThenRun(inRanges(deepseekLetters))),
		find(spaceThenRun(inRanges(deepseekPunct))),
		splitTrailingSpace,
		find(run(inRanges(deepseekCJK))),
		find(run(isNumber)),
	),
	"deepseek-coder": chain(
		find(one(isBreak)),
		find(spaceThenRun(isLetter)),
		find(spaceThenRun(unicode.IsPunct)),
		find(run(inRanges(deepseekCJK))),
		find(one(isNumber)),
	),

	"tekken": splitTekken,

	"poro-chat": find(bloomWord), "bloom": find(bloomWord), "gpt3-finnish": find(bloomWord),
	"viking": chain(find(bloomWord), find(one(isNumber))),
}

// ignoreMerges lists the pre-tokenizers whose words that are tokens stay
// whole whatever the merges would make of them (llama.cpp's ignore_merges).
var ignoreMerges = map[string]bool{"llama3": true, "llama-v3": true, "llama-bpe": true, "falcon3": true, "tekken": true}

// addBOS lists the pre-tokenizers whose prompts start with BOS unless the
// file says otherwise (llama.cpp's defaults; SentencePiece vocabularies
// always do).
var addBOS = map[string]bool{"llama3": true, "llama-v3": true, "llama-bpe": true, "falcon3": true, "tekken": true}

var splitDigitsGPT2 = chain(find(one(isNumber)), splitGPT2)

// chain applies splitters in turn, each to every word the previous ones
// made, as llama.cpp applies a pre-tokenizer's list of expressions.
func chain(steps ...splitter) splitter {
	return func(cps []rune, ends []int32) []int32 {
		base := len(ends)
		ends = steps[0](cps, ends)
		var words []int32
		for _, step := range steps[1:] {
			words = append(words[:0], ends[base:]...)
			ends = ends[:base]
			start := int32(0)
			for _, end := range words {
				from := len(ends)
				ends = step(cps[start:end], ends)
				for i := from; i < len(ends); i++ {
					ends[i] += start
				}
				start = end
			}
		}
		return ends
	}
}

// A matcher returns the end of the match of an expression starting at pos,
// or -1 if none starts there.
type matcher func(cps []rune, pos int) int

// find splits cps as llama.cpp splits by one expression: each leftmost
// match is a word, and so is each stretch of text between matches.
func find(m matcher) splitter {
	return func(cps []rune, ends []int32) []int32 {
		gap := 0
		for pos := 0; pos < len(cps); {
			end := m(cps, pos)
			if end <= pos {
				pos++
				continue
			}
			if pos > gap {
				ends = append(ends, int32(pos))
			}
			ends = append(ends, int32(end))
			pos, gap = end, end
		}
		if gap < len(cps) {
			ends = append(ends, int32(len(cps)))
		}
		return ends
	}
}

// one matches a single code point of a class.
func one(in func(rune) bool) matcher {
	return func(cps []rune, pos int) int {
		if in(cps[pos]) {
			return pos + 1
		}
		return -1
	}
}

// run matches one or more code points of a class.
func run(in func(rune) bool) matcher {
	return func(cps []rune, pos int) int {
		end := pos
		for end < len(cps) && in(cps[end]) {
			end++
		}
		if end == pos {
			return -1
		}
		return end
	}
}

// spaceThenRun matches \s?X+ for a class X that holds no white space.
func spaceThenRun(in func(rune) bool) matcher {
	r := run(in)
	return func(cps []rune, pos int) int {
		if isSpace(cps[pos]) {
			if pos+1 < len(cps) && in(cps[pos+1]) {
				return r(cps, pos+1)
			}
			return -1
		}
		return r(cps, pos)
	}
}

// asciiTriple matches [0-9][0-9][0-9].
func asciiTriple(cps []rune, pos int) int {
	if pos+3 > len(cps) {
		return -1
	}
	for _, r := range cps[pos : pos+3] {
		if r < '0' || r > '9' {
			return -1
		}
	}
	return pos + 3
}

// bloomWord matches " ?[^(\s|.,!?…。，、।۔،)]+" (the parentheses and the bar
// are part of the class, as written).
func bloomWord(cps []rune, pos int) int {
	in := func(r rune) bool {
		switch r {
		case '(', '|', '.', ',', '!', '?', '…', '。', '，', '、', '।', '۔', '،', ')':
			return false
		}
		return !isSpace(r)
	}
	start := pos
	if cps[pos] == ' ' && pos+1 < len(cps) && in(cps[pos+1]) {
		start++
	}
	return run(in)(cps, start)
}

// splitTrailingSpace splits by \s+$: the white space ending the text is a
// word of its own.
func splitTrailingSpace(cps []rune, ends []int32) []int32 {
	k := len(cps)
	for k > 0 && isSpace(cps[k-1]) {
		k--
	}
	if k > 0 {
		ends = append(ends, int32(k))
	}
	if k < len(cps) {
		ends = append(ends, int32(len(cps)))
	}
	return ends
}

func isBreak(r rune) bool  { return r == '\r' || r == '\n' }
func isSpace(r rune) bool  { return classOf(r)&cpSpace != 0 }
func isLetter(r rune) bool { return classOf(r)&cpLetter != 0 }
func isNumber(r rune) bool { return classOf(r)&cpNumber != 0 }

// isPunctOrSym is the default expression's [\p{P}\$\+<=>\^~\|].
func isPunctOrSym(r rune) bool {
	switch r {
	case '$', '+', '<', '=', '>', '^', '~', '|':
		return true
	}
	return unicode.IsPunct(r)
}

// isFalconPunct is Falcon's [\p{P}\$\+<=>\^~\|`].
func isFalconPunct(r rune) bool { return r == '`' || isPunctOrSym(r) }

// inRanges is a class written as code point ranges. White space never
// belongs to one: llama.cpp matches such literal classes after replacing
// non-ASCII white space by \v.
func inRanges(rs [][2]rune) func(rune) bool {
	return func(r rune) bool {
		if r >= 0x80 && isSpace(r) {
			return false
		}
		for _, x := range rs {
			if r >= x[0] && r <= x[1] {
				return true
			}
		}
		return false
	}
}

// The classes of DeepSeek LLM's pre-tokenizer, from its tokenizer.json:
// cased letters, ASCII and full-width punctuation, and CJK and Hangul.
var (
	deepseekLetters = [][2]rune{
		{0x41, 0x5A}, {0x61, 0x7A}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA},
		{0x1BC, 0x1BF}, {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x377},
		{0x37B, 0x37D}, {0x37F, 0x37F}, {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C},
		{0x38E, 0x3A1}, {0x3A3, 0x3F5}, {0x3F7, 0x481}, {0x48A, 0x52F}, {0x531, 0x556},
		{0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA}, {0x1CBD, 0x1CBF},
		{0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15}, {0x1F18, 0x1F1D},
		{0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B},
		{0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE},
		{0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC},
		{0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102}, {0x2107, 0x2107}, {0x210A, 0x2113},
		{0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126}, {0x2128, 0x2128},
		{0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F}, {0x2145, 0x2149},
		{0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE},
		{0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F}, {0xA771, 0xA787},
		{0xA78B, 0xA78E}, {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A},
		{0xFF41, 0xFF5A}, {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
		{0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
	}
	deepseekPunct = [][2]rune{
		{0x21, 0x2F}, {0x3A, 0x7E}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E}, {0x2018, 0x201F}, {0x3000, 0x3002},
	}
	deepseekCJK = [][2]rune{{0x4E00, 0x9FA5}, {0x800, 0x4E00}, {0xAC00, 0xD7FF}}
)
