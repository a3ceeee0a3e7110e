package gateway

import "github.com/runnel/runnel/stream"

// Finish forwards to the serving target's stream; see stream.Finisher.
func (r *replay) Finish(reason stream.FinishReason) bool { return stream.Finish(r.Stream, reason) }

// Finish forwards to the controlled stream; see stream.Finisher.
func (m *meter) Finish(reason stream.FinishReason) bool { return stream.Finish(m.in, reason) }

// Finish asks the call to end gracefully (stream.Finisher): for a client
// that wants no more tokens but stays connected, such as a WebSocket
// client's stop. The provider then reports its exact usage, which the
// record and the final event carry. It reports false when the provider
// cannot; Close the call then, and the usage is estimated.
func (c *Call) Finish(reason stream.FinishReason) bool { return stream.Finish(c.Stream, reason) }
