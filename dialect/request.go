package dialect

import "github.com/runnel/runnel/stream"

// NewRequest returns an empty request whose Messages has room for n
// messages. For the usual calls (up to four turns) the request and its
// messages are one allocation, not two: they live and go together (the
// call's record keeps the request, and the messages with it).
func NewRequest(n int) *stream.Request {
	switch {
	case n <= 1:
		r := new(requestWith1)
		r.Messages = r.m[:0]
		return &r.Request
	case n <= 2:
		r := new(requestWith2)
		r.Messages = r.m[:0]
		return &r.Request
	case n <= 4:
		r := new(requestWith4)
		r.Messages = r.m[:0]
		return &r.Request
	}
	return &stream.Request{Messages: make([]stream.Message, 0, n)}
}

type (
	requestWith1 struct {
		stream.Request
		m [1]stream.Message
	}
	requestWith2 struct {
		stream.Request
		m [2]stream.Message
	}
	requestWith4 struct {
		stream.Request
		m [4]stream.Message
	}
)
