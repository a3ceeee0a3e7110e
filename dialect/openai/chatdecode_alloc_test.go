package openai

import "testing"

// The scanner stays on scanChat's stack: a body of no strings or
// pointers to keep decodes with no allocation at all.
func TestScanChatAllocatesNothingOfItsOwn(t *testing.T) {
	data := []byte(`{"stream":true}`)
	n := testing.AllocsPerRun(100, func() {
		var c ChatRequest
		if !scanChat(data, &c) || !c.Stream {
			t.Fatal("not scanned")
		}
	})
	if n != 0 {
		t.Errorf("scanChat: %v allocations, want 0", n)
	}
}
