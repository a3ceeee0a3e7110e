package prefetch

import (
	"slices"
	"testing"
	"unsafe"
)

// TestAnyAddress: a prefetch of any range or fields, aligned or not,
// empty, of memory the program has or of none, returns and changes
// nothing.
func TestAnyAddress(t *testing.T) {
	b := make([]byte, 4096)
	for i := range b {
		b[i] = byte(i)
	}
	for _, c := range []struct{ off, n uintptr }{{0, 0}, {0, 1}, {1, 63}, {63, 2}, {5, 1000}, {0, 4096}} {
		Range(unsafe.Pointer(&b[c.off]), c.n)
		Addr(uintptr(unsafe.Pointer(&b[c.off])), c.n)
	}
	Range(nil, 0)
	Range(nil, 128)
	Addr(0, 128)
	base := uintptr(unsafe.Pointer(&b[0]))
	Fields(base, []uint16{0, 1, 63, 64, 200, 4095})
	Fields(base, nil)
	Fields(0, []uint16{0, 64})
	Fields(1<<47-64, []uint16{0, 64, 65535}) // past user space on amd64: a hint, never a fault
	for i := range b {
		if b[i] != byte(i) {
			t.Fatalf("byte %d changed", i)
		}
	}
}

func BenchmarkRange(b *testing.B) {
	buf := make([]byte, 1024)
	for b.Loop() {
		Range(unsafe.Pointer(&buf[0]), 1024)
	}
}

func BenchmarkFields(b *testing.B) {
	buf := make([]byte, 1024)
	offs := []uint16{0, 8, 100, 300, 310, 700, 1000}
	for b.Loop() {
		Fields(uintptr(unsafe.Pointer(&buf[0])), offs)
	}
}

// TestOffsets: Fields' table comes out in increasing order, each offset
// as given, and an offset a uint16 cannot hold is refused, not wrapped.
func TestOffsets(t *testing.T) {
	got := Offsets(700, 8, 65535, 0, 64)
	want := []uint16{0, 8, 64, 700, 65535}
	if !slices.Equal(got, want) {
		t.Errorf("Offsets = %v, want %v", got, want)
	}
	defer func() {
		if recover() == nil {
			t.Error("an offset of 64 KiB was taken")
		}
	}()
	Offsets(1, 1<<16)
}
