package gancho

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// schemaSlowLimit is how long compiling one schema and checking one payload may take
// before the input is reported as slow. Slow inputs are written to the folder named
// by GANCHO_FUZZ_SLOW (when set) and logged, and do not fail the target: the schema
// CPU budget (the API contract, "Schema checks are bounded") is what refuses them. Once
// that budget is enforced, this target should instead assert that every input either
// finishes within the budget or is refused by it with a 422 naming "schema" or
// "payload", and fail on any input that does neither.
const schemaSlowLimit = 2 * time.Second

func reportSlow(t *testing.T, what string, took time.Duration, schema, payload []byte) {
	t.Helper()
	t.Logf("slow %s (%v): schema %q payload %q", what, took, schema, payload)
	dir := os.Getenv("GANCHO_FUZZ_SLOW")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	entry := fmt.Sprintf("FuzzSchema %s took %v\nschema:  %q\npayload: %q\n", what, took.Round(time.Millisecond), schema, payload)
	name := filepath.Join(dir, fmt.Sprintf("schema-%d.txt", time.Now().UnixNano()))
	if err := os.WriteFile(name, []byte(entry), 0o644); err != nil {
		t.Fatal(err)
	}
}

// FuzzSchema compiles a schema and checks a payload against it: neither may panic,
// a compiled schema answers the same for the same payload, and every violation names
// "payload" or a JSON pointer below it, at most MaxSchemaErrors of them.
func FuzzSchema(f *testing.F) {
	for _, s := range [][2]string{
		{`{"type":"object","required":["id"],"properties":{"id":{"type":"string"}}}`, `{"id":"a"}`},
		{`{"type":"object","required":["id"],"properties":{"id":{"type":"string"}}}`, `{"id":1}`},
		{`{"type":"array","items":{"type":"integer","maximum":10}}`, `[1,2,30,"x"]`},
		{`{"$ref":"#/$defs/a","$defs":{"a":{"anyOf":[{"$ref":"#/$defs/a"},{"type":"null"}]}}}`, `null`},
		{`{"$ref":"https://example.com/remote.json"}`, `{}`},
		{`{"pattern":"^(a+)+$"}`, `"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"`},
		{`{"maximum":1e999}`, `1`},
		{`{"multipleOf":0.0001}`, `1e300`},
		{`{"properties":{"a~1b":{"const":1},"c/d":{"type":"string"}}}`, `{"a~1b":2,"c/d":3}`},
		{`true`, `{"anything":[1,2,3]}`},
		{`false`, `1`},
		{`{"$schema":"http://json-schema.org/draft-07/schema#","type":"string","format":"email"}`, `"not an email"`},
		{`{"type":`, `{}`},
		{`{}`, `{"a":`},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, schema, payload []byte) {
		if len(schema) > MaxSchemaBytes || len(payload) > MaxPayloadBytes {
			t.Skip("larger than the API accepts")
		}
		start := time.Now()
		sch, err := CompileSchema(schema)
		if took := time.Since(start); took > schemaSlowLimit {
			reportSlow(t, "compile", took, schema, payload)
			return
		}
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatalf("CompileSchema(%q) refused it with an empty reason", schema)
			}
			return
		}
		start = time.Now()
		first := sch.Validate(payload)
		if took := time.Since(start); took > schemaSlowLimit {
			reportSlow(t, "validate", took, schema, payload)
			return
		}
		if len(first) > MaxSchemaErrors {
			t.Fatalf("Validate returned %d violations, more than %d", len(first), MaxSchemaErrors)
		}
		for _, fe := range first {
			if fe.Field != "payload" && !strings.HasPrefix(fe.Field, "payload/") || fe.Message == "" {
				t.Fatalf("violation %+v does not name the payload or a pointer below it, with a message", fe)
			}
		}
		if !json.Valid(payload) && len(first) == 0 {
			t.Fatalf("Validate accepted payload %q, which is not JSON", payload)
		}
		// The same payload gets the same verdict. The violations are compared as a set:
		// their order follows the validator's map iteration and varies from call to call
		// (and past MaxSchemaErrors, so may the ones reported), so only the count is
		// compared there.
		second := sch.Validate(payload)
		if len(first) != len(second) {
			t.Fatalf("Validate is not deterministic for schema %q payload %q: %d then %d violations", schema, payload, len(first), len(second))
		}
		if len(first) < MaxSchemaErrors {
			a, b := violationSet(first), violationSet(second)
			if !bytes.Equal(a, b) {
				t.Fatalf("Validate is not deterministic for schema %q payload %q:\n%s\n%s", schema, payload, a, b)
			}
		}
	})
}

func violationSet(fes []FieldError) []byte {
	sorted := slices.Clone(fes)
	slices.SortFunc(sorted, func(a, b FieldError) int {
		return cmp.Or(strings.Compare(a.Field, b.Field), strings.Compare(a.Message, b.Message))
	})
	out, _ := json.Marshal(sorted)
	return out
}
