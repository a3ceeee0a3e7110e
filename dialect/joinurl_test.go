package dialect

import "testing"

func TestJoinURL(t *testing.T) {
	for _, tt := range []struct{ name, base, path, want string }{
		{"host", "http://127.0.0.1:11434", "/api/chat", "http://127.0.0.1:11434/api/chat"},
		{"trailing slash", "http://h:1/", "/api/chat", "http://h:1/api/chat"},
		{"trailing slashes", "http://h:1//", "/api/chat", "http://h:1/api/chat"},
		{"path", "https://h/ollama/v1", "/api/chat", "https://h/ollama/v1/api/chat"},
		{"path and slash", "https://h/ollama/", "/api/chat", "https://h/ollama/api/chat"},
		{"query", "https://h/v1beta?key=k", "/models?pageSize=1000", "https://h/v1beta/models?pageSize=1000&key=k"},
		{"query, path without", "https://h/p/?key=k&x=1", "/api/tags", "https://h/p/api/tags?key=k&x=1"},
		{"empty query", "https://h/p?", "/api/tags", "https://h/p/api/tags"},
		{"fragment", "https://h/p?key=k#frag", "/api/tags", "https://h/p/api/tags?key=k"},
		{"empty base", "", "/api/tags", "/api/tags"},
	} {
		if got := JoinURL(tt.base, tt.path); got != tt.want {
			t.Errorf("%s: JoinURL(%q, %q) = %q, want %q", tt.name, tt.base, tt.path, got, tt.want)
		}
	}
}

// A base URL's secrets (a password, a query's values) never reach a log.
func TestShownURL(t *testing.T) {
	for base, want := range map[string]string{
		"http://127.0.0.1:8000/v1":                        "http://127.0.0.1:8000/v1",
		"https://proxy.example/v1?key=sk-secret&team=a#x": "https://proxy.example/v1?key=xxxxx&team=xxxxx",
		"https://user:hunter2@proxy.example/v1/":          "https://user:xxxxx@proxy.example/v1/",
		"http://[::1]:port/v1":                            "(a base URL that does not parse)",
	} {
		if got := ShownURL(base); got != want {
			t.Errorf("ShownURL(%q) = %q, want %q", base, got, want)
		}
	}
}
