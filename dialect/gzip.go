package dialect

import (
	"compress/gzip"
	"io"
	"net/http"
	"strings"
)

// Streamed calls ask for gzip themselves, in a provider's shared header
// map (the OpenAI and Anthropic upstreams),
// where net/http's transport would otherwise add the same header to each
// request in a map of its own, kept for the whole stream (about 400 bytes
// an open stream). Asking for it, they must also undo it, as the transport
// does for the gzip it asks for.

// TransportGzips reports whether c's transport asks for gzip by itself (a
// Transport without DisableCompression): then a request may ask for it in
// its place with the same effect. A RoundTripper of another kind is left
// to do as it does.
func TransportGzips(c *http.Client) bool {
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	t, ok := rt.(*http.Transport)
	return ok && !t.DisableCompression
}

// Gunzipped undoes a gzip answer to a request that asked for gzip itself,
// as the transport does for its own: the body decompressed (from its
// first read, so a stream's start does not wait for its first bytes), the
// encoding and length headers dropped.
//
//go:noinline
func Gunzipped(resp *http.Response) {
	if !strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		return
	}
	resp.Body = &gunzipBody{body: resp.Body}
	resp.Header.Del("Content-Encoding")
	resp.Header.Del("Content-Length")
	resp.ContentLength = -1
	resp.Uncompressed = true
}

// gunzipBody decompresses body lazily.
type gunzipBody struct {
	body io.ReadCloser
	zr   *gzip.Reader
	err  error // from the gzip header; sticky
}

func (g *gunzipBody) Read(p []byte) (int, error) {
	if g.zr == nil {
		if g.err == nil {
			g.zr, g.err = gzip.NewReader(g.body)
		}
		if g.err != nil {
			return 0, g.err
		}
	}
	return g.zr.Read(p)
}

func (g *gunzipBody) Close() error { return g.body.Close() }
