package stream

import (
	"bytes"
	"encoding/json"
)

// Logprobs are the log probabilities of a delta's tokens: the JSON text of
// an OpenAI choice's `logprobs` object as the upstream sent it
// ({"content":[…]} on chat; tokens, token_logprobs, top_logprobs and
// text_offset on legacy completions), "" for none. Only OpenAI-compatible
// upstreams report them and only the OpenAI dialect shows them, so Runnel
// never needs to read inside.
type Logprobs string

// Logprobs returns a delta's token logprobs; "" for none, or for an event
// that is not a delta.
func (e Event) Logprobs() Logprobs {
	if e.Kind != KindDelta {
		return ""
	}
	return Logprobs(e.Finish)
}

// SetLogprobs gives a delta its token logprobs; on other events it does
// nothing.
func (e *Event) SetLogprobs(lp Logprobs) {
	if e.Kind == KindDelta {
		e.Finish = FinishReason(lp)
	}
}

// LogprobsUnsupported is the 400 for a request asking for logprobs that
// provider cannot report: it names the field and the provider.
func LogprobsUnsupported(provider string) *Error {
	return InvalidParam("logprobs", "logprobs is not supported by provider %s: it does not report token log probabilities", provider)
}

// JoinLogprobs joins the logprobs of consecutive deltas into one object,
// as a non-streamed answer carries them: arrays under the same key are
// concatenated ({"content":[a]} + {"content":[b]} = {"content":[a,b]}),
// any other value is the last non-null one. Keys keep the order they first
// appeared in. Empty parts, and parts that are not objects, are skipped;
// the result is "" when nothing is left.
func JoinLogprobs(parts ...Logprobs) Logprobs {
	var (
		keys []string
		vals = map[string][]json.RawMessage{}
		n    int
		last Logprobs
	)
	for _, p := range parts {
		if p == "" {
			continue
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal([]byte(p), &obj) != nil || obj == nil {
			continue
		}
		n, last = n+1, p
		// Unmarshal into a map forgets the order; read it off the tokens.
		dec := json.NewDecoder(bytes.NewReader([]byte(p)))
		dec.Token() // {
		for dec.More() {
			t, _ := dec.Token()
			k := t.(string)
			var skip json.RawMessage
			dec.Decode(&skip)
			if _, seen := vals[k]; !seen {
				keys = append(keys, k)
			}
			vals[k] = append(vals[k], obj[k])
		}
	}
	switch n {
	case 0:
		return ""
	case 1:
		return last
	}
	b := []byte{'{'}
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		kb, _ := json.Marshal(k)
		b = append(b, kb...)
		b = append(b, ':')
		b = appendJoined(b, vals[k])
	}
	return Logprobs(append(b, '}'))
}

// appendJoined appends the join of one key's values: the concatenation
// when every non-null value is an array, else the last non-null value.
func appendJoined(b []byte, vs []json.RawMessage) []byte {
	var last json.RawMessage
	all := true
	for _, v := range vs {
		v = bytes.TrimSpace(v)
		if bytes.Equal(v, []byte("null")) {
			continue
		}
		last = v
		if v[0] != '[' {
			all = false
		}
	}
	if last == nil {
		return append(b, "null"...)
	}
	if !all {
		return append(b, last...)
	}
	b = append(b, '[')
	first := true
	for _, v := range vs {
		v = bytes.TrimSpace(v)
		if v[0] != '[' {
			continue
		}
		inner := bytes.TrimSpace(v[1 : len(v)-1])
		if len(inner) == 0 {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, inner...)
	}
	return append(b, ']')
}
