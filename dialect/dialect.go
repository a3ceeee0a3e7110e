// Package dialect holds what every API dialect's server side shares: the
// mapping from stream error codes to HTTP statuses and a strict, size-limited
// JSON body decoder whose errors name the offending field.
package dialect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// DefaultBodyLimit is the default maximum request body size.
const DefaultBodyLimit = 1 << 20

// Status returns the HTTP status for an error code.
func Status(code stream.Code) int {
	switch code {
	case stream.CodeInvalidRequest:
		return http.StatusBadRequest
	case stream.CodeUnauthorized:
		return http.StatusUnauthorized
	case stream.CodeInsufficientCredit:
		return http.StatusPaymentRequired
	case stream.CodeForbidden:
		return http.StatusForbidden
	case stream.CodeNotFound:
		return http.StatusNotFound
	case stream.CodeConflict:
		return http.StatusConflict
	case stream.CodeUnsupported:
		return http.StatusUnprocessableEntity
	case stream.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case stream.CodeRateLimited:
		return http.StatusTooManyRequests
	case stream.CodeCancelled:
		return 499 // client closed request; only ever logged
	case stream.CodeOverloaded, stream.CodeUnavailable:
		return http.StatusServiceUnavailable
	case stream.CodeTimeout:
		return http.StatusGatewayTimeout
	case stream.CodeUpstream:
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

// DecodeJSON decodes r's body into v. The body is limited to limit bytes
// (DefaultBodyLimit if limit <= 0). Errors are *stream.Error with
// CodeInvalidRequest or CodeTooLarge and, for a wrong type, Param set to the
// field's JSON path.
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) *stream.Error {
	return decodeJSON(w, r, limit, v, false)
}

// DecodeJSONStrict is DecodeJSON for Runnel's own APIs (admin), where a
// field the server does not know is a mistake to report, not a client's
// extension to ignore: it is a 400 naming the field.
func DecodeJSONStrict(w http.ResponseWriter, r *http.Request, limit int64, v any) *stream.Error {
	return decodeJSON(w, r, limit, v, true)
}

func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any, strict bool) *stream.Error {
	if limit <= 0 {
		limit = DefaultBodyLimit
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	if err := decodeFrom(body, limit, v, strict); err != nil {
		return err
	}
	// Read to its end, the body is closed now: else net/http, at the
	// first response write, drains it once more through io.Discard (with
	// an 8 KiB buffer from a pool) to be sure.
	body.Close()
	return nil
}

// decodeFrom decodes one JSON value from rd into v, with only whitespace
// after it.
func decodeFrom(rd io.Reader, limit int64, v any, strict bool) *stream.Error {
	dec := json.NewDecoder(rd)
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return jsonError(err, limit)
	}
	// Anything but whitespace after the value is an error, as in a strict
	// json.Unmarshal.
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			return stream.Errorf(stream.CodeInvalidRequest, "invalid JSON: unexpected data after the top-level value")
		}
		return jsonError(err, limit)
	}
	return nil
}

// DecodeJSONWith is DecodeJSON with a decoder of the caller's own tried
// first: fast gets the whole body (read within limit) and reports
// whether it decoded it into v, all of it. It must leave v alone when it
// does not: then encoding/json decodes v from the same bytes, with
// DecodeJSON's errors (a body over the limit, or one that broke off, goes
// to encoding/json at once and meets that error where DecodeJSON would).
// For a common request shape that a scanner reads for a fraction of
// encoding/json's cost (docs/benchmarks.md, issue 13, percall session).
// The body's bytes are reused once it returns: what fast decodes may keep
// no slice of them (see DecodeJSONOwned).
func DecodeJSONWith(w http.ResponseWriter, r *http.Request, limit int64, v any, fast func(data []byte) bool) *stream.Error {
	_, _, err := decodeWith(w, r, limit, v, fast, bodyCopied)
	return err
}

// What becomes of the body's buffer once fast took it (decodeWith).
const (
	bodyCopied = iota // back to the pool at once: v keeps no slice of it
	bodyOwned         // v's: never pooled (DecodeJSONOwned)
	bodyPooled        // the caller's, from the pool (DecodeJSONPooled)
)

// decodeWith is DecodeJSONWith, DecodeJSONOwned or DecodeJSONPooled by
// mode; took says fast took the body, and pooled is then its buffer in
// the pooled mode.
func decodeWith(w http.ResponseWriter, r *http.Request, limit int64, v any, fast func(data []byte) bool, mode int) (pooled *[]byte, took bool, _ *stream.Error) {
	if limit <= 0 {
		limit = DefaultBodyLimit
	}
	data, p, err := readBody(r.Body, r.ContentLength, limit, mode == bodyOwned)
	if err == nil {
		r.Body.Close() // see decodeJSON
		if fast(data) {
			switch mode {
			case bodyCopied:
				giveBack(data, p)
			case bodyPooled:
				*p = data
				return p, true, nil
			} // bodyOwned: v's now, never pooled
			return nil, true, nil
		}
		err := decodeFrom(bytes.NewReader(data), limit, v, false)
		giveBack(data, p) // encoding/json kept no slice of it
		return nil, false, err
	}
	e := decodeFrom(io.MultiReader(bytes.NewReader(data), errReader{err}), limit, v, false)
	giveBack(data, p)
	return nil, false, e
}

// giveBack is PutBuffer of b, whose pooled slice is p (nil for b made
// afresh).
func giveBack(b []byte, p *[]byte) {
	if p == nil {
		p = new([]byte)
	}
	*p = b
	PutBuffer(p)
}

// maxPrealloc bounds readBody's first allocation.
const maxPrealloc = 32 << 10

// readBody reads body to its end into a buffer from the pool, of the
// request's length when it says it (within limit, and up to
// maxPrealloc: a client that announces a large body and sends it slowly
// holds no more memory than it has sent), growing into the pool's larger
// buffers. An owned body of a length it says starts in a buffer of just
// that length instead, not the pool's (a class up to half as long
// again, and one the pool would not get back): a request that keeps
// views of it keeps no more.
//
// A body longer than limit is cut there, with an *http.MaxBytesError, as
// http.MaxBytesReader would read it (whose allocation and calls a request
// it spares: the server's own limit is one already).
//
// p is the pool's slice that data is in, nil for data made afresh.
func readBody(body io.Reader, length, limit int64, owned bool) (data []byte, p *[]byte, err error) {
	size := int64(512)
	if length > 0 && length < limit {
		size = min(length+1, maxPrealloc) // room to read the EOF without growing
	}
	if owned && length > 0 && length < limit {
		data = make([]byte, 0, size)
	} else {
		p = GetBuffer(int(size))
		data = *p
	}
	for {
		// Room for one byte over the limit, which tells the body is longer.
		room := data[len(data):cap(data)]
		if over := int64(cap(data)) - (limit + 1); over > 0 {
			room = room[:int64(len(room))-over]
		}
		n, err := body.Read(room)
		data = data[:len(data)+n]
		if int64(len(data)) > limit {
			return data[:limit], p, &http.MaxBytesError{Limit: limit}
		}
		if err == io.EOF {
			return data, p, nil
		}
		if err != nil {
			return data, p, err
		}
		if len(data) == cap(data) { // twice as much room, from the pool
			more := GetBuffer(2 * cap(data))
			*more = append(*more, data...)
			giveBack(data, p)
			p, data = more, *more
		}
	}
}

func jsonError(err error, limit int64) *stream.Error {
	var (
		maxErr    *http.MaxBytesError
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &maxErr):
		return stream.Errorf(stream.CodeTooLarge, "request body is larger than the limit of %d bytes", limit)
	case errors.As(err, &syntaxErr):
		return stream.Errorf(stream.CodeInvalidRequest, "invalid JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return stream.Errorf(stream.CodeInvalidRequest, "request body must be a JSON object, not %s", typeErr.Value)
		}
		return stream.InvalidParam(field, "%s must be %s, not %s", field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no error type for it.
		field, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return stream.InvalidParam(field, "unknown field %q", field)
	case errors.Is(err, io.EOF):
		return stream.Errorf(stream.CodeInvalidRequest, "request body is empty; expected a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return stream.Errorf(stream.CodeInvalidRequest, "invalid JSON: unexpected end of input")
	}
	return stream.Errorf(stream.CodeInvalidRequest, "invalid JSON: %v", err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct", "ptr", "interface":
		return "an object"
	case "float32", "float64":
		return "a number"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		// "must be a number, not number 2.5" would say nothing
		return "an integer"
	}
	return fmt.Sprintf("of Go kind %s", goKind)
}

// Gateway is what a dialect server needs from the gateway. *gateway.Gateway
// implements it.
type Gateway interface {
	Start(ctx context.Context, req *stream.Request) (*gateway.Call, error)
	Models(ctx context.Context) ([]gateway.ModelInfo, error)
}

// TokenCounter is a Gateway that counts a request's prompt tokens on its
// model without serving it (gateway.Gateway.CountTokens).
type TokenCounter interface {
	CountTokens(ctx context.Context, req *stream.Request) (int, error)
}

// Authorize runs check (an Authorize option: the auth middleware's verdict
// on the caller's key) on ctx, returning its refusal as a 401 error; nil
// when check is nil or passes.
func Authorize(ctx context.Context, check func(context.Context) error) *stream.Error {
	if check == nil {
		return nil
	}
	err := check(ctx)
	if err == nil {
		return nil
	}
	e := stream.AsError(err)
	if e.Code != stream.CodeUnauthorized {
		e = stream.Errorf(stream.CodeUnauthorized, "%s", e.Message)
	}
	return e
}
