package dialect

import "strings"

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
