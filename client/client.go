// Package client is the Go SDK for Runnel: streaming chat and completions as
// Go iterators with per-stream metrics, the native token and typed generation
// streams, and the jobs API.
//
//	c := client.New("http://127.0.0.1:8080", client.WithAPIKey(key))
//	s := c.StreamChat(ctx, client.ChatRequest{Model: "stories260K", Messages: []client.Message{{Role: "user", Content: "hi"}}})
//	for ev, err := range s.Events() {
//		if err != nil { … }
//		fmt.Print(ev.Text)
//	}
//	fmt.Println(s.Metrics().TTFC)
//
// Breaking out of the loop cancels the request on the server.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to one Runnel server. It is safe for concurrent use.
type Client struct {
	base    string
	key     string
	hc      *http.Client
	retries int
	backoff time.Duration
	resumes int
}

// Option configures a Client.
type Option func(*Client)

// WithAPIKey sends key as a bearer token on every request.
func WithAPIKey(key string) Option { return func(c *Client) { c.key = key } }

// WithHTTPClient uses hc instead of a default client. Its Timeout must be
// zero (or long): it bounds whole streams.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithRetries sets how many times a request is retried, with exponential
// backoff starting at base, when it fails before the first token with a
// connection error, 429 or 503. The default is 2 retries from 250ms.
func WithRetries(n int, base time.Duration) Option {
	return func(c *Client) { c.retries, c.backoff = n, base }
}

// WithResume makes streams resumable (Runnel-Resumable: true): when the
// connection breaks mid-stream, the client reconnects with the last event's
// id and carries on where it was, up to n times per stream, so a stream's
// events arrive once each, in order. A stream abandoned on purpose (loop
// broken, context cancelled) is cancelled on the server at once (DELETE
// /api/v1/streams/{id}). Endpoints that cannot resume (the jobs API) are
// not affected.
func WithResume(n int) Option { return func(c *Client) { c.resumes = n } }

// New returns a client for the server at baseURL (e.g. "http://127.0.0.1:8080").
func New(baseURL string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(baseURL, "/"), hc: http.DefaultClient, retries: 2, backoff: 250 * time.Millisecond}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Error is an error answered by the server, before or during a stream.
type Error struct {
	Status     int    // HTTP status; 0 for an error event mid-stream
	Code       string // machine-readable code, e.g. "model_not_found", "rate_limited"
	Type       string // the dialect's error type, e.g. "invalid_request_error"
	Param      string // the offending field, when the server named one
	Message    string
	RetryAfter time.Duration
	MidStream  bool // the error arrived as an event after streaming began
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("runnel: ")
	if e.Status != 0 {
		fmt.Fprintf(&b, "%d ", e.Status)
	}
	if e.Code != "" {
		b.WriteString(e.Code + ": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// ConnectionError means the server could not be reached, or the connection
// was cut before the stream completed. Errors.Is(err, ErrConnection) matches it.
type ConnectionError struct {
	MidStream bool
	Err       error
}

func (e *ConnectionError) Error() string {
	if e.MidStream {
		return "runnel: stream interrupted: " + e.Err.Error()
	}
	return "runnel: cannot reach server: " + e.Err.Error()
}

func (e *ConnectionError) Unwrap() error { return e.Err }

// Is lets errors.Is(err, ErrConnection) match any ConnectionError.
func (e *ConnectionError) Is(target error) bool { return target == ErrConnection }

// ErrConnection matches every *ConnectionError.
var ErrConnection = errors.New("runnel: connection error")

// errorBody reads the error shapes of every dialect: OpenAI's and the
// native {"error": {...}}, Anthropic's {"type": "error", "error": {...}} and
// Ollama's {"error": "..."}.
type errorBody struct {
	Error json.RawMessage `json:"error"`
}

type errorObject struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    any    `json:"code"`
	Param   string `json:"param"`
}

func parseError(data []byte, status int) *Error {
	e := &Error{Status: status}
	var body errorBody
	if json.Unmarshal(data, &body) == nil && len(body.Error) > 0 {
		var s string
		var o errorObject
		if json.Unmarshal(body.Error, &s) == nil {
			e.Message = s
		} else if json.Unmarshal(body.Error, &o) == nil {
			e.Message, e.Type, e.Param = o.Message, o.Type, o.Param
			switch c := o.Code.(type) {
			case string:
				e.Code = c
			case float64:
				e.Code = strconv.Itoa(int(c))
			}
		}
	}
	if e.Message == "" {
		e.Message = strings.TrimSpace(string(data))
		if e.Message == "" {
			e.Message = http.StatusText(status)
		}
	}
	if e.Code == "" {
		e.Code = e.Type
	}
	return e
}

// do sends a request built by newReq, retrying before any answer on
// connection errors, 429 and 503. A non-2xx answer is returned as *Error.
func (c *Client) do(ctx context.Context, newReq func() (*http.Request, error)) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		req, err := newReq()
		if err != nil {
			return nil, err
		}
		if c.key != "" {
			req.Header.Set("Authorization", "Bearer "+c.key)
		}
		resp, err := c.hc.Do(req)
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if attempt >= c.retries {
				return nil, &ConnectionError{Err: err}
			}
			wait = c.delay(attempt)
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			return resp, nil
		default:
			data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			apiErr := parseError(data, resp.StatusCode)
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
				apiErr.RetryAfter = time.Duration(s) * time.Second
			}
			retryable := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable
			if !retryable || attempt >= c.retries {
				return nil, apiErr
			}
			wait = apiErr.RetryAfter
			if wait == 0 {
				wait = c.delay(attempt)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

func (c *Client) delay(attempt int) time.Duration {
	d := c.backoff << attempt
	if d > 8*time.Second {
		d = 8 * time.Second
	}
	return d/2 + rand.N(d/2+1)
}

func (c *Client) post(ctx context.Context, path string, body any, accept string) (*http.Response, error) {
	return c.send(ctx, path, body, func(h http.Header) { h.Set("Accept", accept) })
}

// stream is a Stream of the SSE endpoint path, resumable if WithResume.
func (c *Client) stream(ctx context.Context, path string, body any, decode func(*Stream, []byte) (Event, bool, bool, error)) *Stream {
	open := func(ctx context.Context, lastID string) (*http.Response, error) {
		return c.send(ctx, path, body, func(h http.Header) {
			h.Set("Accept", "text/event-stream")
			if c.resumes > 0 {
				h.Set("Runnel-Resumable", "true")
			}
			if lastID != "" {
				h.Set("Last-Event-ID", lastID)
			}
		})
	}
	s := newStream(ctx, open, decode)
	s.resumes = c.resumes
	if c.resumes > 0 {
		s.abandon = c.cancelStream
	}
	return s
}

// cancelTimeout bounds the DELETE of an abandoned resumable stream.
const cancelTimeout = 2 * time.Second

// cancelStream asks the server to cancel resumable stream id now, on a
// context of its own (the caller's may be what was cancelled). Errors are
// ignored: at worst the generation runs on for the server's grace period.
func (c *Client) cancelStream(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), cancelTimeout)
	defer cancel()
	resp, err := c.do(ctx, func() (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodDelete, c.base+"/api/v1/streams/"+url.PathEscape(id), nil)
	})
	if err == nil {
		resp.Body.Close()
	}
}

// send posts body as JSON with the headers header sets.
func (c *Client) send(ctx context.Context, path string, body any, header func(http.Header)) (*http.Response, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("runnel: encoding request: %w", err)
	}
	return c.do(ctx, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		header(req.Header)
		return req, nil
	})
}

// getJSON and postJSON are for the non-streaming endpoints.
func (c *Client) getJSON(ctx context.Context, path string, out any) error {
	resp, err := c.do(ctx, func() (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	})
	if err != nil {
		return err
	}
	return decodeBody(resp, out)
}

func (c *Client) postJSON(ctx context.Context, path string, body, out any) error {
	resp, err := c.post(ctx, path, body, "application/json")
	if err != nil {
		return err
	}
	return decodeBody(resp, out)
}

func decodeBody(resp *http.Response, out any) error {
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return &ConnectionError{MidStream: true, Err: fmt.Errorf("reading response: %w", err)}
	}
	return nil
}
