package gancho_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

func validEvent() gancho.EventInput {
	return gancho.EventInput{Type: "crm.lead.created", Payload: json.RawMessage(`{"lead":1}`)}
}

// payloadOfSize returns a JSON string value of exactly n bytes.
func payloadOfSize(n int) json.RawMessage {
	return json.RawMessage(`"` + strings.Repeat("p", n-2) + `"`)
}

func TestNewEventAccepts(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 4, 5, 6, 7, 8, time.FixedZone("BRT", -3*3600))
	cases := []struct {
		name  string
		edit  func(*gancho.EventInput)
		check func(*testing.T, gancho.Event)
	}{
		{name: "minimal", check: func(t *testing.T, ev gancho.Event) {
			if ev.OwnerID != "" || ev.Context != "" || ev.Subject != "" || ev.Reference != nil {
				t.Errorf("optional fields set: %+v", ev)
			}
		}},
		{name: "payload whitespace trimmed", edit: func(in *gancho.EventInput) { in.Payload = json.RawMessage("\n  {\"a\": [1, 2]}  \n") },
			check: func(t *testing.T, ev gancho.Event) {
				if string(ev.Payload) != `{"a": [1, 2]}` {
					t.Errorf("payload %q", ev.Payload)
				}
			}},
		{name: "broadcast owner", edit: func(in *gancho.EventInput) { in.OwnerID = ref("*") },
			check: func(t *testing.T, ev gancho.Event) {
				if ev.OwnerID != gancho.BroadcastOwner {
					t.Errorf("owner %q", ev.OwnerID)
				}
			}},
		{name: "owner, context, subject and reference", edit: func(in *gancho.EventInput) {
			in.OwnerID, in.Context, in.Subject = ref("user-7"), ref("doc-signature"), ref("a7046a49/1fe0")
			in.Reference = &gancho.Reference{Type: "request", ID: "ec545a1e"}
		}, check: func(t *testing.T, ev gancho.Event) {
			if ev.OwnerID != "user-7" || ev.Context != "doc-signature" || ev.Subject != "a7046a49/1fe0" ||
				ev.Reference == nil || *ev.Reference != (gancho.Reference{Type: "request", ID: "ec545a1e"}) {
				t.Errorf("event %+v", ev)
			}
		}},
		{name: "reference without type", edit: func(in *gancho.EventInput) { in.Reference = &gancho.Reference{ID: "r1"} }},
		{name: "subject of 512 chars", edit: func(in *gancho.EventInput) { in.Subject = ref(strings.Repeat("s", 512)) }},
		{name: "subject with dots that do not climb", edit: func(in *gancho.EventInput) { in.Subject = ref("...") }},
		{name: "subject starting with dots", edit: func(in *gancho.EventInput) { in.Subject = ref("..a") }},
		{name: "payload of exactly 256 KiB", edit: func(in *gancho.EventInput) { in.Payload = payloadOfSize(gancho.MaxPayloadBytes) }},
		{name: "payload over 256 KiB only by surrounding whitespace", edit: func(in *gancho.EventInput) {
			in.Payload = append(payloadOfSize(gancho.MaxPayloadBytes), "   "...)
		}},
		{name: "type with digits, dash and underscore", edit: func(in *gancho.EventInput) { in.Type = "lawsuit.response_created-v2" }},
		{name: "single-segment type", edit: func(in *gancho.EventInput) { in.Type = "ping" }},
		{name: "idempotency key of 255 chars", edit: func(in *gancho.EventInput) { in.IdempotencyKey = strings.Repeat("k", 255) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := validEvent()
			if tc.edit != nil {
				tc.edit(&in)
			}
			ev, err := gancho.NewEvent("ten_1", in, now, gancho.TargetPolicy{})
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if !strings.HasPrefix(ev.ID, gancho.PrefixEvent) || len(ev.ID) != len(gancho.PrefixEvent)+26 {
				t.Errorf("id %q", ev.ID)
			}
			if ev.TenantID != "ten_1" || ev.Type != in.Type {
				t.Errorf("tenant %q type %q", ev.TenantID, ev.Type)
			}
			if !ev.CreatedAt.Equal(now) || ev.CreatedAt.Location() != time.UTC {
				t.Errorf("createdAt %v, want %v in UTC", ev.CreatedAt, now)
			}
			if tc.check != nil {
				tc.check(t, ev)
			}
		})
	}
}

func TestNewEventRejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		edit  func(*gancho.EventInput)
		field string
	}{
		{name: "type missing", edit: func(in *gancho.EventInput) { in.Type = "" }, field: "type"},
		{name: "webhook.test", edit: func(in *gancho.EventInput) { in.Type = gancho.TypeTest }, field: "type"},
		{name: "type with space", edit: func(in *gancho.EventInput) { in.Type = "crm.lead created" }, field: "type"},
		{name: "type with slash", edit: func(in *gancho.EventInput) { in.Type = "crm/lead" }, field: "type"},
		{name: "type with empty segment", edit: func(in *gancho.EventInput) { in.Type = "crm..lead" }, field: "type"},
		{name: "type with trailing dot", edit: func(in *gancho.EventInput) { in.Type = "crm.lead." }, field: "type"},
		{name: "type is a wildcard", edit: func(in *gancho.EventInput) { in.Type = "*" }, field: "type"},
		{name: "type is a prefix pattern", edit: func(in *gancho.EventInput) { in.Type = "crm.*" }, field: "type"},
		{name: "type non-ascii", edit: func(in *gancho.EventInput) { in.Type = "crm.ação" }, field: "type"},
		{name: "type over 200 chars", edit: func(in *gancho.EventInput) { in.Type = strings.Repeat("t", 201) }, field: "type"},
		{name: "payload missing", edit: func(in *gancho.EventInput) { in.Payload = nil }, field: "payload"},
		{name: "payload blank", edit: func(in *gancho.EventInput) { in.Payload = json.RawMessage(" \n\t") }, field: "payload"},
		{name: "empty ownerId", edit: func(in *gancho.EventInput) { in.OwnerID = ref("") }, field: "ownerId"},
		{name: "ownerId with hash", edit: func(in *gancho.EventInput) { in.OwnerID = ref("user#7") }, field: "ownerId"},
		{name: "ownerId over 200 chars", edit: func(in *gancho.EventInput) { in.OwnerID = ref(strings.Repeat("o", 201)) }, field: "ownerId"},
		{name: "empty context", edit: func(in *gancho.EventInput) { in.Context = ref("") }, field: "context"},
		{name: "context with control char", edit: func(in *gancho.EventInput) { in.Context = ref("doc\x00sig") }, field: "context"},
		{name: "empty subject", edit: func(in *gancho.EventInput) { in.Subject = ref("") }, field: "subject"},
		{name: "subject of 513 chars", edit: func(in *gancho.EventInput) { in.Subject = ref(strings.Repeat("s", 513)) }, field: "subject"},
		{name: "subject dot", edit: func(in *gancho.EventInput) { in.Subject = ref(".") }, field: "subject"},
		{name: "subject dot dot", edit: func(in *gancho.EventInput) { in.Subject = ref("..") }, field: "subject"},
		{name: "callbackUrl port 0", edit: func(in *gancho.EventInput) { in.CallbackURL = ref("https://client.example:0/cb") }, field: "callbackUrl"},
		{name: "callbackUrl port 65536", edit: func(in *gancho.EventInput) { in.CallbackURL = ref("https://client.example:65536/cb") }, field: "callbackUrl"},
		{name: "reference without id", edit: func(in *gancho.EventInput) { in.Reference = &gancho.Reference{Type: "request"} }, field: "reference.id"},
		{name: "reference id with hash", edit: func(in *gancho.EventInput) { in.Reference = &gancho.Reference{ID: "a#b"} }, field: "reference.id"},
		{name: "reference type over 100 chars", edit: func(in *gancho.EventInput) {
			in.Reference = &gancho.Reference{Type: strings.Repeat("r", 101), ID: "r1"}
		}, field: "reference.type"},
		{name: "idempotency key over 255 chars", edit: func(in *gancho.EventInput) { in.IdempotencyKey = strings.Repeat("k", 256) }, field: "idempotencyKey"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := validEvent()
			tc.edit(&in)
			ev, err := gancho.NewEvent("ten_1", in, time.Now(), gancho.TargetPolicy{})
			got := fieldsOf(t, err)
			if !slices.Equal(got, []string{tc.field}) {
				t.Errorf("fields %q, want exactly [%q]", got, tc.field)
			}
			if ev.ID != "" {
				t.Errorf("an id was assigned to a rejected event: %q", ev.ID)
			}
		})
	}
}

func TestNewEventReportsEveryField(t *testing.T) {
	t.Parallel()
	in := gancho.EventInput{Type: "", OwnerID: ref(""), Subject: ref(""), Reference: &gancho.Reference{}}
	_, err := gancho.NewEvent("ten_1", in, time.Now(), gancho.TargetPolicy{})
	got := fieldsOf(t, err)
	want := []string{"type", "payload", "ownerId", "subject", "reference.id"}
	if !slices.Equal(got, want) {
		t.Errorf("fields %q, want %q", got, want)
	}
}

func TestNewEventPayloadTooLarge(t *testing.T) {
	t.Parallel()
	for _, size := range []int{gancho.MaxPayloadBytes + 1, 2 * gancho.MaxPayloadBytes} {
		in := validEvent()
		in.Payload = payloadOfSize(size)
		_, err := gancho.NewEvent("ten_1", in, time.Now(), gancho.TargetPolicy{})
		var ge *gancho.Error
		if !errors.As(err, &ge) || ge.Kind != gancho.KindTooLarge {
			t.Errorf("payload of %d bytes: err %v, want KindTooLarge", size, err)
		}
	}
}

func TestMatchPatterns(t *testing.T) {
	t.Parallel()
	cases := []struct {
		eventType string
		want      []string
	}{
		{"a.b.c", []string{"a.b.c", "a.b.*", "a.*", "*"}},
		{"crm.lead", []string{"crm.lead", "crm.*", "*"}},
		{"ping", []string{"ping", "*"}},
		{"a.b.c.d.e", []string{"a.b.c.d.e", "a.b.c.d.*", "a.b.c.*", "a.b.*", "a.*", "*"}},
	}
	for _, tc := range cases {
		t.Run(tc.eventType, func(t *testing.T) {
			t.Parallel()
			if got := gancho.MatchPatterns(tc.eventType); !slices.Equal(got, tc.want) {
				t.Errorf("MatchPatterns(%q) = %q, want %q", tc.eventType, got, tc.want)
			}
		})
	}
}

func TestAccepts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		patterns  []string
		eventType string
		want      bool
	}{
		{"exact", []string{"crm.lead.created"}, "crm.lead.created", true},
		{"exact differs", []string{"crm.lead.created"}, "crm.lead.updated", false},
		{"exact is not a prefix", []string{"crm.lead"}, "crm.lead.created", false},
		{"prefix one level", []string{"crm.*"}, "crm.lead", true},
		{"prefix two levels", []string{"crm.*"}, "crm.lead.created", true},
		{"prefix three levels", []string{"crm.*"}, "crm.lead.note.added", true},
		{"nested prefix", []string{"crm.lead.*"}, "crm.lead.created", true},
		{"nested prefix sibling", []string{"crm.lead.*"}, "crm.deal.created", false},
		{"prefix needs the dot", []string{"crm.*"}, "crmx.lead", false},
		{"prefix does not match itself", []string{"crm.*"}, "crm", false},
		{"prefix of another root", []string{"crm.*"}, "billing.crm.lead", false},
		{"star", []string{"*"}, "anything.at.all", true},
		{"star single segment", []string{"*"}, "ping", true},
		{"any of several", []string{"billing.*", "crm.lead.created"}, "crm.lead.created", true},
		{"none of several", []string{"billing.*", "crm.lead.created"}, "crm.deal.created", false},
		{"empty list", nil, "crm.lead.created", false},
		{"case sensitive", []string{"CRM.*"}, "crm.lead", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := gancho.Accepts(tc.patterns, tc.eventType); got != tc.want {
				t.Errorf("Accepts(%q, %q) = %v, want %v", tc.patterns, tc.eventType, got, tc.want)
			}
		})
	}
}

// The store finds subscriptions through MatchPatterns; Accepts must agree with it.
func TestAcceptsAgreesWithMatchPatterns(t *testing.T) {
	t.Parallel()
	types := []string{"a", "a.b", "a.b.c", "ab.c", "a.bc", "crm.lead.created", "crmx.lead"}
	patterns := []string{"*", "a", "a.*", "a.b", "a.b.*", "a.b.c", "a.b.c.*", "ab.*", "a.bc", "crm.*", "crm.lead.*", "crmx.*"}
	for _, typ := range types {
		index := gancho.MatchPatterns(typ)
		for _, p := range patterns {
			if got, want := gancho.Accepts([]string{p}, typ), slices.Contains(index, p); got != want {
				t.Errorf("type %q pattern %q: Accepts %v, MatchPatterns lists it %v", typ, p, got, want)
			}
		}
	}
}

func TestMatches(t *testing.T) {
	t.Parallel()
	sub := func(edit func(*gancho.Subscription)) gancho.Subscription {
		s := gancho.Subscription{ID: "sub_1", Events: []string{"crm.*"}, IsActive: true}
		if edit != nil {
			edit(&s)
		}
		return s
	}
	ev := func(owner, context string) gancho.Event {
		return gancho.Event{ID: "evt_1", Type: "crm.lead.created", OwnerID: owner, Context: context}
	}
	withOwner := func(o string) func(*gancho.Subscription) { return func(s *gancho.Subscription) { s.OwnerID = o } }
	withContext := func(c string) func(*gancho.Subscription) { return func(s *gancho.Subscription) { s.Context = c } }
	cases := []struct {
		name string
		sub  gancho.Subscription
		ev   gancho.Event
		want bool
	}{
		{"type accepted", sub(nil), ev("", ""), true},
		{"type not accepted", sub(func(s *gancho.Subscription) { s.Events = []string{"billing.*"} }), ev("", ""), false},
		{"exact type", sub(func(s *gancho.Subscription) { s.Events = []string{"crm.lead.created"} }), ev("", ""), true},
		{"star", sub(func(s *gancho.Subscription) { s.Events = []string{"*"} }), ev("", ""), true},
		{"inactive", sub(func(s *gancho.Subscription) { s.IsActive = false }), ev("", ""), false},
		{"inactive with matching owner", sub(func(s *gancho.Subscription) { s.IsActive, s.OwnerID = false, "o1" }), ev("o1", ""), false},

		{"owner: same owner", sub(withOwner("o1")), ev("o1", ""), true},
		{"owner: other owner", sub(withOwner("o1")), ev("o2", ""), false},
		{"owner: broadcast", sub(withOwner("o1")), ev("*", ""), true},
		{"owner: event without owner", sub(withOwner("o1")), ev("", ""), false},
		{"owner-less: event of an owner", sub(nil), ev("o1", ""), true},
		{"owner-less: broadcast", sub(nil), ev("*", ""), true},
		{"owner-less: event without owner", sub(nil), ev("", ""), true},
		{"owner: broadcast of another type", sub(func(s *gancho.Subscription) { s.OwnerID, s.Events = "o1", []string{"billing.*"} }), ev("*", ""), false},

		{"context: same", sub(withContext("c1")), ev("", "c1"), true},
		{"context: other", sub(withContext("c1")), ev("", "c2"), false},
		{"context: event without context", sub(withContext("c1")), ev("", ""), false},
		{"context: no broadcast value", sub(withContext("c1")), ev("", "*"), false},
		{"context-less: event with context", sub(nil), ev("", "c1"), true},

		{"owner and context both match", sub(func(s *gancho.Subscription) { s.OwnerID, s.Context = "o1", "c1" }), ev("o1", "c1"), true},
		{"owner matches, context does not", sub(func(s *gancho.Subscription) { s.OwnerID, s.Context = "o1", "c1" }), ev("o1", "c2"), false},
		{"broadcast owner, context does not match", sub(func(s *gancho.Subscription) { s.OwnerID, s.Context = "o1", "c1" }), ev("*", ""), false},
		{"broadcast owner and context match", sub(func(s *gancho.Subscription) { s.OwnerID, s.Context = "o1", "c1" }), ev("*", "c1"), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := gancho.Matches(tc.sub, tc.ev); got != tc.want {
				t.Errorf("Matches(sub owner %q context %q events %q active %v, event owner %q context %q) = %v, want %v",
					tc.sub.OwnerID, tc.sub.Context, tc.sub.Events, tc.sub.IsActive, tc.ev.OwnerID, tc.ev.Context, got, tc.want)
			}
		})
	}
}

func TestNewEventDeliverAt(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	at := func(d time.Duration) *time.Time { v := now.Add(d).In(time.FixedZone("BRT", -3*3600)); return &v }
	cases := []struct {
		name    string
		at      *time.Time
		invalid bool
		due     time.Time // the outbox due time of the event stored unqueued
	}{
		{name: "absent", due: now},
		{name: "in 1 s", at: at(time.Second), due: now},
		{name: "in 15 min", at: at(15 * time.Minute), due: now},
		{name: "in 2 h", at: at(2 * time.Hour), due: now.Add(2*time.Hour - gancho.ScheduleLead)},
		{name: "in 24 h", at: at(24 * time.Hour), due: now.Add(24*time.Hour - gancho.ScheduleLead)},
		{name: "too soon", at: at(999 * time.Millisecond), invalid: true},
		{name: "now", at: at(0), invalid: true},
		{name: "past", at: at(-time.Minute), invalid: true},
		{name: "too far", at: at(24*time.Hour + time.Second), invalid: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := validEvent()
			in.DeliverAt = tc.at
			ev, err := gancho.NewEvent("t1", in, now, gancho.TargetPolicy{})
			if tc.invalid {
				var ge *gancho.Error
				if !errors.As(err, &ge) || ge.Kind != gancho.KindInvalid || len(ge.Fields) != 1 || ge.Fields[0].Field != "deliverAt" {
					t.Fatalf("err = %v, want invalid deliverAt", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.at == nil && ev.DeliverAt != nil:
				t.Errorf("deliverAt %v, want none", ev.DeliverAt)
			case tc.at != nil && (ev.DeliverAt == nil || !ev.DeliverAt.Equal(*tc.at) || ev.DeliverAt.Location() != time.UTC):
				t.Errorf("deliverAt %v, want %v in UTC", ev.DeliverAt, tc.at)
			}
			if got := ev.OutboxDue(); !got.Equal(tc.due) {
				t.Errorf("outbox due %v, want %v", got, tc.due)
			}
		})
	}
}

func TestDeliverDelay(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	cases := []struct {
		at   *time.Time
		want time.Duration
	}{
		{nil, 0}, {at(-time.Second), 0}, {at(0), 0},
		{at(time.Millisecond), time.Second}, {at(3 * time.Second), 3 * time.Second}, {at(3*time.Second + 1), 4 * time.Second},
	}
	for _, tc := range cases {
		if got := (gancho.Event{DeliverAt: tc.at}).DeliverDelay(now); got != tc.want {
			t.Errorf("DeliverDelay(%v) = %v, want %v", tc.at, got, tc.want)
		}
	}
}

// A deliverAt that is not an RFC 3339 string is refused naming it.
func TestDecodeEventDeliverAt(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`{"deliverAt":"tomorrow"}`, `{"deliverAt":5}`, `{"deliverAt":"2026-12-01 09:00"}`} {
		var in gancho.EventInput
		err := gancho.DecodeJSON([]byte(body), &in)
		var ge *gancho.Error
		if !errors.As(err, &ge) || ge.Kind != gancho.KindInvalid || len(ge.Fields) != 1 || ge.Fields[0].Field != "deliverAt" ||
			!strings.Contains(ge.Fields[0].Message, "RFC 3339") {
			t.Errorf("%s: %v, want invalid deliverAt", body, err)
		}
	}
	var in gancho.EventInput
	if err := gancho.DecodeJSON([]byte(`{"deliverAt":"2026-12-01T09:00:00-03:00"}`), &in); err != nil || in.DeliverAt == nil {
		t.Errorf("RFC 3339: %v, %v", in.DeliverAt, err)
	}
}
