package httpapi

import (
	"net/http"
	"strconv"
	"time"
)

// Admit bounds how many requests next works on at once. A request beyond limit waits
// up to wait for one in flight to end, and is then refused with 503 problem+json and
// Retry-After, before it has touched the store: a server that took every request
// would queue them all in front of the same database, where each one, the delivery
// worker's calls among them, waits behind all the others, and what it delivers
// collapses instead of levelling off. Health checks are always answered.
//
// On AWS each Lambda instance serves one request at a time and Lambda's concurrency
// (reserved concurrency per function, the account's limit) bounds the rest; the
// local server, which runs every route in one process, needs this.
func Admit(next http.Handler, limit int, wait time.Duration) http.Handler {
	slots := make(chan struct{}, limit)
	retryAfter := strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/health" {
			next.ServeHTTP(w, r)
			return
		}
		select {
		case slots <- struct{}{}:
		default:
			t := time.NewTimer(wait)
			select {
			case slots <- struct{}{}:
				t.Stop()
			case <-t.C:
				w.Header().Set("Retry-After", retryAfter)
				writeProblem(w, http.StatusServiceUnavailable,
					"the server is working on as many requests as it takes at once; retry after "+retryAfter+" s", nil)
				return
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		defer func() { <-slots }()
		next.ServeHTTP(w, r)
	})
}
