package deliverfn

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/gancho-dev/gancho/shared/awsdest"
)

// NewForwarder builds what sends deliveries to SQS and SNS destinations, from the
// consumer's SQS client: its region, credentials and HTTP client. The SNS and STS
// clients use AWS_ENDPOINT_URL_SNS and AWS_ENDPOINT_URL_STS when set, else the SQS
// client's endpoint (an emulator serving all three: fauxqs, LocalStack), else AWS's.
func NewForwarder(sq *sqs.Client, getenv func(string) string) *awsdest.Sender {
	o := sq.Options()
	endpoint := func(name string) *string {
		if v := getenv(name); v != "" {
			return aws.String(v)
		}
		return o.BaseEndpoint
	}
	snsClient := sns.New(sns.Options{Region: o.Region, Credentials: o.Credentials, HTTPClient: o.HTTPClient,
		BaseEndpoint: endpoint("AWS_ENDPOINT_URL_SNS"), RetryMaxAttempts: o.RetryMaxAttempts})
	stsClient := sts.New(sts.Options{Region: o.Region, Credentials: o.Credentials, HTTPClient: o.HTTPClient,
		BaseEndpoint: endpoint("AWS_ENDPOINT_URL_STS")})
	return awsdest.New(sq, snsClient, stsClient)
}
