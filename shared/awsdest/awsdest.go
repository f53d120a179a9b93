// Package awsdest delivers webhooks to SQS queues and SNS topics: one SendMessage or
// Publish per attempt, with the deployment's credentials for a destination in its
// own account, or with a role the customer created in theirs, assumed with the
// tenant id as external id (the confused-deputy guard: a role trusts this deployment
// for one tenant only).
package awsdest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// Sender sends queue and topic deliveries. It is safe for concurrent use.
type Sender struct {
	sqs *sqs.Client
	sns *sns.Client
	sts stscreds.AssumeRoleAPIClient

	mu    sync.Mutex
	roles map[roleKey]*aws.CredentialsCache
}

type roleKey struct{ tenant, role, session string }

// maxRoles bounds the assumed-role credentials kept (each refreshes itself before it
// expires); past it the cache starts again, and roles are assumed again as used.
const maxRoles = 1000

// SessionDuration is how long assumed-role credentials last (the STS minimum); they
// are renewed when less than a minute is left, so a call never signs with ones about
// to expire.
const SessionDuration = 15 * time.Minute

// New returns a Sender using the deployment's clients; stsClient assumes customers'
// roles.
func New(sqsClient *sqs.Client, snsClient *sns.Client, stsClient stscreds.AssumeRoleAPIClient) *Sender {
	return &Sender{sqs: sqsClient, sns: snsClient, sts: stsClient, roles: map[roleKey]*aws.CredentialsCache{}}
}

// credentials are the role's for tenant, assumed as session, or nil for the
// deployment's own.
func (s *Sender) credentials(tenant, role, session string) *aws.CredentialsCache {
	if role == "" {
		return nil
	}
	if session == "" {
		session = gancho.SessionName(tenant, "")
	}
	k := roleKey{tenant, role, session}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.roles[k]; ok {
		return c
	}
	if len(s.roles) >= maxRoles {
		clear(s.roles)
	}
	c := aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(s.sts, role, func(o *stscreds.AssumeRoleOptions) {
		o.ExternalID = aws.String(tenant)
		o.RoleSessionName = session
		o.Duration = SessionDuration
	}), func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = time.Minute })
	s.roles[k] = c
	return c
}

// Forward sends m to the destination, assuming its role (if any) as to.SessionName
// (gancho.SessionName). A nil error means the queue or topic took it;
// otherwise the error is short (an AWS error code, "timeout") and the answer says
// what AWS returned.
func (s *Sender) Forward(ctx context.Context, tenant string, to gancho.Target, m gancho.QueueMessage) (gancho.Forwarded, error) {
	res := to.Resource()
	// creds stays a nil interface for the deployment's own credentials (a typed nil
	// would replace the client's).
	var creds aws.CredentialsProvider
	if c := s.credentials(tenant, to.RoleARN, to.SessionName); c != nil {
		creds = c
		// Retrieved here so a refused role reads as such, not as a signing failure;
		// the call below reuses the cached credentials.
		if _, err := c.Retrieve(ctx); err != nil {
			out, short := describe(err)
			return out, fmt.Errorf("assume role %s: %w", to.RoleARN, short)
		}
	}
	var (
		id  *string
		err error
	)
	switch to.Type {
	case gancho.DestinationSQS:
		id, err = s.sendSQS(ctx, to.QueueURL, call{res.Region, creds}, m)
	case gancho.DestinationSNS:
		id, err = s.publishSNS(ctx, to.TopicARN, call{res.Region, creds}, m)
	default:
		return gancho.Forwarded{}, fmt.Errorf("destination type %q is not a queue or topic", to.Type)
	}
	if err != nil {
		out, short := describe(err)
		return out, short
	}
	return gancho.Forwarded{StatusCode: http.StatusOK, Response: aws.ToString(id)}, nil
}

// call is where and as whom one message is sent: the destination's region (empty:
// the client's, an emulator's) and the role's credentials (nil: the deployment's).
type call struct {
	region string
	creds  aws.CredentialsProvider
}

func (c call) sqs(o *sqs.Options) {
	if c.region != "" {
		o.Region = c.region
	}
	if c.creds != nil {
		o.Credentials = c.creds
	}
}

func (c call) sns(o *sns.Options) {
	if c.region != "" {
		o.Region = c.region
	}
	if c.creds != nil {
		o.Credentials = c.creds
	}
}

// attributes are m's attributes as SQS or SNS message attributes of type String.
func attributes[V any](m gancho.QueueMessage, value func(dataType, v *string) V) map[string]V {
	out := make(map[string]V, len(m.Attributes))
	for k, v := range m.Attributes {
		out[k] = value(aws.String("String"), aws.String(v))
	}
	return out
}

// fifo returns the group and deduplication ids of a FIFO message (nil for others).
func fifo(m gancho.QueueMessage) (group, dedup *string) {
	if m.GroupID == "" {
		return nil, nil
	}
	return aws.String(m.GroupID), aws.String(m.DeduplicationID)
}

func (s *Sender) sendSQS(ctx context.Context, queueURL string, c call, m gancho.QueueMessage) (*string, error) {
	in := &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(string(m.Body)),
		MessageAttributes: attributes(m, func(t, v *string) sqstypes.MessageAttributeValue {
			return sqstypes.MessageAttributeValue{DataType: t, StringValue: v}
		})}
	in.MessageGroupId, in.MessageDeduplicationId = fifo(m)
	out, err := s.sqs.SendMessage(ctx, in, c.sqs)
	if err != nil {
		return nil, err
	}
	return out.MessageId, nil
}

func (s *Sender) publishSNS(ctx context.Context, topicARN string, c call, m gancho.QueueMessage) (*string, error) {
	in := &sns.PublishInput{TopicArn: aws.String(topicARN), Message: aws.String(string(m.Body)),
		MessageAttributes: attributes(m, func(t, v *string) snstypes.MessageAttributeValue {
			return snstypes.MessageAttributeValue{DataType: t, StringValue: v}
		})}
	in.MessageGroupId, in.MessageDeduplicationId = fifo(m)
	out, err := s.sns.Publish(ctx, in, c.sns)
	if err != nil {
		return nil, err
	}
	return out.MessageId, nil
}

// describe turns an AWS client error into what the attempt log keeps: the HTTP status
// and "Code: message" AWS answered, and a short error (the code, or timeout).
func describe(err error) (gancho.Forwarded, error) {
	var out gancho.Forwarded
	if re, ok := errors.AsType[*awshttp.ResponseError](err); ok {
		out.StatusCode = re.HTTPStatusCode()
	}
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		out.Response = ae.ErrorCode() + ": " + ae.ErrorMessage()
		return out, errors.New(ae.ErrorCode())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return out, context.DeadlineExceeded
	}
	root := err
	for u := errors.Unwrap(root); u != nil; u = errors.Unwrap(root) {
		root = u
	}
	return out, fmt.Errorf("no answer from AWS: %v", root)
}
