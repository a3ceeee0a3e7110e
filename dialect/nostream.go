package dialect

import (
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// CanStream reports whether gw can stream model. It is false only when gw
// knows the model cannot (it is a gateway.StreamChecker, as
// *gateway.Gateway is, and says so); a streamed endpoint then answers
// NoStream instead of starting the call.
func CanStream(gw Gateway, model string) bool {
	c, ok := gw.(gateway.StreamChecker)
	return !ok || c.CanStream(model)
}

// NoStream is the 400 for a streamed call of a model that cannot stream;
// instead says, in the dialect's own terms, how to call it without
// streaming.
func NoStream(model, instead string) *stream.Error {
	if len(model) > 200 {
		model = model[:200] + "…"
	}
	return stream.InvalidParam("stream", "model %q cannot stream; %s", model, instead)
}
