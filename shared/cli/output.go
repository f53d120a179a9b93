package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// printJSON prints v indented; a []byte or json.RawMessage is the API's own JSON,
// printed as it came (indented).
func (a *app) printJSON(v any) error {
	return writeJSON(a.stdout, v, true)
}

func writeJSON(w io.Writer, v any, indent bool) error {
	var raw []byte
	switch x := v.(type) {
	case []byte:
		raw = x
	case json.RawMessage:
		raw = x
	default:
		var err error
		if raw, err = json.Marshal(v); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	var err error
	if indent {
		err = json.Indent(&buf, raw, "", "  ")
	} else {
		err = json.Compact(&buf, raw)
	}
	if err != nil { // not JSON after all: print it as it is
		buf.Reset()
		buf.Write(raw)
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}

// printList prints a list answer: its JSON with --json, else a table of the rows
// row returns for each item, and the next cursor when there is one.
func printList[T any](a *app, pg listPage, headers []string, row func(T) []string) error {
	if a.json {
		return a.printJSON(pg)
	}
	rows := make([][]string, 0, len(pg.Data))
	for _, raw := range pg.Data {
		var item T
		if err := json.Unmarshal(raw, &item); err != nil {
			return fmt.Errorf("unexpected list item: %w", err)
		}
		rows = append(rows, row(item))
	}
	if len(rows) == 0 {
		fmt.Fprintln(a.stdout, "(none)")
	} else {
		table(a.stdout, headers, rows)
	}
	if pg.NextCursor != nil && *pg.NextCursor != "" {
		fmt.Fprintf(a.stderr, "More: --cursor %s (or --all)\n", *pg.NextCursor)
	}
	return nil
}

// table prints aligned columns under upper-case headers.
func table(w io.Writer, headers []string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(headers, "\t")))
	for _, r := range rows {
		clean := make([]string, len(r))
		for i, c := range r {
			clean[i] = cell(c)
		}
		fmt.Fprintln(tw, strings.Join(clean, "\t"))
	}
	_ = tw.Flush()
}

// fields prints "name: value" lines, aligned, skipping empty values.
func fields(w io.Writer, kv ...string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		fmt.Fprintf(tw, "%s:\t%s\n", kv[i], cell(kv[i+1]))
	}
	_ = tw.Flush()
}

// cell keeps a value on one line and of bounded width.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	s = strings.Join(strings.Fields(s), " ")
	return truncate(s, 80)
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func tsp(t *time.Time) string {
	if t == nil {
		return ""
	}
	return ts(*t)
}

func itoa(n int) string { return strconv.Itoa(n) }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
