package ollama

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/runnel/runnel/stream"
)

// bufioLine is how the provider read a line before lineReader: through a
// bufio.Reader over dialect.BodyReader. It is the reference lineReader is
// held to.
func bufioLine(r *bufio.Reader) ([]byte, error) {
	var long []byte
	for {
		frag, err := r.ReadSlice('\n')
		if err == nil {
			if long == nil {
				return frag[:len(frag)-1], nil
			}
			return append(long, frag[:len(frag)-1]...), nil
		}
		if err == bufio.ErrBufferFull {
			long = append(long, frag...)
			if len(long) > maxLine {
				return nil, stream.Errorf(stream.CodeUpstream, "ollama: NDJSON line longer than %d bytes", maxLine)
			}
			continue
		}
		if err == io.EOF && len(frag)+len(long) > 0 {
			return append(long, frag...), nil // last line without a newline
		}
		return nil, err
	}
}

// pieces is a body read in pieces of the given sizes (0 is an empty
// read), then whole; its end is end, given with the last bytes when
// endWithData.
type pieces struct {
	body        string
	sizes       []byte
	end         error
	endWithData bool
}

func (p *pieces) Read(b []byte) (int, error) {
	if p.body == "" {
		return 0, p.end
	}
	n := len(p.body)
	if len(p.sizes) > 0 {
		n, p.sizes = min(n, int(p.sizes[0])), p.sizes[1:]
	}
	n = copy(b, p.body[:n])
	p.body = p.body[n:]
	if p.body == "" && p.endWithData {
		return n, p.end
	}
	return n, nil
}

// waits counts BeforeWait calls.
type waits int

func (w *waits) BeforeWait() { *w++ }

// counted is dialect.BodyReader's part: w called before every read.
type counted struct {
	r io.Reader
	w *waits
}

func (c counted) Read(b []byte) (int, error) {
	c.w.BeforeWait()
	return c.r.Read(b)
}

// sameLines reads src's lines with a lineReader of a size-byte buffer and
// with bufioLine over a bufio.Reader of that size, and fails at the first difference: in a line, in the error
// ending them, or in how many times each called BeforeWait before a line.
// (After a last line without a newline, bufio reads the body once more
// for its end; lineReader keeps the end it met.)
func sameLines(t *testing.T, src func() io.Reader, size int) {
	t.Helper()
	var gotWaits, wantWaits waits
	l := &lineReader{src: src(), before: &gotWaits, buf: make([]byte, size)}
	ref := bufio.NewReaderSize(counted{src(), &wantWaits}, size)
	for i := 0; ; i++ {
		got, err := l.next()
		want, wantErr := bufioLine(ref)
		if string(got) != string(want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Fatalf("line %d: %q, %v; want %q, %v", i, got, err, want, wantErr)
		}
		if err != nil {
			if err == io.EOF && l.rerr != io.EOF {
				t.Fatal("the body's end not noted")
			}
			return
		}
		if gotWaits != wantWaits {
			t.Fatalf("line %d: %d waits, want %d", i, gotWaits, wantWaits)
		}
	}
}

var errCut = errors.New("cut")

func TestLineReaderMatchesBufio(t *testing.T) {
	bodies := []string{
		"", "\n", "\n\n", "a", "a\n", "a\nb", "a\nb\n", "\r\n", " \n{}\n",
		strings.Repeat("x", 15) + "\n", strings.Repeat("x", 16) + "\n", strings.Repeat("x", 17) + "\n",
		strings.Repeat("x", 16), strings.Repeat("x", 32) + "\nshort\n" + strings.Repeat("y", 40),
		strings.Repeat("z", 63) + "\n", strings.Repeat("z", 64) + "\n", strings.Repeat("z", 65) + "\n", strings.Repeat("z", 80) + "\n",
		benchAnswer,
	}
	for _, body := range bodies {
		for _, sizes := range []string{"", "\x01", "\x03\x00\x05", "\x10\x10", "\x00\x00\x00\x07", "\x11"} {
			for _, end := range []error{io.EOF, errCut} {
				for _, with := range []bool{false, true} {
					src := func() io.Reader { return &pieces{body: body, sizes: []byte(sizes), end: end, endWithData: with} }
					sameLines(t, src, 16)
				}
			}
		}
	}
	// A body that never gives a byte.
	sameLines(t, func() io.Reader { return &pieces{body: "a", sizes: make([]byte, 200)} }, 16)
}

// A line is an error once what is joined of it, a full buffer at a time,
// exceeds maxLine, as bufio's was: the provider's own sizes.
func TestLineReaderLongLines(t *testing.T) {
	for _, n := range []int{maxLine, maxLine + lineBuffer - 1, maxLine + lineBuffer, maxLine + lineBuffer + 1} {
		body := strings.Repeat("x", n) + "\n{}\n"
		sameLines(t, func() io.Reader { return strings.NewReader(body) }, lineBuffer)
	}
	var l lineReader
	l.init(strings.NewReader(strings.Repeat("x", maxLine+lineBuffer)+"\n"), nil)
	if _, err := l.next(); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("a line of %d bytes: %v", maxLine+lineBuffer, err)
	}
	l.release()
}

// A body's reads out of io.Reader's contract are an error, not a panic.
func TestLineReaderBadRead(t *testing.T) {
	for _, n := range []int{-1, lineBuffer + 1} {
		var l lineReader
		l.init(badReader(n), nil)
		if _, err := l.next(); err != errBadRead {
			t.Errorf("a read of %d: %v", n, err)
		}
		l.release()
	}
}

type badReader int

func (n badReader) Read([]byte) (int, error) { return int(n), nil }

// The lines of a stream's body, whole in the buffer, are read without an
// allocation; the buffer goes back to the pool at release, and next on a
// released reader is an error (not the body's end).
func TestLineReaderAllocations(t *testing.T) {
	line := `{"model":"m","created_at":"2025-01-01T00:00:00.000000Z","message":{"role":"assistant","content":" token"},"done":false}` + "\n"
	src := strings.NewReader("")
	var l lineReader
	l.init(src, nil)
	allocs := testing.AllocsPerRun(100, func() {
		src.Reset(line) // one line a read, as an upstream sends them
		if got, err := l.next(); err != nil || string(got) != line[:len(line)-1] {
			t.Fatalf("%q, %v", got, err)
		}
	})
	if allocs > 0 {
		t.Errorf("%v allocations a line", allocs)
	}
	l.release()
	if l.buf != nil {
		t.Error("the buffer was not given back")
	}
	if _, err := l.next(); err != errReleased || l.rerr == io.EOF {
		t.Errorf("next on a released reader: %v", err)
	}
}

// FuzzLineReader: any body, read in any pieces, gives the lines, errors
// and BeforeWait calls bufio gave, lines longer than a 16-byte buffer
// included (TestLineReaderLongLines has those too long).
func FuzzLineReader(f *testing.F) {
	f.Add(benchAnswer, []byte{3, 0, 5}, false, false)
	f.Add(strings.Repeat("x", 40)+"\n\n{}", []byte{16, 16, 1}, true, true)
	f.Add("a\r\nb\n", []byte{0, 0, 1}, true, false)
	f.Fuzz(func(t *testing.T, body string, sizes []byte, cut, with bool) {
		end := io.EOF
		if cut {
			end = errCut
		}
		for i := range sizes {
			sizes[i] %= 20
		}
		src := func() io.Reader { return &pieces{body: body, sizes: sizes, end: end, endWithData: with} }
		sameLines(t, src, 16)
	})
}
