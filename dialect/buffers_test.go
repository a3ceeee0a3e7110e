package dialect

import "testing"

// Each size is served from the smallest class that holds it, and a buffer
// given back serves the sizes its capacity holds.
func TestBufferClasses(t *testing.T) {
	for _, c := range []struct{ n, class int }{
		{0, 0}, {1, 0}, {1024, 0}, {1025, 1}, {1536, 1}, {1537, 2}, {2048, 2}, {8193, 7}, {12 << 10, 7}, {65536, 12}, {65537, 13}, {1 << 20, 20}, {1<<20 + 1, -1},
	} {
		if got := bufferClass(c.n); got != c.class {
			t.Errorf("bufferClass(%d) = %d, want %d", c.n, got, c.class)
		}
		p := GetBuffer(c.n)
		if len(*p) != 0 || cap(*p) < c.n {
			t.Errorf("GetBuffer(%d): len %d, cap %d", c.n, len(*p), cap(*p))
		}
		PutBuffer(p)
	}
	// A buffer grown past its class joins the largest class it fills.
	b := make([]byte, 5, 3000)
	PutBuffer(&b)
	if len(b) != 0 {
		t.Error("PutBuffer left the buffer's bytes")
	}
	for range 100 {
		if p := GetBuffer(2048); cap(*p) < 2048 {
			t.Fatalf("GetBuffer(2048): cap %d", cap(*p))
		}
	}
}
