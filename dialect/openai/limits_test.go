package openai

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/runnel/runnel/stream"
)

// buffer_size and timeout_ms (seed 003's StreamConfig) reach the request
// on chat and completions, and a value out of range is a 400 naming it.
func TestStreamLimits(t *testing.T) {
	var chat ChatRequest
	json.Unmarshal([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"buffer_size":16,"timeout_ms":300}`), &chat)
	req, err := chat.ToRequest()
	if err != nil || req.BufferSize != 16 || req.Timeouts.Total != 300*time.Millisecond {
		t.Fatalf("chat: %+v %v", req, err)
	}
	var comp CompletionRequest
	json.Unmarshal([]byte(`{"model":"m","prompt":"hi","buffer_size":2,"timeout_ms":5}`), &comp)
	req, err = comp.ToRequest()
	if err != nil || req.BufferSize != 2 || req.Timeouts.Total != 5*time.Millisecond {
		t.Fatalf("completions: %+v %v", req, err)
	}
	chat.BufferSize, chat.TimeoutMs = new(int), nil
	if _, err := chat.ToRequest(); stream.AsError(err).Param != "buffer_size" {
		t.Fatalf("buffer_size 0: %v", err)
	}
	chat.BufferSize, chat.TimeoutMs = nil, new(int64)
	if _, err := chat.ToRequest(); stream.AsError(err).Param != "timeout_ms" {
		t.Fatalf("timeout_ms 0: %v", err)
	}
}
