package dialect

import (
	"bytes"
	"context"
	"io"
	"net/http"
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

// A long body that an Encoder wrote goes back to the pool at once, and is
// written again at the transport's first read: until then the request
// holds no buffer. It reads whole, once; a retry writes its own; the
// first reader's buffer goes back at the second of its end and Release,
// in either order, retried or not. A short body is sent as it is.
func TestUpstreamPostEncoded(t *testing.T) {
	long := bytes.Repeat([]byte("0123456789"), 300)
	for _, c := range []struct {
		name     string
		readLast bool
		retried  bool
	}{
		{"read, then released", false, false},
		{"released, then read", true, false},
		{"retried", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			writes := 0
			enc := func(dst []byte) []byte {
				writes++
				return append(dst, long...)
			}
			body := bytesOf(long)
			r, _ := http.NewRequest(http.MethodPost, "http://up/v1/messages", nil)
			sent := setBody(r, body, enc, 1024)
			if len(*body) != 0 || r.ContentLength != int64(len(long)) || sent == nil || sent.buf != nil || writes != 0 {
				t.Fatalf("made: body given back %v, length %d, buffer held %v, %d writes", len(*body) == 0, r.ContentLength, sent != nil && sent.buf != nil, writes)
			}
			if c.retried {
				again, _ := r.GetBody()
				defer func() {
					if b, _ := io.ReadAll(again); !bytes.Equal(b, long) || writes != 2 {
						t.Errorf("the retry read %d bytes, want %d (%d writes)", len(b), len(long), writes)
					}
				}()
			}
			read := func() {
				if b, err := io.ReadAll(r.Body); err != nil || !bytes.Equal(b, long) || writes != 1 {
					t.Fatalf("body read %d bytes, %v, %d writes", len(b), err, writes)
				}
			}
			if !c.readLast {
				read()
				if sent.buf == nil {
					t.Fatal("the buffer was given back before Release")
				}
			}
			sent.Release()
			if c.readLast {
				read()
			}
			if sent.buf != nil || r.Body.(*sentReader).b != nil {
				t.Error("the buffer was kept once read and released")
			}
		})
	}
	// An encoder that writes another length is an error, not a body cut
	// short or run over.
	r, _ := http.NewRequest(http.MethodPost, "http://up/v1/messages", nil)
	setBody(r, bytesOf(long), func(dst []byte) []byte { return append(dst, long[1:]...) }, 1024)
	if _, err := io.ReadAll(r.Body); err != errBodyChanged {
		t.Errorf("a body written shorter read with %v", err)
	}
	// A short one is sent as it is, with no encoder kept.
	r, _ = http.NewRequest(http.MethodPost, "http://up/v1/messages", nil)
	if sent := setBody(r, bytesOf(long[:1024]), func([]byte) []byte { panic("written again") }, 1024); sent != nil {
		t.Error("a short body kept a SentBody")
	}
	if b, err := io.ReadAll(r.Body); err != nil || !bytes.Equal(b, long[:1024]) {
		t.Errorf("the short body read %d bytes, %v", len(b), err)
	}
}
