package metrics

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Limits of one EMF document (CloudWatch's embedded metric format specification).
const (
	maxValuesPerMetric = 100 // values of one metric in one document
	maxDimensions      = 30  // dimensions of one dimension set
)

// Units of the metrics, as EMF names them.
const (
	unitCount        = "Count"
	unitMilliseconds = "Milliseconds"
)

// EMF gathers figures and writes them, on Flush, as lines of CloudWatch's embedded
// metric format: one line with the function's figures (dimension set [Function]), one
// per failure reason seen (DeliveryFailures by [Function, Reason]), and more only when
// a distribution holds over 100 values (the format's limit per document). A Lambda
// flushes once per invocation, so the lines cost no API call and CloudWatch receives one
// data point per metric and invocation rather than one per event.
type EMF struct {
	w        io.Writer
	function string
	now      func() time.Time

	mu sync.Mutex
	t  tally
}

// tally is what an EMF gathered since its last flush.
type tally struct {
	published    int64
	publishedSet bool // EventsPublished was recorded (even 0)
	fanOut       []int64
	delivered    int64
	failures     [len(Reasons)]int64 // by Reason.index
	attempted    bool
	latencyMs    []int64
}

// NewEMF returns an EMF writing to w (the function's standard output) for function,
// the folder name of the running function (FunctionDeliver, an API route's name, ...).
func NewEMF(w io.Writer, function string, now func() time.Time) *EMF {
	if now == nil {
		now = time.Now
	}
	return &EMF{w: w, function: function, now: now}
}

// EventsPublished implements Recorder.
func (e *EMF) EventsPublished(n int) {
	e.mu.Lock()
	e.t.published += int64(n)
	e.t.publishedSet = true
	e.mu.Unlock()
}

// FanOut implements Recorder.
func (e *EMF) FanOut(deliveries int) {
	e.mu.Lock()
	e.t.fanOut = append(e.t.fanOut, int64(deliveries))
	e.mu.Unlock()
}

// Delivered implements Recorder.
func (e *EMF) Delivered(d time.Duration) {
	e.mu.Lock()
	e.t.delivered++
	e.t.attempted = true
	e.t.latencyMs = append(e.t.latencyMs, max(0, d.Milliseconds()))
	e.mu.Unlock()
}

// Failed implements Recorder.
func (e *EMF) Failed(r Reason) {
	e.mu.Lock()
	e.t.failures[r.index()]++
	e.t.attempted = true
	e.mu.Unlock()
}

// Flush writes what was gathered since the last flush, if anything, and starts over.
func (e *EMF) Flush() {
	e.mu.Lock()
	t := e.t
	e.t = tally{}
	e.mu.Unlock()
	for _, line := range t.lines(e.function, e.now()) {
		// One Write per line, so lines of concurrent writers never interleave.
		_, _ = e.w.Write(line)
	}
}

// metricDef is one entry of a directive's Metrics.
type metricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// directive is one element of _aws.CloudWatchMetrics.
type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

// metadata is a document's _aws member.
type metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// document is one EMF line under construction: its directive and its root members
// (dimension values and metric values).
type document struct {
	dims    []string
	metrics []metricDef
	values  map[string]any
}

func newDocument(dims []string, values map[string]any) *document {
	return &document{dims: dims, values: values}
}

func (d *document) add(name, unit string, value any) {
	d.metrics = append(d.metrics, metricDef{Name: name, Unit: unit})
	d.values[name] = value
}

// encode renders d as one line; the keys of its root object come out sorted
// (encoding/json sorts map keys), so equal figures give equal lines.
func (d *document) encode(at time.Time) []byte {
	root := make(map[string]any, len(d.values)+1)
	for k, v := range d.values {
		root[k] = v
	}
	root["_aws"] = metadata{Timestamp: at.UnixMilli(), CloudWatchMetrics: []directive{{
		Namespace: Namespace, Dimensions: [][]string{d.dims}, Metrics: d.metrics}}}
	b, err := json.Marshal(root)
	if err != nil {
		// Only numbers and strings go in: this cannot fail.
		panic("metrics: encode EMF document: " + err.Error())
	}
	return append(b, '\n')
}

// chunk returns the values of a distribution from index i, at most the per-document
// limit of them.
func chunk(vs []int64, i int) []int64 {
	if i >= len(vs) {
		return nil
	}
	return vs[i:min(i+maxValuesPerMetric, len(vs))]
}

// lines renders the tally as EMF documents; none when nothing was recorded.
func (t tally) lines(function string, at time.Time) [][]byte {
	var out [][]byte
	fnDims := []string{DimensionFunction}
	base := func() map[string]any { return map[string]any{DimensionFunction: function} }

	main := newDocument(fnDims, base())
	if t.publishedSet {
		main.add(MetricEventsPublished, unitCount, t.published)
	}
	if len(t.fanOut) > 0 {
		main.add(MetricFanOut, unitCount, chunk(t.fanOut, 0))
	}
	if t.attempted {
		var failed int64
		for _, n := range t.failures {
			failed += n
		}
		main.add(MetricAttempts, unitCount, t.delivered+failed)
		main.add(MetricDeliveries, unitCount, t.delivered)
		main.add(MetricDeliveryFailures, unitCount, failed)
		if len(t.latencyMs) > 0 {
			main.add(MetricPublishToDeliveryMs, unitMilliseconds, chunk(t.latencyMs, 0))
		}
	}
	if len(main.metrics) == 0 {
		return nil
	}
	out = append(out, main.encode(at))

	for i, n := range t.failures {
		if n == 0 {
			continue
		}
		values := base()
		values[DimensionReason] = string(Reasons[i])
		d := newDocument([]string{DimensionFunction, DimensionReason}, values)
		d.add(MetricDeliveryFailures, unitCount, n)
		out = append(out, d.encode(at))
	}

	// The rest of the distributions, at most 100 values of each per line.
	for i := maxValuesPerMetric; i < max(len(t.fanOut), len(t.latencyMs)); i += maxValuesPerMetric {
		d := newDocument(fnDims, base())
		if vs := chunk(t.fanOut, i); vs != nil {
			d.add(MetricFanOut, unitCount, vs)
		}
		if vs := chunk(t.latencyMs, i); vs != nil {
			d.add(MetricPublishToDeliveryMs, unitMilliseconds, vs)
		}
		out = append(out, d.encode(at))
	}
	return out
}
