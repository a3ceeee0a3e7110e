package dialecttest

import (
	"strconv"
	"strings"
)

// Reframe is an SSE body (events ending with a blank line, lines with LF)
// with its events framed in other ways the standard allows, the k-th as
// frame[k % len(frame)] picks (none for an empty frame): CRLF or CR line
// ends, an id line first (short, long, or with a NUL, which is ignored),
// a comment line first, an event line naming it first, or its data line
// split in two (joined with LF).
// A token path that matches events' bytes is held to Recv over these.
func Reframe(body string, frame []byte) string {
	if len(frame) == 0 {
		return body
	}
	events := strings.SplitAfter(body, "\n\n")
	var sb strings.Builder
	for k, ev := range events {
		if ev == "" {
			continue
		}
		sb.WriteString(reframe(ev, k, frame[k%len(frame)]))
	}
	return sb.String()
}

func reframe(ev string, k int, how byte) string {
	switch how % 9 {
	case 1:
		return strings.ReplaceAll(ev, "\n", "\r\n")
	case 2:
		return strings.ReplaceAll(ev, "\n", "\r")
	case 3:
		return "id: " + strconv.Itoa(k) + "\n" + ev
	case 4:
		return "id: " + strings.Repeat("i", 30+k) + "\n" + ev
	case 5:
		return "id: a\x00b\n" + ev
	case 6:
		return ": comment\n" + ev
	case 8:
		return "event: chunk\n" + ev
	case 7:
		if i := strings.Index(ev, "data: "); i >= 0 && len(ev)-i > 10 {
			h := i + 6 + (len(ev)-i-8)/2
			return ev[:h] + "\ndata: " + ev[h:]
		}
	}
	return ev
}
