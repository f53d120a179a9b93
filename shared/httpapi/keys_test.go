package httpapi_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

type keyList struct {
	Data       []gancho.APIKey `json:"data"`
	NextCursor *string         `json:"nextCursor"`
}

func (e *tenv) keyIDs(cred string) []string {
	e.t.Helper()
	r := e.do("GET", "/v1/api-keys?limit=100", cred, "")
	if r.status != 200 {
		e.t.Fatalf("list keys: %d %s", r.status, r.body)
	}
	var l keyList
	r.json(e.t, &l)
	var ids []string
	for _, k := range l.Data {
		ids = append(ids, k.ID)
	}
	return ids
}

func TestAPIKeyLifecycle(t *testing.T) {
	e := newTenv(t, gancho.TargetPolicy{})
	ten, root := e.newTenant("Keys")
	// Ids start with their millisecond: the new key is newer than the first one.
	e.clock.Advance(time.Millisecond)
	r := e.do("POST", "/v1/api-keys", root, `{"name":"CRM reader","scopes":["subscriptions:read","subscriptions:read"]}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var created struct {
		gancho.APIKey
		Key string `json:"key"`
	}
	r.json(t, &created)
	if loc := r.header.Get("Location"); loc != "/v1/api-keys/"+created.ID {
		t.Errorf("Location = %q", loc)
	}
	if !strings.HasPrefix(created.Key, "gk_") || !strings.HasPrefix(created.ID, "key_") || created.TenantID != ten.ID ||
		created.Name != "CRM reader" || !slices.Equal(created.Scopes, []string{"subscriptions:read"}) ||
		created.MaskedKey != "****"+created.Key[len(created.Key)-4:] || !strings.HasPrefix(created.CreatedBy, "key_") || created.CreatedAt.IsZero() {
		t.Fatalf("created = %+v", created)
	}
	// It works, within its scopes only.
	if r := e.do("GET", "/v1/subscriptions", created.Key, ""); r.status != 200 {
		t.Fatalf("the new key: %d %s", r.status, r.body)
	}
	wantProblem(t, e.do("POST", "/v1/subscriptions", created.Key, `{"url":"https://example.com/h"}`), 403, "")
	wantProblem(t, e.do("GET", "/v1/api-keys", created.Key, ""), 403, "")

	// Reads never show key values.
	for _, path := range []string{"/v1/api-keys", "/v1/api-keys/" + created.ID} {
		r := e.do("GET", path, root, "")
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		if strings.Contains(string(r.body), created.Key) || strings.Contains(string(r.body), root) || strings.Contains(string(r.body), `"key"`) {
			t.Fatalf("GET %s shows a key value: %s", path, r.body)
		}
	}
	var got gancho.APIKey
	e.do("GET", "/v1/api-keys/"+created.ID, root, "").json(t, &got)
	if got.ID != created.ID || got.Name != created.Name || !slices.Equal(got.Scopes, created.Scopes) || got.MaskedKey != created.MaskedKey {
		t.Fatalf("get = %+v", got)
	}
	if ids := e.keyIDs(root); len(ids) != 2 || ids[0] != created.ID {
		t.Fatalf("list = %v, want the new key first, then the first key", ids)
	}

	// Revoked: refused at once, gone from reads; a second revoke is 404.
	if r := e.do("DELETE", "/v1/api-keys/"+created.ID, root, ""); r.status != 204 || len(r.body) != 0 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	wantProblem(t, e.do("GET", "/v1/subscriptions", created.Key, ""), 401, "")
	wantProblem(t, e.do("GET", "/v1/api-keys/"+created.ID, root, ""), 404, "")
	wantProblem(t, e.do("DELETE", "/v1/api-keys/"+created.ID, root, ""), 404, "")
	wantProblem(t, e.do("GET", "/v1/api-keys/key_unknown", root, ""), 404, "")
	if ids := e.keyIDs(root); slices.Contains(ids, created.ID) {
		t.Fatalf("a revoked key is listed: %v", ids)
	}

	// A key may revoke itself.
	self, selfKey := e.mintKey(root, `{"name":"self","scopes":["keys:write"]}`)
	if r := e.do("DELETE", "/v1/api-keys/"+selfKey.ID, self, ""); r.status != 204 {
		t.Fatalf("self revoke: %d %s", r.status, r.body)
	}
	wantProblem(t, e.do("DELETE", "/v1/api-keys/"+selfKey.ID, self, ""), 401, "")

	// Paging.
	for i := 0; i < 3; i++ {
		e.mintKey(root, `{"name":"page","scopes":["events:read"]}`)
	}
	all := e.keyIDs(root)
	var paged []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		var l keyList
		e.do("GET", "/v1/api-keys?limit=2&cursor="+cursor, root, "").json(t, &l)
		for _, k := range l.Data {
			paged = append(paged, k.ID)
		}
		if l.NextCursor == nil {
			break
		}
		cursor = *l.NextCursor
	}
	if !slices.Equal(paged, all) || len(all) != 4 {
		t.Fatalf("paged %v, listed %v", paged, all)
	}
	wantProblem(t, e.do("GET", "/v1/api-keys?limit=0", root, ""), 400, "limit")
	wantProblem(t, e.do("GET", "/v1/api-keys?cursor=garbage", root, ""), 400, "cursor")
}

// No key can mint a key with more scopes or another owner than its own.
func TestAPIKeyEscalation(t *testing.T) {
	e := newTenv(t, gancho.TargetPolicy{})
	_, root := e.newTenant("Escalation")
	limited, _ := e.mintKey(root, `{"name":"limited","scopes":["subscriptions:read","keys:write"]}`)
	alice, _ := e.mintKey(root, `{"name":"alice","scopes":["subscriptions:read","subscriptions:write","keys:read","keys:write"],"ownerId":"alice"}`)
	tests := []struct {
		name   string
		caller string
		body   string
		status int
		field  string
		owner  string // the minted key's owner, on success
	}{
		{"within own scopes", limited, `{"name":"k","scopes":["subscriptions:read"]}`, 201, "", ""},
		{"own keys:write", limited, `{"name":"k","scopes":["keys:write"]}`, 201, "", ""},
		{"scope escalation", limited, `{"name":"k","scopes":["subscriptions:write"]}`, 403, "scopes", ""},
		{"escalation mixed in", limited, `{"name":"k","scopes":["subscriptions:read","events:write"]}`, 403, "scopes", ""},
		{"tenant:write escalation", limited, `{"name":"k","scopes":["tenant:write"]}`, 403, "scopes", ""},
		{"admin scope", root, `{"name":"k","scopes":["admin"]}`, 422, "scopes[0]", ""},
		{"unknown scope", root, `{"name":"k","scopes":["subscriptions:read","everything"]}`, 422, "scopes[1]", ""},
		{"no scopes", root, `{"name":"k","scopes":[]}`, 422, "scopes", ""},
		{"missing scopes", root, `{"name":"k"}`, 422, "scopes", ""},
		{"scopes not a list", root, `{"name":"k","scopes":"keys:read"}`, 422, "scopes", ""},
		{"missing name", root, `{"scopes":["keys:read"]}`, 422, "name", ""},
		{"unknown field", root, `{"name":"k","scopes":["keys:read"],"key":"gk_mine"}`, 422, "key", ""},
		{"bad owner id", root, `{"name":"k","scopes":["keys:read"],"ownerId":"a#b"}`, 422, "ownerId", ""},
		{"tenant-wide key binds an owner", root, `{"name":"k","scopes":["keys:read"],"ownerId":"carol"}`, 201, "", "carol"},
		{"owner-bound, same owner", alice, `{"name":"k","scopes":["subscriptions:read"],"ownerId":"alice"}`, 201, "", "alice"},
		{"owner-bound, owner omitted", alice, `{"name":"k","scopes":["subscriptions:read"]}`, 201, "", "alice"},
		{"owner-bound, owner null", alice, `{"name":"k","scopes":["subscriptions:read"],"ownerId":null}`, 201, "", "alice"},
		{"owner change", alice, `{"name":"k","scopes":["subscriptions:read"],"ownerId":"bob"}`, 403, "ownerId", ""},
		{"owner-bound scope escalation", alice, `{"name":"k","scopes":["events:write"]}`, 403, "scopes", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/v1/api-keys", tc.caller, tc.body)
			if tc.status != 201 {
				wantProblem(t, r, tc.status, tc.field)
				return
			}
			if r.status != 201 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var k struct {
				gancho.APIKey
				Key string `json:"key"`
			}
			r.json(t, &k)
			if k.OwnerID != tc.owner {
				t.Fatalf("minted key's owner = %q, want %q", k.OwnerID, tc.owner)
			}
			// What it minted is what it authenticates as.
			var read gancho.APIKey
			e.do("GET", "/v1/api-keys/"+k.ID, root, "").json(t, &read)
			if read.OwnerID != tc.owner || !slices.Equal(read.Scopes, k.Scopes) {
				t.Fatalf("stored key = %+v", read)
			}
		})
	}
	// Escalation does not chain: a key minted by the limited key cannot mint beyond it either.
	child, _ := e.mintKey(limited, `{"name":"child","scopes":["subscriptions:read","keys:write"]}`)
	wantProblem(t, e.do("POST", "/v1/api-keys", child, `{"name":"k","scopes":["events:read"]}`), 403, "scopes")
}

func TestAPIKeyIsolation(t *testing.T) {
	e := newTenv(t, gancho.TargetPolicy{})
	_, rootA := e.newTenant("A")
	_, rootB := e.newTenant("B")
	bKey, bMeta := e.mintKey(rootB, `{"name":"b","scopes":["subscriptions:read"]}`)
	wantProblem(t, e.do("GET", "/v1/api-keys/"+bMeta.ID, rootA, ""), 404, "")
	wantProblem(t, e.do("DELETE", "/v1/api-keys/"+bMeta.ID, rootA, ""), 404, "")
	if ids := e.keyIDs(rootA); slices.Contains(ids, bMeta.ID) || len(ids) != 1 {
		t.Fatalf("A lists %v", ids)
	}
	if r := e.do("GET", "/v1/subscriptions", bKey, ""); r.status != 200 {
		t.Fatalf("B's key after A's revoke attempt: %d", r.status)
	}

	// Owner-bound keys see and revoke only their owner's keys.
	alice, _ := e.mintKey(rootA, `{"name":"alice","scopes":["keys:read","keys:write"],"ownerId":"alice"}`)
	_, aliceChild := e.mintKey(alice, `{"name":"alice child","scopes":["keys:read"]}`)
	_, bob := e.mintKey(rootA, `{"name":"bob","scopes":["keys:read"],"ownerId":"bob"}`)
	_, wide := e.mintKey(rootA, `{"name":"wide","scopes":["keys:read"]}`)
	ids := e.keyIDs(alice)
	if len(ids) != 2 || !slices.Contains(ids, aliceChild.ID) {
		t.Fatalf("alice lists %v, want her two keys", ids)
	}
	for _, id := range []string{bob.ID, wide.ID} {
		wantProblem(t, e.do("GET", "/v1/api-keys/"+id, alice, ""), 404, "")
		wantProblem(t, e.do("DELETE", "/v1/api-keys/"+id, alice, ""), 404, "")
	}
	if r := e.do("GET", "/v1/api-keys/"+aliceChild.ID, alice, ""); r.status != 200 {
		t.Fatalf("alice reading her key: %d", r.status)
	}
	if all := e.keyIDs(rootA); len(all) != 5 {
		t.Fatalf("the tenant-wide key lists %v", all)
	}
	var l keyList
	e.do("GET", "/v1/api-keys?ownerId=bob", rootA, "").json(t, &l)
	if len(l.Data) != 1 || l.Data[0].ID != bob.ID {
		t.Fatalf("?ownerId=bob lists %+v", l.Data)
	}
}
