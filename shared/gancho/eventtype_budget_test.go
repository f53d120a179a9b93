package gancho_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// hostileNumbers returns a payload of exactly size bytes: an object whose "n" is an
// array of numbers such as 1e999999, each of which once cost tens of milliseconds
// of big-number arithmetic to check.
func hostileNumbers(size int) string {
	const head, tail, num = `{"n":[`, `]}`, `1e999999`
	var b strings.Builder
	b.WriteString(head)
	for i := 0; b.Len()+len(num)+1+len(tail) <= size; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(num)
	}
	b.WriteString(strings.Repeat(" ", size-b.Len()-len(tail)))
	b.WriteString(tail)
	return b.String()
}

// nestedSchema returns a schema whose properties nest levels deep: its JSON nests
// 2*levels+1 objects. A thousand levels once took seconds to compile.
func nestedSchema(levels int) string {
	return strings.Repeat(`{"properties":{"a":`, levels) + `{}` + strings.Repeat(`}}`, levels)
}

func TestSchemaRefusesCostlyNumbers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, schema, payload string
		want                  []string // fields refused for their numbers
	}{
		{name: "huge integer", schema: `{"properties":{"n":{"type":"integer"}}}`, payload: `{"n":1e999999}`, want: []string{"payload/n"}},
		{name: "tiny fraction", schema: `{"items":{"minimum":0}}`, payload: `[1,1e-999999]`, want: []string{"payload/1"}},
		{name: "signed exponent", schema: `{"properties":{"n":{"multipleOf":0.5}}}`, payload: `{"n":-1E+999999}`, want: []string{"payload/n"}},
		{name: "enum at the root", schema: `{"enum":[1,2]}`, payload: `1e999999`, want: []string{"payload"}},
		{name: "any schema", schema: `{"type":"object"}`, payload: `{"a/b":{"c":[2e-5000]}}`, want: []string{"payload/a~1b/c/0"}},
		{name: "too many digits", schema: `{"type":"number"}`, payload: "1" + strings.Repeat("0", gancho.MaxNumberDigits), want: []string{"payload"}},
		{name: "too many fraction digits", schema: `{"type":"number"}`, payload: "0." + strings.Repeat("0", gancho.MaxNumberDigits), want: []string{"payload"}},
		{name: "exponent just over", schema: `{"type":"number"}`, payload: fmt.Sprintf("1e%d", gancho.MaxNumberExponent+1), want: []string{"payload"}},
		{name: "negative exponent just over", schema: `{"type":"number"}`, payload: fmt.Sprintf("1.5e-%d", gancho.MaxNumberExponent+1), want: []string{"payload"}},
		{name: "exponent with many digits", schema: `{"type":"number"}`, payload: `1e100000000000000000000`, want: []string{"payload"}},
		{name: "at most as many digits", schema: `{"type":"integer"}`, payload: strings.Repeat("9", gancho.MaxNumberDigits)},
		{name: "at most as large an exponent", schema: `{"type":"integer"}`, payload: fmt.Sprintf("1e%d", gancho.MaxNumberExponent)},
		{name: "exponent with leading zeros", schema: `{"minimum":0}`, payload: fmt.Sprintf("1e-0000%d", gancho.MaxNumberExponent)},
		{name: "ordinary numbers", schema: `{"items":{"type":"number","minimum":-1e308,"multipleOf":1e-9}}`, payload: `[0,-12.5,1e300,123456789.123456789]`},
		{name: "at most 20 reported", schema: `{"type":"object"}`, payload: hostileNumbers(400),
			want: func() []string {
				var w []string
				for i := 0; i < gancho.MaxSchemaErrors; i++ {
					w = append(w, fmt.Sprintf("payload/n/%d", i))
				}
				return w
			}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sch, err := gancho.CompileSchema(json.RawMessage(tc.schema))
			if err != nil {
				t.Fatal(err)
			}
			gancho.SetCheckBudget(sch, time.Minute) // the number bound, not the time budget, is under test
			var got []string
			for _, fe := range sch.Validate(json.RawMessage(tc.payload)) {
				if !strings.Contains(fe.Message, "digits") || !strings.Contains(fe.Message, "exponent") {
					t.Errorf("%s: message %q does not explain the bound", fe.Field, fe.Message)
				}
				got = append(got, fe.Field)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("refused %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNewEventTypeRefusesCostlySchemas(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, schema string
		refused      string // in the message; "" when the schema is accepted
	}{
		{name: "deeply nested", schema: nestedSchema(1000), refused: "levels"},
		{name: "nested arrays", schema: `{"allOf":[` + strings.Repeat(`{"allOf":[`, 200) + `{}` + strings.Repeat(`]}`, 200) + `]}`, refused: "levels"},
		{name: "deep const", schema: `{"const":` + strings.Repeat(`[`, 500) + strings.Repeat(`]`, 500) + `}`, refused: "levels"},
		{name: "huge minimum", schema: `{"properties":{"n":{"minimum":1e999999}}}`, refused: `"/properties/n/minimum"`},
		{name: "tiny multipleOf", schema: `{"multipleOf":1e-999999}`, refused: `"/multipleOf"`},
		{name: "long enum number", schema: `{"enum":[1,` + strings.Repeat("7", 5000) + `]}`, refused: `"/enum/1"`},
		{name: "as deep as allowed", schema: nestedSchema((gancho.MaxSchemaDepth - 1) / 2)},
		{name: "ordinary bounds", schema: `{"properties":{"n":{"type":"integer","minimum":-9007199254740991,"maximum":1e300,"multipleOf":1e-9}}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, sch, err := gancho.NewEventType("a.b", gancho.EventTypeInput{Schema: json.RawMessage(tc.schema)})
			if tc.refused == "" {
				if err != nil || sch == nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ge *gancho.Error
			if !errors.As(err, &ge) || ge.Kind != gancho.KindInvalid || len(ge.Fields) != 1 || ge.Fields[0].Field != "schema" {
				t.Fatalf("err = %v, want 422 naming schema", err)
			}
			if msg := ge.Fields[0].Message; !strings.Contains(msg, tc.refused) {
				t.Fatalf("message %q does not mention %s", msg, tc.refused)
			}
		})
	}
}

// The time budget cuts off any slow path the structural bounds miss; a budget of a
// nanosecond makes every compile and check run over it.
func TestSchemaTimeBudget(t *testing.T) {
	t.Parallel()
	const schema = `{"type":"object","properties":{"id":{"type":"string"}}}`
	cases := []struct {
		name  string
		check func(t *testing.T) string // returns the refusal, "" if none
		want  string
	}{
		{name: "compile over budget", want: "to compile", check: func(t *testing.T) string {
			_, err := gancho.CompileSchemaWithin(json.RawMessage(schema), time.Nanosecond)
			if err == nil {
				return ""
			}
			return err.Error()
		}},
		{name: "compile within budget", check: func(t *testing.T) string {
			_, err := gancho.CompileSchemaWithin(json.RawMessage(schema), time.Minute)
			if err != nil {
				return err.Error()
			}
			return ""
		}},
		{name: "check over budget", want: "time budget", check: func(t *testing.T) string {
			sch, err := gancho.CompileSchema(json.RawMessage(schema))
			if err != nil {
				t.Fatal(err)
			}
			gancho.SetCheckBudget(sch, time.Nanosecond)
			errs := sch.Validate(json.RawMessage(`{"id":"x"}`))
			if len(errs) != 1 || errs[0].Field != "payload" {
				return fmt.Sprint(errs)
			}
			return errs[0].Message
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := tc.check(t)
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Fatalf("got %q, want a refusal mentioning %q", got, tc.want)
			}
		})
	}
}

// Checks against one schema never wait for each other: one check is held in
// progress while others of the same schema complete.
func TestSchemaChecksRunInParallel(t *testing.T) {
	t.Parallel()
	sch, err := gancho.CompileSchema(json.RawMessage(`{"properties":{"id":{"type":"string"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	parked, release := make(chan struct{}), make(chan struct{})
	gancho.SetStepHook(sch, func(v any) {
		if v == "park" {
			close(parked)
			<-release
		}
	})
	gancho.SetCheckBudget(sch, time.Hour) // the parked check must not run out of time
	held := make(chan []gancho.FieldError)
	go func() { held <- sch.Validate(json.RawMessage(`{"id":"park"}`)) }()
	<-parked

	cases := []struct {
		name, payload string
		want          int
	}{
		{"valid", `{"id":"x"}`, 0},
		{"invalid", `{"id":1}`, 1},
	}
	for _, tc := range cases {
		done := make(chan []gancho.FieldError, 1)
		go func() { done <- sch.Validate(json.RawMessage(tc.payload)) }()
		select {
		case errs := <-done:
			if len(errs) != tc.want {
				t.Errorf("%s: %v, want %d errors", tc.name, errs, tc.want)
			}
		case <-time.After(10 * time.Second): // a failure detector, not a timing assertion
			t.Errorf("%s: check waited for another check of the same schema", tc.name)
		}
	}
	close(release)
	if errs := <-held; len(errs) != 0 {
		t.Fatalf("held check: %v", errs)
	}
}

// BenchmarkSchemaValidateHostile checks payloads of hostile numbers (931 and 1,831
// bytes) against schemas whose keywords turn numbers into big-number arithmetic.
func BenchmarkSchemaValidateHostile(b *testing.B) {
	for _, keyword := range []string{`"type":"integer"`, `"minimum":0`} {
		sch, err := gancho.CompileSchema(json.RawMessage(`{"properties":{"n":{"items":{` + keyword + `}}}}`))
		if err != nil {
			b.Fatal(err)
		}
		for _, size := range []int{931, 1831} {
			payload := json.RawMessage(hostileNumbers(size))
			b.Run(fmt.Sprintf("%s/%dB", strings.SplitN(strings.Trim(keyword, `"`), `"`, 2)[0], size), func(b *testing.B) {
				for b.Loop() {
					sch.Validate(payload)
				}
			})
		}
	}
}

// BenchmarkCompileSchemaNested compiles a schema nested a thousand levels deep.
func BenchmarkCompileSchemaNested(b *testing.B) {
	raw := json.RawMessage(nestedSchema(1000))
	for b.Loop() {
		gancho.CompileSchema(raw)
	}
}
