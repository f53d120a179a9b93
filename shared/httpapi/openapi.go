package httpapi

import (
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/openapi"
)

// The OpenAPI 3.1 document of the API is built once, at run time, by package openapi
// from Routes(), routeDocs and the Go types the handlers decode and encode.

// OpenAPIVersion is the OpenAPI version of the document at /v1/openapi.json.
const OpenAPIVersion = openapi.Version

const mediaJSON = "application/json"

// OpenAPIJSON returns the OpenAPI 3.1 document of the API as served from baseURL
// (its one server; "/" when unknown: relative to the document's own address).
func OpenAPIJSON(baseURL string) ([]byte, error) {
	d := buildOpenAPI()
	if d.err != nil {
		return nil, d.err
	}
	return openapi.WithServer(d.json, baseURL)
}

// hostPattern is a host[:port] as a client may address a deployment: a DNS name or
// IPv4 address, or an IPv6 address in brackets.
var hostPattern = regexp.MustCompile(`^([A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(:[0-9]{1,5})?$`)

// baseURL is the address r reached this deployment at. On Lambda, httpadapter builds
// the request URL from API Gateway's domain name (the default endpoint or a custom
// domain) over https; on the local server it is the Host header, over http unless the
// connection is TLS. Neither a tenant's publicBaseUrl (this route has no tenant) nor a
// configured address (API Gateway assigns the endpoint at deploy time) would know it
// better. A Host that is not a plain host[:port] gives "/", relative to the document.
func baseURL(r *http.Request) string {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if r.URL.IsAbs() {
		scheme, host = r.URL.Scheme, r.URL.Host
	}
	if (scheme != "http" && scheme != "https") || !hostPattern.MatchString(host) {
		return "/"
	}
	return scheme + "://" + strings.ToLower(host)
}

// OpenAPIProblems lists what the document cannot say from the code: routes of
// Routes() without an entry in routeDocs, entries that name no route, and tags or
// required fields that name no field of their type. The document is still served; tests require this to be empty.
func OpenAPIProblems() []string { return slices.Clone(buildOpenAPI().problems) }

type openAPIResult struct {
	json     []byte
	err      error
	problems []string
}

var openAPIOnce struct {
	sync.Once
	result openAPIResult
}

// buildOpenAPI builds the document once (a function, not a sync.OnceValue variable:
// the document reads Routes(), which refers to the handler serving it).
func buildOpenAPI() openAPIResult {
	openAPIOnce.Do(func() {
		b, problems, err := openapi.Build(openAPISpec())
		openAPIOnce.result = openAPIResult{json: b, err: err, problems: problems}
	})
	return openAPIOnce.result
}

func (a *API) openAPI(w http.ResponseWriter, r *http.Request) {
	b, err := OpenAPIJSON(baseURL(r))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	w.Header().Set("Content-Type", mediaJSON)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// openAPISpec is what the document is built from.
func openAPISpec() openapi.Spec {
	routes := Routes()
	s := openapi.Spec{
		Docs: routeDocs, Names: componentNames,
		Problem: reflect.TypeFor[problem](), Event: reflect.TypeFor[gancho.Envelope](), Notice: reflect.TypeFor[notice](),
		IdempotencyKeyHeader: HeaderIdempotencyKey, ReplayedHeader: HeaderIdempotentReplayed,
		MaxIdempotencyKeyLength: MaxIdempotencyKeyLength, MaxPathIDLength: MaxPathIDLength,
	}
	for _, rt := range routes {
		s.Routes = append(s.Routes, openapi.Route{Name: rt.Name, Method: rt.Method, Path: rt.Path, Scope: rt.Scope, Summary: rt.Summary})
	}
	return s
}
