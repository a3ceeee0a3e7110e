package anthropic

import (
	"strings"
	"unsafe"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/stream"
)

// A stream's events besides its text deltas come once a call, in the
// shapes Anthropic's API and Runnel's own server write: message_start
// (whose usage is all the decoder keeps), content_block_start of an empty
// text block, content_block_stop, message_delta and message_stop, and a
// block's first text delta (the others are read by its shape). Parsed as
// any event (liteEvent.parse: keys looked up one by one, every string
// scanned as a general JSON string) they cost about 21k instructions a
// call, 13k of them before the first token (docs/benchmarks.md, issue
// 13, anthttft session). callEvent reads those shapes by comparing their
// fixed bytes and reading only their strings and numbers, in about a
// third of that; anything else (whitespace, escapes, non-ASCII, nulls or
// keys elsewhere, a duplicate usage) it leaves to the general path, which
// gives the same events (FuzzCallEvents).

// callEvent decodes data if it is one of those shapes: the events, and
// ok. Out of line: Decode's frame is under every token (see unmarshalEvent).
//
//go:noinline
func (d *Decoder) callEvent(name string, data []byte) (evs []stream.Event, ok bool) {
	// A view of data: callEvent keeps none of it (messageDelta and
	// textDelta copy what the decoder keeps).
	c := cursor{dialect.EventScanner{S: unsafe.String(unsafe.SliceData(data), len(data))}}
	switch name {
	case "message_start":
		d.want = wantPing | wantStart
		return nil, c.messageStart(d)
	case "content_block_start":
		return nil, c.Lit(`{"type":"content_block_start","index":`) && c.uint(nil) &&
			c.Lit(`,"content_block":{"type":"text","text":""}}`) && c.end()
	case "content_block_stop":
		return nil, c.Lit(`{"type":"content_block_stop","index":`) && c.uint(nil) && c.Lit("}") && c.end()
	case "content_block_delta":
		return c.textDelta(d, name, data)
	case "message_delta":
		d.want = wantStop
		return nil, c.messageDelta(d)
	case "message_stop":
		if c.Lit(`{"type":"message_stop"}`) && c.end() {
			return d.stop(), true
		}
	}
	return nil, false
}

// cursor reads an event's data at S[I:]. Its methods fail on anything but
// the shapes above, leaving the event to the general path.
type cursor struct{ dialect.EventScanner }

func (c *cursor) end() bool { return c.I == len(c.S) }

// plain reads a string of printable ASCII without escapes: a view of the
// data.
func (c *cursor) plain() (string, bool) {
	if c.I >= len(c.S) || c.S[c.I] != '"' {
		return "", false
	}
	j := dialect.PlainEndWide(c.S, c.I+1)
	if j >= len(c.S) || c.S[j] != '"' {
		return "", false
	}
	s := c.S[c.I+1 : j]
	c.I = j + 1
	return s, true
}

// key reads a plain key and its colon.
func (c *cursor) key() (string, bool) {
	k, ok := c.plain()
	return k, ok && c.Lit(":")
}

// nullOrPlain reads null (ok, nil) or a plain string.
func (c *cursor) nullOrPlain() (s string, isNull, ok bool) {
	if c.Lit("null") {
		return "", true, true
	}
	s, ok = c.plain()
	return s, false, ok
}

// uint reads an integer of 1 to 18 digits without a leading zero, as
// encoding/json reads it into an int, into dst (if not nil).
func (c *cursor) uint(dst *int) bool {
	n, j := 0, c.I
	for ; j < len(c.S) && j-c.I < 19 && c.S[j] >= '0' && c.S[j] <= '9'; j++ {
		n = n*10 + int(c.S[j]-'0')
	}
	if d := j - c.I; d == 0 || d > 18 || d > 1 && c.S[c.I] == '0' {
		return false
	}
	// What follows is checked by the caller's next literal: a fraction
	// or an exponent fails it.
	c.I = j
	if dst != nil {
		*dst = n
	}
	return true
}

// other skips the value of a key that is none of names, as liteEvent.parse
// does: a key encoding/json would fold to one of them is not taken.
func (c *cursor) other(key string, names []string) bool {
	if dialect.MatchesAny(key, names...) {
		return false
	}
	return c.Skip()
}

// textDelta reads a text delta of plain text, and records its shape: a
// stream's first (its later ones are read by that shape: textShape), or
// the first of a block whose shape differs.
func (c *cursor) textDelta(d *Decoder, name string, data []byte) ([]stream.Event, bool) {
	if !c.Lit(`{"type":"content_block_delta","index":`) || !c.uint(nil) || !c.Lit(`,"delta":{"type":"text_delta","text":`) {
		return nil, false
	}
	at := c.I
	text, ok := c.plain()
	if !ok || !c.Lit("}}") || !c.end() {
		return nil, false
	}
	d.text.set(name, data, at)
	return d.delta(d.text.texts.Keep(text)), true // text is a view of data
}

// messageStart reads message_start: the message's known keys with plain
// values, in any order, once each; its usage goes to d.
func (c *cursor) messageStart(d *Decoder) bool {
	if !c.Lit(`{"type":"message_start","message":{`) {
		return false
	}
	c.apiHead()
	var (
		u        Usage
		hasUsage bool
	)
	if at := c.I; c.Lit(`"usage":`) {
		// The usage last, as the API and Runnel write it: the loop's
		// key-by-key reading spared.
		if c.usage(&u) && c.Lit("}}") && c.end() {
			d.setStartUsage(u)
			return true
		}
		c.I, u = at, Usage{}
	}
	for {
		key, ok := c.key()
		if !ok {
			return false
		}
		// The values but the usage's are only checked: a key given twice
		// is taken by encoding/json too, but two usage objects merge.
		switch key {
		case "id", "type", "role", "model":
			_, ok = c.plain()
		case "content":
			ok = c.Lit("[]")
		case "stop_reason", "stop_sequence":
			_, _, ok = c.nullOrPlain()
		case "usage":
			ok = !hasUsage && c.usage(&u)
			hasUsage = true
		default:
			ok = c.other(key, messageNames)
		}
		if !ok {
			return false
		}
		if c.Lit(",") {
			continue
		}
		if !c.Lit("}}") || !c.end() {
			return false
		}
		d.setStartUsage(u)
		return true
	}
}

// setStartUsage keeps message_start's usage u.
func (d *Decoder) setStartUsage(u Usage) {
	d.usage.PromptTokens = u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens
	d.usage.CompletionTokens = u.OutputTokens
}

// apiHead passes over the members before the usage in the API's orders
// (id, type, role, then model and content either way round, then the stop
// reason and sequence, all null), each key compared with its value where
// the value is fixed; on anything else it reads nothing, and
// messageStart's loop reads them key by key. Those members' values are
// only checked there, never kept, so passing them is reading them; the
// loop reads what follows (the usage, which must come once) as ever.
func (c *cursor) apiHead() {
	at := c.I
	if c.Lit(`"id":`) && c.plainValue() && c.Lit(`,"type":"message","role":"assistant",`) &&
		c.modelAndContent() && c.Lit(`"stop_reason":null,"stop_sequence":null,`) {
		return
	}
	c.I = at
}

// modelAndContent passes over apiHead's model and empty content, in
// either order.
func (c *cursor) modelAndContent() bool {
	at := c.I
	if c.Lit(`"model":`) && c.plainValue() && c.Lit(`,"content":[],`) {
		return true
	}
	c.I = at
	return c.Lit(`"content":[],"model":`) && c.plainValue() && c.Lit(`,`)
}

// plainValue reads a plain string (plain) and keeps nothing of it.
func (c *cursor) plainValue() bool {
	_, ok := c.plain()
	return ok
}

// usage reads a usage object: its counts, and other keys skipped.
func (c *cursor) usage(u *Usage) bool {
	if !c.Lit("{") {
		return false
	}
	if c.Lit("}") {
		return true
	}
	// The commonest, Runnel's and the API's of old: by its bytes.
	if at := c.I; c.Lit(`"input_tokens":`) {
		if c.uint(&u.InputTokens) && c.Lit(`,"output_tokens":`) && c.uint(&u.OutputTokens) && c.Lit("}") {
			return true
		}
		c.I, *u = at, Usage{}
	}
	var seen uint
	for {
		key, ok := c.key()
		if !ok {
			return false
		}
		var dst *int
		bit := uint(0)
		switch key {
		case "input_tokens":
			dst, bit = &u.InputTokens, 1
		case "output_tokens":
			dst, bit = &u.OutputTokens, 2
		case "cache_creation_input_tokens":
			dst, bit = &u.CacheCreationInputTokens, 4
		case "cache_read_input_tokens":
			dst, bit = &u.CacheReadInputTokens, 8
		}
		if dst != nil {
			ok = seen&bit == 0 && c.uint(dst)
			seen |= bit
		} else {
			ok = c.other(key, usageNames)
		}
		if !ok {
			return false
		}
		if !c.Lit(",") {
			return c.Lit("}")
		}
	}
}

// messageDelta reads message_delta: the stop reason and sequence (null or
// plain), then the usage.
func (c *cursor) messageDelta(d *Decoder) bool {
	if !c.Lit(`{"type":"message_delta","delta":{"stop_reason":`) {
		return false
	}
	reason, _, ok := c.nullOrPlain()
	if !ok || !c.Lit(`,"stop_sequence":`) {
		return false
	}
	seq, noSeq, ok := c.nullOrPlain()
	var u Usage
	if !ok || !c.Lit(`},"usage":`) || !c.usage(&u) || !c.Lit("}") || !c.end() {
		return false
	}
	if reason != "" {
		d.stopReason = stopReasonOf(reason)
		if !noSeq {
			d.stopSeq = strings.Clone(seq)
		}
	}
	d.usage.CompletionTokens = u.OutputTokens
	if in := u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens; in > 0 {
		d.usage.PromptTokens = in
	}
	return true
}

// stopReasonOf is r, the API's own reasons without a copy (r is a view
// of the reader's buffer).
func stopReasonOf(r string) string {
	for _, known := range [...]string{"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"} {
		if r == known {
			return known
		}
	}
	return strings.Clone(r)
}
