package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// registry is a local stand-in for Ollama's registry (and Hugging Face's
// registry API): /v2/NS/MODEL/manifests/TAG serves a manifest, and
// /v2/NS/MODEL/blobs/DIGEST redirects to the hub's /cdn, which supports
// Range and can cut a response short.
type registry struct {
	hub       *hub
	manifests map[string][]byte // "NS/MODEL/TAG" → manifest
	accepts   []string
}

func (g *registry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/cdn/") {
		g.hub.ServeHTTP(w, r)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v2/")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 4 {
		http.NotFound(w, r)
		return
	}
	switch parts[2] {
	case "manifests":
		g.accepts = append(g.accepts, r.Header.Get("Accept"))
		m, ok := g.manifests[parts[0]+"/"+parts[1]+"/"+parts[3]]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(m)
	case "blobs":
		http.Redirect(w, r, "/cdn/"+strings.TrimPrefix(parts[3], "sha256:"), http.StatusTemporaryRedirect)
	default:
		http.NotFound(w, r)
	}
}

func manifestFor(t *testing.T, model []byte, digest string) []byte {
	t.Helper()
	if digest == "" {
		sum := sha256.Sum256(model)
		digest = "sha256:" + hex.EncodeToString(sum[:])
	}
	b, err := json.Marshal(Manifest{
		SchemaVersion: 2, MediaType: "application/vnd.docker.distribution.manifest.v2+json",
		Config: Layer{MediaType: "application/vnd.docker.container.image.v1+json", Digest: "sha256:" + strings.Repeat("0", 64), Size: 2},
		Layers: []Layer{
			{MediaType: MediaModel, Digest: digest, Size: int64(len(model))},
			{MediaType: "application/vnd.ollama.image.template", Digest: "sha256:" + strings.Repeat("1", 64), Size: 10},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testRegistry(t *testing.T) (*registry, []byte, string) {
	model := make([]byte, 200_000)
	for i := range model {
		model[i] = byte(i * 13)
	}
	sum := sha256.Sum256(model)
	// "bad" names a digest the bytes served under it do not have.
	h := &hub{files: map[string][]byte{hex.EncodeToString(sum[:]): model, strings.Repeat("ab", 32): model}, digest: map[string]string{}}
	g := &registry{hub: h, manifests: map[string][]byte{
		"library/llama3.2/1b": manifestFor(t, model, ""),
		"org/repo/Q4_K_M":     manifestFor(t, model, ""),
		"library/bad/latest":  manifestFor(t, model, "sha256:"+strings.Repeat("ab", 32)),
	}}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return g, model, srv.URL
}

// An Ollama name pulls the manifest, then the model layer, which resumes
// after a cut and is checked against the layer's digest.
func TestPullOllamaRegistry(t *testing.T) {
	g, model, url := testRegistry(t)
	dir := t.TempDir()
	var started []string
	o := PullOptions{Dir: dir, Registry: url, Start: func(name string, total, resumed int64) { started = append(started, name) }}
	g.hub.cutAt = 50_000
	if _, err := Pull(context.Background(), "llama3.2:1b", o); err == nil || !strings.Contains(err.Error(), "run the pull again to resume") {
		t.Fatalf("cut pull: err = %v", err)
	}
	res, err := Pull(context.Background(), "llama3.2:1b", o)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(model)
	want := filepath.Join(dir, "llama3.2:1b.gguf")
	if len(res) != 1 || res[0].Path != want || !res[0].Verified || res[0].SHA256 != hex.EncodeToString(sum[:]) || res[0].Bytes != int64(len(model)) {
		t.Fatalf("result %+v", res)
	}
	if got, _ := os.ReadFile(want); string(got) != string(model) {
		t.Fatal("the pulled file differs from the blob")
	}
	if r := g.hub.ranges; len(r) != 2 || r[0] != "" || r[1] != "bytes=50000-" {
		t.Fatalf("ranges %q", r)
	}
	if g.accepts[0] != "application/vnd.docker.distribution.manifest.v2+json" {
		t.Fatalf("Accept %q", g.accepts[0])
	}
	if len(started) != 2 || started[1] != "llama3.2:1b.gguf" {
		t.Fatalf("progress started %q", started)
	}
	m, err := Resolve(dir, "llama3.2:1b")
	if err != nil || m.Path != want || m.Name != "llama3.2:1b" {
		t.Fatalf("Resolve = %+v, %v", m, err)
	}
	if res, err := Pull(context.Background(), "llama3.2:1b", o); err != nil || !res[0].Existed {
		t.Fatalf("second pull: %+v %v", res, err)
	}
}

// hf.co/ORG/REPO:QUANT pulls through Hugging Face's registry API.
func TestPullHuggingFaceQuant(t *testing.T) {
	_, model, url := testRegistry(t)
	dir := t.TempDir()
	res, err := Pull(context.Background(), "hf.co/org/repo:Q4_K_M", PullOptions{Dir: dir, Endpoint: url})
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "hf.co_org_repo:Q4_K_M.gguf")
	if res[0].Path != want || !res[0].Verified || res[0].Bytes != int64(len(model)) {
		t.Fatalf("result %+v", res)
	}
	if m, err := Resolve(dir, "hf.co/org/repo:Q4_K_M"); err != nil || m.Path != want {
		t.Fatalf("Resolve = %+v, %v", m, err)
	}
}

func TestPullRegistryErrors(t *testing.T) {
	_, _, url := testRegistry(t)
	dir := t.TempDir()
	o := PullOptions{Dir: dir, Registry: url}
	for ref, want := range map[string]string{
		"bad":            "checksum mismatch",
		"nosuch:1b":      "no such model",
		"user/../x:1":    "cannot pull",
		"a/b/c/d:1":      "cannot pull",
		"llama3.2:1b/..": "cannot pull",
	} {
		_, err := Pull(context.Background(), ref, o)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Pull(%q): err = %v, want %q", ref, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bad:latest.gguf")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a mismatched download was kept: %v", err)
	}
	if _, err := Pull(context.Background(), "llama3.2:1b", PullOptions{Dir: dir, Registry: url, SHA256: "00"}); err == nil {
		t.Fatal("--sha256 accepted for a registry pull")
	}
}

// Names resolve through Ollama's own store, as Ollama laid it out.
func TestFindOllamaStore(t *testing.T) {
	store := t.TempDir()
	blob := []byte("GGUF model bytes")
	sum := sha256.Sum256(blob)
	hexSum := hex.EncodeToString(sum[:])
	for p, b := range map[string][]byte{
		"manifests/registry.ollama.ai/library/llama3.2/1b":        manifestFor(t, blob, ""),
		"manifests/registry.ollama.ai/library/llama3.2/latest":    manifestFor(t, blob, ""),
		"manifests/hf.co/bartowski/Some-GGUF/Q4_K_M":              manifestFor(t, blob, ""),
		"manifests/registry.ollama.ai/library/nomodel/latest":     []byte(`{"schemaVersion":2,"layers":[]}`),
		"manifests/registry.ollama.ai/library/missingblob/latest": manifestFor(t, []byte("other"), ""),
		"blobs/sha256-" + hexSum:                                  blob,
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(store, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(store, p), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("OLLAMA_MODELS", store)
	dir := t.TempDir()
	for name, want := range map[string]string{
		"llama3.2:1b":                      "llama3.2:1b",
		"engine/llama3.2:1b":               "llama3.2:1b",
		"llama3.2":                         "llama3.2:latest",
		"library/llama3.2:1b":              "llama3.2:1b",
		"hf.co/bartowski/Some-GGUF:Q4_K_M": "hf.co/bartowski/Some-GGUF:Q4_K_M",
	} {
		m, err := Resolve(dir, name)
		if err != nil || m.Path != filepath.Join(store, "blobs", "sha256-"+hexSum) || m.Name != want || m.Format != FormatGGUF {
			t.Errorf("Resolve(%q) = %+v, %v", name, m, err)
		}
	}
	list, err := ListOllama(store)
	var names []string
	for _, m := range list {
		names = append(names, m.Name)
	}
	if err != nil || strings.Join(names, " ") != "hf.co/bartowski/Some-GGUF:Q4_K_M llama3.2:1b llama3.2:latest" {
		t.Errorf("ListOllama = %q, %v", names, err)
	}
	if list, err := ListOllama(filepath.Join(store, "nope")); err != nil || len(list) != 0 {
		t.Errorf("ListOllama of a missing store = %v, %v", list, err)
	}
	for name, want := range map[string]string{
		"nosuch:1b":          "in the Ollama store",
		"nomodel":            "no model layer",
		"missingblob":        "model blob",
		"../../etc/passwd:x": "not a model file name",
	} {
		if _, err := Resolve(dir, name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Resolve(%q): err = %v, want %q", name, err, want)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:` + strings.Repeat("a", 64) + `","size":1}]}`))
	f.Add([]byte(`{"schemaVersion":2,"layers":[{"digest":"sha256:../../x"}]}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		l, err := m.Model()
		if err != nil {
			t.Fatalf("parsed manifest without a model layer: %v", err)
		}
		h, err := l.SHA256()
		if err != nil || len(h) != 64 || strings.ContainsAny(h, `/\.`) {
			t.Fatalf("digest %q of a parsed manifest: %v", l.Digest, err)
		}
	})
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"llama3.2:1b", "hf.co/org/repo:Q4_K_M", "../x", "a/b/c/d", "x:", ":y", "a/..:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			return
		}
		for _, p := range []string{r.Host, r.Namespace, r.Model, r.Tag} {
			if p == "" || p == "." || strings.Contains(p, "..") || strings.ContainsAny(p, `/\`) {
				t.Fatalf("ParseRef(%q) = %+v", s, r)
			}
		}
		if r2, err := ParseRef(r.String()); err != nil || r2 != r {
			t.Fatalf("ParseRef(%q) = %+v, round trip %+v %v", s, r, r2, err)
		}
	})
}
