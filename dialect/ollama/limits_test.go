package ollama

import (
	"encoding/json"
	"testing"
	"time"
)

// options.buffer_size and options.timeout_ms (seed 003's StreamConfig)
// reach the request, and a value out of range is a 400 naming it.
func TestStreamLimits(t *testing.T) {
	var b ChatRequest
	json.Unmarshal([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"options":{"buffer_size":16,"timeout_ms":300}}`), &b)
	req, err := b.toRequest()
	if err != nil || req.BufferSize != 16 || req.Timeouts.Total != 300*time.Millisecond {
		t.Fatalf("%+v %v", req, err)
	}
	var g GenerateRequest
	json.Unmarshal([]byte(`{"model":"m","prompt":"hi","options":{"buffer_size":9000}}`), &g)
	if _, err := g.toRequest(); err == nil || err.Param != "options.buffer_size" {
		t.Fatalf("buffer_size 9000: %v", err)
	}
}
