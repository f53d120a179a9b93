package emulators

import (
	"reflect"
	"strings"
	"testing"
)

func TestLoadTemplateRepo(t *testing.T) {
	tmpl, err := LoadTemplate("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := Pseudo{StackName: "gancho-local"}

	tb, ok := tmpl.Table("GanchoTable")
	if !ok {
		t.Fatalf("GanchoTable missing; tables: %+v", tmpl.Tables)
	}
	if name, err := tb.ResolvedName(p); err != nil || name != "gancho-local-GanchoTable" {
		t.Errorf("table name = %q, %v; want gancho-local-GanchoTable", name, err)
	}
	if tb.BillingMode != "PAY_PER_REQUEST" {
		t.Errorf("BillingMode = %q", tb.BillingMode)
	}
	wantKeys := []KeyElement{{"pk", "HASH"}, {"sk", "RANGE"}}
	if !reflect.DeepEqual(tb.KeySchema, wantKeys) {
		t.Errorf("KeySchema = %+v, want %+v", tb.KeySchema, wantKeys)
	}
	for _, a := range []string{"pk", "sk", "gsi1pk", "gsi1sk"} {
		if !hasAttribute(tb, a, "S") {
			t.Errorf("attribute %s S not defined: %+v", a, tb.AttributeDefinitions)
		}
	}
	var wantGSI []Index
	for _, n := range []string{"gsi1", "gsi3"} {
		wantGSI = append(wantGSI, Index{
			Name:           n,
			KeySchema:      []KeyElement{{n + "pk", "HASH"}, {n + "sk", "RANGE"}},
			ProjectionType: "ALL",
		})
	}
	if !reflect.DeepEqual(tb.GlobalSecondaryIndexes, wantGSI) {
		t.Errorf("GSIs = %+v, want %+v", tb.GlobalSecondaryIndexes, wantGSI)
	}
	if tb.TTL == nil || *tb.TTL != (TTL{AttributeName: "expiresAt", Enabled: true}) {
		t.Errorf("TTL = %+v", tb.TTL)
	}

	q, ok := tmpl.Queue("DeliveriesQueue")
	if !ok {
		t.Fatalf("DeliveriesQueue missing; queues: %+v", tmpl.Queues)
	}
	if name, err := q.ResolvedName(p); err != nil || name != "gancho-local-deliveries" {
		t.Errorf("queue name = %q, %v", name, err)
	}
	if q.Attributes["VisibilityTimeout"] != "360" || q.Attributes["MessageRetentionPeriod"] != "1209600" {
		t.Errorf("attributes = %v", q.Attributes)
	}
	if q.RedrivePolicy == nil || *q.RedrivePolicy != (RedrivePolicy{DeadLetterQueue: "DeliveriesDLQ", MaxReceiveCount: 5}) {
		t.Errorf("RedrivePolicy = %+v", q.RedrivePolicy)
	}
	dlq, ok := tmpl.Queue("DeliveriesDLQ")
	if !ok {
		t.Fatal("DeliveriesDLQ missing")
	}
	if name, err := dlq.ResolvedName(p); err != nil || name != "gancho-local-deliveries-dlq" {
		t.Errorf("dlq name = %q, %v", name, err)
	}
	if dlq.RedrivePolicy != nil {
		t.Errorf("dlq has a redrive policy: %+v", dlq.RedrivePolicy)
	}
}

func hasAttribute(tb Table, name, typ string) bool {
	for _, a := range tb.AttributeDefinitions {
		if a.Name == name && a.Type == typ {
			return true
		}
	}
	return false
}

const fifoTemplate = `
Parameters:
  Env:
    Type: String
    Default: dev
  Visibility:
    Type: Number
    Default: 45
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Environment:
        Variables:
          Q: !GetAtt Jobs.QueueName
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
      ContentBasedDeduplication: True
      DeduplicationScope: messageGroup
      FifoThroughputLimit: perMessageGroupId
      VisibilityTimeout: !Ref Visibility
      RedrivePolicy: '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:elsewhere.fifo", "maxReceiveCount": 3}'
  Plain:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Join ["-", [!Ref "AWS::StackName", !Ref Env, "plain"]]
      RedrivePolicy:
        deadLetterTargetArn:
          Fn::GetAtt: [Dead, Arn]
        maxReceiveCount: "2"
  Dead:
    Type: AWS::SQS::Queue
  Other:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub
        - "${AWS::StackName}-${Kind}-${!Literal}"
        - Kind: other
      AttributeDefinitions:
        - {AttributeName: id, AttributeType: S}
      KeySchema:
        - {AttributeName: id, KeyType: HASH}
      ProvisionedThroughput: {ReadCapacityUnits: 1, WriteCapacityUnits: 2}
      GlobalSecondaryIndexes:
        - IndexName: byId
          KeySchema: [{AttributeName: id, KeyType: HASH}]
          Projection: {ProjectionType: INCLUDE, NonKeyAttributes: [a, b]}
          ProvisionedThroughput: {ReadCapacityUnits: 1, WriteCapacityUnits: 1}
`

func TestParseTemplateGeneric(t *testing.T) {
	tmpl, err := ParseTemplate([]byte(fifoTemplate))
	if err != nil {
		t.Fatal(err)
	}
	p := Pseudo{StackName: "s"}

	jobs, _ := tmpl.Queue("Jobs")
	want := map[string]string{
		"FifoQueue":                 "true",
		"ContentBasedDeduplication": "true",
		"DeduplicationScope":        "messageGroup",
		"FifoThroughputLimit":       "perMessageGroupId",
		"VisibilityTimeout":         "45",
	}
	if !reflect.DeepEqual(jobs.Attributes, want) {
		t.Errorf("Jobs attributes = %v, want %v", jobs.Attributes, want)
	}
	if name, _ := jobs.ResolvedName(p); name != "s-jobs.fifo" {
		t.Errorf("Jobs name = %q, want s-jobs.fifo", name)
	}
	if rp := jobs.RedrivePolicy; rp == nil || rp.DeadLetterTargetARN != "arn:aws:sqs:us-east-1:000000000000:elsewhere.fifo" || rp.MaxReceiveCount != 3 {
		t.Errorf("Jobs RedrivePolicy = %+v", rp)
	}

	plain, _ := tmpl.Queue("Plain")
	if name, err := plain.ResolvedName(p); name != "s-dev-plain" {
		t.Errorf("Plain name = %q, %v", name, err)
	}
	if rp := plain.RedrivePolicy; rp == nil || rp.DeadLetterQueue != "Dead" || rp.MaxReceiveCount != 2 {
		t.Errorf("Plain RedrivePolicy = %+v", rp)
	}
	if dead, _ := tmpl.Queue("Dead"); len(dead.Attributes) != 0 {
		t.Errorf("Dead attributes = %v", dead.Attributes)
	}

	other, _ := tmpl.Table("Other")
	if name, err := other.ResolvedName(p); name != "s-other-${Literal}" {
		t.Errorf("Other name = %q, %v", name, err)
	}
	if other.Throughput == nil || *other.Throughput != (Throughput{1, 2}) || other.BillingMode != "" {
		t.Errorf("Other throughput = %+v, billing %q", other.Throughput, other.BillingMode)
	}
	gsi := other.GlobalSecondaryIndexes[0]
	if gsi.ProjectionType != "INCLUDE" || !reflect.DeepEqual(gsi.NonKeyAttributes, []string{"a", "b"}) || gsi.Throughput == nil {
		t.Errorf("GSI = %+v", gsi)
	}

	order, err := queueOrder(tmpl.Queues)
	if err != nil {
		t.Fatal(err)
	}
	if pos(order, "Dead") > pos(order, "Plain") {
		t.Errorf("Dead created after Plain: %v", ids(order))
	}
}

func TestParseTemplateErrors(t *testing.T) {
	cases := map[string]string{
		"cycle": `
Resources:
  A: {Type: "AWS::SQS::Queue", Properties: {RedrivePolicy: {deadLetterTargetArn: !GetAtt B.Arn, maxReceiveCount: 1}}}
  B: {Type: "AWS::SQS::Queue", Properties: {RedrivePolicy: {deadLetterTargetArn: !GetAtt A.Arn, maxReceiveCount: 1}}}
`,
		"not a queue": `
Resources:
  A: {Type: "AWS::SQS::Queue", Properties: {RedrivePolicy: {deadLetterTargetArn: !GetAtt T.Arn, maxReceiveCount: 1}}}
`,
		"no key schema": `
Resources:
  T: {Type: "AWS::DynamoDB::Table", Properties: {AttributeDefinitions: []}}
`,
		"unknown ref": `
Resources:
  Q: {Type: "AWS::SQS::Queue", Properties: {QueueName: !Ref Nope}}
`,
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			tmpl, err := ParseTemplate([]byte(src))
			if err == nil {
				_, err = queueOrder(tmpl.Queues)
			}
			if err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestNameResolve(t *testing.T) {
	n := Name{Pattern: "${AWS::StackName}-${AWS::Region}-${AWS::AccountId}-${!x}"}
	got, err := n.Resolve(Pseudo{StackName: "st"})
	if err != nil || got != "st-us-east-1-000000000000-${x}" {
		t.Errorf("Resolve = %q, %v", got, err)
	}
	if _, err := (Name{Pattern: "${Unknown}"}).Resolve(Pseudo{StackName: "st"}); err == nil || !strings.Contains(err.Error(), "Unknown") {
		t.Errorf("unknown variable: err = %v", err)
	}
	if _, err := (Name{Pattern: "${AWS::StackName}"}).Resolve(Pseudo{}); err == nil {
		t.Error("empty stack name resolved")
	}
}

func pos(qs []Queue, id string) int {
	for i, q := range qs {
		if q.LogicalID == id {
			return i
		}
	}
	return -1
}

func ids(qs []Queue) []string {
	var out []string
	for _, q := range qs {
		out = append(out, q.LogicalID)
	}
	return out
}
