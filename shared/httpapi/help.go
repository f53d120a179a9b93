package httpapi

import "net/http"

// HelpEntry describes one route in GET /v1/help (the pull-results API's shape).
type HelpEntry struct {
	Method      string `json:"method"`
	Endpoint    string `json:"endpoint"`
	Description string `json:"description"`
}

// Help lists every route of Routes(), in its order.
func Help() []HelpEntry {
	routes := Routes()
	out := make([]HelpEntry, 0, len(routes))
	for _, rt := range routes {
		out = append(out, HelpEntry{Method: rt.Method, Endpoint: rt.Path, Description: rt.Summary})
	}
	return out
}

func (a *API) help(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, Help())
}
