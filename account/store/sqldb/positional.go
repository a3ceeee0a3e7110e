package sqldb

import (
	"database/sql"
	"strings"
)

// The store's SQL numbers its parameters ($1, $2, …), which PostgreSQL
// needs. SQLite takes them too, but as names: for each parameter of each
// execution the driver asks its name and SQLite finds it by a scan of the
// statement's parameter list, which for a bulk insert of 26 parameters a
// row costs in proportion to the parameters squared, and an allocation a
// parameter. Anonymous ? parameters are bound by position with neither.
// So where Options.Positional says so, the statements the store prepares
// are rewritten once, at prepare time, with ? for each $N, and each
// execution passes its arguments in the order the ?s take them.

// stmt is a prepared statement and, when it was rewritten with ?s, which
// argument each ? takes.
type stmt struct {
	*sql.Stmt
	order []int // ? number i takes args[order[i]]; nil: args as given
}

// args are the arguments to execute st with, given those of the $N text.
func (st *stmt) args(args []any) []any {
	if st.order == nil {
		return args
	}
	out := make([]any, len(st.order))
	for i, k := range st.order {
		out[i] = args[k]
	}
	return out
}

// positional rewrites q's $N parameters as ?, in order of appearance,
// and returns which argument (N-1) each takes: nil when that is the
// arguments as given (each $N once, in order). Text inside string
// literals, quoted identifiers and comments is left alone. ok is false
// when q cannot be rewritten: it already has a ? or other parameters
// (:name, @name, $name), or a parameter no argument stands for ($0, $01).
func positional(q string) (out string, order []int, ok bool) {
	var b strings.Builder
	b.Grow(len(q))
	inOrder := true
	for i := 0; i < len(q); {
		switch c := q[i]; {
		case c == '\'' || c == '"' || c == '`':
			j := quoted(q, i)
			b.WriteString(q[i:j])
			i = j
		case c == '-' && strings.HasPrefix(q[i:], "--"):
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				j = len(q) - i
			}
			b.WriteString(q[i : i+j])
			i += j
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			j := strings.Index(q[i+2:], "*/")
			if j < 0 {
				j = len(q) - i
			} else {
				j += 4
			}
			b.WriteString(q[i : i+j])
			i += j
		case c == '$':
			j := i + 1
			n := 0
			for j < len(q) && q[j] >= '0' && q[j] <= '9' && n <= 1<<16 {
				n = n*10 + int(q[j]-'0')
				j++
			}
			if j == i+1 || q[i+1] == '0' || n > 1<<16 || j < len(q) && isIdent(q[j]) {
				return "", nil, false // $name, $0, $01, $1x or an absurd number
			}
			inOrder = inOrder && n == len(order)+1
			order = append(order, n-1)
			b.WriteByte('?')
			i = j
		case c == '?' || c == ':' || c == '@':
			if c != ':' || i+1 < len(q) && isIdent(q[i+1]) {
				return "", nil, false // a parameter of another kind
			}
			b.WriteByte(c)
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	if inOrder {
		order = nil
	}
	return b.String(), order, true
}

// quoted returns the index just past the quoted text starting at q[i]
// (a doubled quote inside stands for itself), or len(q) if unclosed.
func quoted(q string, i int) int {
	c := q[i]
	for j := i + 1; j < len(q); j++ {
		if q[j] == c {
			if j+1 < len(q) && q[j+1] == c {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(q)
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}
