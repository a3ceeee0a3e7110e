package anthropic

import (
	"encoding/json"
	"testing"
	"time"
)

// buffer_size and timeout_ms (seed 003's StreamConfig) reach the request,
// and a value out of range is a 400 naming it.
func TestStreamLimits(t *testing.T) {
	var b MessagesRequest
	if err := json.Unmarshal([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"buffer_size":16,"timeout_ms":300}`), &b); err != nil {
		t.Fatal(err)
	}
	req, err := b.toRequest()
	if err != nil || req.BufferSize != 16 || req.Timeouts.Total != 300*time.Millisecond {
		t.Fatalf("%+v %v", req, err)
	}
	b.TimeoutMs = new(int64)
	if _, err := b.toRequest(); err == nil || err.Param != "timeout_ms" {
		t.Fatalf("timeout_ms 0: %v", err)
	}
}
