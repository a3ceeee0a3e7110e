package stream

import (
	"fmt"
	"time"
)

// Kind says which field of an Event is meaningful.
type Kind uint8

const (
	KindDelta    Kind = iota + 1 // Text on Channel
	KindToolCall                 // ToolCall
	KindUsage                    // Usage
	KindFinish                   // Finish
	KindError                    // Err
)

func (k Kind) String() string {
	switch k {
	case KindDelta:
		return "delta"
	case KindToolCall:
		return "tool_call"
	case KindUsage:
		return "usage"
	case KindFinish:
		return "finish"
	case KindError:
		return "error"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Channel names the output a content delta belongs to.
type Channel string

const (
	Output   Channel = "output"
	Thinking Channel = "thinking"
)

// FinishReason says why a stream ended.
type FinishReason string

const (
	FinishStop      FinishReason = "stop"       // natural end or a stop sequence
	FinishLength    FinishReason = "length"     // max_tokens or the context window
	FinishToolCalls FinishReason = "tool_calls" // the model called tools
	FinishCancelled FinishReason = "cancelled"  // the caller went away
	FinishError     FinishReason = "error"      // see the preceding error event
	// FinishContentFilter is passed through from upstreams that report it.
	FinishContentFilter FinishReason = "content_filter"
)

// Event is one item of a stream. It is a small value: only the field that
// Kind names is set, and the per-token case (KindDelta) allocates nothing.
//
// A well-formed stream is: any number of Delta and ToolCall events, at most
// one Usage event, then exactly one Finish event, then io.EOF from Recv. An
// Error event is immediately followed by Finish(FinishError). Normalize
// turns any stream into that shape.
type Event struct {
	Kind    Kind
	Channel Channel // KindDelta
	// Text is a delta's content (KindDelta) or, on a KindFinish event, the
	// stop sequence that ended the stream ("" for any other end); see
	// StopSequence. Sharing the field keeps Event small.
	Text     string
	ToolCall *ToolCallDelta // KindToolCall
	Usage    *Usage         // KindUsage
	// Finish is why the stream ended (KindFinish). A KindDelta keeps its
	// token logprobs here instead (Logprobs, SetLogprobs): a field of its
	// own would grow Event, and every word more costs each control on the
	// per-token path (a pointer cost the chain benchmarks a third).
	Finish FinishReason
	Err    *Error // KindError
}

// Delta returns a content event on the output channel.
func Delta(text string) Event { return Event{Kind: KindDelta, Channel: Output, Text: text} }

// ThinkingDelta returns a content event on the thinking channel.
func ThinkingDelta(text string) Event { return Event{Kind: KindDelta, Channel: Thinking, Text: text} }

// Finished returns a finish event.
func Finished(r FinishReason) Event { return Event{Kind: KindFinish, Finish: r} }

// StoppedBy returns the finish event of a stream that a stop sequence
// ended: FinishStop, naming the sequence that matched.
func StoppedBy(sequence string) Event {
	return Event{Kind: KindFinish, Finish: FinishStop, Text: sequence}
}

// StopSequence returns the stop sequence that ended the stream, on a
// finish event made by StoppedBy; "" otherwise.
func (e Event) StopSequence() string {
	if e.Kind != KindFinish {
		return ""
	}
	return e.Text
}

// UsageEvent returns a usage event.
func UsageEvent(u Usage) Event { return Event{Kind: KindUsage, Usage: &u} }

// ErrorEvent returns an error event.
func ErrorEvent(err *Error) Event { return Event{Kind: KindError, Err: err} }

func (e Event) String() string {
	switch e.Kind {
	case KindDelta:
		return fmt.Sprintf("delta(%s,%q)", e.Channel, e.Text)
	case KindToolCall:
		return fmt.Sprintf("tool_call(%+v)", *e.ToolCall)
	case KindUsage:
		return fmt.Sprintf("usage(%+v)", *e.Usage)
	case KindFinish:
		if e.Text != "" {
			return fmt.Sprintf("finish(%s,%q)", e.Finish, e.Text)
		}
		return fmt.Sprintf("finish(%s)", e.Finish)
	case KindError:
		return fmt.Sprintf("error(%v)", e.Err)
	}
	return e.Kind.String()
}

// ToolCallDelta is a fragment of a tool call, in OpenAI's streaming shape:
// the first fragment of call Index carries ID and Name, later ones append
// to Arguments.
type ToolCallDelta struct {
	Index     int
	ID        string
	Name      string
	Arguments string
}

// Usage counts the tokens of one call.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
	// ReasoningTokens is the part of CompletionTokens spent on thinking,
	// where the provider reports it.
	ReasoningTokens int
	// Estimated is true when the figures were counted by Runnel with a
	// tokenizer rather than reported by the model's own provider.
	Estimated bool

	// Timings, where the provider measured them (the engine, Ollama).
	PromptDuration     time.Duration // prompt evaluation
	GenerationDuration time.Duration // decoding of CompletionTokens
}

// TotalTokens is PromptTokens + CompletionTokens.
func (u Usage) TotalTokens() int { return u.PromptTokens + u.CompletionTokens }

// TokensPerSecond is the decode rate, or 0 when it was not measured.
func (u Usage) TokensPerSecond() float64 {
	if u.GenerationDuration <= 0 || u.CompletionTokens == 0 {
		return 0
	}
	return float64(u.CompletionTokens) / u.GenerationDuration.Seconds()
}
