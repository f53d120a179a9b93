package emulators

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Resource types that LoadTemplate models. Every other resource type,
// including the AWS::Serverless::* ones, is ignored.
const (
	typeTable = "AWS::DynamoDB::Table"
	typeQueue = "AWS::SQS::Queue"
)

// Template is the part of a CloudFormation/SAM template that the local
// emulators need: its DynamoDB tables and SQS queues, sorted by logical id.
type Template struct {
	Tables []Table
	Queues []Queue
}

// Table is an AWS::DynamoDB::Table resource.
type Table struct {
	LogicalID string
	// TableName is the TableName property, or nil when the template leaves
	// the name to CloudFormation.
	TableName              *Name
	BillingMode            string // PAY_PER_REQUEST or PROVISIONED
	AttributeDefinitions   []AttributeDefinition
	KeySchema              []KeyElement
	GlobalSecondaryIndexes []Index
	LocalSecondaryIndexes  []Index
	Throughput             *Throughput // ProvisionedThroughput
	TTL                    *TTL        // TimeToLiveSpecification
	StreamViewType         string      // StreamSpecification.StreamViewType, "" when none
}

// AttributeDefinition is one entry of a table's AttributeDefinitions.
type AttributeDefinition struct {
	Name string
	Type string // S, N or B
}

// KeyElement is one entry of a key schema.
type KeyElement struct {
	Name string
	Type string // HASH or RANGE
}

// Index is a global or local secondary index.
type Index struct {
	Name             string
	KeySchema        []KeyElement
	ProjectionType   string // ALL, KEYS_ONLY or INCLUDE
	NonKeyAttributes []string
	Throughput       *Throughput
}

// Throughput is a provisioned read/write capacity.
type Throughput struct {
	Read, Write int64
}

// TTL is a table's TimeToLiveSpecification.
type TTL struct {
	AttributeName string
	Enabled       bool
}

// Queue is an AWS::SQS::Queue resource.
type Queue struct {
	LogicalID string
	// QueueName is the QueueName property, or nil when the template leaves
	// the name to CloudFormation.
	QueueName *Name
	// Attributes holds the other scalar properties under their SQS attribute
	// names (VisibilityTimeout, FifoQueue, ...), as strings.
	Attributes    map[string]string
	RedrivePolicy *RedrivePolicy
}

// Fifo reports whether the queue is a FIFO queue.
func (q Queue) Fifo() bool { return q.Attributes["FifoQueue"] == "true" }

// RedrivePolicy is a queue's dead-letter configuration.
type RedrivePolicy struct {
	// DeadLetterQueue is the logical id of the target queue when the
	// template writes `!GetAtt X.Arn`; DeadLetterTargetARN is set instead
	// when it names an ARN literally.
	DeadLetterQueue     string
	DeadLetterTargetARN string
	MaxReceiveCount     int
}

// queueProperties are the AWS::SQS::Queue properties that are not queue
// attributes, or that need more than a copy.
var queueProperties = map[string]bool{"QueueName": true, "Tags": true, "RedrivePolicy": true}

// LoadTemplate reads a CloudFormation or SAM template and returns its tables
// and queues. Intrinsics stay symbolic: names written with !Sub keep their
// ${AWS::StackName} placeholders (see Name.Resolve), and references to
// template parameters resolve to the parameters' defaults.
func LoadTemplate(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	t, err := ParseTemplate(data)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", path, err)
	}
	return t, nil
}

// ParseTemplate is LoadTemplate on the template's contents.
func ParseTemplate(data []byte) (*Template, error) {
	doc, err := decodeTemplate(data)
	if err != nil {
		return nil, err
	}
	p := parser{params: parameterDefaults(doc)}
	resources, _ := doc["Resources"].(map[string]any)
	ids := make([]string, 0, len(resources))
	for id := range resources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	t := &Template{}
	for _, id := range ids {
		if err := p.addResource(t, id, resources[id]); err != nil {
			return nil, fmt.Errorf("resource %s: %w", id, err)
		}
	}
	return t, nil
}

// Table returns the table with the given logical id.
func (t *Template) Table(logicalID string) (Table, bool) {
	for _, tb := range t.Tables {
		if tb.LogicalID == logicalID {
			return tb, true
		}
	}
	return Table{}, false
}

// Queue returns the queue with the given logical id.
func (t *Template) Queue(logicalID string) (Queue, bool) {
	for _, q := range t.Queues {
		if q.LogicalID == logicalID {
			return q, true
		}
	}
	return Queue{}, false
}

func parameterDefaults(doc map[string]any) map[string]string {
	out := map[string]string{}
	params, _ := doc["Parameters"].(map[string]any)
	for name, spec := range params {
		m, _ := spec.(map[string]any)
		if d, ok := m["Default"].(string); ok {
			out[name] = d
		}
	}
	return out
}

type parser struct {
	params map[string]string // parameter defaults
}

func (p parser) addResource(t *Template, id string, raw any) error {
	res, _ := raw.(map[string]any)
	props, _ := res["Properties"].(map[string]any)
	switch res["Type"] {
	case typeTable:
		tb, err := p.table(id, props)
		if err != nil {
			return err
		}
		t.Tables = append(t.Tables, tb)
	case typeQueue:
		q, err := p.queue(id, props)
		if err != nil {
			return err
		}
		t.Queues = append(t.Queues, q)
	}
	return nil
}

func (p parser) table(id string, props map[string]any) (Table, error) {
	tb := Table{LogicalID: id}
	var err error
	if tb.TableName, err = p.name(props["TableName"]); err != nil {
		return tb, fmt.Errorf("TableName: %w", err)
	}
	if tb.BillingMode, err = p.optString(props, "BillingMode"); err != nil {
		return tb, err
	}
	if tb.AttributeDefinitions, err = p.attributeDefinitions(props["AttributeDefinitions"]); err != nil {
		return tb, fmt.Errorf("AttributeDefinitions: %w", err)
	}
	if tb.KeySchema, err = p.keySchema(props["KeySchema"]); err != nil {
		return tb, fmt.Errorf("KeySchema: %w", err)
	}
	if tb.GlobalSecondaryIndexes, err = p.indexes(props["GlobalSecondaryIndexes"]); err != nil {
		return tb, fmt.Errorf("GlobalSecondaryIndexes: %w", err)
	}
	if tb.LocalSecondaryIndexes, err = p.indexes(props["LocalSecondaryIndexes"]); err != nil {
		return tb, fmt.Errorf("LocalSecondaryIndexes: %w", err)
	}
	if tb.Throughput, err = p.throughput(props["ProvisionedThroughput"]); err != nil {
		return tb, fmt.Errorf("ProvisionedThroughput: %w", err)
	}
	if tb.TTL, err = p.ttl(props["TimeToLiveSpecification"]); err != nil {
		return tb, fmt.Errorf("TimeToLiveSpecification: %w", err)
	}
	stream, _ := props["StreamSpecification"].(map[string]any)
	if tb.StreamViewType, err = p.optString(stream, "StreamViewType"); err != nil {
		return tb, err
	}
	if len(tb.KeySchema) == 0 {
		return tb, fmt.Errorf("KeySchema is missing")
	}
	return tb, nil
}

func (p parser) attributeDefinitions(v any) ([]AttributeDefinition, error) {
	var out []AttributeDefinition
	err := p.eachMap(v, func(m map[string]any) error {
		name, err := p.reqString(m, "AttributeName")
		if err != nil {
			return err
		}
		typ, err := p.reqString(m, "AttributeType")
		out = append(out, AttributeDefinition{Name: name, Type: typ})
		return err
	})
	return out, err
}

func (p parser) keySchema(v any) ([]KeyElement, error) {
	var out []KeyElement
	err := p.eachMap(v, func(m map[string]any) error {
		name, err := p.reqString(m, "AttributeName")
		if err != nil {
			return err
		}
		typ, err := p.reqString(m, "KeyType")
		out = append(out, KeyElement{Name: name, Type: typ})
		return err
	})
	return out, err
}

func (p parser) indexes(v any) ([]Index, error) {
	var out []Index
	err := p.eachMap(v, func(m map[string]any) error {
		ix, err := p.index(m)
		out = append(out, ix)
		return err
	})
	return out, err
}

func (p parser) index(m map[string]any) (Index, error) {
	var ix Index
	var err error
	if ix.Name, err = p.reqString(m, "IndexName"); err != nil {
		return ix, err
	}
	if ix.KeySchema, err = p.keySchema(m["KeySchema"]); err != nil {
		return ix, fmt.Errorf("index %s: KeySchema: %w", ix.Name, err)
	}
	if ix.Throughput, err = p.throughput(m["ProvisionedThroughput"]); err != nil {
		return ix, fmt.Errorf("index %s: ProvisionedThroughput: %w", ix.Name, err)
	}
	proj, _ := m["Projection"].(map[string]any)
	if ix.ProjectionType, err = p.optString(proj, "ProjectionType"); err != nil {
		return ix, err
	}
	if ix.ProjectionType == "" {
		ix.ProjectionType = "KEYS_ONLY" // CloudFormation's default
	}
	ix.NonKeyAttributes, err = p.stringList(proj["NonKeyAttributes"])
	return ix, err
}

func (p parser) throughput(v any) (*Throughput, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, nil
	}
	r, err := p.reqInt(m, "ReadCapacityUnits")
	if err != nil {
		return nil, err
	}
	w, err := p.reqInt(m, "WriteCapacityUnits")
	return &Throughput{Read: r, Write: w}, err
}

func (p parser) ttl(v any) (*TTL, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, nil
	}
	name, err := p.reqString(m, "AttributeName")
	if err != nil {
		return nil, err
	}
	enabled, err := p.reqString(m, "Enabled")
	return &TTL{AttributeName: name, Enabled: enabled == "true"}, err
}

func (p parser) queue(id string, props map[string]any) (Queue, error) {
	q := Queue{LogicalID: id, Attributes: map[string]string{}}
	var err error
	if q.QueueName, err = p.name(props["QueueName"]); err != nil {
		return q, fmt.Errorf("QueueName: %w", err)
	}
	if q.RedrivePolicy, err = p.redrivePolicy(props["RedrivePolicy"]); err != nil {
		return q, fmt.Errorf("RedrivePolicy: %w", err)
	}
	for key, v := range props {
		if queueProperties[key] {
			continue
		}
		s, err := p.attributeValue(v)
		if err != nil {
			return q, fmt.Errorf("%s: %w", key, err)
		}
		q.Attributes[key] = s
	}
	return q, nil
}

// attributeValue renders a queue property as an SQS attribute value:
// scalars as they are, mappings (such as RedriveAllowPolicy) as JSON.
func (p parser) attributeValue(v any) (string, error) {
	if m, ok := v.(map[string]any); ok && !isIntrinsic(m) {
		b, err := json.Marshal(m)
		return string(b), err
	}
	return p.scalar(v)
}

func (p parser) redrivePolicy(v any) (*RedrivePolicy, error) {
	if v == nil {
		return nil, nil
	}
	if s, ok := v.(string); ok {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return nil, fmt.Errorf("not a JSON object: %w", err)
		}
		v = jsonToTemplate(m)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a mapping, got %T", v)
	}
	rp := &RedrivePolicy{}
	n, err := p.reqInt(m, "maxReceiveCount")
	if err != nil {
		return nil, err
	}
	rp.MaxReceiveCount = int(n)
	target := m["deadLetterTargetArn"]
	if id, ok := getAttArn(target); ok {
		rp.DeadLetterQueue = id
		return rp, nil
	}
	if rp.DeadLetterTargetARN, err = p.scalar(target); err != nil {
		return nil, fmt.Errorf("deadLetterTargetArn: %w", err)
	}
	return rp, nil
}

// getAttArn recognises {"Fn::GetAtt": [id, "Arn"]} and returns id.
func getAttArn(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", false
	}
	args, ok := m["Fn::GetAtt"].([]any)
	if !ok || len(args) != 2 || args[1] != "Arn" {
		return "", false
	}
	id, ok := args[0].(string)
	return id, ok
}

// jsonToTemplate converts decoded JSON numbers and booleans to the string
// scalars used by the rest of the parser.
func jsonToTemplate(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonToTemplate(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = jsonToTemplate(e)
		}
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	default:
		return v
	}
}

func isIntrinsic(m map[string]any) bool {
	if len(m) != 1 {
		return false
	}
	for k := range m {
		return k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::")
	}
	return false
}

// scalar resolves a property to a string: a literal, or a Ref to a
// template parameter that has a default.
func (p parser) scalar(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok && len(x) == 1 {
			if d, ok := p.params[ref]; ok {
				return d, nil
			}
			return "", fmt.Errorf("!Ref %s: not a parameter with a default", ref)
		}
		return "", fmt.Errorf("unsupported intrinsic %v", x)
	case nil:
		return "", nil
	default:
		return "", fmt.Errorf("want a scalar, got %T", v)
	}
}

func (p parser) optString(m map[string]any, key string) (string, error) {
	s, err := p.scalar(m[key])
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	return s, nil
}

func (p parser) reqString(m map[string]any, key string) (string, error) {
	s, err := p.optString(m, key)
	if err == nil && s == "" {
		err = fmt.Errorf("%s is missing", key)
	}
	return s, err
}

func (p parser) reqInt(m map[string]any, key string) (int64, error) {
	s, err := p.reqString(m, key)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", key, err)
	}
	return n, nil
}

func (p parser) stringList(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want a list, got %T", v)
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, err := p.scalar(e)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (p parser) eachMap(v any, fn func(map[string]any) error) error {
	if v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		return fmt.Errorf("want a list, got %T", v)
	}
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return fmt.Errorf("item %d: want a mapping, got %T", i, e)
		}
		if err := fn(m); err != nil {
			return fmt.Errorf("item %d: %w", i, err)
		}
	}
	return nil
}
