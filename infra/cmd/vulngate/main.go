// Command vulngate reads `govulncheck -format json` on stdin and decides: every
// vulnerability that code here reaches (a finding whose trace ends in a function)
// is listed once, and the exit status is 1 when one is in a module. Reachable
// vulnerabilities of the standard library fail too with -stdlib=fail; with
// -stdlib=report they are listed as NOT FIXED and do not fail, for while the Go
// version that fixes them is not yet the one this project builds with.
//
//	govulncheck -format json ./... | go run ./infra/cmd/vulngate -stdlib=fail
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
	Receiver string `json:"receiver"`
}

type message struct {
	Finding *struct {
		OSV          string  `json:"osv"`
		FixedVersion string  `json:"fixed_version"`
		Trace        []frame `json:"trace"`
	} `json:"finding"`
	OSV *struct {
		ID      string `json:"id"`
		Summary string `json:"summary"`
	} `json:"osv"`
}

type vuln struct {
	id, module, version, fixed, summary string
	symbols                             map[string]bool
}

func main() {
	stdlib := flag.String("stdlib", "fail", "reachable standard-library vulnerabilities: fail or report")
	flag.Parse()
	if *stdlib != "fail" && *stdlib != "report" {
		fmt.Fprintln(os.Stderr, "vulngate: -stdlib must be fail or report")
		os.Exit(2)
	}
	vulns, err := read(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vulngate: %v\n", err)
		os.Exit(2)
	}
	ids := make([]string, 0, len(vulns))
	for id := range vulns {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	failed, reported := 0, 0
	for _, id := range ids {
		v := vulns[id]
		verdict := "FAIL"
		if v.module == "stdlib" && *stdlib == "report" {
			verdict, reported = "NOT FIXED", reported+1
		} else {
			failed++
		}
		syms := make([]string, 0, len(v.symbols))
		for s := range v.symbols {
			syms = append(syms, s)
		}
		sort.Strings(syms)
		if len(syms) > 3 {
			syms = append(syms[:3], fmt.Sprintf("and %d more", len(syms)-3))
		}
		fmt.Printf("govulncheck: %s %s in %s@%s, fixed in %s: %s\n    vulnerable code reached: %s\n",
			verdict, id, v.module, v.version, v.fixed, v.summary, strings.Join(syms, ", "))
	}
	switch {
	case failed > 0:
		fmt.Printf("govulncheck: %d reachable vulnerabilities: upgrade the modules (or Go) named above\n", failed)
		os.Exit(1)
	case reported > 0:
		fmt.Printf("govulncheck: %d reachable vulnerabilities of the standard library NOT FIXED: they need the Go version named above\n", reported)
	default:
		fmt.Println("govulncheck: no reachable vulnerabilities")
	}
}

// read collects the reachable findings of a govulncheck JSON stream, by id.
func read(r io.Reader) (map[string]*vuln, error) {
	summaries := map[string]string{}
	out := map[string]*vuln{}
	dec := json.NewDecoder(r)
	for {
		var m message
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read govulncheck output: %w", err)
		}
		if m.OSV != nil {
			summaries[m.OSV.ID] = m.OSV.Summary
		}
		f := m.Finding
		if f == nil || len(f.Trace) == 0 || f.Trace[0].Function == "" {
			continue // not reached: only imported or required
		}
		top := f.Trace[0]
		v, ok := out[f.OSV]
		if !ok {
			v = &vuln{id: f.OSV, module: top.Module, version: top.Version, fixed: f.FixedVersion, symbols: map[string]bool{}}
			out[f.OSV] = v
		}
		sym := top.Package + "." + top.Function
		if top.Receiver != "" {
			sym = top.Package + "." + strings.TrimPrefix(top.Receiver, "*") + "." + top.Function
		}
		v.symbols[sym] = true
	}
	for id, v := range out {
		v.summary = summaries[id]
	}
	return out, nil
}
