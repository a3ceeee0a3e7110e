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

// A long body's buffer goes back to the pool (which empties it) once both
// its reader reached its end and Do returned, in either order, and never
// once a retry read it again.
func TestUpstreamPostGivesItsBufferBack(t *testing.T) {
	long := bytes.Repeat([]byte("0123456789"), 300)
	for _, c := range []struct {
		name     string
		readLast bool // the reader ends after Release (an upstream that answered early)
		retried  bool
		back     bool
	}{
		{"read, then released", false, false, true},
		{"released, then read", true, false, true},
		{"retried", false, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := bytesOf(long)
			r, sent, err := NewUpstreamPost(context.Background(), "http://up/v1/chat/completions", body, 1024)
			if err != nil {
				t.Fatal(err)
			}
			if c.retried {
				again, _ := r.GetBody()
				defer func() {
					if b, _ := io.ReadAll(again); !bytes.Equal(b, long) {
						t.Errorf("the retry read %d bytes, want %d", len(b), len(long))
					}
				}()
			}
			read := func() {
				if b, err := io.ReadAll(r.Body); err != nil || !bytes.Equal(b, long) {
					t.Fatalf("body read %d bytes, %v", len(b), err)
				}
			}
			if !c.readLast {
				read()
			}
			if len(*body) != len(long) {
				t.Fatal("the buffer was given back before both")
			}
			sent.Release()
			if c.readLast {
				if len(*body) != len(long) {
					t.Fatal("the buffer was given back before the body was read")
				}
				read()
			}
			if back := len(*body) == 0; back != c.back {
				t.Errorf("given back: %v, want %v", back, c.back)
			}
		})
	}
}
