package emulators

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	stypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// tableActiveTimeout bounds the wait for a new table to become ACTIVE.
const tableActiveTimeout = 60 * time.Second

// Resources names what Provision created, by logical id.
type Resources struct {
	Tables map[string]string    // logical id → table name
	Queues map[string]QueueInfo // logical id → queue
}

// QueueInfo identifies a provisioned queue.
type QueueInfo struct {
	URL  string
	ARN  string
	Name string
}

// Provision creates the template's DynamoDB tables and SQS queues as the
// stack stackName would have them. It is idempotent: tables and queues that
// already exist are kept.
func Provision(ctx context.Context, ddb *dynamodb.Client, sq *sqs.Client, templatePath, stackName string) (*Resources, error) {
	t, err := LoadTemplate(templatePath)
	if err != nil {
		return nil, err
	}
	p := Pseudo{StackName: stackName}
	if ddb != nil {
		p.Region = ddb.Options().Region
	} else if sq != nil {
		p.Region = sq.Options().Region
	}
	return ProvisionTemplate(ctx, ddb, sq, t, p)
}

// ProvisionTemplate is Provision for a template already loaded.
// A client may be nil when the template has nothing for it.
func ProvisionTemplate(ctx context.Context, ddb *dynamodb.Client, sq *sqs.Client, t *Template, p Pseudo) (*Resources, error) {
	res := &Resources{Tables: map[string]string{}, Queues: map[string]QueueInfo{}}
	if len(t.Tables) > 0 && ddb == nil {
		return nil, errors.New("provision: template has tables but no DynamoDB client was given")
	}
	if len(t.Queues) > 0 && sq == nil {
		return nil, errors.New("provision: template has queues but no SQS client was given")
	}
	for _, tb := range t.Tables {
		name, err := provisionTable(ctx, ddb, tb, p)
		if err != nil {
			return nil, fmt.Errorf("provision table %s: %w", tb.LogicalID, err)
		}
		res.Tables[tb.LogicalID] = name
	}
	queues, err := queueOrder(t.Queues)
	if err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	for _, q := range queues {
		info, err := provisionQueue(ctx, sq, q, p, res.Queues)
		if err != nil {
			return nil, fmt.Errorf("provision queue %s: %w", q.LogicalID, err)
		}
		res.Queues[q.LogicalID] = info
	}
	return res, nil
}

func provisionTable(ctx context.Context, ddb *dynamodb.Client, tb Table, p Pseudo) (string, error) {
	name, err := tb.ResolvedName(p)
	if err != nil {
		return "", err
	}
	_, err = ddb.CreateTable(ctx, createTableInput(tb, name))
	var inUse *dtypes.ResourceInUseException
	switch {
	case errors.As(err, &inUse):
		slog.Debug("table exists", "table", name)
	case err != nil:
		return "", fmt.Errorf("create table %s: %w", name, err)
	default:
		slog.Debug("table created", "table", name)
	}
	waiter := dynamodb.NewTableExistsWaiter(ddb, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = 2 * time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, tableActiveTimeout); err != nil {
		return "", fmt.Errorf("wait for table %s: %w", name, err)
	}
	return name, enableTTL(ctx, ddb, tb.TTL, name)
}

func createTableInput(tb Table, name string) *dynamodb.CreateTableInput {
	in := &dynamodb.CreateTableInput{
		TableName:             aws.String(name),
		KeySchema:             keySchema(tb.KeySchema),
		ProvisionedThroughput: throughput(tb.Throughput),
	}
	if tb.BillingMode != "" {
		in.BillingMode = dtypes.BillingMode(tb.BillingMode)
	}
	for _, a := range tb.AttributeDefinitions {
		in.AttributeDefinitions = append(in.AttributeDefinitions, dtypes.AttributeDefinition{
			AttributeName: aws.String(a.Name),
			AttributeType: dtypes.ScalarAttributeType(a.Type),
		})
	}
	for _, ix := range tb.GlobalSecondaryIndexes {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, dtypes.GlobalSecondaryIndex{
			IndexName:             aws.String(ix.Name),
			KeySchema:             keySchema(ix.KeySchema),
			Projection:            projection(ix),
			ProvisionedThroughput: throughput(ix.Throughput),
		})
	}
	for _, ix := range tb.LocalSecondaryIndexes {
		in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, dtypes.LocalSecondaryIndex{
			IndexName:  aws.String(ix.Name),
			KeySchema:  keySchema(ix.KeySchema),
			Projection: projection(ix),
		})
	}
	if tb.StreamViewType != "" {
		in.StreamSpecification = &dtypes.StreamSpecification{
			StreamEnabled:  aws.Bool(true),
			StreamViewType: dtypes.StreamViewType(tb.StreamViewType),
		}
	}
	return in
}

func keySchema(keys []KeyElement) []dtypes.KeySchemaElement {
	out := make([]dtypes.KeySchemaElement, 0, len(keys))
	for _, k := range keys {
		out = append(out, dtypes.KeySchemaElement{AttributeName: aws.String(k.Name), KeyType: dtypes.KeyType(k.Type)})
	}
	return out
}

func projection(ix Index) *dtypes.Projection {
	return &dtypes.Projection{ProjectionType: dtypes.ProjectionType(ix.ProjectionType), NonKeyAttributes: ix.NonKeyAttributes}
}

func throughput(t *Throughput) *dtypes.ProvisionedThroughput {
	if t == nil {
		return nil
	}
	return &dtypes.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(t.Read), WriteCapacityUnits: aws.Int64(t.Write)}
}

// enableTTL turns on time to live unless it already is. An emulator that
// does not implement the TTL operations gets a warning, not a failure.
func enableTTL(ctx context.Context, ddb *dynamodb.Client, ttl *TTL, table string) error {
	if ttl == nil || !ttl.Enabled {
		return nil
	}
	desc, err := ddb.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err == nil && ttlEnabled(desc.TimeToLiveDescription, ttl.AttributeName) {
		return nil
	}
	_, err = ddb.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(table),
		TimeToLiveSpecification: &dtypes.TimeToLiveSpecification{
			AttributeName: aws.String(ttl.AttributeName),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil && unsupported(err) {
		slog.Warn("the DynamoDB endpoint does not support time to live; continuing without it", "table", table, "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("enable time to live on %s: %w", table, err)
	}
	return nil
}

func ttlEnabled(d *dtypes.TimeToLiveDescription, attr string) bool {
	if d == nil || aws.ToString(d.AttributeName) != attr {
		return false
	}
	return d.TimeToLiveStatus == dtypes.TimeToLiveStatusEnabled || d.TimeToLiveStatus == dtypes.TimeToLiveStatusEnabling
}

// unsupported reports whether err says the endpoint does not implement the operation.
func unsupported(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "UnknownOperationException", "UnsupportedOperation", "NotImplemented",
		"NotImplementedException", "InvalidAction":
		return true
	}
	return false
}

// queueOrder sorts queues so that every dead-letter queue precedes the
// queues that redrive to it.
func queueOrder(queues []Queue) ([]Queue, error) {
	byID := make(map[string]Queue, len(queues))
	for _, q := range queues {
		byID[q.LogicalID] = q
	}
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	out := make([]Queue, 0, len(queues))
	var visit func(q Queue) error
	visit = func(q Queue) error {
		switch state[q.LogicalID] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("queue %s: redrive policies form a cycle", q.LogicalID)
		}
		state[q.LogicalID] = visiting
		if rp := q.RedrivePolicy; rp != nil && rp.DeadLetterQueue != "" {
			dlq, ok := byID[rp.DeadLetterQueue]
			if !ok {
				return fmt.Errorf("queue %s: dead-letter target %s is not a queue in the template", q.LogicalID, rp.DeadLetterQueue)
			}
			if err := visit(dlq); err != nil {
				return err
			}
		}
		state[q.LogicalID] = done
		out = append(out, q)
		return nil
	}
	for _, q := range queues {
		if err := visit(q); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func provisionQueue(ctx context.Context, sq *sqs.Client, q Queue, p Pseudo, created map[string]QueueInfo) (QueueInfo, error) {
	name, err := q.ResolvedName(p)
	if err != nil {
		return QueueInfo{}, err
	}
	attrs, err := queueAttributes(q, created)
	if err != nil {
		return QueueInfo{}, err
	}
	url, err := createQueue(ctx, sq, name, attrs)
	if err != nil {
		return QueueInfo{}, err
	}
	out, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []stypes.QueueAttributeName{stypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return QueueInfo{}, fmt.Errorf("get arn of queue %s: %w", name, err)
	}
	return QueueInfo{URL: url, ARN: out.Attributes[string(stypes.QueueAttributeNameQueueArn)], Name: name}, nil
}

// queueAttributes returns the attributes to create q with, its redrive
// policy pointing at the ARN of the queue already created for the target.
func queueAttributes(q Queue, created map[string]QueueInfo) (map[string]string, error) {
	attrs := maps.Clone(q.Attributes)
	if attrs == nil {
		attrs = map[string]string{}
	}
	rp := q.RedrivePolicy
	if rp == nil {
		return attrs, nil
	}
	arn := rp.DeadLetterTargetARN
	if rp.DeadLetterQueue != "" {
		arn = created[rp.DeadLetterQueue].ARN
	}
	if arn == "" {
		return nil, fmt.Errorf("redrive policy: no ARN for dead-letter queue %s", rp.DeadLetterQueue)
	}
	b, err := json.Marshal(struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		MaxReceiveCount     int    `json:"maxReceiveCount"`
	}{arn, rp.MaxReceiveCount})
	if err != nil {
		return nil, fmt.Errorf("redrive policy: %w", err)
	}
	attrs["RedrivePolicy"] = string(b)
	return attrs, nil
}

// createQueue creates the queue, or brings an existing one with other
// attributes up to date, and returns its URL.
func createQueue(ctx context.Context, sq *sqs.Client, name string, attrs map[string]string) (string, error) {
	out, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err == nil {
		slog.Debug("queue ready", "queue", name)
		return aws.ToString(out.QueueUrl), nil
	}
	var exists *stypes.QueueNameExists
	if !errors.As(err, &exists) {
		return "", fmt.Errorf("create queue %s: %w", name, err)
	}
	got, err := sq.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("get url of existing queue %s: %w", name, err)
	}
	settable := maps.Clone(attrs)
	delete(settable, "FifoQueue") // fixed at creation
	// SQS-managed encryption at rest is AWS's; the SQS emulator takes it at creation
	// but refuses it in SetQueueAttributes, and there is nothing to encrypt locally.
	delete(settable, "SqsManagedSseEnabled")
	_, err = sq.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: got.QueueUrl, Attributes: settable})
	if err != nil {
		return "", fmt.Errorf("update attributes of existing queue %s: %w", name, err)
	}
	slog.Debug("queue updated", "queue", name)
	return aws.ToString(got.QueueUrl), nil
}
