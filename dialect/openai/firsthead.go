package openai

import "github.com/runnel/runnel/dialect"

// firstHead is the length of data's head (chunkShape.head: the chunk up to
// its choices' value) when its bytes show it at once, or 0. A stream's
// first chunk has no head recorded to compare with, and parsing its head
// key by key (id, object, created, model: each looked up, checked against
// the keys the parse reads, skipped) was most of that chunk's parse, a
// cost every call pays before its first token.
//
// Taken: `{`, then members with no whitespace whose keys are lower-case
// letters and '_' (not usage or error), each value a string of plain
// bytes (dialect.PlainEndBytes) or an integer without sign, fraction or
// leading zero, then `"choices":[`. Those are the keys parseLiteFrom skips
// and the values it skips the same way, so parsing on from the head is
// parsing the whole chunk (FuzzFirstHead). Anything else is 0: the full
// parse finds the head, if there is one.
func firstHead(data []byte) int {
	if len(data) == 0 || data[0] != '{' {
		return 0
	}
	for i := 1; ; {
		k := i + 1
		if i >= len(data) || data[i] != '"' {
			return 0
		}
		j := k
		for j < len(data) && (data[j] >= 'a' && data[j] <= 'z' || data[j] == '_') {
			j++
		}
		if j == k || j+2 >= len(data) || data[j] != '"' || data[j+1] != ':' {
			return 0
		}
		i = j + 2
		switch string(data[k:j]) {
		case "choices":
			if data[i] != '[' {
				return 0
			}
			return i
		case "usage", "error":
			return 0
		}
		if i = plainValueEnd(data, i); i == 0 || i >= len(data) || data[i] != ',' {
			return 0
		}
		i++
	}
}

// plainValueEnd is the end of the plain string or unsigned integer at
// data[i] (firstHead), or 0 when there is none.
func plainValueEnd(data []byte, i int) int {
	switch c := data[i]; {
	case c == '"':
		j := dialect.PlainEndBytes(data, i+1)
		if j >= len(data) || data[j] != '"' {
			return 0
		}
		return j + 1
	case c == '0':
		return i + 1
	case c >= '1' && c <= '9':
		i++
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		return i
	}
	return 0
}
