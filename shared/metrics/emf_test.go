package metrics

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var at = time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)

// TestEMFGolden renders known figures and compares them with testdata, byte for byte:
// the lines the CloudWatch dashboard is built on must not change by accident.
func TestEMFGolden(t *testing.T) {
	cases := []struct {
		name   string
		fn     string
		record func(Recorder)
	}{
		{"deliver", FunctionDeliver, func(r Recorder) {
			r.Delivered(40 * time.Millisecond)
			r.Delivered(180*time.Millisecond + 900*time.Microsecond)
			r.Failed(ReasonHTTP5xx)
			r.Failed(ReasonHTTP5xx)
			r.Failed(ReasonTimeout)
			r.FanOut(120) // a background fan-out the consumer ran
		}},
		{"publish", FunctionPublishEventsBatch, func(r Recorder) {
			r.EventsPublished(3)
			r.FanOut(2)
			r.FanOut(0)
			r.FanOut(5)
		}},
		{"failures-only", FunctionDeliver, func(r Recorder) {
			r.Failed(ReasonRefused)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			e := NewEMF(&out, c.fn, func() time.Time { return at })
			c.record(e)
			e.Flush()
			validate(t, out.Bytes())
			golden := filepath.Join("testdata", "emf-"+c.name+".jsonl")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -run TestEMFGolden -update writes it)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("EMF lines differ from %s:\n got: %s\nwant: %s", golden, out.Bytes(), want)
			}
		})
	}
}

// validate checks every line against the embedded metric format's rules: a JSON
// object with _aws.Timestamp and CloudWatchMetrics; each directive in the Gancho
// namespace, with dimension sets of at most 30 dimensions whose values are root
// strings; each metric named there present at the root with a unit, as a number or an
// array of at most 100 numbers. No member may carry anything but the fixed names.
func validate(t *testing.T, out []byte) []map[string]any {
	t.Helper()
	var docs []map[string]any
	for line := range strings.Lines(string(out)) {
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("line is not one JSON object: %v: %s", err, line)
		}
		docs = append(docs, doc)
		var meta struct {
			Timestamp         *int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		}
		raw, _ := json.Marshal(doc["_aws"])
		if err := json.Unmarshal(raw, &meta); err != nil || meta.Timestamp == nil || len(meta.CloudWatchMetrics) == 0 {
			t.Fatalf("_aws lacks Timestamp or CloudWatchMetrics: %s", line)
		}
		if *meta.Timestamp != at.UnixMilli() {
			t.Errorf("Timestamp %d, want %d", *meta.Timestamp, at.UnixMilli())
		}
		named := map[string]bool{"_aws": true}
		for _, d := range meta.CloudWatchMetrics {
			if d.Namespace != Namespace {
				t.Errorf("namespace %q, want %q", d.Namespace, Namespace)
			}
			if len(d.Dimensions) == 0 {
				t.Errorf("no dimension set: %s", line)
			}
			for _, set := range d.Dimensions {
				if len(set) == 0 || len(set) > maxDimensions {
					t.Errorf("dimension set of %d dimensions: %s", len(set), line)
				}
				for _, dim := range set {
					named[dim] = true
					if v, ok := doc[dim].(string); !ok || v == "" {
						t.Errorf("dimension %s has no string value at the root: %s", dim, line)
					}
					if dim != DimensionFunction && dim != DimensionReason {
						t.Errorf("unexpected dimension %s", dim)
					}
				}
			}
			for _, m := range d.Metrics {
				named[m.Name] = true
				if m.Unit != unitCount && m.Unit != unitMilliseconds {
					t.Errorf("metric %s has unit %q", m.Name, m.Unit)
				}
				switch v := doc[m.Name].(type) {
				case float64:
				case []any:
					if len(v) == 0 || len(v) > maxValuesPerMetric {
						t.Errorf("metric %s has %d values in one line", m.Name, len(v))
					}
					for _, x := range v {
						if _, ok := x.(float64); !ok {
							t.Errorf("metric %s has a value %v that is not a number", m.Name, x)
						}
					}
				default:
					t.Errorf("metric %s named in CloudWatchMetrics has no value: %s", m.Name, line)
				}
			}
		}
		for k := range doc {
			if !named[k] {
				t.Errorf("member %q is neither a dimension nor a metric: %s", k, line)
			}
		}
	}
	return docs
}

// TestEMFSplitsLargeDistributions: over 100 values of a metric go to further lines,
// at most 100 per line, and none is lost; the counters are written once.
func TestEMFSplitsLargeDistributions(t *testing.T) {
	var out bytes.Buffer
	e := NewEMF(&out, FunctionDeliver, func() time.Time { return at })
	for i := range 250 {
		e.Delivered(time.Duration(i) * time.Millisecond)
	}
	for range 120 {
		e.FanOut(1)
	}
	e.Flush()
	docs := validate(t, out.Bytes())
	if len(docs) != 3 {
		t.Fatalf("got %d lines, want 3 (250 values, 100 a line)", len(docs))
	}
	var latencies, fanOuts int
	var deliveries float64
	for _, d := range docs {
		latencies += len(asSlice(d[MetricPublishToDeliveryMs]))
		fanOuts += len(asSlice(d[MetricFanOut]))
		if n, ok := d[MetricDeliveries].(float64); ok {
			deliveries += n
		}
	}
	if latencies != 250 || fanOuts != 120 || deliveries != 250 {
		t.Errorf("got %d latencies, %d fan-outs, %v deliveries; want 250, 120, 250", latencies, fanOuts, deliveries)
	}
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

// TestEMFFlushStartsOver: a flush writes what came since the previous one; a flush
// with nothing recorded writes nothing (a GET route's invocation costs no line).
func TestEMFFlushStartsOver(t *testing.T) {
	var out bytes.Buffer
	e := NewEMF(&out, FunctionPublishEvent, func() time.Time { return at })
	e.Flush()
	if out.Len() != 0 {
		t.Fatalf("empty flush wrote %q", out.String())
	}
	e.EventsPublished(1)
	e.FanOut(3)
	e.Flush()
	e.EventsPublished(1)
	e.FanOut(4)
	e.Flush()
	docs := validate(t, out.Bytes())
	if len(docs) != 2 {
		t.Fatalf("got %d lines, want 2", len(docs))
	}
	for i, want := range []float64{3, 4} {
		if got := asSlice(docs[i][MetricFanOut]); !slices.Equal(got, []any{want}) || docs[i][MetricEventsPublished] != 1.0 {
			t.Errorf("line %d: FanOut %v EventsPublished %v, want [%v] and 1", i, got, docs[i][MetricEventsPublished], want)
		}
	}
}
