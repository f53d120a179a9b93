package localstack

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
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

// StaticConfig returns an AWS configuration with fixed credentials and region.
func StaticConfig(region, accessKeyID, secretAccessKey, sessionToken string) aws.Config {
	return aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, sessionToken),
	}
}

// NewDynamoDBClient returns a DynamoDB client for the given endpoint.
// Response checksums are not validated: DynamoDB Local sends none that the
// SDK accepts.
func NewDynamoDBClient(cfg aws.Config, endpoint string) *dynamodb.Client {
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.DisableValidateResponseChecksum = true
	})
}

// NewSQSClient returns an SQS client for the given endpoint.
func NewSQSClient(cfg aws.Config, endpoint string) *sqs.Client {
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	})
}
