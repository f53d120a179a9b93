// Package portal holds the customer portal: a static page and its scripts and styles,
// embedded in every binary that serves them (no build step, nothing fetched from
// another host at run time). The page reads its token from the URL fragment and
// makes ordinary API calls with it; the server only ever sends these files.
package portal

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed web
var web embed.FS

// ContentSecurityPolicy is sent with the page and every asset: scripts, styles and
// connections from this origin only, no inline script or style, no framing, no
// forms posting elsewhere.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Page is the file served at /portal.
const Page = "index.html"

type asset struct {
	body        []byte
	contentType string
	etag        string
}

var assets = load()

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

func load() map[string]asset {
	out := map[string]asset{}
	entries, err := fs.ReadDir(web, "web")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		ct, ok := contentTypes[path.Ext(e.Name())]
		if e.IsDir() || !ok {
			continue
		}
		b, err := web.ReadFile("web/" + e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		out[e.Name()] = asset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return out
}

// Names lists the files served under /portal/ (and the page).
func Names() []string {
	out := make([]string, 0, len(assets))
	for n := range assets {
		out = append(out, n)
	}
	return out
}

// SetSecurityHeaders sets the headers every portal response carries.
func SetSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// Serve writes the named file, reporting false when there is no such file. Clients
// revalidate every time (no-cache, with an ETag), so a deploy shows at once.
func Serve(w http.ResponseWriter, r *http.Request, name string) bool {
	a, ok := assets[name]
	if !ok || strings.Contains(name, "/") {
		return false
	}
	h := w.Header()
	SetSecurityHeaders(h)
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(a.body)
	}
	return true
}
