package sse

import (
	"bytes"
	"strings"
	"syscall"
	"testing"
)

// guarded is n bytes ending at a page that may not be read: a compare
// that reads past its bytes faults.
func guarded(t *testing.T, n int) []byte {
	page := syscall.Getpagesize()
	m, err := syscall.Mmap(-1, 0, 2*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skip("mmap:", err)
	}
	t.Cleanup(func() { syscall.Munmap(m) })
	if err := syscall.Mprotect(m[page:], syscall.PROT_NONE); err != nil {
		t.Skip("mprotect:", err)
	}
	return m[page-n : page : page]
}

// TestEqualPair holds equalPair to bytes.Equal on both pairs at every
// length up to 200 with one byte changed at every position, its bytes
// ending at a page that may not be read (a compare that reads past
// them faults).
func TestEqualPair(t *testing.T) {
	for _, wide := range []bool{false, true} {
		if wide && !hasAVX2Able {
			continue
		}
		t.Run(map[bool]string{false: "narrow", true: "wide"}[wide], func(t *testing.T) {
			defer setAVX2(setAVX2(wide))
			testEqualPair(t)
		})
	}
}

func testEqualPair(t *testing.T) {
	for n := 0; n <= 200; n++ {
		a, x := guarded(t, n), guarded(t, n)
		for i := range a {
			a[i], x[i] = byte(i*7+1), byte(i*7+1)
		}
		short, s := []byte("ab\n\n"), []byte("ab\n\n")
		if !equalPair(a, x, short, s) || !equalPair(short, s, a, x) {
			t.Fatalf("n=%d: equal bytes differ", n)
		}
		for i := range n {
			x[i] ^= 0x40
			if equalPair(a, x, short, s) || equalPair(short, s, a, x) || equalPair(a, x, a, x) {
				t.Fatalf("n=%d: a change at %d is equal", n, i)
			}
			if bytes.Equal(a, x) {
				t.Fatal("test broken")
			}
			x[i] ^= 0x40
		}
	}
}

// FuzzEqualPair: equalPair is bytes.Equal of both pairs' prefixes.
func FuzzEqualPair(f *testing.F) {
	f.Add([]byte("data: {\"x\":\""), []byte("data: {\"x\":\""), []byte("\"}\n\n"), []byte("\"}\n\n"))
	f.Fuzz(func(t *testing.T, a, x, b, y []byte) {
		if len(a) < len(x) || len(b) < len(y) {
			return
		}
		want := bytes.Equal(a[:len(x)], x) && bytes.Equal(b[:len(y)], y)
		if got := equalPair(a, x, b, y); got != want {
			t.Fatalf("equalPair(%q, %q, %q, %q) = %v", a, x, b, y, got)
		}
	})
}

// TestMatchPlain holds matchPlain to matchPlainGo: runs of every length
// up to 40 ending in every byte value, the tail whole or cut, head or
// tail changed, b ending at a page that may not be read; both compare
// paths (AVX2 and not).
func TestMatchPlain(t *testing.T) {
	page := guarded(t, 1024) // its last bytes end where reads fault
	for _, wide := range []bool{false, true} {
		if wide && !hasAVX2Able {
			continue
		}
		defer setAVX2(setAVX2(wide))
		// The last head is an optional member's opening (Shape.member).
		for _, head := range []string{`d{"`, `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","delta":{"content":"`, `,"obfuscation":"`} {
			for _, tail := range []string{`"}` + "\n\n", `"},"logprobs":null,"finish_reason":null}]}` + "\n\n"} {
				for n := 0; n <= 40; n++ {
					for c := range 256 {
						ev := head + strings.Repeat("ab", n)[:n] + string(rune(0)) + tail
						ev = ev[:len(head)+n] + string([]byte{byte(c)}) + ev[len(head)+n+1:]
						for cut := 0; cut <= 2; cut++ {
							b := page[len(page)-len(ev)+cut:]
							copy(b, ev)
							for _, h := range []string{head, "x" + head[1:]} {
								e := ends{[]byte(h), []byte(tail)}
								got := matchPlain(b, 0, &e)
								if want := matchPlainGo(b, 0, len(h), []byte(h), []byte(tail)); got != want {
									t.Fatalf("wide %v, %q (cut %d, head %q): %d, want %d", wide, b, cut, h, got, want)
								}
								// After an id line's 3 bytes (whatever they are).
								idb := page[len(page)-len(b)-3:]
								got = matchPlain(idb, 3, &e)
								if want := matchPlainGo(idb, 3, 3+len(h), []byte(h), []byte(tail)); got != want {
									t.Fatalf("wide %v, %q (cut %d, head %q): at 3 %d, want %d", wide, idb, cut, h, got, want)
								}
							}
						}
					}
				}
				// b shorter than the head (and than 16 bytes, or not): none.
				e := ends{[]byte(head), []byte(tail)}
				for n := range len(head) + 2 {
					b := page[len(page)-n:]
					copy(b, "id"+head)
					if got := matchPlain(b, 2, &e); got != -1 {
						t.Fatalf("wide %v, %q under head %q: %d, want -1", wide, b, head, got)
					}
				}
			}
		}
	}
}
