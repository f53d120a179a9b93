// Package config reads Gancho's configuration from the environment and builds the
// AWS clients, once per process (a Lambda's init).
package config

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/gancho-dev/gancho/shared/dynamo"
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
	// Sealer encrypts secrets at rest; GANCHO_ENCRYPTION_KEYS is a comma-separated
	// list of "id:base64(32 bytes)" keys, the first one sealing new values.
	Sealer *seal.Sealer
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
	keys := getenv("GANCHO_ENCRYPTION_KEYS")
	if keys == "" {
		return c, fmt.Errorf("missing environment: GANCHO_ENCRYPTION_KEYS")
	}
	sealer, err := seal.New(strings.Split(keys, ",")...)
	if err != nil {
		return c, fmt.Errorf("GANCHO_ENCRYPTION_KEYS: %w", err)
	}
	c.Sealer = sealer
	c.AdminKeyHash = strings.ToLower(getenv("GANCHO_ADMIN_KEY_SHA256"))
	c.LocalEndpoints = getenv("AWS_ENDPOINT_URL") != "" || getenv("AWS_ENDPOINT_URL_DYNAMODB") != ""
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

// NewClients builds the AWS clients; AWS_ENDPOINT_URL (or the per-service
// AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_SQS) points them at an emulator.
func (c Config) NewClients(ctx context.Context) (Clients, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return Clients{}, fmt.Errorf("load AWS config: %w", err)
	}
	ddb := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		// DynamoDB Local's error replies carry no valid checksum.
		o.DisableValidateResponseChecksum = c.LocalEndpoints
	})
	return c.ClientsFrom(ddb, sqs.NewFromConfig(awsCfg)), nil
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
