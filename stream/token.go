package stream

// TokenStream is a Stream with a narrow path for its commonest event: a
// token of output text that no layer changes. A token then goes from an
// upstream's bytes to a client's through one small method a layer, in
// three words (its text and ok), not an 80-byte Event that each layer
// copies: the per-token code of every layer is a fraction of its Recv's
// (docs/benchmarks.md, issue 13, fused session).
//
// Each layer implements RecvToken over the one below and answers ok only
// when what it would have done with the token is to pass it on unchanged;
// it does for it everything else its Recv does (count it, time it, keep
// its text). A layer that is not plain at the moment (something held,
// queued or carried) answers false without reading.
type TokenStream interface {
	Stream
	// RecvToken returns the next event when it is Delta(text) with text
	// non-empty ASCII, no logprobs: exactly what Recv would have
	// returned, as its text alone. When ok is false it returned nothing:
	// the next event, whatever it is, is Recv's to return (RecvToken may
	// have read it and queued it for Recv). text may be a view of the
	// layer's read buffer: it is valid until the next call on the stream,
	// and a caller that keeps it keeps a copy (no layer copies a token's
	// bytes on the way up).
	RecvToken() (text string, ok bool)
}
