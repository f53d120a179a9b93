package gancho_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

func etString(v string) *string { return &v }

// schemaOfSize returns a valid schema whose compacted JSON is exactly n bytes.
func schemaOfSize(n int) json.RawMessage {
	const head, tail = `{"description":"`, `"}`
	return json.RawMessage(head + strings.Repeat("d", n-len(head)-len(tail)) + tail)
}

func TestNewEventTypeRejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		typ    string
		in     gancho.EventTypeInput
		kind   gancho.Kind
		field  string
		reason string // part of the message
	}{
		{name: "empty name", typ: "", kind: gancho.KindInvalid, field: "name"},
		{name: "empty segment", typ: "crm..lead", kind: gancho.KindInvalid, field: "name"},
		{name: "leading dot", typ: ".crm", kind: gancho.KindInvalid, field: "name"},
		{name: "space", typ: "crm lead", kind: gancho.KindInvalid, field: "name"},
		{name: "slash", typ: "crm/lead", kind: gancho.KindInvalid, field: "name"},
		{name: "hash", typ: "crm#lead", kind: gancho.KindInvalid, field: "name"},
		{name: "too long", typ: strings.Repeat("a", 201), kind: gancho.KindInvalid, field: "name"},
		{name: "prefix wildcard", typ: "crm.*", kind: gancho.KindInvalid, field: "name", reason: "not a pattern"},
		{name: "star", typ: "*", kind: gancho.KindInvalid, field: "name", reason: "not a pattern"},
		{name: "inner star", typ: "crm.*.created", kind: gancho.KindInvalid, field: "name", reason: "not a pattern"},
		{name: "built-in", typ: gancho.TypeTest, kind: gancho.KindConflict, field: "name", reason: "built in"},
		{name: "empty retry schedule", typ: "a.b", in: gancho.EventTypeInput{RetrySchedule: &[]int{}},
			kind: gancho.KindInvalid, field: "retrySchedule", reason: "1-20 steps"},
		{name: "retry step of 0", typ: "a.b", in: gancho.EventTypeInput{RetrySchedule: &[]int{5, 0}},
			kind: gancho.KindInvalid, field: "retrySchedule[1]"},
		{name: "description too long", typ: "a.b", in: gancho.EventTypeInput{Description: etString(strings.Repeat("é", 501))},
			kind: gancho.KindInvalid, field: "description"},
		{name: "schema not a schema", typ: "a.b", in: gancho.EventTypeInput{Schema: json.RawMessage(`3`)},
			kind: gancho.KindInvalid, field: "schema", reason: "want boolean or object"},
		{name: "schema with unknown type", typ: "a.b", in: gancho.EventTypeInput{Schema: json.RawMessage(`{"type":"objekt"}`)},
			kind: gancho.KindInvalid, field: "schema", reason: `at "/type"`},
		{name: "schema with bad keyword value", typ: "a.b", in: gancho.EventTypeInput{Schema: json.RawMessage(`{"properties":{"n":{"minimum":"x"}}}`)},
			kind: gancho.KindInvalid, field: "schema", reason: "/properties/n/minimum"},
		{name: "schema with bad regexp", typ: "a.b", in: gancho.EventTypeInput{Schema: json.RawMessage(`{"pattern":"(?<x"}`)},
			kind: gancho.KindInvalid, field: "schema", reason: "regex"},
		{name: "remote $ref", typ: "a.b", in: gancho.EventTypeInput{Schema: json.RawMessage(`{"$ref":"https://example.com/s.json"}`)},
			kind: gancho.KindInvalid, field: "schema", reason: "https://example.com/s.json"},
		{name: "relative $ref", typ: "a.b", in: gancho.EventTypeInput{Schema: json.RawMessage(`{"$ref":"other.json"}`)},
			kind: gancho.KindInvalid, field: "schema", reason: "not allowed"},
		{name: "file $ref", typ: "a.b", in: gancho.EventTypeInput{Schema: json.RawMessage(`{"$ref":"file:///etc/passwd"}`)},
			kind: gancho.KindInvalid, field: "schema", reason: "not allowed"},
		{name: "file $ref through $id", typ: "a.b", in: gancho.EventTypeInput{Schema: json.RawMessage(`{"$id":"file:///etc/","$ref":"passwd"}`)},
			kind: gancho.KindInvalid, field: "schema", reason: "not allowed"},
		{name: "remote $schema", typ: "a.b", in: gancho.EventTypeInput{Schema: json.RawMessage(`{"$schema":"https://example.com/meta","type":"object"}`)},
			kind: gancho.KindInvalid, field: "schema", reason: "not allowed"},
		{name: "dangling local $ref", typ: "a.b", in: gancho.EventTypeInput{Schema: json.RawMessage(`{"$ref":"#/$defs/missing"}`)},
			kind: gancho.KindInvalid, field: "schema", reason: "not found"},
		{name: "schema too large", typ: "a.b", in: gancho.EventTypeInput{Schema: schemaOfSize(gancho.MaxSchemaBytes + 1)},
			kind: gancho.KindInvalid, field: "schema", reason: "at most"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, sch, err := gancho.NewEventType(tc.typ, tc.in)
			if err == nil || sch != nil {
				t.Fatalf("accepted: schema %v, err %v", sch, err)
			}
			var ge *gancho.Error
			if !errors.As(err, &ge) || ge.Kind != tc.kind {
				t.Fatalf("err = %#v, want kind %d", err, tc.kind)
			}
			for _, fe := range ge.Fields {
				if fe.Field == tc.field && strings.Contains(fe.Message, tc.reason) {
					if strings.Contains(fe.Message, "gancho.invalid") {
						t.Errorf("message shows the internal schema location: %q", fe.Message)
					}
					return
				}
			}
			t.Fatalf("fields %+v do not name %q with %q", ge.Fields, tc.field, tc.reason)
		})
	}
}

func TestNewEventTypeReportsEveryField(t *testing.T) {
	t.Parallel()
	_, _, err := gancho.NewEventType("a b", gancho.EventTypeInput{Description: etString(strings.Repeat("x", 501)), Schema: json.RawMessage(`{"type":1}`)})
	var ge *gancho.Error
	if !errors.As(err, &ge) {
		t.Fatalf("err = %v", err)
	}
	var fields []string
	for _, fe := range ge.Fields {
		fields = append(fields, fe.Field)
	}
	if !slices.Equal(fields, []string{"name", "description", "schema"}) {
		t.Fatalf("fields = %v", fields)
	}
}

func TestNewEventTypeAccepts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		typ        string
		in         gancho.EventTypeInput
		wantSchema string // stored form; "" for none
	}{
		{name: "no schema", typ: "crm.lead.created"},
		{name: "null schema", typ: "crm.lead.created", in: gancho.EventTypeInput{Schema: json.RawMessage(`null`)}},
		{name: "single segment, digits, dash and underscore", typ: "Order_v2-created"},
		{name: "name of 200 chars", typ: strings.Repeat("a", 200)},
		{name: "description of 500 chars", typ: "a.b", in: gancho.EventTypeInput{Description: etString(strings.Repeat("é", 500))}},
		{name: "schema compacted", typ: "a.b", in: gancho.EventTypeInput{Schema: json.RawMessage("{ \"type\" : \"object\",\n \"required\": [\"id\"] }")},
			wantSchema: `{"type":"object","required":["id"]}`},
		{name: "boolean schema", typ: "a.b", in: gancho.EventTypeInput{Schema: json.RawMessage(`true`)}, wantSchema: `true`},
		{name: "local $ref", typ: "a.b", in: gancho.EventTypeInput{Schema: json.RawMessage(`{"$defs":{"id":{"type":"string"}},"properties":{"id":{"$ref":"#/$defs/id"}}}`)},
			wantSchema: `{"$defs":{"id":{"type":"string"}},"properties":{"id":{"$ref":"#/$defs/id"}}}`},
		{name: "draft-07 by $schema", typ: "a.b", in: gancho.EventTypeInput{Schema: json.RawMessage(`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object"}`)},
			wantSchema: `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object"}`},
		{name: "2020-12 meta-schema named", typ: "a.b", in: gancho.EventTypeInput{Schema: json.RawMessage(`{"$schema":"https://json-schema.org/draft/2020-12/schema"}`)},
			wantSchema: `{"$schema":"https://json-schema.org/draft/2020-12/schema"}`},
		{name: "schema of exactly 64 KiB", typ: "a.b", in: gancho.EventTypeInput{Schema: schemaOfSize(gancho.MaxSchemaBytes)},
			wantSchema: string(schemaOfSize(gancho.MaxSchemaBytes))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			et, sch, err := gancho.NewEventType(tc.typ, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if et.Name != tc.typ || et.Archived || et.BuiltIn {
				t.Errorf("type = %+v", et)
			}
			if string(et.Schema) != tc.wantSchema || et.HasSchema != (tc.wantSchema != "") || (sch != nil) != (tc.wantSchema != "") {
				t.Errorf("schema %q (has %v, compiled %v), want %q", et.Schema, et.HasSchema, sch != nil, tc.wantSchema)
			}
			if tc.in.Description != nil && et.Description != *tc.in.Description {
				t.Errorf("description %q", et.Description)
			}
		})
	}
}

func TestSchemaValidate(t *testing.T) {
	t.Parallel()
	const schema = `{
		"type": "object",
		"required": ["id", "total"],
		"additionalProperties": false,
		"properties": {
			"id": {"type": "string", "minLength": 1},
			"total": {"type": "number", "minimum": 0},
			"a/b": {"type": "integer"},
			"items": {"type": "array", "items": {"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string"}}}},
			"when": {"type": "string", "format": "date-time"}
		}
	}`
	sch, err := gancho.CompileSchema(json.RawMessage(schema))
	if err != nil {
		t.Fatal(err)
	}
	many := `{"id":"x","total":1,"items":[` + strings.Repeat(`{"sku":1},`, 30) + `{"sku":1}]}`
	cases := []struct {
		name    string
		payload string
		want    []string // fields, in order
	}{
		{name: "valid", payload: `{"id":"o-1","total":12.5,"items":[{"sku":"s"}]}`},
		{name: "big numbers keep their precision", payload: `{"id":"o-1","total":123456789012345678901234567890}`},
		{name: "format is an annotation", payload: `{"id":"o-1","total":1,"when":"yesterday"}`},
		{name: "wrong type", payload: `{"id":"o-1","total":"12"}`, want: []string{"payload/total"}},
		{name: "below minimum", payload: `{"id":"o-1","total":-1}`, want: []string{"payload/total"}},
		{name: "missing properties", payload: `{}`, want: []string{"payload/id", "payload/total"}},
		{name: "unexpected property", payload: `{"id":"o-1","total":1,"extra":true}`, want: []string{"payload/extra"}},
		{name: "nested array item", payload: `{"id":"o-1","total":1,"items":[{"sku":"a"},{}]}`, want: []string{"payload/items/1/sku"}},
		{name: "escaped pointer", payload: `{"id":"o-1","total":1,"a/b":"x"}`, want: []string{"payload/a~1b"}},
		{name: "not an object", payload: `[1]`, want: []string{"payload"}},
		{name: "several at once", payload: `{"id":"","total":"x","extra":1}`, want: []string{"payload/extra", "payload/id", "payload/total"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, fe := range sch.Validate(json.RawMessage(tc.payload)) {
				if fe.Message == "" || strings.HasPrefix(fe.Message, "at ") || strings.Contains(fe.Message, "gancho.invalid") {
					t.Errorf("%s: message %q", fe.Field, fe.Message)
				}
				got = append(got, fe.Field)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("fields %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("at most 20 errors", func(t *testing.T) {
		t.Parallel()
		errs := sch.Validate(json.RawMessage(many))
		if len(errs) != gancho.MaxSchemaErrors {
			t.Fatalf("%d errors, want %d", len(errs), gancho.MaxSchemaErrors)
		}
		for i, fe := range errs {
			if want := fmt.Sprintf("payload/items/%d/sku", i); fe.Field != want {
				t.Fatalf("error %d names %s, want %s", i, fe.Field, want)
			}
		}
	})
}

func TestCatalogCheckPattern(t *testing.T) {
	t.Parallel()
	cat := gancho.NewCatalog([]gancho.EventType{
		{Name: "crm.lead.created"},
		{Name: "crm.lead.updated"},
		{Name: "crm.leads"},
		{Name: "chat.conversation.created", Archived: true},
		{Name: "invoice.paid"},
		{Name: "legacy.thing", Archived: true},
	})
	cases := []struct {
		pattern string
		ok      bool
		reason  string
	}{
		{"*", true, ""},
		{"crm.lead.created", true, ""},
		{"crm.*", true, ""},
		{"crm.lead.*", true, ""},
		{"crm.leads", true, ""},
		{"invoice.*", true, ""},
		{"webhook.test", true, ""},
		{"webhook.*", true, ""},
		{"crm.lead", false, "not in this tenant's event-type catalog"},
		{"crm.lead.created.*", false, `no active event type starts with "crm.lead.created."`},
		{"crm.leads.*", false, "no active event type starts with"},
		{"order.*", false, "no active event type starts with"},
		{"order.created", false, "not in this tenant's event-type catalog"},
		{"chat.conversation.created", false, "archived"},
		{"chat.*", false, "no active event type starts with"},
		{"legacy.*", false, "no active event type starts with"},
		{"Invoice.paid", false, "not in this tenant's event-type catalog"},
		{"invoice", false, "not in this tenant's event-type catalog"},
	}
	for _, tc := range cases {
		t.Run(tc.pattern, func(t *testing.T) {
			t.Parallel()
			msg := cat.CheckPattern(tc.pattern)
			if (msg == "") != tc.ok || !strings.Contains(msg, tc.reason) {
				t.Fatalf("CheckPattern(%q) = %q, want ok=%v with %q", tc.pattern, msg, tc.ok, tc.reason)
			}
			if !tc.ok && !strings.Contains(msg, "/v1/event-types") {
				t.Errorf("message %q does not say where the catalog is", msg)
			}
		})
	}
}

func TestCatalogCheckPatternsNamesEachEntry(t *testing.T) {
	t.Parallel()
	cat := gancho.NewCatalog([]gancho.EventType{{Name: "a.b"}})
	errs := cat.CheckPatterns([]string{"a.b", "x.y", "*", "z.*"})
	var fields []string
	for _, fe := range errs {
		fields = append(fields, fe.Field)
	}
	if !slices.Equal(fields, []string{"events[1]", "events[3]"}) {
		t.Fatalf("fields = %v", fields)
	}
	if errs := gancho.NewCatalog(nil).CheckPatterns([]string{"*"}); len(errs) != 0 {
		t.Fatalf("* refused on an empty catalog: %v", errs)
	}
}

func TestCatalogCheckPublishType(t *testing.T) {
	t.Parallel()
	cat := gancho.NewCatalog([]gancho.EventType{{Name: "a.b"}, {Name: "a.old", Archived: true}})
	cases := []struct {
		typ    string
		reason string // "" = accepted
	}{
		{"a.b", ""},
		{"a.old", "archived"},
		{"a.c", "not in this tenant's event-type catalog"},
		{"a", "not in this tenant's event-type catalog"},
	}
	for _, tc := range cases {
		msg := cat.CheckPublishType(tc.typ)
		if (msg == "") != (tc.reason == "") || !strings.Contains(msg, tc.reason) {
			t.Errorf("CheckPublishType(%q) = %q, want %q", tc.typ, msg, tc.reason)
		}
	}
	if et, ok := cat.Lookup(gancho.TypeTest); !ok || !et.BuiltIn || et.Archived {
		t.Errorf("built-in type missing from the catalog: %+v", et)
	}
	if want := 2 + len(gancho.BuiltInEventTypes()); cat.Len() != want {
		t.Errorf("Len = %d, want %d with the built-in types", cat.Len(), want)
	}
}

func TestBuiltInTypeCannotBeShadowed(t *testing.T) {
	t.Parallel()
	cat := gancho.NewCatalog([]gancho.EventType{{Name: gancho.TypeTest, Archived: true}})
	if et, _ := cat.Lookup(gancho.TypeTest); !et.BuiltIn || et.Archived {
		t.Fatalf("stored entry replaced the built-in type: %+v", et)
	}
}

func TestEventTypeJSON(t *testing.T) {
	t.Parallel()
	builtIn := gancho.BuiltInEventTypes()
	b, err := json.Marshal(builtIn[len(builtIn)-1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["name"] != gancho.TypeTest || m["builtIn"] != true || m["archived"] != false {
		t.Errorf("built-in type = %s", b)
	}
	for _, hidden := range []string{"createdAt", "updatedAt", "schema", "Rev", "HasSchema", "TenantID"} {
		if _, ok := m[hidden]; ok {
			t.Errorf("built-in type shows %s: %s", hidden, b)
		}
	}
}

// exponentialDefs returns $defs in which checking d0 against any value applies
// 2^depth schemas: each level's anyOf refers twice to the next level.
func exponentialDefs(depth int) string {
	var b strings.Builder
	for i := 0; i < depth; i++ {
		fmt.Fprintf(&b, `"d%d":{"anyOf":[{"$ref":"#/$defs/d%d"},{"$ref":"#/$defs/d%d"}]},`, i, i+1, i+1)
	}
	fmt.Fprintf(&b, `"d%d":false`, depth)
	return b.String()
}

func TestSchemaEvaluationBudget(t *testing.T) {
	t.Parallel()
	t.Run("refused when trivial values already explode", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		_, _, err := gancho.NewEventType("a.b", gancho.EventTypeInput{Schema: json.RawMessage(`{"$ref":"#/$defs/d0","$defs":{` + exponentialDefs(40) + `}}`)})
		var ge *gancho.Error
		if !errors.As(err, &ge) || len(ge.Fields) != 1 || ge.Fields[0].Field != "schema" || !strings.Contains(ge.Fields[0].Message, "evaluation steps") {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("refusing took %s", d)
		}
	})
	t.Run("payload that explodes is refused, not evaluated for ever", func(t *testing.T) {
		t.Parallel()
		sch, err := gancho.CompileSchema(json.RawMessage(`{"properties":{"x":{"$ref":"#/$defs/d0"}},"$defs":{` + exponentialDefs(40) + `}}`))
		if err != nil {
			t.Fatal(err)
		}
		if errs := sch.Validate(json.RawMessage(`{"y":1}`)); len(errs) != 0 {
			t.Fatalf("harmless payload refused: %v", errs)
		}
		start := time.Now()
		errs := sch.Validate(json.RawMessage(`{"x":{}}`))
		if len(errs) != 1 || errs[0].Field != "payload" || !strings.Contains(errs[0].Message, "evaluation steps") {
			t.Fatalf("errs = %v", errs)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("refusing took %s", d)
		}
		// The schema still works afterwards.
		if errs := sch.Validate(json.RawMessage(`{"y":2}`)); len(errs) != 0 {
			t.Fatalf("after an abandoned validation: %v", errs)
		}
	})
	t.Run("large payloads fit the step budget", func(t *testing.T) {
		t.Parallel()
		sch, err := gancho.CompileSchema(json.RawMessage(`{"type":"array","items":{"anyOf":[{"type":"integer"},{"type":"string"}]}}`))
		if err != nil {
			t.Fatal(err)
		}
		// Checking 131,071 values takes more than the CPU budget; steps are under test.
		gancho.SetCheckBudget(sch, time.Hour)
		payload := "[" + strings.TrimSuffix(strings.Repeat("1,", (gancho.MaxPayloadBytes-2)/2), ",") + "]"
		if errs := sch.Validate(json.RawMessage(payload)); len(errs) != 0 {
			t.Fatalf("a %d-byte payload was refused: %v", len(payload), errs)
		}
	})
}

func TestSchemaConcurrentUse(t *testing.T) {
	t.Parallel()
	sch, err := gancho.CompileSchema(json.RawMessage(`{"required":["id"],"properties":{"id":{"type":"string"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	failures := make(chan string, 64)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload, want := `{"id":"x"}`, 0
			if i%2 == 1 {
				payload, want = `{"id":1}`, 1
			}
			for j := 0; j < 50; j++ {
				if got := len(sch.Validate(json.RawMessage(payload))); got != want {
					failures <- fmt.Sprintf("%s: %d errors, want %d", payload, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
}
