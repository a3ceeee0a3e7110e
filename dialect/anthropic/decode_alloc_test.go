package anthropic

import "testing"

// The scanner stays on scanMessages' stack: a body of no strings or
// pointers to keep decodes with no allocation at all.
func TestScanMessagesAllocatesNothingOfItsOwn(t *testing.T) {
	data := []byte(`{"stream":true}`)
	n := testing.AllocsPerRun(100, func() {
		var b MessagesRequest
		if !scanMessages(data, &b) || !b.Stream {
			t.Fatal("not scanned")
		}
	})
	if n != 0 {
		t.Errorf("scanMessages: %v allocations, want 0", n)
	}
}
