package emulators

import (
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Credentials the emulators accept; they check none.
const (
	LocalAccessKeyID     = "local"
	LocalSecretAccessKey = "local"
)

// LocalConfig returns an AWS configuration for the local emulators: static
// credentials and DefaultRegion. It reads no environment, shared files or
// instance metadata.
func LocalConfig() aws.Config {
	return StaticConfig(DefaultRegion, LocalAccessKeyID, LocalSecretAccessKey, "")
}

// AccountConfig returns the configuration of LocalConfig acting as the given
// account: the local SQS endpoint (SQS, SNS, STS and IAM) takes a 12-digit
// access key id as the caller's account id, the convention of LocalStack; any
// other static key, LocalAccessKeyID among them, acts as DefaultAccountID.
func AccountConfig(accountID string) aws.Config {
	return StaticConfig(DefaultRegion, accountID, LocalSecretAccessKey, "")
}

// StaticConfig returns an AWS configuration with fixed credentials and region.
func StaticConfig(region, accessKeyID, secretAccessKey, sessionToken string) aws.Config {
	return aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, sessionToken),
	}
}

// idleConns is how many idle connections a local client keeps to its emulator. The
// SDK's default of 10 suits a Lambda; one process running the API and the delivery
// worker has more calls in flight than that, and each call beyond it would open (and
// leave in TIME_WAIT) a new connection.
const idleConns = 128

func httpClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = 2 * idleConns
		tr.MaxIdleConnsPerHost = idleConns
		tr.Proxy = nil // loopback only, whatever the environment says
	})
}

// NewDynamoDBClient returns a DynamoDB client for the given endpoint.
// Response checksums are not validated: DynamoDB Local sends none that the
// SDK accepts.
func NewDynamoDBClient(cfg aws.Config, endpoint string) *dynamodb.Client {
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.DisableValidateResponseChecksum = true
		o.HTTPClient = httpClient()
	})
}

// NewSQSClient returns an SQS client for the given endpoint.
func NewSQSClient(cfg aws.Config, endpoint string) *sqs.Client {
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.HTTPClient = httpClient()
	})
}

// The local SQS endpoint also serves SNS, STS and IAM, with accounts and roles
// (see infra/local/fauxqs.mjs); these clients point at it.

// NewSNSClient returns an SNS client for the given endpoint.
func NewSNSClient(cfg aws.Config, endpoint string) *sns.Client {
	return sns.NewFromConfig(cfg, func(o *sns.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.HTTPClient = httpClient()
	})
}

// NewSTSClient returns an STS client for the given endpoint.
func NewSTSClient(cfg aws.Config, endpoint string) *sts.Client {
	return sts.NewFromConfig(cfg, func(o *sts.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.HTTPClient = httpClient()
	})
}

// NewIAMClient returns an IAM client for the given endpoint.
func NewIAMClient(cfg aws.Config, endpoint string) *iam.Client {
	return iam.NewFromConfig(cfg, func(o *iam.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.HTTPClient = httpClient()
	})
}
