// Package control holds Runnel's pipeline controls. Each is a stream.Provider
// wrapping a stream.Provider, so they compose like net/http middleware and
// apply the same way to every upstream, the engine and the mock:
//
//   - Normalize: enforces the stream shape documented on stream.Event.
//   - Stop: stop sequences, matched across token boundaries.
//   - MaxTokens: ends the stream with finish "length" after n tokens.
//   - UTF8: never splits a rune across events.
//   - Timeouts: first token, idle and total deadlines.
//   - Buffer: the bounded per-stream buffer between producer and reader.
//   - ThinkSplit: moves inline <think>…</think> text to the thinking channel.
//
// Every control's streams forward stream.Finisher to the stream they wrap.
// Stop and MaxTokens end a stream early through it when the provider
// supports it (the engine, the mock), so its exact usage still arrives, and
// close it otherwise.
//
// Apply composes them in the order the gateway uses.
package control
