package config_test

import (
	"io"
	"strings"
	"testing"

	"github.com/runnel/runnel/config"
)

// FuzzDecode: any file either loads or fails with an error; it never
// panics, and a file that loads validates or fails validation cleanly.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		"",
		"server: {addr: 127.0.0.1:1, body_limit: 10, keep_alive: 5s}\n",
		"providers:\n  v: {type: openai, base_url: 'http://h/v1', headers: {A: b}, models: [m]}\n",
		"aliases: {fast: [mock/a, v/b], one: mock/x}\nprices: {m: {input: 1, output: 2}}\n",
		"gateway: {timeouts: {first_token: 1s}, buffer_size: -1}\n",
		"providers: {m: {type: mock, mock: {tokens: '3', itl: 1ms}}}\n",
		"aliases: {a: {b: c}}\n",
		"- 1\n- 2\n",
		"server: &a {addr: x}\ngateway: *a\n",
		"{{{",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data string) {
		c := config.Default()
		if err := c.Decode(strings.NewReader(data)); err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if err := c.ApplyEnv(func(string) string { return "" }); err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			return
		}
		ps, err := c.BuildProviders(func(string) string { return "" }, nil)
		if err != nil {
			return
		}
		c.Router(ps)
		for _, p := range ps {
			if cl, ok := p.(io.Closer); ok {
				cl.Close()
			}
		}
	})
}
