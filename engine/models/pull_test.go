package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// hub is a local stand-in for Hugging Face: /ORG/REPO/resolve/main/FILE
// redirects to /cdn/FILE with the digest in X-Linked-Etag, as the real one
// does for LFS files, and /cdn serves bytes with Range support.
type hub struct {
	files  map[string][]byte
	digest map[string]string // overrides the advertised digest
	cutAt  int               // if > 0, the next /cdn response stops after this many bytes
	mu     sync.Mutex
	ranges []string
}

func (h *hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutPrefix(r.URL.Path, "/cdn/"); ok {
		h.serveFile(w, r, rest)
		return
	}
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 5) // org, repo, resolve, main, file
	if len(parts) != 5 || parts[2] != "resolve" {
		http.NotFound(w, r)
		return
	}
	file := path.Base(parts[4])
	data, ok := h.files[file]
	if !ok {
		http.NotFound(w, r)
		return
	}
	sum := sha256.Sum256(data)
	d := hex.EncodeToString(sum[:])
	if o, ok := h.digest[file]; ok {
		d = o
	}
	w.Header().Set("X-Linked-Etag", `"`+d+`"`)
	w.Header().Set("ETag", `"0123456789abcdef0123456789abcdef01234567"`) // a git blob id, not a digest
	http.Redirect(w, r, "/cdn/"+file, http.StatusFound)
}

func (h *hub) serveFile(w http.ResponseWriter, r *http.Request, name string) {
	data, ok := h.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h.mu.Lock()
	h.ranges = append(h.ranges, r.Header.Get("Range"))
	cut := h.cutAt
	h.cutAt = 0
	h.mu.Unlock()
	start := 0
	if rg := r.Header.Get("Range"); rg != "" {
		fmt.Sscanf(rg, "bytes=%d-", &start)
		if start >= len(data) {
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(data)-1, len(data)))
		w.Header().Set("Content-Length", fmt.Sprint(len(data)-start))
		w.WriteHeader(http.StatusPartialContent)
	} else {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	}
	body := data[start:]
	if cut > 0 {
		w.Write(body[:cut])
		// Drop the connection mid-body, as a network failure would.
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
		return
	}
	w.Write(body)
}

func testHub(t *testing.T) (*hub, string) {
	model, tok := make([]byte, 300_000), []byte("tokenizer bytes")
	for i := range model {
		model[i] = byte(i * 7)
	}
	h := &hub{files: map[string][]byte{"stories260K.bin": model, "tok512.bin": tok, "x.gguf": []byte("gguf data")}, digest: map[string]string{}}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv.URL
}

func TestSources(t *testing.T) {
	for ref, want := range map[string]string{
		"stories260K":                               "E/karpathy/tinyllamas/resolve/main/stories260K/stories260K.bin E/karpathy/tinyllamas/resolve/main/stories260K/tok512.bin",
		"hf.co/org/repo/dir/m.gguf":                 "E/org/repo/resolve/main/dir/m.gguf",
		"huggingface.co/org/repo/resolve/v1/m.gguf": "E/org/repo/resolve/v1/m.gguf",
		"http://127.0.0.1:1/m.gguf":                 "http://127.0.0.1:1/m.gguf",
	} {
		got, err := Sources(ref, "E")
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("Sources(%q) = %v, %v; want %s", ref, got, err, want)
		}
	}
	for _, ref := range []string{"nope", "hf.co/org", "ftp://x/y"} {
		if _, err := Sources(ref, "E"); err == nil {
			t.Errorf("Sources(%q) accepted", ref)
		}
	}
	// A Hugging Face name without a file says what it wants.
	if _, err := Sources("hf.co/", "E"); err == nil || err.Error() != `cannot pull "hf.co/": want hf.co/ORG/REPO:QUANT or hf.co/ORG/REPO/FILE` {
		t.Errorf("Sources(hf.co/): %v", err)
	}
}

func TestPullKnown(t *testing.T) {
	h, url := testHub(t)
	dir := t.TempDir()
	var progress []int64
	res, err := Pull(context.Background(), "stories260K", PullOptions{Dir: dir, Endpoint: url,
		Progress: func(done, total int64) { progress = append(progress, done) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || !res[0].Verified || !res[1].Verified || res[0].Bytes != 300_000 {
		t.Fatalf("results %+v", res)
	}
	for name, want := range h.files {
		if name == "x.gguf" {
			continue
		}
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != string(want) {
			t.Fatalf("%s: %d bytes, %v", name, len(got), err)
		}
	}
	if len(progress) == 0 || progress[len(progress)-1] != int64(len(h.files["tok512.bin"])) {
		t.Fatalf("progress %v", progress)
	}
	// A second pull finds the files in place.
	res, err = Pull(context.Background(), "stories260K", PullOptions{Dir: dir, Endpoint: url})
	if err != nil || !res[0].Existed || !res[1].Existed {
		t.Fatalf("second pull: %+v, %v", res, err)
	}
}

func TestPullResume(t *testing.T) {
	h, url := testHub(t)
	dir := t.TempDir()
	h.cutAt = 100_000
	_, err := Pull(context.Background(), "hf.co/karpathy/tinyllamas/stories260K.bin", PullOptions{Dir: dir, Endpoint: url})
	if err == nil || !strings.Contains(err.Error(), "run the pull again to resume") {
		t.Fatalf("cut download: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "stories260K.bin")); !os.IsNotExist(err) {
		t.Fatal("a cut download left the final file")
	}
	st, err := os.Stat(filepath.Join(dir, "stories260K.bin.partial"))
	if err != nil || st.Size() != 100_000 {
		t.Fatalf("partial file: %v, %v", st, err)
	}
	res, err := Pull(context.Background(), "hf.co/karpathy/tinyllamas/stories260K.bin", PullOptions{Dir: dir, Endpoint: url})
	if err != nil || !res[0].Verified {
		t.Fatalf("resumed pull: %+v, %v", res, err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "stories260K.bin"))
	if string(got) != string(h.files["stories260K.bin"]) {
		t.Fatal("resumed file differs")
	}
	if want := []string{"", "bytes=100000-"}; fmt.Sprint(h.ranges) != fmt.Sprint(want) {
		t.Fatalf("requests' ranges %q, want %q", h.ranges, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "stories260K.bin.partial")); !os.IsNotExist(err) {
		t.Fatal("partial file left behind")
	}
}

func TestPullChecksum(t *testing.T) {
	h, url := testHub(t)
	dir := t.TempDir()
	h.digest["x.gguf"] = strings.Repeat("ab", 32)
	_, err := Pull(context.Background(), "hf.co/o/r/x.gguf", PullOptions{Dir: dir, Endpoint: url})
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("bad digest: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("mismatched download left %v", entries)
	}
	// --sha256 overrides the server's digest.
	sum := sha256.Sum256(h.files["x.gguf"])
	res, err := Pull(context.Background(), "hf.co/o/r/x.gguf", PullOptions{Dir: dir, Endpoint: url, SHA256: hex.EncodeToString(sum[:])})
	if err != nil || !res[0].Verified {
		t.Fatalf("with --sha256: %+v, %v", res, err)
	}
	os.Remove(res[0].Path)
	_, err = Pull(context.Background(), "hf.co/o/r/x.gguf", PullOptions{Dir: dir, Endpoint: url, SHA256: strings.Repeat("0", 64)})
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("wrong --sha256: %v", err)
	}
	if _, err := Pull(context.Background(), "hf.co/o/r/missing.bin", PullOptions{Dir: dir, Endpoint: url}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("missing file: %v", err)
	}
}
