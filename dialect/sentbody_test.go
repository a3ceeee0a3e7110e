package dialect

import (
	"bytes"
	"context"
	"io"
	"testing"
)

// A long body reads whole, once, and is let go of at its end; GetBody gives
// it whole again until Release. A short one is net/http's usual body.
func TestNewUpstreamPost(t *testing.T) {
	long := bytes.Repeat([]byte("0123456789"), 300)
	r, sent, err := NewUpstreamPost(context.Background(), "http://up/v1/chat/completions", bytesOf(long), 1024)
	if err != nil || sent == nil || r.ContentLength != int64(len(long)) || r.GetBody == nil {
		t.Fatalf("long body: %v, %v, length %d", sent, err, r.ContentLength)
	}
	again, _ := r.GetBody()
	if b, err := io.ReadAll(r.Body); err != nil || !bytes.Equal(b, long) {
		t.Fatalf("body read %d bytes, %v", len(b), err)
	}
	if r.Body.(*sentReader).b != nil {
		t.Error("the body keeps its bytes once read")
	}
	if b, _ := io.ReadAll(again); !bytes.Equal(b, long) {
		t.Errorf("GetBody's body read %d bytes, want %d", len(b), len(long))
	}
	sent.Release()
	if sent.b != nil {
		t.Error("Release kept the bytes")
	}

	r, sent, err = NewUpstreamPost(context.Background(), "http://up/v1/chat/completions", bytesOf(long[:1024]), 1024)
	if err != nil || sent != nil || r.ContentLength != 1024 || r.GetBody == nil {
		t.Fatalf("short body: %v, %v, length %d", sent, err, r.ContentLength)
	}
	if _, ok := r.Body.(*sentReader); ok {
		t.Error("a short body is a sentReader")
	}
	sent.Release() // nil: nothing to do
	if _, _, err := NewUpstreamPost(context.Background(), "://bad", bytesOf(long), 1024); err == nil {
		t.Error("a bad URL is no error")
	}
}

// bytesOf is a copy of b, as a body NewUpstreamPost may take over.
func bytesOf(b []byte) *[]byte {
	c := bytes.Clone(b)
	return &c
}

// A long body's buffer goes back to the pool (poisoned here) once the
// last of its holders lets go: the call (Release), the request's body and
// each GetBody's reader, at its end or its Close, in any order; never
// before, so that every reader reads the bytes whole, and GetBody fails
// once the call let go.
func TestSentBodyGivenBackByTheLast(t *testing.T) {
	PoisonReleasedBodies(true)
	defer PoisonReleasedBodies(false)
	long := bytes.Repeat([]byte("0123456789"), 300)
	// The holders: 0 the call, 1 the request's body, 2 and 3 GetBody's
	// readers (taken before the call lets go); a reader lets go by
	// reading to its end (even) or by Close after reading half (odd).
	for _, order := range permutations([]int{0, 1, 2, 3}) {
		for ends := range 8 {
			r, sent, err := NewUpstreamPost(context.Background(), "http://up/v1/x", bytesOf(long), 1024)
			if err != nil {
				t.Fatal(err)
			}
			readers := []io.ReadCloser{nil, r.Body}
			for range 2 {
				rc, err := r.GetBody()
				if err != nil {
					t.Fatal(err)
				}
				readers = append(readers, rc)
			}
			was := PoisonedSentBodies()
			for _, h := range order {
				if n := PoisonedSentBodies() - was; n != 0 {
					t.Fatalf("order %v, ends %b: given back before holder %d let go", order, ends, h)
				}
				if h == 0 {
					sent.Release()
					if _, err := r.GetBody(); err == nil {
						t.Fatalf("order %v: GetBody after Release", order)
					}
					continue
				}
				if ends>>(h-1)&1 == 0 {
					if b, err := io.ReadAll(readers[h]); err != nil || !bytes.Equal(b, long) {
						t.Fatalf("order %v: reader %d read %d bytes (%d poison), %v", order, h, len(b), bytes.Count(b, []byte{poison}), err)
					}
					continue
				}
				half := make([]byte, len(long)/2)
				if _, err := io.ReadFull(readers[h], half); err != nil || !bytes.Equal(half, long[:len(half)]) {
					t.Fatalf("order %v: reader %d read %q, %v", order, h, half[:8], err)
				}
				readers[h].Close()
				if _, err := readers[h].Read(half); err == nil || err == io.EOF {
					t.Fatalf("read after Close: %v", err)
				}
			}
			if n := PoisonedSentBodies() - was; n != 1 {
				t.Fatalf("order %v, ends %b: given back %d times", order, ends, n)
			}
		}
	}
}

// permutations is every order of v.
func permutations(v []int) [][]int {
	if len(v) <= 1 {
		return [][]int{append([]int(nil), v...)}
	}
	var all [][]int
	for i := range v {
		rest := append(append([]int(nil), v[:i]...), v[i+1:]...)
		for _, p := range permutations(rest) {
			all = append(all, append([]int{v[i]}, p...))
		}
	}
	return all
}

// A transport may close a body while another of its goroutines reads it:
// no read copies poison, and the bytes go back once, after both.
func TestSentBodyClosedWhileRead(t *testing.T) {
	PoisonReleasedBodies(true)
	defer PoisonReleasedBodies(false)
	long := bytes.Repeat([]byte("0123456789"), 300)
	for range 200 {
		r, sent, err := NewUpstreamPost(context.Background(), "http://up/v1/x", bytesOf(long), 1024)
		if err != nil {
			t.Fatal(err)
		}
		was := PoisonedSentBodies()
		done := make(chan []byte)
		go func() {
			var got []byte
			p := make([]byte, 7)
			for {
				n, err := r.Body.Read(p)
				got = append(got, p[:n]...)
				if err != nil {
					break
				}
			}
			done <- got
		}()
		r.Body.Close()
		sent.Release()
		got := <-done
		if !bytes.Equal(got, long[:len(got)]) {
			t.Fatalf("read %q, not a prefix of the body", got)
		}
		if n := PoisonedSentBodies() - was; n != 1 {
			t.Fatalf("given back %d times", n)
		}
	}
}
