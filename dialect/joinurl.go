package dialect

import (
	"net/url"
	"strings"
)

// JoinURL is the URL of an API path under base, a provider's configured
// base URL, made once when the provider is built. path starts with "/"
// and may carry a query of its own ("?alt=sse"). base may end in slashes,
// which are dropped, and may carry a query (a proxy's "?key=…"), which
// every request keeps, after path's; a fragment is dropped, as a client
// never sends one.
func JoinURL(base, path string) string {
	base, _, _ = strings.Cut(base, "#")
	base, query, _ := strings.Cut(base, "?")
	u := strings.TrimRight(base, "/") + path
	switch {
	case query == "":
		return u
	case strings.Contains(path, "?"):
		return u + "&" + query
	}
	return u + "?" + query
}

// ShownURL is an upstream's base URL as logs and names may show it: a
// password in it and its query's values (a proxy's "?key=…") are
// secrets, so they are masked.
func ShownURL(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return "(a base URL that does not parse)"
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{"xxxxx"}
		}
		u.RawQuery = q.Encode()
	}
	u.Fragment, u.RawFragment = "", ""
	return u.Redacted()
}
