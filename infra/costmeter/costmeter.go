// Package costmeter counts what Gancho asks of DynamoDB and SQS, at the wire: a
// reverse proxy on loopback in front of each emulator forwards every request and
// records its operation, and for DynamoDB the read and write units it consumed
// (secondary index copies included), for SQS the requests as AWS bills them.
//
// DynamoDB Local reports consumed capacity only when a request asks for it, so the
// DynamoDB proxy rewrites every request that can ask to ask for INDEXES (the
// per-table and per-index breakdown) and takes from the response what the caller did
// not ask for: the caller sees the response it would have had without the proxy. The
// units are DynamoDB Local's own arithmetic (item sizes rounded up to 1 KB for writes
// and 4 KB for reads, one write per secondary index an item is in), not an estimate
// made here; see the tests for the cases checked.
package costmeter

import (
	"maps"
	"sort"
	"sync"
)

// Service is the AWS service behind a proxy.
type Service int

// The services a proxy can front.
const (
	DynamoDB Service = iota
	SQS
)

func (s Service) String() string {
	if s == SQS {
		return "sqs"
	}
	return "dynamodb"
}

// DynamoOp is what one DynamoDB operation used.
type DynamoOp struct {
	Calls int64
	// Errors are responses other than 200. A failed condition is one of them.
	Errors int64
	// ConditionalFailures are ConditionalCheckFailedException responses. DynamoDB
	// bills a failed conditional write as a write; DynamoDB Local reports no capacity
	// for it, so it is counted here as one write unit (the least it costs) in
	// WriteUnits.
	ConditionalFailures int64
	// ConsistentReads are the calls that asked for strongly consistent reads.
	ConsistentReads int64
	// ReadUnits and WriteUnits are the request units consumed, table and indexes.
	ReadUnits, WriteUnits float64
	// IndexReadUnits and IndexWriteUnits are the part of the above spent on
	// secondary indexes.
	IndexReadUnits, IndexWriteUnits float64
}

// SQSOp is what one SQS operation used.
type SQSOp struct {
	Calls  int64
	Errors int64
	// Billed is the requests AWS bills: each 64 KiB chunk of a request's payload is
	// one request, and a batch is one request.
	Billed int64
	// Messages are the messages sent (batch entries), received or deleted.
	Messages int64
	// Empty are receives that returned no message. Lambda's pollers make them
	// whatever the traffic; they are a fixed cost, not a per-delivery one.
	Empty int64
}

// Usage is what the proxies counted, by operation name (PutItem, SendMessageBatch).
type Usage struct {
	DynamoDB map[string]DynamoOp
	SQS      map[string]SQSOp
}

// plus is a + sign×b, field by field (sign is 1 or -1).
func (a DynamoOp) plus(b DynamoOp, sign int64) DynamoOp {
	f := float64(sign)
	return DynamoOp{
		Calls: a.Calls + sign*b.Calls, Errors: a.Errors + sign*b.Errors,
		ConditionalFailures: a.ConditionalFailures + sign*b.ConditionalFailures,
		ConsistentReads:     a.ConsistentReads + sign*b.ConsistentReads,
		ReadUnits:           a.ReadUnits + f*b.ReadUnits, WriteUnits: a.WriteUnits + f*b.WriteUnits,
		IndexReadUnits: a.IndexReadUnits + f*b.IndexReadUnits, IndexWriteUnits: a.IndexWriteUnits + f*b.IndexWriteUnits,
	}
}

// plus is a + sign×b, field by field (sign is 1 or -1).
func (a SQSOp) plus(b SQSOp, sign int64) SQSOp {
	return SQSOp{Calls: a.Calls + sign*b.Calls, Errors: a.Errors + sign*b.Errors, Billed: a.Billed + sign*b.Billed,
		Messages: a.Messages + sign*b.Messages, Empty: a.Empty + sign*b.Empty}
}

// combine is u + sign×o, operation by operation, leaving out operations that come to
// nothing.
func (u Usage) combine(o Usage, sign int64) Usage {
	out := Usage{DynamoDB: map[string]DynamoOp{}, SQS: map[string]SQSOp{}}
	for _, m := range []map[string]DynamoOp{u.DynamoDB, o.DynamoDB} {
		for op := range m {
			if d := u.DynamoDB[op].plus(o.DynamoDB[op], sign); d != (DynamoOp{}) {
				out.DynamoDB[op] = d
			}
		}
	}
	for _, m := range []map[string]SQSOp{u.SQS, o.SQS} {
		for op := range m {
			if d := u.SQS[op].plus(o.SQS[op], sign); d != (SQSOp{}) {
				out.SQS[op] = d
			}
		}
	}
	return out
}

// Sub returns u minus earlier, operation by operation.
func (u Usage) Sub(earlier Usage) Usage { return u.combine(earlier, -1) }

// Add returns u plus o, operation by operation.
func (u Usage) Add(o Usage) Usage { return u.combine(o, 1) }

// DynamoTotal adds up every DynamoDB operation.
func (u Usage) DynamoTotal() DynamoOp {
	var t DynamoOp
	for _, v := range u.DynamoDB {
		t = t.plus(v, 1)
	}
	return t
}

// SQSTotal adds up every SQS operation.
func (u Usage) SQSTotal() SQSOp {
	var t SQSOp
	for _, v := range u.SQS {
		t = t.plus(v, 1)
	}
	return t
}

// DynamoOps returns the DynamoDB operation names in order.
func (u Usage) DynamoOps() []string { return sortedKeys(u.DynamoDB) }

// SQSOps returns the SQS operation names in order.
func (u Usage) SQSOps() []string { return sortedKeys(u.SQS) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Meter holds the counts of every proxy it started.
type Meter struct {
	mu       sync.Mutex
	usage    Usage
	inFlight int
}

// New returns an empty Meter.
func New() *Meter {
	return &Meter{usage: Usage{DynamoDB: map[string]DynamoOp{}, SQS: map[string]SQSOp{}}}
}

// Snapshot returns a copy of the counts so far.
func (m *Meter) Snapshot() Usage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Usage{DynamoDB: maps.Clone(m.usage.DynamoDB), SQS: maps.Clone(m.usage.SQS)}
}

// InFlight is the number of requests the proxies are forwarding now.
func (m *Meter) InFlight() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.inFlight
}

func (m *Meter) begin() {
	m.mu.Lock()
	m.inFlight++
	m.mu.Unlock()
}

func (m *Meter) addDynamo(op string, d DynamoOp) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inFlight--
	v := m.usage.DynamoDB[op]
	v.Calls += d.Calls
	v.Errors += d.Errors
	v.ConditionalFailures += d.ConditionalFailures
	v.ConsistentReads += d.ConsistentReads
	v.ReadUnits += d.ReadUnits
	v.WriteUnits += d.WriteUnits
	v.IndexReadUnits += d.IndexReadUnits
	v.IndexWriteUnits += d.IndexWriteUnits
	m.usage.DynamoDB[op] = v
}

func (m *Meter) addSQS(op string, d SQSOp) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inFlight--
	v := m.usage.SQS[op]
	v.Calls += d.Calls
	v.Errors += d.Errors
	v.Billed += d.Billed
	v.Messages += d.Messages
	v.Empty += d.Empty
	m.usage.SQS[op] = v
}

func (m *Meter) abandon() {
	m.mu.Lock()
	m.inFlight--
	m.mu.Unlock()
}
