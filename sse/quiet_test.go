package sse

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
)

// opWriter is a response whose writes and flushes fail on demand, and
// which counts them: what Flush's and SendAppend's fast paths do on
// failure is held to the general path's.
type opWriter struct {
	header             http.Header
	body               bytes.Buffer
	writes, flushes    int
	writeErr, flushErr error
}

func (o *opWriter) Header() http.Header { return o.header }
func (o *opWriter) WriteHeader(int)     {}
func (o *opWriter) Write(b []byte) (int, error) {
	if o.writeErr != nil {
		return 0, o.writeErr
	}
	o.writes++
	return o.body.Write(b)
}
func (o *opWriter) FlushError() error {
	if o.flushErr != nil {
		return o.flushErr
	}
	o.flushes++
	return nil
}

// FuzzQuietWriter holds a deferred Writer's fast paths (SendAppend,
// SendText and Flush while quiet) to its general path (the same Writer with quiet
// cleared, so that every call takes begin, end and flush): for any
// sequence of events under changing names, flushes, comments, line
// events, write and flush failures (a response that cannot flush
// included) and Close, the same bytes, writes, flushes, errors and ids.
func FuzzQuietWriter(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 1, 2, 0, 1, 8, 0, 1, 9}, "tok", "message_delta", false)
	f.Add([]byte{0, 1, 4, 0, 1, 0, 6, 1}, "x", "", true)
	f.Add([]byte{1, 0, 5, 1, 0, 6, 7, 1, 0, 3, 1}, "a b", "e", false)
	f.Add([]byte{10, 1, 10, 10, 1, 4, 10, 1, 6, 10, 9, 10}, `{"t":`, "\xff\u2028", false)
	f.Add([]byte{11, 11, 1, 10, 11, 12, 11, 11, 11, 11, 11, 11, 11, 11, 1, 11}, strings.Repeat("tok", 30), "e", false)
	f.Add([]byte{11, 11, 11, 1, 11, 11, 11, 11, 9, 11}, "ab", "", true)
	f.Fuzz(func(t *testing.T, ops []byte, data, other string, omitIDs bool) {
		if strings.ContainsAny(data+other, "\r\n") || len(ops) > 64 {
			return
		}
		var logs [2]string
		// In a bubble: the headers' grace timer fires only if the
		// test waits, which it never does; both runs are the same.
		for i, general := range []bool{false, true} {
			synctest.Test(t, func(t *testing.T) {
				o := &opWriter{header: http.Header{}}
				w := NewWriter(o, Options{KeepAlive: -1, OmitIDs: omitIDs, DeferFlush: true, LastID: 98})
				if general {
					w.mu.Lock()
					w.quiet = false
					w.mu.Unlock()
				}
				var log strings.Builder
				names := [2]string{"", other}
				for k, op := range ops {
					var err error
					switch op % 12 {
					case 0:
						err = w.SendAppend(names[k%2], func(b []byte) []byte { return append(b, data...) })
					case 1:
						err = w.Flush()
					case 2:
						err = w.Comment(data)
					case 3:
						err = w.SendLine(names[(k+1)%2], []byte(data))
					case 4:
						o.writeErr = errors.New("broken pipe")
					case 5:
						o.flushErr = errors.New("reset")
					case 6:
						o.writeErr, o.flushErr = nil, nil
					case 7:
						o.flushErr = fmt.Errorf("no: %w", http.ErrNotSupported)
					case 8: // a write error that says "not supported" fails all the same
						o.writeErr = fmt.Errorf("gone: %w", http.ErrNotSupported)
					case 9:
						err = w.Close()
					case 10: // a token's event: SendText's, SendAppend's when not quiet
						err = w.SendText(NewTextEvent(names[k%2], []byte(data), data), other+"\n\"<"+data)
					case 11: // a short plain text, maybe (AppendShort's), under a copy of a name
						err = w.SendText(NewTextEvent(strings.Clone(names[k%2]), []byte(data), data), data)
					}
					fmt.Fprintf(&log, "%d:%v ", op%12, err)
				}
				w.Close()
				fmt.Fprintf(&log, "| id %d writes %d flushes %d %q", w.LastID(), o.writes, o.flushes, o.body.String())
				logs[i] = log.String()
			})
		}
		if logs[0] != logs[1] {
			t.Fatalf("fast    %s\ngeneral %s", logs[0], logs[1])
		}
	})
}
