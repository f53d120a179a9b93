package gancho_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// ref returns a pointer to v, for the optional fields of the input types.
func ref[T any](v T) *T { return &v }

// validInput is the smallest accepted subscription; cases change one field of it.
func validInput() gancho.SubscriptionInput {
	return gancho.SubscriptionInput{URL: ref("https://client.example/hooks")}
}

// fieldsOf asserts err is a *gancho.Error of KindInvalid and returns its field names.
func fieldsOf(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		t.Fatal("accepted, want a validation error")
	}
	var ge *gancho.Error
	if !errors.As(err, &ge) {
		t.Fatalf("error %T %v, want *gancho.Error", err, err)
	}
	if ge.Kind != gancho.KindInvalid {
		t.Fatalf("kind %d, want KindInvalid (%d): %v", ge.Kind, gancho.KindInvalid, err)
	}
	names := make([]string, 0, len(ge.Fields))
	for _, f := range ge.Fields {
		if f.Message == "" {
			t.Errorf("field %s has no message", f.Field)
		}
		names = append(names, f.Field)
	}
	return names
}

func headersN(n int) map[string]string {
	h := make(map[string]string, n)
	for i := range n {
		h[fmt.Sprintf("X-Custom-%02d", i)] = "v"
	}
	return h
}

func patternsN(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("type.n%03d", i)
	}
	return out
}

func stepsN(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = 60
	}
	return out
}

// metadataOfSize returns a JSON object of exactly n bytes.
func metadataOfSize(n int) json.RawMessage {
	const frame = `{"k":""}`
	return json.RawMessage(`{"k":"` + strings.Repeat("x", n-len(frame)) + `"}`)
}

func TestNewSubscriptionRejects(t *testing.T) {
	t.Parallel()
	insecure := gancho.TargetPolicy{AllowInsecure: true}
	cases := []struct {
		name   string
		edit   func(*gancho.SubscriptionInput)
		policy gancho.TargetPolicy
		field  string
	}{
		// url
		{name: "missing url", edit: func(in *gancho.SubscriptionInput) { in.URL = nil }, field: "url"},
		{name: "empty url", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("") }, field: "url"},
		{name: "blank url", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("   ") }, field: "url"},
		{name: "relative url", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("/hooks") }, field: "url"},
		{name: "host-less url", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https:///hooks") }, field: "url"},
		{name: "unparsable url", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://client.example/%zz") }, field: "url"},
		{name: "ftp url", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("ftp://client.example/hooks") }, field: "url"},
		{name: "ftp url even when insecure is allowed", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("ftp://client.example/hooks") }, policy: insecure, field: "url"},
		{name: "url with userinfo", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://user:pass@client.example/hooks") }, field: "url"},
		{name: "url with user only", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://user@client.example/hooks") }, field: "url"},
		{name: "url with fragment", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://client.example/hooks#x") }, field: "url"},
		{name: "url over 2048 chars", edit: func(in *gancho.SubscriptionInput) {
			in.URL = ref("https://client.example/" + strings.Repeat("a", gancho.MaxURLLength-len("https://client.example/")+1))
		}, field: "url"},
		{name: "http url", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("http://client.example/hooks") }, field: "url"},
		{name: "loopback v4", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://127.0.0.1/hooks") }, field: "url"},
		{name: "loopback v4 with port", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://127.0.0.1:8443/hooks") }, field: "url"},
		{name: "localhost", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://localhost/hooks") }, field: "url"},
		{name: "localhost upper case", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://LOCALHOST:8443/hooks") }, field: "url"},
		{name: "subdomain of localhost", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://api.localhost/hooks") }, field: "url"},
		{name: "localhost as a fully qualified name", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://localhost./hooks") }, field: "url"},
		{name: "loopback v6", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://[::1]/hooks") }, field: "url"},
		{name: "rfc1918", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://10.0.0.1/hooks") }, field: "url"},
		{name: "rfc1918 192.168", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://192.168.1.10/hooks") }, field: "url"},
		{name: "cloud metadata", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://169.254.169.254/latest/meta-data") }, field: "url"},
		{name: "ipv4-mapped loopback", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://[::ffff:127.0.0.1]/hooks") }, field: "url"},
		{name: "cgnat", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://100.64.0.1/hooks") }, field: "url"},
		{name: "unspecified", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://0.0.0.0/hooks") }, field: "url"},
		{name: "link-local v6 with zone", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://[fe80::1%25eth0]/hooks") }, field: "url"},
		{name: "unique local v6", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://[fd00::1]/hooks") }, field: "url"},
		{name: "nat64 of loopback", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://[64:ff9b::7f00:1]/hooks") }, field: "url"},
		{name: "ipv4-compatible loopback", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://[::127.0.0.1]/hooks") }, field: "url"},
		{name: "ipv4-translated loopback", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://[::ffff:0:7f00:1]/hooks") }, field: "url"},
		{name: "port 0", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://client.example:0/hooks") }, field: "url"},
		{name: "port 65536", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://client.example:65536/hooks") }, field: "url"},
		{name: "port 99999999999", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://client.example:99999999999/hooks") }, field: "url"},
		{name: "port 0 even when insecure is allowed", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("http://127.0.0.1:0/hooks") }, policy: insecure, field: "url"},
		{name: "port 65536 even when insecure is allowed", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("http://127.0.0.1:65536/hooks") }, policy: insecure, field: "url"},
		// name and description
		{name: "empty name", edit: func(in *gancho.SubscriptionInput) { in.Name = ref("") }, field: "name"},
		{name: "blank name", edit: func(in *gancho.SubscriptionInput) { in.Name = ref("   ") }, field: "name"},
		{name: "name of 101 multi-byte runes", edit: func(in *gancho.SubscriptionInput) { in.Name = ref(strings.Repeat("é", 101)) }, field: "name"},
		{name: "description of 501 runes", edit: func(in *gancho.SubscriptionInput) { in.Description = ref(strings.Repeat("ç", 501)) }, field: "description"},
		// method
		{name: "unknown method", edit: func(in *gancho.SubscriptionInput) { in.Method = ref("TRACE") }, field: "method"},
		{name: "empty method", edit: func(in *gancho.SubscriptionInput) { in.Method = ref("") }, field: "method"},
		// events
		{name: "empty events list", edit: func(in *gancho.SubscriptionInput) { in.Events = ref([]string{}) }, field: "events"},
		{name: "101 events", edit: func(in *gancho.SubscriptionInput) { in.Events = ref(patternsN(gancho.MaxEventPatterns + 1)) }, field: "events"},
		{name: "empty segment", edit: func(in *gancho.SubscriptionInput) { in.Events = ref([]string{"a..b"}) }, field: "events[0]"},
		{name: "wildcard in the middle", edit: func(in *gancho.SubscriptionInput) { in.Events = ref([]string{"a.*.b"}) }, field: "events[0]"},
		{name: "empty pattern", edit: func(in *gancho.SubscriptionInput) { in.Events = ref([]string{""}) }, field: "events[0]"},
		{name: "bare suffix wildcard", edit: func(in *gancho.SubscriptionInput) { in.Events = ref([]string{".*"}) }, field: "events[0]"},
		{name: "partial segment wildcard", edit: func(in *gancho.SubscriptionInput) { in.Events = ref([]string{"crm.lead*"}) }, field: "events[0]"},
		{name: "space in pattern", edit: func(in *gancho.SubscriptionInput) { in.Events = ref([]string{"crm.lead created"}) }, field: "events[0]"},
		{name: "second pattern bad", edit: func(in *gancho.SubscriptionInput) { in.Events = ref([]string{"crm.lead.created", "crm/lead"}) }, field: "events[1]"},
		{name: "pattern over 200 chars", edit: func(in *gancho.SubscriptionInput) { in.Events = ref([]string{strings.Repeat("a", 201)}) }, field: "events[0]"},
		// ownerId and context
		{name: "empty ownerId", edit: func(in *gancho.SubscriptionInput) { in.OwnerID = ref("") }, field: "ownerId"},
		{name: "ownerId with hash", edit: func(in *gancho.SubscriptionInput) { in.OwnerID = ref("office#42") }, field: "ownerId"},
		{name: "ownerId with control char", edit: func(in *gancho.SubscriptionInput) { in.OwnerID = ref("office\n42") }, field: "ownerId"},
		{name: "ownerId over 200 chars", edit: func(in *gancho.SubscriptionInput) { in.OwnerID = ref(strings.Repeat("o", 201)) }, field: "ownerId"},
		{name: "empty context", edit: func(in *gancho.SubscriptionInput) { in.Context = ref("") }, field: "context"},
		{name: "context with hash", edit: func(in *gancho.SubscriptionInput) { in.Context = ref("doc#sig") }, field: "context"},
		// headers
		{name: "21 headers", edit: func(in *gancho.SubscriptionInput) { in.Headers = headersN(gancho.MaxHeaders + 1) }, field: "headers"},
		{name: "Host header", edit: func(in *gancho.SubscriptionInput) { in.Headers = map[string]string{"Host": "evil.example"} }, field: "headers.Host"},
		{name: "Content-Length header", edit: func(in *gancho.SubscriptionInput) { in.Headers = map[string]string{"Content-Length": "1"} }, field: "headers.Content-Length"},
		{name: "Transfer-Encoding header", edit: func(in *gancho.SubscriptionInput) { in.Headers = map[string]string{"Transfer-Encoding": "chunked"} }, field: "headers.Transfer-Encoding"},
		{name: "Connection header", edit: func(in *gancho.SubscriptionInput) { in.Headers = map[string]string{"connection": "close"} }, field: "headers.connection"},
		{name: "User-Agent header", edit: func(in *gancho.SubscriptionInput) { in.Headers = map[string]string{"User-Agent": "x"} }, field: "headers.User-Agent"},
		{name: "webhook- header", edit: func(in *gancho.SubscriptionInput) { in.Headers = map[string]string{"webhook-foo": "x"} }, field: "headers.webhook-foo"},
		{name: "Webhook-Signature header", edit: func(in *gancho.SubscriptionInput) { in.Headers = map[string]string{"Webhook-Signature": "v1,x"} }, field: "headers.Webhook-Signature"},
		{name: "X-Gancho- header", edit: func(in *gancho.SubscriptionInput) { in.Headers = map[string]string{"X-Gancho-X": "x"} }, field: "headers.X-Gancho-X"},
		{name: "header value with CRLF", edit: func(in *gancho.SubscriptionInput) {
			in.Headers = map[string]string{"X-Custom": "v\r\nX-Injected: 1"}
		}, field: "headers.X-Custom"},
		{name: "header value with LF", edit: func(in *gancho.SubscriptionInput) { in.Headers = map[string]string{"X-Custom": "v\nw"} }, field: "headers.X-Custom"},
		{name: "header value with NUL", edit: func(in *gancho.SubscriptionInput) { in.Headers = map[string]string{"X-Custom": "v\x00w"} }, field: "headers.X-Custom"},
		{name: "header value with tab", edit: func(in *gancho.SubscriptionInput) { in.Headers = map[string]string{"X-Custom": "v\tw"} }, field: "headers.X-Custom"},
		{name: "header value with escape", edit: func(in *gancho.SubscriptionInput) { in.Headers = map[string]string{"X-Custom": "v\x1b[31m"} }, field: "headers.X-Custom"},
		{name: "header value with DEL", edit: func(in *gancho.SubscriptionInput) { in.Headers = map[string]string{"X-Custom": "v\x7f"} }, field: "headers.X-Custom"},
		{name: "header value with C1 control", edit: func(in *gancho.SubscriptionInput) { in.Headers = map[string]string{"X-Custom": "v\u0085w"} }, field: "headers.X-Custom"},
		{name: "sensitive header value with control", edit: func(in *gancho.SubscriptionInput) { in.Headers = map[string]string{"Authorization": "Bearer \x01x"} }, field: "headers.Authorization"},
		{name: "header value over 4096 bytes", edit: func(in *gancho.SubscriptionInput) {
			in.Headers = map[string]string{"X-Custom": strings.Repeat("v", 4097)}
		}, field: "headers.X-Custom"},
		{name: "header name with space", edit: func(in *gancho.SubscriptionInput) { in.Headers = map[string]string{"X Custom": "v"} }, field: "headers.X Custom"},
		{name: "header name with colon", edit: func(in *gancho.SubscriptionInput) { in.Headers = map[string]string{"X-Custom:": "v"} }, field: "headers.X-Custom:"},
		{name: "empty header name", edit: func(in *gancho.SubscriptionInput) { in.Headers = map[string]string{"": "v"} }, field: "headers."},
		// format
		{name: "unknown format", edit: func(in *gancho.SubscriptionInput) { in.Format = ref("xml") }, field: "format"},
		// timeoutSeconds
		{name: "timeout 0", edit: func(in *gancho.SubscriptionInput) { in.TimeoutSeconds = ref(0) }, field: "timeoutSeconds"},
		{name: "timeout 31", edit: func(in *gancho.SubscriptionInput) { in.TimeoutSeconds = ref(31) }, field: "timeoutSeconds"},
		{name: "negative timeout", edit: func(in *gancho.SubscriptionInput) { in.TimeoutSeconds = ref(-1) }, field: "timeoutSeconds"},
		// retrySchedule
		{name: "empty retry schedule", edit: func(in *gancho.SubscriptionInput) { in.RetrySchedule = ref([]int{}) }, field: "retrySchedule"},
		{name: "21 retry steps", edit: func(in *gancho.SubscriptionInput) { in.RetrySchedule = ref(stepsN(gancho.MaxRetrySteps + 1)) }, field: "retrySchedule"},
		{name: "retry step 0", edit: func(in *gancho.SubscriptionInput) { in.RetrySchedule = ref([]int{5, 0, 60}) }, field: "retrySchedule[1]"},
		{name: "retry step 86401", edit: func(in *gancho.SubscriptionInput) { in.RetrySchedule = ref([]int{5, 86401}) }, field: "retrySchedule[1]"},
		{name: "negative retry step", edit: func(in *gancho.SubscriptionInput) { in.RetrySchedule = ref([]int{-5}) }, field: "retrySchedule[0]"},
		// metadata
		{name: "metadata array", edit: func(in *gancho.SubscriptionInput) { in.Metadata = json.RawMessage(`[1,2]`) }, field: "metadata"},
		{name: "metadata string", edit: func(in *gancho.SubscriptionInput) { in.Metadata = json.RawMessage(`"x"`) }, field: "metadata"},
		{name: "metadata number", edit: func(in *gancho.SubscriptionInput) { in.Metadata = json.RawMessage(`42`) }, field: "metadata"},
		{name: "metadata malformed", edit: func(in *gancho.SubscriptionInput) { in.Metadata = json.RawMessage(`{"a":`) }, field: "metadata"},
		{name: "metadata over 4 KiB", edit: func(in *gancho.SubscriptionInput) { in.Metadata = metadataOfSize(gancho.MaxMetadataBytes + 1) }, field: "metadata"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := validInput()
			tc.edit(&in)
			sub, err := gancho.NewSubscription(in, tc.policy)
			got := fieldsOf(t, err)
			if !slices.Equal(got, []string{tc.field}) {
				t.Errorf("fields %q, want exactly [%q]", got, tc.field)
			}
			if !reflect.ValueOf(sub).IsZero() {
				t.Errorf("returned a non-zero subscription with the error: %+v", sub)
			}
		})
	}
}

func TestNewSubscriptionTargetPolicy(t *testing.T) {
	t.Parallel()
	urls := []string{
		"http://client.example/hooks",
		"http://127.0.0.1:8080/hooks",
		"https://127.0.0.1/hooks",
		"https://localhost/hooks",
		"http://localhost:3000/hooks",
		"https://[::1]/hooks",
		"https://10.0.0.1/hooks",
		"https://169.254.169.254/latest",
		"https://[::ffff:127.0.0.1]/hooks",
		"https://100.64.0.1/hooks",
	}
	for _, u := range urls {
		t.Run(u, func(t *testing.T) {
			t.Parallel()
			in := gancho.SubscriptionInput{URL: ref(u)}
			if _, err := gancho.NewSubscription(in, gancho.TargetPolicy{}); gancho.KindOf(err) != gancho.KindInvalid {
				t.Errorf("default policy: err %v, want KindInvalid", err)
			}
			sub, err := gancho.NewSubscription(in, gancho.TargetPolicy{AllowInsecure: true})
			if err != nil {
				t.Fatalf("AllowInsecure: %v", err)
			}
			if sub.URL != u {
				t.Errorf("URL %q, want %q", sub.URL, u)
			}
		})
	}
}

func TestNewSubscriptionAccepts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		edit  func(*gancho.SubscriptionInput)
		check func(*testing.T, gancho.Subscription)
	}{
		{name: "public https url", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://client.example/hooks/:id?x=1") },
			check: func(t *testing.T, s gancho.Subscription) {
				if s.URL != "https://client.example/hooks/:id?x=1" {
					t.Errorf("URL %q", s.URL)
				}
			}},
		{name: "public ip literal", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://8.8.8.8/hooks") }},
		{name: "port 1", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://client.example:1/hooks") }},
		{name: "port 65535", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://client.example:65535/hooks") }},
		{name: "header value with non-ASCII text", edit: func(in *gancho.SubscriptionInput) { in.Headers = map[string]string{"X-Custom": "café ünï"} }},
		{name: "public v6 literal", edit: func(in *gancho.SubscriptionInput) { in.URL = ref("https://[2606:4700:4700::1111]/hooks") },
			check: func(t *testing.T, s gancho.Subscription) {
				if s.Name != "2606:4700:4700::1111" {
					t.Errorf("default name %q, want the bare v6 host", s.Name)
				}
			}},
		{name: "url of exactly 2048 chars", edit: func(in *gancho.SubscriptionInput) {
			in.URL = ref("https://client.example/" + strings.Repeat("a", gancho.MaxURLLength-len("https://client.example/")))
		}},
		{name: "name of 100 multi-byte runes", edit: func(in *gancho.SubscriptionInput) { in.Name = ref(strings.Repeat("é", 100)) },
			check: func(t *testing.T, s gancho.Subscription) {
				if s.Name != strings.Repeat("é", 100) {
					t.Errorf("name %q", s.Name)
				}
			}},
		{name: "name is trimmed", edit: func(in *gancho.SubscriptionInput) { in.Name = ref("  CRM  ") },
			check: func(t *testing.T, s gancho.Subscription) {
				if s.Name != "CRM" {
					t.Errorf("name %q, want CRM", s.Name)
				}
			}},
		{name: "description of 500 runes", edit: func(in *gancho.SubscriptionInput) { in.Description = ref(strings.Repeat("ç", 500)) }},
		{name: "lower-case method", edit: func(in *gancho.SubscriptionInput) { in.Method = ref("get") },
			check: func(t *testing.T, s gancho.Subscription) {
				if s.Method != "GET" {
					t.Errorf("method %q, want GET", s.Method)
				}
			}},
		{name: "every method", edit: func(in *gancho.SubscriptionInput) { in.Method = ref("DELETE") }},
		{name: "100 events", edit: func(in *gancho.SubscriptionInput) { in.Events = ref(patternsN(gancho.MaxEventPatterns)) },
			check: func(t *testing.T, s gancho.Subscription) {
				if len(s.Events) != gancho.MaxEventPatterns {
					t.Errorf("%d events", len(s.Events))
				}
			}},
		{name: "duplicate patterns collapsed in order", edit: func(in *gancho.SubscriptionInput) {
			in.Events = ref([]string{"crm.lead.created", "crm.*", "crm.lead.created", "*", "crm.*"})
		}, check: func(t *testing.T, s gancho.Subscription) {
			if want := []string{"crm.lead.created", "crm.*", "*"}; !slices.Equal(s.Events, want) {
				t.Errorf("events %q, want %q", s.Events, want)
			}
		}},
		{name: "Content-Type header allowed", edit: func(in *gancho.SubscriptionInput) {
			in.Headers = map[string]string{"Content-Type": "application/vnd.api+json", "X-Custom": "v"}
		}, check: func(t *testing.T, s gancho.Subscription) {
			if want := map[string]string{"Content-Type": "application/vnd.api+json", "X-Custom": "v"}; !reflect.DeepEqual(s.Headers, want) {
				t.Errorf("headers %v, want %v", s.Headers, want)
			}
		}},
		{name: "20 headers", edit: func(in *gancho.SubscriptionInput) { in.Headers = headersN(gancho.MaxHeaders) }},
		{name: "raw format", edit: func(in *gancho.SubscriptionInput) { in.Format = ref("raw") },
			check: func(t *testing.T, s gancho.Subscription) {
				if s.Format != "raw" {
					t.Errorf("format %q", s.Format)
				}
			}},
		{name: "inactive", edit: func(in *gancho.SubscriptionInput) { in.IsActive = ref(false) },
			check: func(t *testing.T, s gancho.Subscription) {
				if s.IsActive {
					t.Error("isActive true, want false")
				}
			}},
		{name: "timeout bounds", edit: func(in *gancho.SubscriptionInput) { in.TimeoutSeconds = ref(30) },
			check: func(t *testing.T, s gancho.Subscription) {
				if s.TimeoutSeconds != 30 {
					t.Errorf("timeout %d", s.TimeoutSeconds)
				}
			}},
		{name: "timeout 1", edit: func(in *gancho.SubscriptionInput) { in.TimeoutSeconds = ref(1) }},
		{name: "retry schedule of 20 steps up to 24 h", edit: func(in *gancho.SubscriptionInput) {
			rs := stepsN(gancho.MaxRetrySteps)
			rs[0], rs[19] = 1, 86400
			in.RetrySchedule = &rs
		}, check: func(t *testing.T, s gancho.Subscription) {
			if len(s.RetrySchedule) != 20 || s.RetrySchedule[0] != 1 || s.RetrySchedule[19] != 86400 {
				t.Errorf("retry schedule %v", s.RetrySchedule)
			}
		}},
		{name: "owner and context", edit: func(in *gancho.SubscriptionInput) {
			in.OwnerID, in.Context = ref("office-42"), ref("doc-signature")
		}, check: func(t *testing.T, s gancho.Subscription) {
			if s.OwnerID != "office-42" || s.Context != "doc-signature" {
				t.Errorf("owner %q context %q", s.OwnerID, s.Context)
			}
		}},
		{name: "metadata object", edit: func(in *gancho.SubscriptionInput) { in.Metadata = json.RawMessage(`{"team":"crm","n":[1,2]}`) },
			check: func(t *testing.T, s gancho.Subscription) {
				if string(s.Metadata) != `{"team":"crm","n":[1,2]}` {
					t.Errorf("metadata %s", s.Metadata)
				}
			}},
		{name: "metadata of exactly 4 KiB", edit: func(in *gancho.SubscriptionInput) { in.Metadata = metadataOfSize(gancho.MaxMetadataBytes) }},
		{name: "metadata null", edit: func(in *gancho.SubscriptionInput) { in.Metadata = json.RawMessage(` null `) },
			check: func(t *testing.T, s gancho.Subscription) {
				if s.Metadata != nil {
					t.Errorf("metadata %s, want none", s.Metadata)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := validInput()
			tc.edit(&in)
			sub, err := gancho.NewSubscription(in, gancho.TargetPolicy{})
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if tc.check != nil {
				tc.check(t, sub)
			}
		})
	}
}

func TestNewSubscriptionDefaults(t *testing.T) {
	t.Parallel()
	sub, err := gancho.NewSubscription(gancho.SubscriptionInput{URL: ref("https://Client.Example:8443/hooks?a=1")}, gancho.TargetPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		field     string
		got, want any
	}{
		{"method", sub.Method, "POST"},
		{"events", sub.Events, []string{"*"}},
		{"format", sub.Format, "envelope"},
		{"isActive", sub.IsActive, true},
		{"timeoutSeconds", sub.TimeoutSeconds, 15},
		{"retrySchedule", sub.RetrySchedule, []int{5, 300, 1800, 7200, 18000, 36000, 36000}},
		{"name", sub.Name, "Client.Example"},
		{"headers", sub.Headers, map[string]string{}},
		{"url", sub.URL, "https://Client.Example:8443/hooks?a=1"},
		{"ownerId", sub.OwnerID, ""},
		{"context", sub.Context, ""},
		{"description", sub.Description, ""},
		{"metadata", sub.Metadata, json.RawMessage(nil)},
	}
	for _, c := range checks {
		t.Run(c.field, func(t *testing.T) {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("%s = %#v, want %#v", c.field, c.got, c.want)
			}
		})
	}
	t.Run("headers map is usable", func(t *testing.T) {
		if sub.Headers == nil {
			t.Fatal("headers nil")
		}
	})
}

// The default schedule is a fresh slice each time and a subscription keeps its own copy.
func TestRetryScheduleIsNotShared(t *testing.T) {
	t.Parallel()
	a, _ := gancho.NewSubscription(validInput(), gancho.TargetPolicy{})
	a.RetrySchedule[0] = 999
	b, _ := gancho.NewSubscription(validInput(), gancho.TargetPolicy{})
	if b.RetrySchedule[0] != 5 || gancho.DefaultRetrySchedule()[0] != 5 {
		t.Fatalf("default retry schedule was changed through a subscription: %v", b.RetrySchedule)
	}
	rs := []int{10, 20}
	in := validInput()
	in.RetrySchedule = &rs
	c, err := gancho.NewSubscription(in, gancho.TargetPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	rs[0] = 999
	if c.RetrySchedule[0] != 10 {
		t.Fatalf("subscription shares the input's retry schedule: %v", c.RetrySchedule)
	}
}

func TestNewSubscriptionReportsEveryField(t *testing.T) {
	t.Parallel()
	in := gancho.SubscriptionInput{
		URL:            ref("ftp://client.example/hooks"),
		Name:           ref(""),
		Method:         ref("TRACE"),
		Events:         ref([]string{"ok.type", "a..b"}),
		Headers:        map[string]string{"Host": "x"},
		Format:         ref("xml"),
		TimeoutSeconds: ref(0),
		RetrySchedule:  ref([]int{0}),
		Metadata:       json.RawMessage(`[]`),
	}
	_, err := gancho.NewSubscription(in, gancho.TargetPolicy{})
	got := fieldsOf(t, err)
	want := []string{"url", "name", "method", "events[1]", "headers.Host", "format", "timeoutSeconds", "retrySchedule[0]", "metadata"}
	for _, f := range want {
		if !slices.Contains(got, f) {
			t.Errorf("field %q not reported; got %q", f, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("fields %q, want %q", got, want)
	}
	var ge *gancho.Error
	errors.As(err, &ge)
	if !strings.HasPrefix(ge.Detail, ge.Fields[0].Field+": ") {
		t.Errorf("detail %q does not summarise the first field %q", ge.Detail, ge.Fields[0].Field)
	}
}
