package main

import (
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/gancho-dev/gancho/infra/emulators"
	"github.com/gancho-dev/gancho/shared/seal"
)

// target is where the resources live and how to reach them.
type target struct {
	dynamoEndpoint string
	sqsEndpoint    string
	cfg            aws.Config
	// vars are the AWS variables the command gets.
	vars map[string]string
}

func (t target) dynamoDB() *dynamodb.Client {
	return emulators.NewDynamoDBClient(t.cfg, t.dynamoEndpoint)
}

func (t target) sqs() *sqs.Client {
	return emulators.NewSQSClient(t.cfg, t.sqsEndpoint)
}

// localTarget points at emulators started here, with local credentials.
func localTarget(s *emulators.Stack) target {
	return target{
		dynamoEndpoint: s.DynamoEndpoint,
		sqsEndpoint:    s.SQSEndpoint,
		cfg:            emulators.LocalConfig(),
		vars: map[string]string{
			"AWS_ENDPOINT_URL_DYNAMODB": s.DynamoEndpoint,
			"AWS_ENDPOINT_URL_SQS":      s.SQSEndpoint,
			"AWS_REGION":                emulators.DefaultRegion,
			"AWS_ACCESS_KEY_ID":         emulators.LocalAccessKeyID,
			"AWS_SECRET_ACCESS_KEY":     emulators.LocalSecretAccessKey,
		},
	}
}

// externalTarget points at running emulators named by AWS_ENDPOINT_URL
// (or the per-service AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_SQS),
// with the environment's region and credentials where it sets them.
func externalTarget(endpoint string) target {
	region := firstEnv(emulators.DefaultRegion, "AWS_REGION", "AWS_DEFAULT_REGION")
	key := firstEnv(emulators.LocalAccessKeyID, "AWS_ACCESS_KEY_ID")
	secret := firstEnv(emulators.LocalSecretAccessKey, "AWS_SECRET_ACCESS_KEY")
	t := target{
		dynamoEndpoint: firstEnv(endpoint, "AWS_ENDPOINT_URL_DYNAMODB"),
		sqsEndpoint:    firstEnv(endpoint, "AWS_ENDPOINT_URL_SQS"),
		cfg:            emulators.StaticConfig(region, key, secret, os.Getenv("AWS_SESSION_TOKEN")),
	}
	t.vars = map[string]string{
		"AWS_ENDPOINT_URL_DYNAMODB": t.dynamoEndpoint,
		"AWS_ENDPOINT_URL_SQS":      t.sqsEndpoint,
		"AWS_REGION":                region,
		"AWS_ACCESS_KEY_ID":         key,
		"AWS_SECRET_ACCESS_KEY":     secret,
	}
	return t
}

// firstEnv returns the value of the first of the named variables that is
// set and not empty, or def.
func firstEnv(def string, names ...string) string {
	for _, name := range names {
		if v := os.Getenv(name); v != "" {
			return v
		}
	}
	return def
}

// wellKnownVar names the variable the project reads for a resource.
func wellKnownVar(logicalID string) (string, bool) {
	switch logicalID {
	case "GanchoTable":
		return "GANCHO_TABLE_NAME", true
	case "DeliveriesQueue":
		return "GANCHO_DELIVERIES_QUEUE_URL", true
	case "DeliveriesDLQ":
		return "GANCHO_DELIVERIES_DLQ_URL", true
	case "OrderedQueue":
		return "GANCHO_ORDERED_QUEUE_URL", true
	case "IngestQueue":
		return "GANCHO_INGEST_QUEUE_URL", true
	case "IngestDLQ":
		return "GANCHO_INGEST_DLQ_URL", true
	}
	return "", false
}

// commandEnv returns the variables the command runs with: the target's AWS
// variables, GANCHO_STACK_NAME, the well-known resource variables, and
// GANCHO_TABLE_NAME_<ID> and GANCHO_QUEUE_URL_<ID> for every table and queue.
func commandEnv(t target, stackName string, res *emulators.Resources) map[string]string {
	env := map[string]string{
		"AWS_EC2_METADATA_DISABLED": "true",
		"GANCHO_STACK_NAME":         stackName,
		// A fresh key per run unless the caller brings one.
		"GANCHO_ENCRYPTION_KEYS": firstEnv(seal.NewKey("test"), "GANCHO_ENCRYPTION_KEYS"),
	}
	for k, v := range t.vars {
		env[k] = v
	}
	for id, name := range res.Tables {
		env["GANCHO_TABLE_NAME_"+strings.ToUpper(id)] = name
		if k, ok := wellKnownVar(id); ok {
			env[k] = name
		}
	}
	for id, q := range res.Queues {
		env["GANCHO_QUEUE_URL_"+strings.ToUpper(id)] = q.URL
		if k, ok := wellKnownVar(id); ok {
			env[k] = q.URL
		}
	}
	return env
}

// mergeEnv returns base with the variables of set added or replaced.
func mergeEnv(base []string, set map[string]string) []string {
	out := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if _, ok := set[name]; !ok {
			out = append(out, kv)
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = append(out, k+"="+set[k])
	}
	return out
}
