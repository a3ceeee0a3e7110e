package dialect

import "testing"

// Each size is served from the smallest class that holds it, and a buffer
// given back serves the sizes its capacity holds.
func TestBufferClasses(t *testing.T) {
	for _, c := range []struct{ n, class int }{
		{0, 0}, {1, 0}, {1024, 0}, {1025, 1}, {1152, 1}, {1153, 2}, {1536, 4}, {2048, 8}, {2049, 9}, {8192, 24}, {8193, 25}, {9216, 25}, {9217, 26},
		{12 << 10, 28}, {65536, 48}, {65537, 49}, {1 << 20, 80}, {1<<20 + 1, -1},
	} {
		if c.class >= 0 && (classSize(c.class) < c.n || c.class > 0 && classSize(c.class-1) >= c.n) {
			t.Errorf("class %d (%d bytes) is not the smallest that holds %d", c.class, classSize(c.class), c.n)
		}
		if got := bufferClass(c.n); got != c.class {
			t.Errorf("bufferClass(%d) = %d, want %d", c.n, got, c.class)
		}
		p := GetBuffer(c.n)
		if len(*p) != 0 || cap(*p) < c.n {
			t.Errorf("GetBuffer(%d): len %d, cap %d", c.n, len(*p), cap(*p))
		}
		PutBuffer(p)
	}
	for c := range bufferClasses {
		if n := classSize(c); bufferClass(n) != c || c > 0 && n <= classSize(c-1) {
			t.Errorf("class %d: %d bytes, in class %d", c, n, bufferClass(n))
		}
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
