package gancho

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestSchemaErrorsAreStable: the same payload always gets the same errors in the same
// order, and past MaxSchemaErrors the same ones are kept.
func TestSchemaErrorsAreStable(t *testing.T) {
	t.Parallel()
	var props, payload []string
	for i := range MaxSchemaErrors + 10 {
		props = append(props, fmt.Sprintf(`"p%02d":{"type":"string"}`, i))
		payload = append(payload, fmt.Sprintf(`"p%02d":%d`, i, i))
	}
	cases := []struct{ name, schema, payload string }{
		{"escaped names", `{"properties":{"a~1b":{"const":1},"c/d":{"type":"string"}}}`, `{"a~1b":2,"c/d":3}`},
		{"more errors than reported", `{"properties":{` + strings.Join(props, ",") + `}}`, `{` + strings.Join(payload, ",") + `}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := CompileSchema(json.RawMessage(tc.schema))
			if err != nil {
				t.Fatal(err)
			}
			first := s.Validate(json.RawMessage(tc.payload))
			if len(first) == 0 || len(first) > MaxSchemaErrors {
				t.Fatalf("got %d errors", len(first))
			}
			for range 50 {
				if got := s.Validate(json.RawMessage(tc.payload)); !reflect.DeepEqual(got, first) {
					t.Fatalf("errors changed between checks:\n%v\n%v", first, got)
				}
			}
		})
	}
}
