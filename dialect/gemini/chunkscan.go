package gemini

import (
	"strings"
	"unsafe"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/stream"
)

// liteChunk is what a per-token chunk carries: at most one candidate,
// whose parts are text (thought or not), its finish reason, and the usage
// so far; no function call, prompt feedback or error. scanChunk reads such
// chunks without reflection; anything else is left to encoding/json
// (Decoder.Decode), which also words the error.
type liteChunk struct {
	evs      []stream.Event // the candidate's parts, if its index is 0
	finish   string         // likewise
	hasUsage bool
	usage    stream.Usage
}

// The json names of Response and of the types in it: a key encoding/json
// would take for one of them, but not exactly as scanChunk reads it, sends
// the chunk to encoding/json. Each list has a switch that finds a key's
// index in it (responseKey…): a few comparisons, where slices.Index
// compared a chunk's keys with every name before theirs.
var (
	responseKeys  = []string{"candidates", "usageMetadata", "promptFeedback", "modelVersion", "error"}
	candidateKeys = []string{"content", "finishReason", "index"}
	contentKeys   = []string{"role", "parts"}
	partKeys      = []string{"text", "thought", "functionCall", "functionResponse"}
	usageKeys     = []string{"promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount", "totalTokenCount"}
)

func responseKey(key string) int {
	switch key {
	case "candidates":
		return 0
	case "usageMetadata":
		return 1
	case "promptFeedback":
		return 2
	case "modelVersion":
		return 3
	case "error":
		return 4
	}
	return -1
}

func candidateKey(key string) int {
	switch key {
	case "content":
		return 0
	case "finishReason":
		return 1
	case "index":
		return 2
	}
	return -1
}

func contentKey(key string) int {
	switch key {
	case "role":
		return 0
	case "parts":
		return 1
	}
	return -1
}

func partKey(key string) int {
	switch key {
	case "text":
		return 0
	case "thought":
		return 1
	case "functionCall":
		return 2
	case "functionResponse":
		return 3
	}
	return -1
}

func usageKey(key string) int {
	switch key {
	case "promptTokenCount":
		return 0
	case "candidatesTokenCount":
		return 1
	case "thoughtsTokenCount":
		return 2
	case "totalTokenCount":
		return 3
	}
	return -1
}

// scanChunk parses data as a liteChunk. ok is false when data is not valid
// JSON or holds anything beyond what liteChunk carries. The text kept is
// copied out of data, which is the SSE reader's buffer.
func scanChunk(data []byte) (c liteChunk, ok bool) {
	p := &dialect.EventScanner{S: unsafe.String(unsafe.SliceData(data), len(data))}
	var ignored string
	ok = p.Fields(responseKeys, responseKey, func(key string) bool {
		switch key {
		case "candidates":
			return p.Null() || candidates(p, &c)
		case "usageMetadata":
			return p.Null() || usage(p, &c)
		case "modelVersion":
			return p.StrOrNull(&ignored)
		case "promptFeedback", "error":
			return p.Null()
		}
		return false
	})
	if p.WS(); !ok || p.I != len(p.S) {
		return liteChunk{}, false
	}
	c.finish = strings.Clone(c.finish) // the Decoder keeps it
	return c, true
}

// candidates parses an array of at most one candidate.
func candidates(p *dialect.EventScanner, c *liteChunk) bool {
	n := 0
	return p.Array(func() bool {
		n++
		return n == 1 && candidate(p, c)
	})
}

func candidate(p *dialect.EventScanner, c *liteChunk) bool {
	index := 0
	ok := p.Fields(candidateKeys, candidateKey, func(key string) bool {
		switch key {
		case "content":
			return p.Null() || p.Fields(contentKeys, contentKey, func(key string) bool {
				if key == "role" {
					var role string
					return p.StrOrNull(&role)
				}
				return p.Null() || p.Array(func() bool { return part(p, c) })
			})
		case "finishReason":
			return p.StrOrNull(&c.finish)
		}
		return p.Int(&index)
	})
	if index != 0 { // Runnel streams one candidate
		c.evs, c.finish = nil, ""
	}
	return ok
}

// part parses a part of text, appending its event.
func part(p *dialect.EventScanner, c *liteChunk) bool {
	var text string
	var thought bool
	ok := p.Fields(partKeys, partKey, func(key string) bool {
		switch key {
		case "text":
			return p.StrOrNull(&text)
		case "thought":
			return p.Bool(&thought)
		}
		return p.Null()
	})
	switch {
	case !ok || text == "":
	case thought:
		c.evs = append(c.evs, stream.ThinkingDelta(strings.Clone(text)))
	default:
		c.evs = append(c.evs, stream.Delta(strings.Clone(text)))
	}
	return ok
}

func usage(p *dialect.EventScanner, c *liteChunk) bool {
	c.hasUsage = true
	var prompt, candidates, thoughts, total int
	ok := p.Fields(usageKeys, usageKey, func(key string) bool {
		switch key {
		case "promptTokenCount":
			return p.Int(&prompt)
		case "candidatesTokenCount":
			return p.Int(&candidates)
		case "thoughtsTokenCount":
			return p.Int(&thoughts)
		}
		return p.Int(&total)
	})
	c.usage = stream.Usage{PromptTokens: prompt, CompletionTokens: candidates + thoughts, ReasoningTokens: thoughts}
	return ok
}

// apply is Decode's work on a chunk scanChunk read.
func (d *Decoder) apply(c *liteChunk) []stream.Event {
	if c.hasUsage {
		d.usage, d.hasUsage = c.usage, true
	}
	if c.finish != "" {
		d.finish = c.finish
	}
	return c.evs
}
