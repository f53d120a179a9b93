package deliver

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzTargetURL fills ":id" with arbitrary subjects: the result is a URL with the
// template's scheme, host and fixed path segments, the subject never adds, removes or
// climbs a segment, and a URL without ":id" is left exactly as it was.
func FuzzTargetURL(f *testing.F) {
	for _, s := range [][2]string{
		{"https://example.com/hooks/:id", "order-42"},
		{"https://example.com/hooks/:id/events?x=1", "a/b"},
		{"https://example.com/hooks?id=:id&keep=:id2", "a&b=c"},
		{"https://example.com/a/:id/b", ".."},
		{"https://example.com/a/:id/b", "."},
		{"https://example.com/a/:id", "%2e%2e"},
		{"https://example.com/a/:id", "../../admin"},
		{"https://example.com/a/:id", "x?y#z"},
		{"https://example.com/a/:id", "ümlaut space"},
		{"https://example.com/a/%3Aid/:id", "s"},
		{"https://example.com/no-template", "s"},
		{"https://example.com/:id", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, raw, subject string) {
		tmpl, err := url.Parse(raw)
		if err != nil || tmpl.Host == "" {
			return
		}
		// A path that is not validly escaped (a space, say) is re-escaped by net/url
		// and net/http on the way out whatever TargetURL does, so "a%2Fb" can become
		// two segments on the wire: such URLs are for subscription validation to
		// refuse. The properties below hold for every URL whose path is as written.
		if tmpl.RawPath != "" && tmpl.EscapedPath() != tmpl.RawPath {
			return
		}
		got, err := TargetURL(raw, subject)
		if err != nil {
			if subject != "" && !errors.Is(err, errInvalidSubject) {
				t.Fatalf("TargetURL(%q, %q) failed: %v", raw, subject, err)
			}
			return
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("TargetURL(%q, %q) = %q, which does not parse: %v", raw, subject, got, err)
		}
		if u.Scheme != tmpl.Scheme || u.Host != tmpl.Host || u.User.String() != tmpl.User.String() || u.Fragment != tmpl.Fragment {
			t.Fatalf("TargetURL(%q, %q) = %q changed the scheme, host, user or fragment", raw, subject, got)
		}
		want := strings.Split(tmpl.EscapedPath(), "/")
		have := strings.Split(u.EscapedPath(), "/")
		if len(have) != len(want) {
			t.Fatalf("TargetURL(%q, %q) = %q: %d path segments, want %d", raw, subject, got, len(have), len(want))
		}
		for i, seg := range want {
			if seg == ":id" {
				if dec, _ := url.PathUnescape(have[i]); dec != subject {
					t.Fatalf("TargetURL(%q, %q) = %q: segment %d is %q, want the subject", raw, subject, got, i, dec)
				}
				if have[i] == "." || have[i] == ".." {
					t.Fatalf("TargetURL(%q, %q) = %q climbs the path", raw, subject, got)
				}
				continue
			}
			if have[i] != seg {
				t.Fatalf("TargetURL(%q, %q) = %q: fixed segment %d is %q, want %q", raw, subject, got, i, have[i], seg)
			}
		}
		if !strings.Contains(raw, ":id") && got != raw {
			t.Fatalf("TargetURL(%q, %q) = %q, want the URL unchanged", raw, subject, got)
		}
		// Query parameters: same count and names, in order; ":id" values carry the subject.
		wantQ, haveQ := strings.Split(tmpl.RawQuery, "&"), strings.Split(u.RawQuery, "&")
		if len(wantQ) != len(haveQ) {
			t.Fatalf("TargetURL(%q, %q) = %q: %d query parameters, want %d", raw, subject, got, len(haveQ), len(wantQ))
		}
		for i, p := range wantQ {
			name, value, ok := strings.Cut(p, "=")
			if !ok || value != ":id" {
				if haveQ[i] != p {
					t.Fatalf("TargetURL(%q, %q) = %q changed query parameter %q", raw, subject, got, p)
				}
				continue
			}
			hn, hv, _ := strings.Cut(haveQ[i], "=")
			if dec, _ := url.QueryUnescape(hv); hn != name || dec != subject {
				t.Fatalf("TargetURL(%q, %q) = %q: parameter %q is %q=%q", raw, subject, got, p, hn, dec)
			}
		}
	})
}

// FuzzRetryAfter reads arbitrary Retry-After values: never negative, exact for
// delay-seconds, and the same as the date's distance from now for HTTP dates.
func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{
		"", "0", "120", " 30 ", "-5", "+7", "1.5", "99999999999999999999", "9223372036854775807",
		now.Add(90 * time.Second).Format(http.TimeFormat), now.Add(-time.Hour).Format(http.TimeFormat),
		"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
		"Fri, 31 Dec 9999 23:59:59 GMT", "garbage",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got := retryAfter(v, now)
		if got < 0 {
			t.Fatalf("retryAfter(%q) = %d, negative", v, got)
		}
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			if want := max(n, 0); got != want {
				t.Fatalf("retryAfter(%q) = %d, want %d", v, got, want)
			}
			return
		}
		if at, err := http.ParseTime(v); err == nil {
			d := at.Sub(now)
			if d <= 0 && got != 0 || d > 0 && (time.Duration(got)*time.Second < d || time.Duration(got-1)*time.Second >= d) && d < time.Duration(1<<62) {
				t.Fatalf("retryAfter(%q) = %d s for a date %v away", v, got, d)
			}
			return
		}
		if got != 0 {
			t.Fatalf("retryAfter(%q) = %d for a value that is neither seconds nor a date", v, got)
		}
	})
}
