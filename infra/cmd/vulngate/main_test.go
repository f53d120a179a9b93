package main

import (
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	const stream = `{"osv": {"id": "GO-1", "summary": "bad parse"}}
{"osv": {"id": "GO-2", "summary": "bad mod"}}
{"finding": {"osv": "GO-1", "fixed_version": "v1.26.9", "trace": [{"module": "stdlib", "version": "v1.26.8"}]}}
{"finding": {"osv": "GO-1", "fixed_version": "v1.26.9", "trace": [{"module": "stdlib", "version": "v1.26.8", "package": "net/http", "function": "Do", "receiver": "*Client"}, {"module": "m", "function": "main"}]}}
{"finding": {"osv": "GO-1", "fixed_version": "v1.26.9", "trace": [{"module": "stdlib", "version": "v1.26.8", "package": "net/http", "function": "Get"}]}}
{"finding": {"osv": "GO-2", "fixed_version": "v0.41.0", "trace": [{"module": "golang.org/x/text", "version": "v0.14.0", "package": "golang.org/x/text/language"}]}}
{"finding": {"osv": "GO-3", "fixed_version": "v2.0.1", "trace": [{"module": "example.com/m", "version": "v2.0.0", "package": "example.com/m/p", "function": "F"}]}}
`
	got, err := read(strings.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		id      string
		reached bool
		module  string
		symbols []string
	}{
		{"GO-1", true, "stdlib", []string{"net/http.Client.Do", "net/http.Get"}},
		{"GO-2", false, "", nil}, // imported, never called
		{"GO-3", true, "example.com/m", []string{"example.com/m/p.F"}},
	}
	for _, tc := range cases {
		v, ok := got[tc.id]
		if ok != tc.reached {
			t.Errorf("%s reached = %v, want %v", tc.id, ok, tc.reached)
			continue
		}
		if !ok {
			continue
		}
		if v.module != tc.module || len(v.symbols) != len(tc.symbols) {
			t.Errorf("%s = %+v, want module %s symbols %v", tc.id, v, tc.module, tc.symbols)
		}
		for _, s := range tc.symbols {
			if !v.symbols[s] {
				t.Errorf("%s lacks symbol %s: %v", tc.id, s, v.symbols)
			}
		}
	}
	if got["GO-1"].summary != "bad parse" {
		t.Errorf("GO-1 summary %q", got["GO-1"].summary)
	}
}
