package config

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/gancho-dev/gancho/shared/seal"
)

// The two ways to give the encryption keys: outright, or by naming the Secrets
// Manager secret that holds them (what template.yaml does).
const (
	EnvKeys       = "GANCHO_ENCRYPTION_KEYS"
	EnvKeysSecret = "GANCHO_ENCRYPTION_KEYS_SECRET"
)

// SecretGetter is the one Secrets Manager call Load makes.
type SecretGetter interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Load is FromEnv followed, when the keys are named by GANCHO_ENCRYPTION_KEYS_SECRET,
// by their fetch: once, at a Lambda's init, with the execution role's credentials
// (secretsmanager:GetSecretValue on that secret). AWS_ENDPOINT_URL_SECRETS_MANAGER
// (or AWS_ENDPOINT_URL) points the fetch at an emulator.
func Load(ctx context.Context, getenv func(string) string) (Config, error) {
	c, err := FromEnv(getenv)
	if err != nil || c.Sealer != nil {
		return c, err
	}
	awsCfg, err := AWSFromEnv(getenv)
	if err != nil {
		return c, fmt.Errorf("%s: %w", EnvKeysSecret, err)
	}
	client := secretsmanager.NewFromConfig(awsCfg, func(o *secretsmanager.Options) {
		if e := endpoint(getenv, "AWS_ENDPOINT_URL_SECRETS_MANAGER"); e != nil {
			o.BaseEndpoint = e
		}
	})
	return c.FetchKeys(ctx, client)
}

// FetchKeys reads the keys from the secret c.KeysSecret names. Errors name the
// variable and the secret, never the secret's value.
func (c Config) FetchKeys(ctx context.Context, sm SecretGetter) (Config, error) {
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(c.KeysSecret)})
	if err != nil {
		var api smithy.APIError
		if errors.As(err, &api) {
			return c, fmt.Errorf("%s: read secret %q: %s: %w", EnvKeysSecret, c.KeysSecret, api.ErrorCode(), err)
		}
		return c, fmt.Errorf("%s: read secret %q: %w", EnvKeysSecret, c.KeysSecret, err)
	}
	keys := strings.TrimSpace(aws.ToString(out.SecretString))
	if keys == "" {
		return c, fmt.Errorf("%s: secret %q is empty (or binary): store the keys as its SecretString, \"id:base64(32 bytes)\" comma-separated", EnvKeysSecret, c.KeysSecret)
	}
	parts := strings.Split(keys, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	sealer, err := seal.New(parts...)
	if err != nil {
		// seal's errors name a key's id at most, never its bytes.
		return c, fmt.Errorf("%s: secret %q: %w", EnvKeysSecret, c.KeysSecret, err)
	}
	c.Sealer = sealer
	return c, nil
}
