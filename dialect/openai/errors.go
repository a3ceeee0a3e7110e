package openai

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/stream"
)

// errorBody returns OpenAI's error object for e: the type clients branch on
// and a machine-readable code.
func errorBody(e *stream.Error) ErrorBody {
	b := ErrorBody{Message: e.Message}
	if e.Param != "" {
		p := e.Param
		b.Param = &p
	}
	var code string
	switch e.Code {
	case stream.CodeInvalidRequest:
		b.Type, code = "invalid_request_error", "invalid_value"
		if strings.HasPrefix(e.Message, "invalid JSON") || strings.HasPrefix(e.Message, "request body") {
			code = "invalid_json"
		}
	case stream.CodeTooLarge:
		b.Type, code = "invalid_request_error", "request_too_large"
	case stream.CodeUnauthorized:
		b.Type, code = "authentication_error", "invalid_api_key"
	case stream.CodeForbidden:
		b.Type, code = "permission_error", "permission_denied"
	case stream.CodeNotFound:
		b.Type, code = "not_found_error", "not_found"
		if e.Param == "model" {
			code = "model_not_found"
		}
	case stream.CodeConflict:
		b.Type, code = "invalid_request_error", "conflict"
	case stream.CodeUnsupported:
		b.Type, code = "invalid_request_error", "model_not_supported"
	case stream.CodeInsufficientCredit:
		b.Type, code = "insufficient_quota", "insufficient_quota"
	case stream.CodeRateLimited:
		b.Type, code = "rate_limit_error", "rate_limit_exceeded"
	case stream.CodeOverloaded:
		b.Type, code = "server_error", "overloaded"
	case stream.CodeUnavailable:
		b.Type, code = "server_error", "service_unavailable"
	case stream.CodeTimeout:
		b.Type, code = "server_error", "timeout"
	case stream.CodeUpstream:
		b.Type, code = "api_error", "upstream_error"
	case stream.CodeCancelled:
		b.Type, code = "invalid_request_error", "cancelled"
	default:
		b.Type, code = "server_error", "internal_error"
	}
	b.Code = code
	if b.Message == "" {
		b.Message = string(e.Code)
	}
	return b
}

// writeError answers with e's HTTP status and OpenAI's error JSON.
func writeError(w http.ResponseWriter, err error) {
	e := stream.AsError(err)
	h := w.Header()
	if e.RetryAfter > 0 {
		secs := int64((e.RetryAfter + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	writeJSON(w, dialect.Status(e.Code), ErrorResponse{Error: errorBody(e)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"message":"encoding the response failed","type":"server_error","param":null,"code":"internal_error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// upstreamError turns an upstream's non-2xx answer into a *stream.Error,
// with the message from its error JSON when it sent one. The message never
// contains our request (and so never the API key).
func upstreamError(status int, header http.Header, body []byte) *stream.Error {
	e := &stream.Error{UpstreamStatus: status, Code: dialect.UpstreamCode(status)}
	if e.Code == stream.CodeRateLimited || e.Code == stream.CodeOverloaded {
		e.RetryAfter = parseRetryAfter(header.Get("Retry-After"))
	}
	msg := upstreamMessage(body)
	if msg == "" {
		msg = http.StatusText(status)
		if msg == "" {
			msg = "unexpected status"
		}
	}
	e.Message = fmt.Sprintf("upstream answered %d: %s", status, msg)
	var er struct {
		Error struct {
			Param *string `json:"param"`
			// OpenAI's "insufficient_quota" comes as a 429.
			Type string `json:"type"`
			Code any    `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &er) == nil {
		if er.Error.Param != nil {
			e.Param = *er.Error.Param
		}
		if status == http.StatusTooManyRequests && (er.Error.Type == "insufficient_quota" || er.Error.Code == "insufficient_quota") {
			e.Code, e.RetryAfter = stream.CodeInsufficientCredit, 0
		}
	}
	return e
}

// upstreamMessage pulls a readable message out of an error body: OpenAI's
// {"error":{"message"}}, {"error":"text"} (llama.cpp, Ollama), {"message"}
// or {"detail"} (FastAPI servers), or else short plain text.
func upstreamMessage(body []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  any             `json:"detail"`
	}
	if json.Unmarshal(body, &v) == nil {
		var inner struct {
			Message string `json:"message"`
		}
		var s string
		switch {
		case json.Unmarshal(v.Error, &inner) == nil && inner.Message != "":
			return clip(inner.Message)
		case json.Unmarshal(v.Error, &s) == nil && s != "":
			return clip(s)
		case v.Message != "":
			return clip(v.Message)
		case v.Detail != nil:
			if d, ok := v.Detail.(string); ok {
				return clip(d)
			}
			b, _ := json.Marshal(v.Detail)
			return clip(string(b))
		}
		return ""
	}
	return clip(strings.TrimSpace(string(body)))
}

func clip(s string) string {
	const max = 512
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 {
		return time.Duration(n * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
