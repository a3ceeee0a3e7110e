// Package web is Runnel's chat page, embedded in the binary: a model picker,
// streamed markdown replies (resumable, so a dropped connection loses
// nothing), a thinking block, a Stop button and live TTFT and tokens/s. It
// loads nothing from outside the server.
package web

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"time"

	sdk "github.com/runnel/runnel/sdk/js"
)

//go:embed static
var static embed.FS

var started = time.Now()

// ServeSDK serves the JavaScript SDK module.
func ServeSDK(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "runnel.js", started, bytes.NewReader(sdk.Module))
}

// Page is the chat page and the SDK module as a route set for the server.
type Page struct{}

// Register adds the page at / and the SDK at /sdk/runnel.js to mux.
func (Page) Register(mux *http.ServeMux) {
	sub, _ := fs.Sub(static, "static")
	mux.Handle("GET /{$}", http.FileServerFS(sub))
	for _, name := range []string{"app.js", "markdown.js", "style.css", "index.html"} {
		mux.Handle("GET /"+name, http.FileServerFS(sub))
	}
	mux.HandleFunc("GET /sdk/runnel.js", ServeSDK)
}
