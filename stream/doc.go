// Package stream is Runnel's core model of a streamed LLM call: a Request goes
// into a Provider, which returns a pull-based Stream of Events.
//
// Everything that produces tokens is a Provider: an upstream API client, the
// built-in engine, the mock, a router, a fallback chain, and each pipeline
// control (stop sequences, limits, timeouts). Wrappers are Providers wrapping
// Providers, the way net/http middleware wraps a Handler.
//
// The package knows nothing of HTTP or of any wire format.
package stream
