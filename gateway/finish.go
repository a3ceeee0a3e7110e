package gateway

import "github.com/runnel/runnel/stream"

// Finish forwards to the serving target's stream; see stream.Finisher.
func (r *replay) Finish(reason stream.FinishReason) bool { return stream.Finish(r.Stream, reason) }
