package cli

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
)

const (
	// maxBatchEvents and maxBatchBody are POST /v1/events/batch's limits (the API
	// contract, v1.1); chunks stay within both.
	maxBatchEvents = 100
	maxBatchBody   = 1 << 20
	// batchOverhead is room for {"events":[...]} and the commas.
	batchOverhead = 1 << 10
)

type publishFlags struct {
	typ, payload, owner, subject, context, refID, refType, callback, idemKey string
	file, runID                                                              string
	batchSize                                                                int
}

func (a *app) publishCommand() *cobra.Command {
	var f publishFlags
	cmd := &cobra.Command{
		Use:   "publish [-]",
		Short: "Publish one event, or many from NDJSON",
		Long: `publish sends one event (--type and --payload), or one event per line of NDJSON
(-f FILE, or '-' for standard input) through POST /v1/events/batch in chunks of up
to 100 events. Each line is an event as POST /v1/events takes it:
{"type": "...", "payload": {...}, "ownerId": "...", "subject": "...", ...}.

Every chunk carries an Idempotency-Key made of the run id and the chunk's number,
so running the same input again with the same --run-id (and --batch-size) after a
failure is safe:
the chunks that were published are answered from the first run, not published
twice. The run id is printed when a run stops early.

Events the API refuses are listed on standard error with the reason; the others
are published. The final line counts both; exit code 4 when some were refused.
With --json each event's result is printed as one JSON line, in input order.`,
		Example: `  gancho publish --type order.created --payload '{"orderId": 42}' --subject o-42
  gancho publish -f events.ndjson
  generate-events | gancho publish -
  gancho publish -f events.ndjson --run-id 2026-11-29-import   # rerun safely after a failure`,
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if args[0] != "-" || f.file != "" {
					return usagef("publish takes '-' (NDJSON on standard input) or -f FILE, not %q", strings.Join(args, " "))
				}
				f.file = "-"
			}
			if f.file != "" {
				if f.typ != "" || f.payload != "" {
					return usagef("give --type/--payload for one event, or NDJSON with -f or '-', not both")
				}
				if f.batchSize < 1 || f.batchSize > maxBatchEvents {
					return usagef("--batch-size must be 1-%d, got %d", maxBatchEvents, f.batchSize)
				}
				return a.publishNDJSON(cmd, f)
			}
			return a.publishOne(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.typ, "type", "", "the event type (one event)")
	fl.StringVar(&f.payload, "payload", "", "the payload, JSON (one event)")
	fl.StringVar(&f.owner, "owner", "", "ownerId ('*': every owner)")
	fl.StringVar(&f.subject, "subject", "", "subject: fills :id in subscription URLs")
	fl.StringVar(&f.context, "context", "", "context")
	fl.StringVar(&f.refID, "reference-id", "", "reference id (ordered delivery key)")
	fl.StringVar(&f.refType, "reference-type", "", "reference type")
	fl.StringVar(&f.callback, "callback-url", "", "send to this URL instead of the subscriptions")
	fl.StringVar(&f.idemKey, "idempotency-key", "", "Idempotency-Key of the publish (one event)")
	fl.StringVarP(&f.file, "file", "f", "", "NDJSON file of events ('-': standard input)")
	fl.StringVar(&f.runID, "run-id", "", "names this run's chunks for idempotency (default: a new random id)")
	fl.IntVar(&f.batchSize, "batch-size", maxBatchEvents, "events per batch request, 1-100")
	return cmd
}

type published struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	CreatedAt  string `json:"createdAt"`
	Deliveries int    `json:"deliveries"`
	FanOut     string `json:"fanOut"`
	Replayed   bool   `json:"replayed"`
}

func (a *app) publishOne(cmd *cobra.Command, f publishFlags) error {
	if f.typ == "" || f.payload == "" {
		return usagef("publish needs --type and --payload (or NDJSON with -f FILE or '-')")
	}
	if !json.Valid([]byte(f.payload)) {
		return usagef("--payload is not valid JSON: %s", truncate(f.payload, 80))
	}
	body := map[string]any{"type": f.typ, "payload": json.RawMessage(f.payload)}
	opt := func(k, v string) {
		if v != "" {
			body[k] = v
		}
	}
	opt("ownerId", f.owner)
	opt("subject", f.subject)
	opt("context", f.context)
	opt("callbackUrl", f.callback)
	if f.refID != "" || f.refType != "" {
		body["reference"] = map[string]string{"id": f.refID, "type": f.refType}
	}
	h := http.Header{}
	if f.idemKey != "" {
		h.Set("Idempotency-Key", f.idemKey)
	}
	c, err := a.client("")
	if err != nil {
		return err
	}
	raw, _, err := c.do(cmd.Context(), http.MethodPost, "/v1/events", body, h)
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(raw)
	}
	var p published
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("unexpected answer: %w", err)
	}
	fmt.Fprintf(a.stdout, "Published %s (%s): %s.\n", p.ID, p.Type, fanOut(p))
	return nil
}

func fanOut(p published) string {
	if p.FanOut == "queued" {
		return "fan-out queued"
	}
	if p.Deliveries == 1 {
		return "1 delivery queued"
	}
	return fmt.Sprintf("%d deliveries queued", p.Deliveries)
}

// batchItem is one result of POST /v1/events/batch: a published event or a problem.
type batchItem struct {
	published
	Error *problem `json:"error"`
}

// publishNDJSON publishes every line of the input in chunks.
func (a *app) publishNDJSON(cmd *cobra.Command, f publishFlags) error {
	c, err := a.client("")
	if err != nil {
		return err
	}
	var src io.Reader = a.stdin
	total := int64(-1)
	if f.file != "-" {
		file, err := os.Open(f.file)
		if err != nil {
			return usagef("%v", err)
		}
		defer file.Close()
		if total, err = countLines(file); err != nil {
			return fmt.Errorf("read %s: %w", f.file, err)
		}
		if _, err := file.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("read %s: %w", f.file, err)
		}
		src = file
	}
	runID := f.runID
	if runID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		runID = hex.EncodeToString(b[:])
	}
	if len(runID) > 200 || strings.ContainsFunc(runID, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		return usagef("--run-id must be 1-200 printable ASCII characters without spaces")
	}

	prog := a.newProgress("publishing", total)
	var (
		ok, failed, chunkNo int
		pending             []ndjsonLine // in input order, refused lines included
		events, chunkBytes  int          // the events of pending, and their size
	)
	// report prints one line's outcome: its result with --json, why it was refused on
	// standard error.
	report := func(l ndjsonLine, itemRaw json.RawMessage, prob *problem) {
		if l.refused != "" {
			failed++
			fmt.Fprintf(a.stderr, "line %d: %s\n", l.line, l.refused)
			if a.json {
				_ = writeJSON(a.stdout, map[string]any{"line": l.line, "error": map[string]string{"title": "Not sent", "detail": l.refused}}, false)
			}
			return
		}
		if a.json {
			_ = writeJSON(a.stdout, itemRaw, false)
		}
		if prob != nil {
			failed++
			fmt.Fprintf(a.stderr, "line %d: %s\n", l.line, problemLine(*prob))
			return
		}
		ok++
	}
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		var results []json.RawMessage
		if events > 0 {
			var buf bytes.Buffer
			buf.WriteString(`{"events":[`)
			first, last := 0, 0
			for _, l := range pending {
				if l.event == nil {
					continue
				}
				if first == 0 { // lines count from 1
					first = l.line
				} else {
					buf.WriteByte(',')
				}
				last = l.line
				buf.Write(l.event)
			}
			buf.WriteString("]}")
			h := http.Header{}
			h.Set("Idempotency-Key", fmt.Sprintf("gancho-cli/%s/%d", runID, chunkNo))
			raw, _, err := c.do(cmd.Context(), http.MethodPost, "/v1/events/batch", json.RawMessage(buf.Bytes()), h)
			if err != nil {
				return fmt.Errorf("chunk %d (lines %d-%d): %w", chunkNo, first, last, err)
			}
			var resp struct {
				Data []json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(raw, &resp); err != nil || len(resp.Data) != events {
				return fmt.Errorf("chunk %d: unexpected answer (%d results for %d events)", chunkNo, len(resp.Data), events)
			}
			results = resp.Data
			chunkNo++
		}
		for _, l := range pending {
			if l.event == nil {
				report(l, nil, nil)
				continue
			}
			itemRaw := results[0]
			results = results[1:]
			var item batchItem
			if err := json.Unmarshal(itemRaw, &item); err != nil {
				return fmt.Errorf("chunk %d: unexpected result: %w", chunkNo-1, err)
			}
			report(l, itemRaw, item.Error)
		}
		prog.add(len(pending))
		pending, events, chunkBytes = pending[:0], 0, 0
		return nil
	}

	sc := bufio.NewScanner(src)
	sc.Buffer(make([]byte, 64<<10), maxBatchBody)
	n := 0
	var runErr error
	for sc.Scan() {
		n++
		l := ndjsonLine{line: n, event: bytes.TrimSpace(sc.Bytes())}
		switch {
		case len(l.event) == 0:
			continue
		case l.event[0] != '{' || !json.Valid(l.event):
			l.event, l.refused = nil, "not a JSON object (each line must be one event)"
		case len(l.event)+batchOverhead > maxBatchBody:
			l.event, l.refused = nil, "the event is larger than a batch request may be (1 MiB)"
		}
		if l.event != nil && (events == f.batchSize || chunkBytes+len(l.event)+1+batchOverhead > maxBatchBody) {
			if runErr = flush(); runErr != nil {
				break
			}
		}
		if l.event != nil {
			l.event = append(json.RawMessage(nil), l.event...)
			events++
			chunkBytes += len(l.event) + 1
		}
		pending = append(pending, l)
	}
	if runErr == nil {
		if err := sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				err = fmt.Errorf("line %d is longer than 1 MiB", n+1)
			}
			runErr = err
		}
	}
	if runErr == nil {
		runErr = flush()
	}
	prog.finish()
	summary := fmt.Sprintf("published %d, failed %d", ok, failed)
	if runErr != nil {
		fmt.Fprintf(a.stderr, "%s; stopped early.\n", summary)
		fmt.Fprintf(a.stderr, "Run it again with --run-id %s to go on safely: published chunks are not published twice.\n", runID)
		return runErr
	}
	if a.json {
		fmt.Fprintln(a.stderr, summary)
	} else {
		fmt.Fprintln(a.stdout, summary)
	}
	if failed > 0 {
		return &partialError{published: ok, failed: failed}
	}
	return nil
}

// ndjsonLine is one line of a publish's input: an event to send, or why it is not sent.
type ndjsonLine struct {
	line    int
	event   json.RawMessage
	refused string
}

// problemLine is a problem on one line: title, detail and each field.
func problemLine(p problem) string {
	parts := []string{}
	if p.Title != "" {
		parts = append(parts, p.Title)
	}
	if p.Detail != "" && !repeatsFields(p) {
		parts = append(parts, p.Detail)
	}
	for _, fe := range p.Errors {
		// "events/3/payload/n" is "payload/n" of the line already named.
		field := batchField.ReplaceAllString(fe.Field, "")
		if field == "" {
			field = "(event)"
		}
		parts = append(parts, field+": "+fe.Message)
	}
	return strings.Join(parts, "; ")
}

// batchField is the prefix a batch's problems put before an event's own fields.
var batchField = regexp.MustCompile(`^events/\d+/?`)

// countLines counts the non-blank lines of r.
func countLines(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxBatchBody)
	var n int64
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			n++
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		return n, nil // publishNDJSON reports the line
	}
	return n, sc.Err()
}
