package dialect

import "testing"

// Fields takes the objects encoding/json decodes field by field and no
// other: a key twice or folded is refused, unknown keys are skipped.
func TestFields(t *testing.T) {
	keys := []string{"a", "b"}
	for in, want := range map[string]string{
		`{"a":"x","z":[1,{"a":2}],"b":null}`: "x",
		`{}`:                                 "",
		`{"a":"x","a":"y"}`:                  "refused",
		`{"A":"x"}`:                          "refused",
		`{"b":"x","c":}`:                     "refused",
		`{"a":1}`:                            "refused",
	} {
		var a, b string
		p := EventScanner{S: in}
		ok := p.Fields(keys, nil, func(key string) bool {
			if key == "a" {
				return p.StrOrNull(&a)
			}
			return p.StrOrNull(&b)
		})
		if got := a; !ok || p.I != len(in) {
			got = "refused"
		} else if got != want {
			t.Errorf("%s: a %q, want %q", in, got, want)
		}
		if !ok && want != "refused" || ok && want == "refused" {
			t.Errorf("%s: taken %v", in, ok)
		}
	}
}

// Array calls elem for each element, and Bool takes true, false and null.
func TestArrayAndBool(t *testing.T) {
	for in, want := range map[string]int{`[]`: 0, `[ true , null,false ]`: 3, `[true,]`: -1, `[1]`: -1, `[true`: -1} {
		p, n := EventScanner{S: in}, 0
		ok := p.Array(func() bool {
			v := n == 1 // null leaves it
			n++
			return p.Bool(&v) && v == (n == 1 || n == 2)
		})
		if ok != (want >= 0) || ok && n != want {
			t.Errorf("%s: ok %v, %d elements", in, ok, n)
		}
	}
}
