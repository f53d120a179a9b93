package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"strconv"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/results"
)

// The pull-results routes; the use case is package results'.

// resultsBody is the optional body of POST results, as the route decodes it.
type resultsBody results.Body

// resultsResponse is the route's answer.
type resultsResponse results.Page

func (a *API) subscriptionCallback(w http.ResponseWriter, r *http.Request) {
	sub, err := a.loadSubscription(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	unseen, err := a.results.NeedView(r.Context(), sub)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, callbackResponse{NeedView: unseen})
}

func (a *API) subscriptionResults(w http.ResponseWriter, r *http.Request) {
	sub, err := a.loadSubscription(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	q, err := readResultsQuery(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	out, err := a.results.Read(r.Context(), sub, q)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, resultsResponse(out))
}

// readResultsQuery reads ?all and the optional body.
func readResultsQuery(r *http.Request) (results.Query, error) {
	all := false
	if v, ok := r.URL.Query()["all"]; ok {
		all = true
		if v[0] != "" {
			var err error
			if all, err = strconv.ParseBool(v[0]); err != nil {
				return results.Query{}, badParam("all", "must be true or false")
			}
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return results.Query{}, gancho.Errorf(gancho.KindBadRequest, "could not read the request body")
	}
	var in resultsBody
	if len(bytes.TrimSpace(body)) > 0 {
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := decode(r, &in); err != nil {
			return results.Query{}, err
		}
	}
	return results.Body(in).Query(all)
}
