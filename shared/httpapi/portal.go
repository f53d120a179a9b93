package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/portal"
)

// newPortalKey checks a portal-link request against the caller and returns the
// link's key (without id or value) and how long it lives. A portal link's own
// credential cannot make links; an owner-bound caller only makes links for its
// owner; a tenant-wide caller must name one. The key holds the portal scopes the
// caller holds, never more.
func newPortalKey(in gancho.PortalLinkInput, caller gancho.Principal) (gancho.APIKey, time.Duration, error) {
	if caller.Portal {
		return gancho.APIKey{}, 0, gancho.Errorf(gancho.KindForbidden, "a portal link's credential cannot make portal links")
	}
	var errs []gancho.FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, gancho.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	var k gancho.APIKey
	switch {
	case in.OwnerID != nil:
		if msg := checkOwnerID(*in.OwnerID); msg != "" {
			bad("ownerId", "%s", msg)
		}
		k.OwnerID = *in.OwnerID
	case caller.OwnerID == "":
		bad("ownerId", "is required: a portal link shows one owner's subscriptions")
	}
	ttl := gancho.PortalLinkDefaultTTL
	if in.ExpiresIn != nil {
		ttl = time.Duration(*in.ExpiresIn) * time.Second
		if ttl < gancho.PortalLinkMinTTL || ttl > gancho.PortalLinkMaxTTL {
			bad("expiresIn", "must be %d-%d seconds", int(gancho.PortalLinkMinTTL.Seconds()), int(gancho.PortalLinkMaxTTL.Seconds()))
		}
	}
	if len(errs) > 0 {
		return gancho.APIKey{}, 0, gancho.Invalid(errs...)
	}
	if caller.OwnerID != "" {
		if in.OwnerID != nil && *in.OwnerID != caller.OwnerID {
			return gancho.APIKey{}, 0, &gancho.Error{Kind: gancho.KindForbidden,
				Detail: "an owner-bound credential can only make portal links for its own owner",
				Fields: []gancho.FieldError{{Field: "ownerId", Message: "must be the caller's own owner"}}}
		}
		k.OwnerID = caller.OwnerID
	}
	for _, s := range gancho.PortalScopes {
		if caller.Has(s) {
			k.Scopes = append(k.Scopes, s)
		}
	}
	k.Portal = true
	k.Name = "portal link"
	if n := k.Name + " for " + k.OwnerID; len([]rune(n)) <= gancho.MaxNameLength {
		k.Name = n
	}
	return k, ttl, nil
}

func (a *API) createPortalLink(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	var in gancho.PortalLinkInput
	if err := decodeOptional(r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	k, ttl, err := newPortalKey(in, p)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	ten, err := a.store.GetTenant(r.Context(), p.TenantID)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	now := a.now().UTC()
	expires := now.Add(ttl).Truncate(time.Second)
	k.ExpiresAt = &expires
	k, raw, err := a.storeNewKey(r.Context(), p, k, now)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, gancho.PortalLink{URL: portalURL(r, ten.PublicBaseURL, raw, ten.Name), ExpiresAt: expires, KeyID: k.ID})
}

// portalURL is the page's address under the tenant's publicBaseUrl when it has one,
// else on the host this request came to, with the token (and the provider's name, for
// the page's wording) in the fragment: browsers never send a fragment to a server, so
// it reaches no access log, proxy or Referer.
func portalURL(r *http.Request, publicBase, token, provider string) string {
	frag := "token=" + url.QueryEscape(token)
	if provider != "" {
		frag += "&provider=" + url.QueryEscape(provider)
	}
	if publicBase != "" {
		return strings.TrimRight(publicBase, "/") + "/portal#" + frag
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if fp, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ","); slices.Contains([]string{"http", "https"}, strings.TrimSpace(fp)) {
		scheme = strings.TrimSpace(fp)
	}
	return scheme + "://" + r.Host + "/portal#" + frag
}

// portalPage serves the customer portal page: static, the same for everyone.
func (a *API) portalPage(w http.ResponseWriter, r *http.Request) {
	portal.Serve(w, r, portal.Page)
}

// portalAsset serves the portal's scripts and styles.
func (a *API) portalAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("asset")
	if !portal.Serve(w, r, name) {
		portal.SetSecurityHeaders(w.Header())
		writeProblem(w, http.StatusNotFound, "no portal file "+name, nil)
	}
}
