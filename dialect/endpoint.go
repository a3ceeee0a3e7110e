package dialect

import (
	"context"
	"errors"
	"net/http"
)

// Endpoint is a URL that an upstream provider POSTs its streamed calls to,
// with the headers every call sends. Its URL is parsed once, not per call,
// and a call goes straight to the client's transport, as a reverse proxy's
// does, when the client would add nothing to it: no cookie jar, no
// timeout, no redirect policy of its own, no user in the URL. That spares each call the
// client's copies of the request's URL and headers (kept for redirects)
// and a parse of the URL (docs/benchmarks.md, issue 13, callalloc
// session). An answer that redirects is sent again through the client,
// which follows it, so calls end as they would through Client.Do.
type Endpoint struct {
	tmpl   *http.Request // URL, Host, Method; a call copies it
	client *http.Client
	direct http.RoundTripper // the client's transport, or nil: go through the client
}

// NewEndpoint returns the endpoint at url for client. header is every
// call's request headers, shared by all calls (net/http only reads them);
// a client with a cookie jar, which adds to them, gets a copy per call.
func NewEndpoint(client *http.Client, url string, header http.Header) (*Endpoint, error) {
	tmpl, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		return nil, err
	}
	tmpl.Header = header
	e := &Endpoint{tmpl: tmpl, client: client}
	// The client also turns a URL's user and password into basic auth.
	if client.Jar == nil && client.Timeout == 0 && client.CheckRedirect == nil && tmpl.URL.User == nil {
		e.direct = client.Transport
		if e.direct == nil {
			e.direct = http.DefaultTransport
		}
	}
	return e, nil
}

// Post sends *body, as NewUpstreamPost would (it takes *body over; a body
// longer than short goes back to the pool once nothing can send it
// again), and returns the answer's headers. Errors are the transport's,
// for TransportError.
func (e *Endpoint) Post(ctx context.Context, body *[]byte, short int) (*http.Response, error) {
	return e.PostIn(new(http.Request), ctx, body, short)
}

// PostIn is Post with the call's request made in *r, which must be a
// fresh one, kept until the answer's body is closed (net/http holds the
// request until then): a stream's own state, where the request is not an
// allocation of its own.
func (e *Endpoint) PostIn(r *http.Request, ctx context.Context, body *[]byte, short int) (*http.Response, error) {
	sent := e.request(r, ctx, body, short)
	if e.direct == nil {
		return e.viaClient(r, sent)
	}
	resp, err := e.direct.RoundTrip(r)
	if err == nil && resp != nil && redirects(resp) {
		// Rare (an upstream moved): sent again through the client, which
		// follows it as Do does, over the same bytes.
		if resp.Body != nil {
			resp.Body.Close()
		}
		return e.resend(r, sent)
	}
	sent.Release() // the transport asks GetBody no more
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return nil, errNilResponse
	}
	if resp.Body == nil {
		resp.Body = http.NoBody
	}
	return resp, nil
}

// resend is r sent again through the client, with a body of GetBody's.
//
//go:noinline
func (e *Endpoint) resend(r *http.Request, sent *SentBody) (*http.Response, error) {
	body, err := r.GetBody()
	if err != nil {
		sent.Release()
		return nil, err
	}
	again := e.tmpl.WithContext(r.Context())
	again.Body, again.GetBody, again.ContentLength = body, r.GetBody, r.ContentLength
	return e.viaClient(again, sent)
}

var errNilResponse = errors.New("http: RoundTripper implementation returned a nil *Response with a nil error")

// viaClient is r sent through the client: it follows redirects, adds the
// jar's cookies, applies its timeout. The call's hold on the body ends
// when Do returns.
//
//go:noinline
func (e *Endpoint) viaClient(r *http.Request, sent *SentBody) (*http.Response, error) {
	if e.client.Jar != nil {
		r.Header = r.Header.Clone()
	}
	resp, err := e.client.Do(r)
	sent.Release()
	return resp, err
}

// request makes the call's request in *r: the template with ctx and
// *body, which it takes over. WithContext is inlined, its copy kept in
// this frame (no allocation).
func (e *Endpoint) request(r *http.Request, ctx context.Context, body *[]byte, short int) *SentBody {
	*r = *e.tmpl.WithContext(ctx)
	return setBody(r, body, short)
}

// redirects reports whether the client would follow resp.
func redirects(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return resp.Header.Get("Location") != ""
	}
	return false
}
