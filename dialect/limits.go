package dialect

import (
	"time"

	"github.com/runnel/runnel/stream"
)

// StreamLimits applies a request's own stream settings, seed 003's
// StreamConfig: bufferSize (events buffered between the producer and the
// reader, 1 to stream.MaxBufferSize) and timeoutMs (the whole stream's
// time limit, at least 1; the gateway caps it at the server's total
// timeout). prefix names where the fields sit in the body ("parameters."
// or ""), for the 400 that refuses a value out of range: they are never
// ignored.
func StreamLimits(req *stream.Request, bufferSize *int, timeoutMs *int64, prefix string) *stream.Error {
	if bufferSize != nil {
		if n := *bufferSize; n < 1 || n > stream.MaxBufferSize {
			return stream.InvalidParam(prefix+"buffer_size", "%sbuffer_size must be between 1 and %d events, not %d", prefix, stream.MaxBufferSize, n)
		}
		req.BufferSize = *bufferSize
	}
	if timeoutMs != nil {
		// A year is far beyond any server's limit; the bound only keeps
		// the conversion to a Duration from overflowing.
		const maxMs = int64(365 * 24 * time.Hour / time.Millisecond)
		if ms := *timeoutMs; ms < 1 || ms > maxMs {
			return stream.InvalidParam(prefix+"timeout_ms", "%stimeout_ms must be between 1 and %d milliseconds, not %d", prefix, maxMs, ms)
		}
		req.Timeouts.Total = time.Duration(*timeoutMs) * time.Millisecond
	}
	return nil
}
