// Package config reads Gancho's configuration from the environment and builds the
// AWS clients, once per process (a Lambda's init).
package config

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/gancho-dev/gancho/shared/dynamo"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/queue"
	"github.com/gancho-dev/gancho/shared/seal"
)

// Config is Gancho's runtime configuration.
type Config struct {
	TableName  string // GANCHO_TABLE_NAME
	QueueURL   string // GANCHO_DELIVERIES_QUEUE_URL
	DLQURL     string // GANCHO_DELIVERIES_DLQ_URL
	OrderedURL string // GANCHO_ORDERED_QUEUE_URL (FIFO)
	// IngestDLQURL is where the ingest consumer puts messages that fail validation
	// (GANCHO_INGEST_DLQ_URL; only the ingest function needs it).
	IngestDLQURL  string
	AllowInsecure bool // GANCHO_ALLOW_INSECURE_TARGETS: http:// and private receivers (local runs)
	LogLevel      slog.Level
	// Sealer encrypts secrets at rest with a comma-separated list of
	// "id:base64(32 bytes)" keys, the first one sealing new values: given as
	// GANCHO_ENCRYPTION_KEYS (local runs, tests), or fetched by Load from the secret
	// KeysSecret names. Nil until Load has fetched them.
	Sealer *seal.Sealer
	// KeysSecret is the Secrets Manager secret (ARN or name) holding the keys
	// (GANCHO_ENCRYPTION_KEYS_SECRET): a deployed function's keys stay out of its
	// environment, which the console and GetFunctionConfiguration show.
	KeysSecret string
	// AdminKeyHash is the SHA-256 (hex) of the platform operator's key
	// (GANCHO_ADMIN_KEY_SHA256); empty disables the admin routes.
	AdminKeyHash string
	// Retention is how long events and deliveries are kept (GANCHO_RETENTION_DAYS,
	// default 30).
	Retention time.Duration
	// InlineFanOut is the largest fan-out done inside a publish request (0: default).
	InlineFanOut int
	// LocalEndpoints is true when AWS_ENDPOINT_URL* points at an emulator.
	LocalEndpoints bool
	// AWSAccountID is the deployment's own account (GANCHO_AWS_ACCOUNT_ID; the
	// emulators' 000000000000 on a local run): an SQS or SNS destination there needs
	// no role, but its name must start with DestinationPrefix
	// (GANCHO_DESTINATION_PREFIX, default gancho.DefaultDestinationPrefix).
	AWSAccountID      string
	DestinationPrefix string
}

// LocalAccountID is the account the local emulators (and LocalStack) act as by default.
const LocalAccountID = "000000000000"

// TargetPolicy is which receivers and queue or topic destinations this deployment
// accepts.
func (c Config) TargetPolicy() gancho.TargetPolicy {
	var own []string
	for _, u := range []string{c.QueueURL, c.DLQURL, c.OrderedURL, c.IngestDLQURL} {
		if u != "" {
			own = append(own, u)
		}
	}
	return gancho.TargetPolicy{AllowInsecure: c.AllowInsecure, AWSAccount: c.AWSAccountID, DestinationPrefix: c.DestinationPrefix, OwnQueues: own}
}

// FromEnv reads the configuration; required names that are missing are an error.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		TableName:    getenv("GANCHO_TABLE_NAME"),
		QueueURL:     getenv("GANCHO_DELIVERIES_QUEUE_URL"),
		DLQURL:       getenv("GANCHO_DELIVERIES_DLQ_URL"),
		OrderedURL:   getenv("GANCHO_ORDERED_QUEUE_URL"),
		IngestDLQURL: getenv("GANCHO_INGEST_DLQ_URL"),
	}
	var missing []string
	for name, v := range map[string]string{"GANCHO_TABLE_NAME": c.TableName, "GANCHO_DELIVERIES_QUEUE_URL": c.QueueURL, "GANCHO_DELIVERIES_DLQ_URL": c.DLQURL, "GANCHO_ORDERED_QUEUE_URL": c.OrderedURL} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("missing environment: %s", strings.Join(missing, ", "))
	}
	if v := getenv("GANCHO_ALLOW_INSECURE_TARGETS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("GANCHO_ALLOW_INSECURE_TARGETS: %w", err)
		}
		c.AllowInsecure = b
	}
	if v := getenv("GANCHO_LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return c, fmt.Errorf("GANCHO_LOG_LEVEL: %w", err)
		}
	}
	if v := getenv("GANCHO_RETENTION_DAYS"); v != "" {
		days, err := strconv.Atoi(v)
		if err != nil || days < 1 || days > 3650 {
			return c, fmt.Errorf("GANCHO_RETENTION_DAYS: want 1-3650 days, got %q", v)
		}
		c.Retention = time.Duration(days) * 24 * time.Hour
	}
	// Keys given outright are used as they are; only without them is the secret read
	// (so FromEnv, which reads no network, leaves the fetch to Load).
	if keys := getenv(EnvKeys); keys != "" {
		sealer, err := seal.New(strings.Split(keys, ",")...)
		if err != nil {
			return c, fmt.Errorf("%s: %w", EnvKeys, err)
		}
		c.Sealer = sealer
	} else if c.KeysSecret = getenv(EnvKeysSecret); c.KeysSecret == "" {
		return c, fmt.Errorf("missing environment: %s (the Secrets Manager secret holding the encryption keys) or %s (the keys)", EnvKeysSecret, EnvKeys)
	}
	c.AdminKeyHash = strings.ToLower(getenv("GANCHO_ADMIN_KEY_SHA256"))
	c.LocalEndpoints = getenv("AWS_ENDPOINT_URL") != "" || getenv("AWS_ENDPOINT_URL_DYNAMODB") != ""
	c.AWSAccountID = getenv("GANCHO_AWS_ACCOUNT_ID")
	if c.AWSAccountID == "" && c.LocalEndpoints {
		c.AWSAccountID = LocalAccountID
	}
	if c.AWSAccountID != "" && !gancho.IsAccountID(c.AWSAccountID) {
		return c, fmt.Errorf("GANCHO_AWS_ACCOUNT_ID: want 12 digits, got %q", c.AWSAccountID)
	}
	c.DestinationPrefix = getenv("GANCHO_DESTINATION_PREFIX")
	return c, nil
}

// Logger returns a JSON logger at the configured level.
func (c Config) Logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: c.LogLevel}))
}

// Clients are the AWS-backed dependencies.
type Clients struct {
	DynamoDB *dynamodb.Client
	SQS      *sqs.Client
	Store    *dynamo.Store
	Queue    *queue.Queue
}

// NewClients builds the AWS clients from the environment Lambda gives a function:
// AWS_REGION and the execution role's AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN, fixed for the life of the execution environment. AWS_ENDPOINT_URL
// (or the per-service AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_SQS) points them at
// an emulator. It does not use the SDK's shared-config loader: its profiles, SSO, STS
// and instance-metadata providers never run in a Lambda, yet were linked into every
// bootstrap.
func (c Config) NewClients(ctx context.Context) (Clients, error) {
	if c.Sealer == nil {
		return Clients{}, fmt.Errorf("the encryption keys of %s %q are not fetched yet: build the configuration with Load", EnvKeysSecret, c.KeysSecret)
	}
	awsCfg, err := AWSFromEnv(os.Getenv)
	if err != nil {
		return Clients{}, err
	}
	ddb := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if e := endpoint(os.Getenv, "AWS_ENDPOINT_URL_DYNAMODB"); e != nil {
			o.BaseEndpoint = e
		}
		// DynamoDB Local's error replies carry no valid checksum.
		o.DisableValidateResponseChecksum = c.LocalEndpoints
	})
	sq := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) {
		if e := endpoint(os.Getenv, "AWS_ENDPOINT_URL_SQS"); e != nil {
			o.BaseEndpoint = e
		}
	})
	return c.ClientsFrom(ddb, sq), nil
}

// AWSFromEnv is the AWS configuration of a Lambda, read from its environment; missing
// names are an error that lists them.
func AWSFromEnv(getenv func(string) string) (aws.Config, error) {
	region := getenv("AWS_REGION")
	if region == "" {
		region = getenv("AWS_DEFAULT_REGION")
	}
	key, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	var missing []string
	for name, v := range map[string]string{"AWS_REGION": region, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return aws.Config{}, fmt.Errorf("AWS configuration: missing environment: %s", strings.Join(missing, ", "))
	}
	return aws.Config{
		Region:       region,
		BaseEndpoint: endpoint(getenv, "AWS_ENDPOINT_URL"),
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(
			key, secret, getenv("AWS_SESSION_TOKEN"))),
	}, nil
}

// endpoint is the named endpoint variable, nil when unset (the client's default).
func endpoint(getenv func(string) string, name string) *string {
	if v := getenv(name); v != "" {
		return aws.String(v)
	}
	return nil
}

// ClientsFrom wraps clients built elsewhere (the local stack, tests).
func (c Config) ClientsFrom(ddb *dynamodb.Client, sq *sqs.Client) Clients {
	return Clients{
		DynamoDB: ddb,
		SQS:      sq,
		Store:    dynamo.New(ddb, c.TableName, c.Sealer).WithRetention(c.Retention),
		Queue:    queue.New(sq, c.QueueURL, c.DLQURL, c.OrderedURL),
	}
}
