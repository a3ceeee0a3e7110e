package models

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Ollama names models [HOST/][NAMESPACE/]MODEL[:TAG] and keeps them in a
// store of manifests and blobs: MODELS/manifests/HOST/NAMESPACE/MODEL/TAG
// is a registry manifest whose layers are files MODELS/blobs/sha256-HEX,
// the model's weights being the GGUF layer.
const (
	OllamaHost      = "registry.ollama.ai"
	ollamaNamespace = "library"
	ollamaTag       = "latest"
	// MediaModel is the media type of a manifest's GGUF layer.
	MediaModel = "application/vnd.ollama.image.model"
)

// Ref is a parsed Ollama model name.
type Ref struct {
	Host, Namespace, Model, Tag string
}

var (
	refPart = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	refHost = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]+)?$`)
)

// ParseRef parses an Ollama model name: "llama3.2:1b" is
// registry.ollama.ai/library/llama3.2:1b; "hf.co/ORG/REPO:Q4_K_M" names a
// Hugging Face GGUF repository and quantization. Every part is checked, so
// a name cannot reach outside the store.
func ParseRef(name string) (Ref, error) {
	r := Ref{Host: OllamaHost, Namespace: ollamaNamespace, Tag: ollamaTag}
	rest := name
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		rest, r.Tag = rest[:i], rest[i+1:]
	}
	parts := strings.Split(rest, "/")
	switch len(parts) {
	case 1:
		r.Model = parts[0]
	case 2:
		r.Namespace, r.Model = parts[0], parts[1]
	case 3:
		r.Host, r.Namespace, r.Model = parts[0], parts[1], parts[2]
	default:
		return Ref{}, fmt.Errorf("model name %q: want [HOST/][NAMESPACE/]MODEL[:TAG]", name)
	}
	if !refHost.MatchString(r.Host) || strings.Contains(r.Host, "..") {
		return Ref{}, fmt.Errorf("model name %q: bad host %q", name, r.Host)
	}
	for _, p := range []struct{ what, s string }{{"namespace", r.Namespace}, {"model", r.Model}, {"tag", r.Tag}} {
		if !refPart.MatchString(p.s) || strings.Contains(p.s, "..") || len(p.s) > 128 {
			return Ref{}, fmt.Errorf("model name %q: bad %s %q", name, p.what, p.s)
		}
	}
	return r, nil
}

// String is the name in Ollama's short form.
func (r Ref) String() string {
	s := r.Model + ":" + r.Tag
	if r.Namespace != ollamaNamespace || r.Host != OllamaHost {
		s = r.Namespace + "/" + s
	}
	if r.Host != OllamaHost {
		s = r.Host + "/" + s
	}
	return s
}

// FileName is the name `runnel pull` gives the model in the models
// directory: the short form, with "_" for "/" (files cannot hold one).
func (r Ref) FileName() string { return strings.ReplaceAll(r.String(), "/", "_") + ".gguf" }

// Manifest is a registry manifest (Docker's v2 schema, as Ollama and
// Hugging Face serve it).
type Manifest struct {
	SchemaVersion int     `json:"schemaVersion"`
	MediaType     string  `json:"mediaType"`
	Config        Layer   `json:"config"`
	Layers        []Layer `json:"layers"`
}

// Layer is one blob of a manifest.
type Layer struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// ParseManifest decodes a manifest and checks what Runnel relies on: one
// model layer, and well-formed SHA-256 digests.
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("manifest: %w", err)
	}
	if m.SchemaVersion != 2 {
		return m, fmt.Errorf("manifest: schema version %d, want 2", m.SchemaVersion)
	}
	for _, l := range m.Layers {
		if _, err := l.SHA256(); err != nil {
			return m, err
		}
		if l.Size < 0 {
			return m, fmt.Errorf("manifest: layer %s has size %d", l.Digest, l.Size)
		}
	}
	if _, err := m.Model(); err != nil {
		return m, err
	}
	return m, nil
}

// Model returns the GGUF layer.
func (m Manifest) Model() (Layer, error) {
	var found []Layer
	for _, l := range m.Layers {
		if l.MediaType == MediaModel {
			found = append(found, l)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return Layer{}, errors.New("manifest: no model layer (" + MediaModel + ")")
	}
	return Layer{}, fmt.Errorf("manifest: %d model layers (split models are not supported)", len(found))
}

// SHA256 returns the hex digest of "sha256:HEX".
func (l Layer) SHA256() (string, error) {
	h, ok := strings.CutPrefix(l.Digest, "sha256:")
	if !ok || len(h) != 64 {
		return "", fmt.Errorf("manifest: digest %q is not sha256:<64 hex digits>", l.Digest)
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", fmt.Errorf("manifest: digest %q is not sha256:<64 hex digits>", l.Digest)
	}
	return strings.ToLower(h), nil
}

// OllamaDir is Ollama's model store: $OLLAMA_MODELS, else ~/.ollama/models.
func OllamaDir() string {
	if d := os.Getenv("OLLAMA_MODELS"); d != "" {
		return d
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".ollama", "models")
	}
	return ""
}

// FindOllama resolves an Ollama model name to its GGUF blob in the store
// at root.
func FindOllama(root, name string) (Model, error) {
	r, err := ParseRef(name)
	if err != nil {
		return Model{}, fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	if root == "" {
		return Model{}, fmt.Errorf("%w: no Ollama store", ErrNotFound)
	}
	mpath := filepath.Join(root, "manifests", r.Host, r.Namespace, r.Model, r.Tag)
	b, err := os.ReadFile(mpath)
	if errors.Is(err, os.ErrNotExist) {
		return Model{}, fmt.Errorf("%w: %s is not in the Ollama store %s", ErrNotFound, r, root)
	}
	if err != nil {
		return Model{}, err
	}
	man, err := ParseManifest(b)
	if err != nil {
		return Model{}, fmt.Errorf("%s: %w", mpath, err)
	}
	layer, _ := man.Model()
	sum, _ := layer.SHA256()
	path := filepath.Join(root, "blobs", "sha256-"+sum)
	st, err := os.Stat(path)
	if err != nil {
		return Model{}, fmt.Errorf("%s: model blob: %w", r, err)
	}
	m := Model{Name: r.String(), Path: path, Format: FormatGGUF, Size: st.Size(), Modified: st.ModTime()}
	describeGGUF(&m)
	return m, nil
}

// Resolve finds the model a name means: a file of the models directory
// (see Find), a model `runnel pull` fetched from a registry under that
// name, or else a model of the Ollama store ($OLLAMA_MODELS or
// ~/.ollama/models), so that "llama3.2:1b" serves what Ollama downloaded.
func Resolve(dir, name string) (Model, error) {
	m, err := Find(dir, name)
	if !errors.Is(err, ErrNotFound) {
		return m, err
	}
	n := strings.TrimPrefix(name, "engine/")
	r, perr := ParseRef(n)
	if perr != nil {
		return m, err
	}
	if pulled, ok := inspect(dir, r.FileName()); ok {
		pulled.Name = r.String()
		return pulled, nil
	}
	if om, oerr := FindOllama(OllamaDir(), n); oerr == nil || !errors.Is(oerr, ErrNotFound) {
		return om, oerr
	}
	return m, fmt.Errorf("%w; nor is %s a pulled model or in the Ollama store %s", err, r, OllamaDir())
}

// ListOllama returns the GGUF models of the Ollama store at root, by name,
// skipping manifests without a readable model layer. A missing store holds
// no models.
func ListOllama(root string) ([]Model, error) {
	if root == "" {
		return nil, nil
	}
	base := filepath.Join(root, "manifests")
	var out []Model
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && p == base {
				return fs.SkipAll
			}
			return err
		}
		rel, _ := filepath.Rel(base, p)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if d.IsDir() {
			if len(parts) > 3 {
				return fs.SkipDir
			}
			return nil
		}
		if len(parts) != 4 {
			return nil
		}
		r := Ref{Host: parts[0], Namespace: parts[1], Model: parts[2], Tag: parts[3]}
		if _, err := ParseRef(r.Host + "/" + r.Namespace + "/" + r.Model + ":" + r.Tag); err != nil {
			return nil
		}
		if m, err := FindOllama(root, r.String()); err == nil {
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Model) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
