package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// DefaultEndpoint is Hugging Face, where `runnel pull` downloads from.
const DefaultEndpoint = "https://huggingface.co"

// DefaultRegistry is Ollama's registry, where Ollama names pull from.
const DefaultRegistry = "https://registry.ollama.ai"

// Known maps short model names to their files on Hugging Face
// (ORG/REPO/PATH). The first file is the model.
var Known = map[string][]string{
	"stories260K": {"karpathy/tinyllamas/stories260K/stories260K.bin", "karpathy/tinyllamas/stories260K/tok512.bin"},
	"stories15M":  {"karpathy/tinyllamas/stories15M.bin"},
	"stories42M":  {"karpathy/tinyllamas/stories42M.bin"},
	"stories110M": {"karpathy/tinyllamas/stories110M.bin"},
}

// PullOptions configure Pull.
type PullOptions struct {
	Dir string // destination, created if needed
	// Endpoint replaces DefaultEndpoint (RUNNEL_HF_ENDPOINT / HF_ENDPOINT).
	Endpoint string
	// Registry replaces DefaultRegistry, Ollama's registry.
	Registry string
	// SHA256 is the expected hex digest of a single-file pull; without it
	// the digest comes from the server's X-Linked-Etag or ETag when that
	// is a SHA-256 (as Hugging Face gives for LFS files).
	SHA256 string
	Client *http.Client
	// Progress, if set, is called as a file downloads: done and total
	// bytes (total is -1 when unknown). Start is called once per file.
	Start    func(name string, total int64, resumed int64)
	Progress func(done, total int64)
}

// PullResult describes one downloaded file.
type PullResult struct {
	Path     string
	Bytes    int64
	SHA256   string
	Verified bool // the digest was checked against an expected one
	Existed  bool // the file was already there; nothing was downloaded
}

// Sources resolves what Pull would download for ref: a short name from
// Known, "hf.co/ORG/REPO/PATH" (or huggingface.co/...), or an http(s) URL.
func Sources(ref, endpoint string) ([]string, error) {
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	endpoint = strings.TrimSuffix(endpoint, "/")
	hf := func(p string) (string, error) {
		parts := strings.SplitN(p, "/", 3)
		if len(parts) < 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			return "", fmt.Errorf("%q: want ORG/REPO/FILE", p)
		}
		file := parts[2]
		if !strings.HasPrefix(file, "resolve/") {
			file = "resolve/main/" + file
		}
		return endpoint + "/" + parts[0] + "/" + parts[1] + "/" + file, nil
	}
	if files, ok := Known[ref]; ok {
		var out []string
		for _, f := range files {
			u, err := hf(f)
			if err != nil {
				return nil, err
			}
			out = append(out, u)
		}
		return out, nil
	}
	for _, prefix := range []string{"hf.co/", "huggingface.co/", "https://hf.co/", "https://huggingface.co/"} {
		if strings.HasPrefix(ref, prefix) {
			u, err := hf(strings.TrimPrefix(ref, prefix))
			if err != nil {
				return nil, fmt.Errorf("cannot pull %q: want %sORG/REPO:QUANT or %sORG/REPO/FILE", ref, prefix, prefix)
			}
			return []string{u}, nil
		}
	}
	if u, err := url.Parse(ref); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return []string{ref}, nil
	}
	return nil, fmt.Errorf("cannot pull %q: give a known model (%s), an Ollama name (MODEL:TAG), hf.co/ORG/REPO:QUANT, hf.co/ORG/REPO/FILE, or a URL", ref, strings.Join(slices.Sorted(maps.Keys(Known)), ", "))
}

// registryRef reports whether Pull fetches ref through a registry: an
// Ollama name ("llama3.2:1b", "user/model:tag") or a Hugging Face GGUF
// repository with a quantization tag ("hf.co/ORG/REPO:Q4_K_M"), which
// Hugging Face serves through the same registry protocol.
func registryRef(ref string) (Ref, bool) {
	if _, ok := Known[ref]; ok || strings.Contains(ref, "://") {
		return Ref{}, false
	}
	for _, prefix := range []string{"hf.co/", "huggingface.co/"} {
		if rest, ok := strings.CutPrefix(ref, prefix); ok {
			if strings.Count(rest, "/") != 1 {
				return Ref{}, false // hf.co/ORG/REPO/FILE
			}
			r, err := ParseRef("hf.co/" + rest)
			return r, err == nil
		}
	}
	r, err := ParseRef(ref)
	return r, err == nil
}

// registryBase is the URL of the registry serving r.
func registryBase(r Ref, o PullOptions) string {
	switch r.Host {
	case OllamaHost:
		if o.Registry != "" {
			return strings.TrimSuffix(o.Registry, "/")
		}
		return DefaultRegistry
	case "hf.co", "huggingface.co":
		if o.Endpoint != "" {
			return strings.TrimSuffix(o.Endpoint, "/")
		}
		return DefaultEndpoint
	}
	return "https://" + r.Host
}

// maxManifest bounds a manifest's size; real ones are a few KiB.
const maxManifest = 1 << 20

// pullRegistry fetches r's manifest, then its model layer into
// o.Dir/r.FileName(), checked against the layer's digest.
func pullRegistry(ctx context.Context, r Ref, o PullOptions) ([]PullResult, error) {
	base := registryBase(r, o) + "/v2/" + r.Namespace + "/" + r.Model
	dest := filepath.Join(o.Dir, r.FileName())
	if st, err := os.Stat(dest); err == nil && st.Mode().IsRegular() {
		return []PullResult{{Path: dest, Bytes: st.Size(), Existed: true}}, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/manifests/"+r.Tag, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json")
	client := http.DefaultClient
	if o.Client != nil {
		client = o.Client
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("pull %s: manifest: %w", r, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("pull %s: the registry has no such model (%s)", r, resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("pull %s: manifest: %s", r, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxManifest+1))
	if err != nil {
		return nil, fmt.Errorf("pull %s: manifest: %w", r, err)
	}
	if len(b) > maxManifest {
		return nil, fmt.Errorf("pull %s: manifest larger than %d bytes", r, maxManifest)
	}
	man, err := ParseManifest(b)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", r, err)
	}
	layer, _ := man.Model()
	sum, _ := layer.SHA256()
	o.SHA256 = sum
	res, err := downloadTo(ctx, base+"/blobs/"+layer.Digest, dest, o)
	if err != nil {
		return nil, err
	}
	if res.Bytes != layer.Size {
		return nil, fmt.Errorf("pull %s: the model layer is %d bytes, the manifest says %d", r, res.Bytes, layer.Size)
	}
	return []PullResult{res}, nil
}

// Pull downloads ref's files into o.Dir. Each file arrives in
// FILE.partial, resumes from there with a Range request if a previous pull
// was cut, is checked against its SHA-256, and only then is renamed into
// place: a failed or mismatched download never leaves a final file.
func Pull(ctx context.Context, ref string, o PullOptions) ([]PullResult, error) {
	if r, ok := registryRef(ref); ok {
		if o.SHA256 != "" {
			return nil, fmt.Errorf("--sha256 does not apply to %s: the registry's manifest gives the digest", ref)
		}
		if err := os.MkdirAll(o.Dir, 0o755); err != nil {
			return nil, err
		}
		return pullRegistry(ctx, r, o)
	}
	srcs, err := Sources(ref, o.Endpoint)
	if err != nil {
		return nil, err
	}
	if o.SHA256 != "" && len(srcs) != 1 {
		return nil, fmt.Errorf("--sha256 applies to a single file; %s has %d", ref, len(srcs))
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	var out []PullResult
	for _, src := range srcs {
		r, err := download(ctx, src, o)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

func download(ctx context.Context, src string, o PullOptions) (PullResult, error) {
	u, err := url.Parse(src)
	if err != nil {
		return PullResult{}, err
	}
	name := path.Base(u.Path)
	if name == "" || name == "/" || name == "." || strings.HasPrefix(name, ".") {
		return PullResult{}, fmt.Errorf("%s: no file name in the URL", src)
	}
	dest := filepath.Join(o.Dir, name)
	if st, err := os.Stat(dest); err == nil && st.Mode().IsRegular() {
		return PullResult{Path: dest, Bytes: st.Size(), Existed: true}, nil
	}
	return downloadTo(ctx, src, dest, o)
}

// downloadTo downloads src into dest through dest.partial.
func downloadTo(ctx context.Context, src, dest string, o PullOptions) (PullResult, error) {
	partial := dest + ".partial"
	for attempt := 0; ; attempt++ {
		r, restart, err := fetch(ctx, src, dest, partial, o)
		if restart && attempt == 0 {
			os.Remove(partial)
			continue
		}
		return r, err
	}
}

// fetch downloads src into partial (resuming it) and renames it to dest.
// restart reports that the partial file was unusable and should be
// dropped.
func fetch(ctx context.Context, src, dest, partial string, o PullOptions) (r PullResult, restart bool, err error) {
	f, err := os.OpenFile(partial, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return r, false, err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	h := sha256.New()
	have, err := io.Copy(h, f) // hash what an earlier pull left
	if err != nil {
		return r, false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return r, false, err
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	// Hugging Face answers LFS files with a redirect to a CDN; the digest
	// is on the redirect (X-Linked-Etag), so remember every hop's headers.
	var hops []http.Header
	client := http.Client{Transport: http.DefaultTransport}
	if o.Client != nil {
		client = *o.Client
	}
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.Response != nil {
			hops = append(hops, req.Response.Header)
		}
		if len(via) >= 10 {
			return errors.New("too many redirects")
		}
		return nil
	}
	resp, err := client.Do(req)
	if err != nil {
		return r, false, fmt.Errorf("download %s: %w", src, err)
	}
	defer resp.Body.Close()
	hops = append(hops, resp.Header)
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		if start := rangeStart(resp.Header.Get("Content-Range")); start != have {
			return r, true, fmt.Errorf("download %s: server resumed at byte %d, not %d", src, start, have)
		}
	case resp.StatusCode == http.StatusOK:
		if have > 0 { // the server ignored Range: start over
			if err := f.Truncate(0); err != nil {
				return r, false, err
			}
			h.Reset()
			have = 0
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
		return r, true, fmt.Errorf("download %s: the partial file does not fit the server's", src)
	default:
		return r, false, fmt.Errorf("download %s: %s", src, resp.Status)
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return r, false, err
	}
	total := int64(-1)
	if resp.ContentLength >= 0 {
		total = have + resp.ContentLength
	}
	if o.Start != nil {
		o.Start(filepath.Base(dest), total, have)
	}
	w := &progressWriter{w: io.MultiWriter(f, h), done: have, total: total, fn: o.Progress}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return r, false, fmt.Errorf("download %s: cut after %d bytes (run the pull again to resume): %w", src, w.done, err)
	}
	if total >= 0 && w.done != total {
		return r, false, fmt.Errorf("download %s: got %d of %d bytes (run the pull again to resume)", src, w.done, total)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	want := strings.ToLower(o.SHA256)
	if want == "" {
		want = digestFrom(hops)
	}
	if err := f.Close(); err != nil {
		return r, false, err
	}
	f = nil
	if want != "" && want != sum {
		os.Remove(partial)
		return r, false, fmt.Errorf("download %s: checksum mismatch: SHA-256 %s, expected %s; the download was discarded", src, sum, want)
	}
	if err := os.Rename(partial, dest); err != nil {
		return r, false, err
	}
	return PullResult{Path: dest, Bytes: w.done, SHA256: sum, Verified: want != ""}, false, nil
}

// digestFrom finds a SHA-256 in X-Linked-Etag or ETag headers (a git blob
// ETag of 40 hex digits is not one).
func digestFrom(hops []http.Header) string {
	for _, key := range []string{"X-Linked-Etag", "Etag"} {
		for _, hdr := range hops {
			v := strings.TrimPrefix(strings.TrimSpace(hdr.Get(key)), "W/")
			v = strings.ToLower(strings.Trim(v, `"`))
			if len(v) == 64 {
				if _, err := hex.DecodeString(v); err == nil {
					return v
				}
			}
		}
	}
	return ""
}

// rangeStart parses the first byte of "bytes START-END/TOTAL".
func rangeStart(cr string) int64 {
	s, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return -1
	}
	s, _, _ = strings.Cut(s, "-")
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

type progressWriter struct {
	w           io.Writer
	done, total int64
	fn          func(done, total int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	if p.fn != nil {
		p.fn(p.done, p.total)
	}
	return n, err
}
