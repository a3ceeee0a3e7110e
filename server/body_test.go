package server

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

// The server's body limit reads as http.MaxBytesReader did: the same
// bytes, and the same errors, on every read to the end and after it.
func TestLimitedBodyAsMaxBytesReader(t *testing.T) {
	const limit = 600
	for _, n := range []int{0, 1, limit - 1, limit, limit + 1, limit + 2, 3 * limit} {
		body := strings.Repeat("x", n)
		for _, size := range []int{1, 7, limit, limit + 1, 4096} {
			for _, oneByte := range []bool{false, true} {
				src := func() io.ReadCloser {
					if oneByte {
						return io.NopCloser(iotest.OneByteReader(strings.NewReader(body)))
					}
					return io.NopCloser(strings.NewReader(body))
				}
				want := http.MaxBytesReader(httptest.NewRecorder(), src(), limit)
				got := &limitedBody{r: src(), limit: limit, n: limit}
				for i := 0; ; i++ {
					wp, gp := make([]byte, size), make([]byte, size)
					wn, werr := want.Read(wp)
					gn, gerr := got.Read(gp)
					var wmax, gmax *http.MaxBytesError
					if string(gp[:gn]) != string(wp[:wn]) || !errors.Is(gerr, werr) && !(errors.As(werr, &wmax) && errors.As(gerr, &gmax) && *wmax == *gmax) {
						t.Fatalf("%d bytes, reads of %d (one byte %v), read %d: %d, %v; MaxBytesReader %d, %v", n, size, oneByte, i, gn, gerr, wn, werr)
					}
					if werr != nil && i > 0 && wn == 0 {
						break // the error again, after it first came
					}
				}
			}
		}
	}
}
