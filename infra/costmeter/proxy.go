package costmeter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// sqsChunk is the payload size SQS bills as one request.
const sqsChunk = 64 << 10

// Proxy is a counting reverse proxy listening on loopback.
type Proxy struct {
	// URL is the proxy's endpoint (http://127.0.0.1:PORT): give it to the SDK
	// client in place of the emulator's.
	URL string

	srv *http.Server
}

// Close stops the proxy.
func (p *Proxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.srv.Shutdown(ctx)
}

// Start starts a proxy on 127.0.0.1 that forwards every request to target (an
// emulator's endpoint, http://HOST:PORT) and counts it into m as svc's.
func (m *Meter) Start(svc Service, target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("costmeter: target %q: want http://HOST:PORT", target)
	}
	if err := checkLoopback(u); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("costmeter: listen: %w", err)
	}
	// No environment proxy: the emulators are on loopback and nothing may leave it.
	tr := &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	h := &handler{meter: m, svc: svc, target: u, client: &http.Client{Transport: tr}}
	p := &Proxy{URL: "http://" + ln.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

type handler struct {
	meter  *Meter
	svc    Service
	target *url.URL
	client *http.Client
}

// hopHeaders are not forwarded (RFC 9110 section 7.6.1), nor is Accept-Encoding:
// the transport asks for gzip itself and hands back the plain body to count.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Accept-Encoding", "Content-Length"}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.meter.begin()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		h.meter.abandon()
		http.Error(w, "costmeter: read request: "+err.Error(), http.StatusBadGateway)
		return
	}
	op := operation(r, body)
	var dynamo dynamoCall
	if h.svc == DynamoDB {
		body, dynamo = prepareDynamo(op, body)
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, h.target.Scheme+"://"+h.target.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		h.meter.abandon()
		http.Error(w, "costmeter: "+err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	for _, k := range hopHeaders {
		out.Header.Del(k)
	}
	resp, err := h.client.Do(out)
	if err != nil {
		h.meter.abandon()
		http.Error(w, "costmeter: forward: "+err.Error(), http.StatusBadGateway)
		return
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		h.meter.abandon()
		http.Error(w, "costmeter: read response: "+err.Error(), http.StatusBadGateway)
		return
	}
	if h.svc == DynamoDB {
		var use DynamoOp
		use, respBody = dynamo.finish(resp.StatusCode, respBody)
		h.meter.addDynamo(op, use)
	} else {
		h.meter.addSQS(op, countSQS(op, r, body, resp.StatusCode, respBody))
	}
	for k, vs := range resp.Header {
		if k == "Content-Length" || k == "Content-Encoding" || k == "Transfer-Encoding" || k == "Connection" {
			continue
		}
		w.Header()[k] = vs
	}
	if dynamo.rewritten && w.Header().Get("X-Amz-Crc32") != "" {
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(respBody)), 10))
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(respBody)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(respBody)
}

// operation names the call: the X-Amz-Target of the JSON protocols
// (DynamoDB_20120810.PutItem, AmazonSQS.SendMessageBatch) or the Action of SQS's
// query protocol.
func operation(r *http.Request, body []byte) string {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		if _, op, ok := strings.Cut(t, "."); ok {
			return op
		}
		return t
	}
	if a := r.URL.Query().Get("Action"); a != "" {
		return a
	}
	if form, err := url.ParseQuery(string(body)); err == nil && form.Get("Action") != "" {
		return form.Get("Action")
	}
	return "unknown"
}

// capacityOps are the DynamoDB operations that take ReturnConsumedCapacity, and
// whether their units are reads (when a response gives only CapacityUnits).
var capacityOps = map[string]bool{
	"GetItem": true, "Query": true, "Scan": true, "BatchGetItem": true, "TransactGetItems": true,
	"ExecuteStatement": true, "BatchExecuteStatement": true,
	"PutItem": false, "UpdateItem": false, "DeleteItem": false, "BatchWriteItem": false,
	"TransactWriteItems": false, "ExecuteTransaction": false,
}

// dynamoCall is what prepareDynamo learned of a request, to read its response.
type dynamoCall struct {
	op         string
	read       bool
	consistent bool
	// asked is what the caller asked for: "", NONE, TOTAL or INDEXES.
	asked     string
	rewritten bool // set by finish when it changed the response body
	metered   bool // the request now asks for INDEXES
}

// prepareDynamo makes a request that can report consumed capacity ask for it per
// table and index.
func prepareDynamo(op string, body []byte) ([]byte, dynamoCall) {
	read, ok := capacityOps[op]
	c := dynamoCall{op: op, read: read}
	if !ok {
		return body, c
	}
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		return body, c
	}
	if raw, ok := req["ReturnConsumedCapacity"]; ok {
		_ = json.Unmarshal(raw, &c.asked)
	}
	c.consistent = consistent(req)
	if c.asked == "INDEXES" {
		c.metered = true
		return body, c
	}
	req["ReturnConsumedCapacity"] = json.RawMessage(`"INDEXES"`)
	out, err := json.Marshal(req)
	if err != nil {
		return body, c
	}
	c.metered = true
	return out, c
}

// consistent reports whether a read asks for strong consistency.
func consistent(req map[string]json.RawMessage) bool {
	var b bool
	if raw, ok := req["ConsistentRead"]; ok && json.Unmarshal(raw, &b) == nil && b {
		return true
	}
	var items map[string]struct{ ConsistentRead bool }
	if raw, ok := req["RequestItems"]; ok && json.Unmarshal(raw, &items) == nil {
		for _, it := range items {
			if it.ConsistentRead {
				return true
			}
		}
	}
	return false
}

// capacity is one ConsumedCapacity entry.
type capacity struct {
	CapacityUnits          *float64
	ReadCapacityUnits      *float64
	WriteCapacityUnits     *float64
	GlobalSecondaryIndexes map[string]capacity
	LocalSecondaryIndexes  map[string]capacity
}

// units splits an entry's units into reads and writes, for an operation whose
// units are reads when read is set and the entry does not say.
func (c capacity) units(read bool) (r, w float64) {
	if c.ReadCapacityUnits != nil || c.WriteCapacityUnits != nil {
		if c.ReadCapacityUnits != nil {
			r = *c.ReadCapacityUnits
		}
		if c.WriteCapacityUnits != nil {
			w = *c.WriteCapacityUnits
		}
		return r, w
	}
	if c.CapacityUnits == nil {
		return 0, 0
	}
	if read {
		return *c.CapacityUnits, 0
	}
	return 0, *c.CapacityUnits
}

// finish counts a response and takes out of it what the caller did not ask for.
func (c *dynamoCall) finish(status int, body []byte) (DynamoOp, []byte) {
	use := DynamoOp{Calls: 1}
	if c.consistent {
		use.ConsistentReads = 1
	}
	if status != http.StatusOK {
		use.Errors = 1
		if bytes.Contains(body, []byte("ConditionalCheckFailedException")) {
			use.ConditionalFailures = 1
			use.WriteUnits = 1
		}
		return use, body
	}
	if !c.metered {
		return use, body
	}
	var resp map[string]json.RawMessage
	if err := json.Unmarshal(body, &resp); err != nil {
		return use, body
	}
	raw, ok := resp["ConsumedCapacity"]
	if !ok {
		return use, body
	}
	var entries []json.RawMessage
	if len(raw) > 0 && raw[0] == '[' {
		_ = json.Unmarshal(raw, &entries)
	} else {
		entries = []json.RawMessage{raw}
	}
	kept := make([]json.RawMessage, 0, len(entries))
	for _, e := range entries {
		var cc capacity
		if err := json.Unmarshal(e, &cc); err != nil {
			continue
		}
		r, w := cc.units(c.read)
		use.ReadUnits += r
		use.WriteUnits += w
		for _, idx := range []map[string]capacity{cc.GlobalSecondaryIndexes, cc.LocalSecondaryIndexes} {
			for _, ic := range idx {
				r, w := ic.units(c.read)
				use.IndexReadUnits += r
				use.IndexWriteUnits += w
			}
		}
		if c.asked == "TOTAL" {
			var m map[string]json.RawMessage
			if json.Unmarshal(e, &m) == nil {
				delete(m, "Table")
				delete(m, "GlobalSecondaryIndexes")
				delete(m, "LocalSecondaryIndexes")
				if b, err := json.Marshal(m); err == nil {
					e = b
				}
			}
		}
		kept = append(kept, e)
	}
	switch c.asked {
	case "INDEXES":
		return use, body
	case "TOTAL":
		if len(raw) > 0 && raw[0] == '[' {
			resp["ConsumedCapacity"], _ = json.Marshal(kept)
		} else if len(kept) == 1 {
			resp["ConsumedCapacity"] = kept[0]
		}
	default: // not asked, or NONE
		delete(resp, "ConsumedCapacity")
	}
	out, err := json.Marshal(resp)
	if err != nil {
		return use, body
	}
	c.rewritten = true
	return use, out
}

// countSQS counts one SQS call as AWS bills it.
func countSQS(op string, r *http.Request, reqBody []byte, status int, respBody []byte) SQSOp {
	use := SQSOp{Calls: 1, Billed: 1}
	if status != http.StatusOK {
		use.Errors = 1
		return use
	}
	jsonProto := r.Header.Get("X-Amz-Target") != ""
	switch op {
	case "SendMessage", "SendMessageBatch":
		use.Billed = chunks(len(reqBody))
		if op == "SendMessage" {
			use.Messages = 1
		} else {
			use.Messages = batchEntries(jsonProto, reqBody, "SendMessageBatchRequestEntry")
		}
	case "DeleteMessage":
		use.Messages = 1
	case "DeleteMessageBatch", "ChangeMessageVisibilityBatch":
		use.Messages = batchEntries(jsonProto, reqBody, op+"RequestEntry")
	case "ReceiveMessage":
		use.Billed = chunks(len(respBody))
		if jsonProto {
			var res struct{ Messages []json.RawMessage }
			_ = json.Unmarshal(respBody, &res)
			use.Messages = int64(len(res.Messages))
		} else {
			use.Messages = int64(bytes.Count(respBody, []byte("<Message>")))
		}
		if use.Messages == 0 {
			use.Empty = 1
		}
	}
	return use
}

// chunks is the number of 64 KiB chunks SQS bills for a payload of n bytes. The
// whole request or response body is taken as the payload: an upper bound, and the
// same figure for every payload under 64 KiB.
func chunks(n int) int64 {
	if n <= sqsChunk {
		return 1
	}
	return int64((n + sqsChunk - 1) / sqsChunk)
}

// batchEntries counts a batch request's entries: the JSON protocol's Entries, or
// the query protocol's PREFIX.N.Id parameters.
func batchEntries(jsonProto bool, body []byte, queryPrefix string) int64 {
	if jsonProto {
		var req struct{ Entries []json.RawMessage }
		if err := json.Unmarshal(body, &req); err != nil {
			return 0
		}
		return int64(len(req.Entries))
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return 0
	}
	var n int64
	for k := range form {
		if strings.HasPrefix(k, queryPrefix+".") && strings.HasSuffix(k, ".Id") {
			n++
		}
	}
	return n
}

// errNotLoopback guards the one thing this package must never do.
var errNotLoopback = errors.New("costmeter: target is not on loopback")

// checkLoopback refuses targets off the loopback interface.
func checkLoopback(u *url.URL) error {
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: %s", errNotLoopback, u.Host)
	}
	return nil
}
