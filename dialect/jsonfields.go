package dialect

import "slices"

// Fields parses an object of a type whose json names are keys (at most
// 32), as encoding/json would decode it into that type, calling field for
// each of keys found; it skips other keys. An object with one of keys
// twice (encoding/json merges the values) or with a key encoding/json
// would fold to one of them is not taken. index is slices.Index on keys
// (nil) or a switch doing the same in fewer comparisons.
func (p *EventScanner) Fields(keys []string, index func(string) int, field func(key string) bool) bool {
	var seen uint32
	return p.Object(func(key string) bool {
		k := -1
		if index != nil {
			k = index(key)
		} else {
			k = slices.Index(keys, key)
		}
		if k < 0 {
			return !MatchesAny(key, keys...) && p.Skip()
		}
		if seen&(1<<k) != 0 {
			return false
		}
		seen |= 1 << k
		return field(key)
	})
}

// Array parses an array, calling elem with the scanner at each element.
func (p *EventScanner) Array(elem func() bool) bool {
	if !p.Eat('[') {
		return false
	}
	if p.Eat(']') {
		return true
	}
	for {
		p.WS()
		if !elem() {
			return false
		}
		if !p.Eat(',') {
			return p.Eat(']')
		}
	}
}

// StrOrNull parses a string into *dst, or null, which leaves *dst as
// encoding/json does.
func (p *EventScanner) StrOrNull(dst *string) bool {
	if p.Null() {
		return true
	}
	s, ok := p.Str()
	if ok {
		*dst = s
	}
	return ok
}

// Bool parses true or false into *dst, or null, which leaves it.
func (p *EventScanner) Bool(dst *bool) bool {
	switch {
	case p.Lit("true"):
		*dst = true
	case p.Lit("false"):
		*dst = false
	default:
		return p.Null()
	}
	return true
}
