package control

import (
	"context"
	"slices"

	"github.com/runnel/runnel/stream"
)

// Options select the controls Apply puts around a provider.
type Options struct {
	Stop      []string        // stop sequences; none = off
	MaxTokens int             // 0 = no limit
	Timeouts  stream.Timeouts // zero fields = off
	// BufferSize is the per-stream buffer in events; 0 means
	// DefaultBufferSize and a negative size means no buffer goroutine.
	BufferSize int
	// Think, when set, splits inline reasoning into the thinking channel.
	Think *ThinkTags
}

// FromRequest returns the options a request asks for, with the given
// buffer unless the request asks for a buffer of its own (up to
// stream.MaxBufferSize events): then it gets that one.
func FromRequest(req *stream.Request, bufferSize int) Options {
	if req.BufferSize > 0 {
		bufferSize = min(req.BufferSize, stream.MaxBufferSize)
	}
	return Options{
		Stop:       req.Sampling.Stop,
		MaxTokens:  req.Sampling.MaxTokens,
		Timeouts:   req.Timeouts,
		BufferSize: bufferSize,
	}
}

// Apply wraps p in the controls o selects. From the outside in:
//
//	Normalize → Stop → ThinkSplit → UTF8 → MaxTokens → Timeouts → Buffer → p
//
// Buffer sits next to p so the producer runs ahead of everything else;
// Timeouts only measures waiting on the producer, not on the reader;
// MaxTokens counts p's own tokens before UTF8 merges any; UTF8 runs before
// the byte-oriented tag and stop matching so their cuts fall on runes; Stop
// sees only output text; Normalize, outermost, fixes the final shape.
// Without stop sequences or think tags, Normalize, UTF8 and MaxTokens are
// one stream (normalizeUTF8), whose tokens that none would change pass in
// one call.
func Apply(p stream.Provider, o Options) stream.Provider {
	if o.BufferSize >= 0 {
		p = Buffer(p, o.BufferSize)
	}
	p = Timeouts(p, o.Timeouts)
	if plainText(o) {
		return normalizeUTF8(p, o.MaxTokens) // Normalize(UTF8(MaxTokens(p))) in one
	}
	p = MaxTokens(p, o.MaxTokens)
	p = UTF8(p)
	if o.Think != nil {
		p = ThinkSplit(p, *o.Think)
	}
	p = Stop(p, o.Stop...)
	return Normalize(p)
}

// plainText reports whether o selects no control between Normalize and
// UTF8 (no stop sequences, no think tags), so that Normalize, UTF8 and
// MaxTokens can run as one stream.
func plainText(o Options) bool {
	return o.Think == nil && !slices.ContainsFunc(o.Stop, func(s string) bool { return s != "" })
}

// Open is Apply(p, o).Stream(ctx, req) for a stream opened once: without
// stop sequences or think tags, Normalize, UTF8 and MaxTokens wrap p's
// stream directly, in t, with no Provider built for them and no
// allocation of their own (docs/benchmarks.md, issue 13, callalloc,
// tokpath and fewobj sessions); the stream returned then points into t.
// Requests with stop sequences or think tags, whose controls sit between
// those, go through Apply, and leave t unused.
func (t *Text) Open(ctx context.Context, p stream.Provider, o Options, req *stream.Request) (stream.Stream, error) {
	if !plainText(o) {
		return Apply(p, o).Stream(ctx, req)
	}
	if o.BufferSize >= 0 {
		p = Buffer(p, o.BufferSize)
	}
	p = Timeouts(p, o.Timeouts)
	in, err := p.Stream(ctx, req)
	if err != nil {
		return nil, stream.AsError(err)
	}
	return t.open(ctx, in, o.MaxTokens), nil
}
