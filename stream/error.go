package stream

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Code classifies an error. Each dialect maps codes to its own status codes
// and error shapes; see dialect.Status.
type Code string

const (
	CodeInvalidRequest     Code = "invalid_request"      // malformed or invalid input
	CodeUnauthorized       Code = "unauthorized"         // missing or bad credentials
	CodeForbidden          Code = "forbidden"            // authenticated but not allowed
	CodeNotFound           Code = "not_found"            // unknown model, job, key
	CodeUnsupported        Code = "model_not_supported"  // the model exists but cannot be served (unusable file)
	CodeConflict           Code = "conflict"             // state does not allow this (e.g. job completed)
	CodeTooLarge           Code = "too_large"            // body or message over the limit
	CodeInsufficientCredit Code = "insufficient_credits" // team cannot pay
	CodeRateLimited        Code = "rate_limited"         // see RetryAfter
	CodeOverloaded         Code = "overloaded"           // queue full; try later
	CodeUnavailable        Code = "unavailable"          // a store Runnel needs cannot answer now; see RetryAfter
	CodeTimeout            Code = "timeout"              // a stream timeout fired
	CodeUpstream           Code = "upstream_error"       // the provider failed or sent garbage
	CodeCancelled          Code = "cancelled"            // the caller went away
	CodeInternal           Code = "internal_error"       // a bug in Runnel
)

// Error is an error with a Code, safe to show to API callers: Message must
// never contain secrets.
type Error struct {
	Code    Code
	Message string
	// Param names the offending request field, when there is one.
	Param string
	// RetryAfter is set with CodeRateLimited, CodeOverloaded and
	// CodeUnavailable.
	RetryAfter time.Duration
	// UpstreamStatus is the HTTP status the upstream answered with, if any.
	UpstreamStatus int
	// Err is the underlying cause, for logs; it is not shown to callers.
	Err error
}

func (e *Error) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("%s: %s (param %s)", e.Code, e.Message, e.Param)
	}
	return string(e.Code) + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted message.
//
// Errorf and InvalidParam are out of line: the validation that calls
// them runs every call and fails rarely, and inlined, each call site's
// error (its allocation and fields) sat between the checks, so that a
// call that passed them all ran about twice the code lines
// (docs/benchmarks.md, issue 13, callfoot session).
//
//go:noinline
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// InvalidParam returns a CodeInvalidRequest error naming the field.
//
//go:noinline
func InvalidParam(param, format string, args ...any) *Error {
	return &Error{Code: CodeInvalidRequest, Param: param, Message: fmt.Sprintf(format, args...)}
}

// AsError converts any error to an *Error. Context cancellation becomes
// CodeCancelled, a deadline CodeTimeout, and anything unclassified
// CodeUpstream, since errors that reach a stream without a code come from a
// provider's transport.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, context.Canceled):
		return &Error{Code: CodeCancelled, Message: "request cancelled", Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Code: CodeTimeout, Message: "deadline exceeded", Err: err}
	}
	return &Error{Code: CodeUpstream, Message: err.Error(), Err: err}
}
