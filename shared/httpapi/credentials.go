package httpapi

import "github.com/gancho-dev/gancho/shared/auth"

// The names below keep the API's callers (the local tooling, tests, soak and load
// runs) minting and hashing keys as the API does; package auth owns them.

// KeyPrefix starts every Gancho API key.
const KeyPrefix = auth.KeyPrefix

// KeyCacheTTL bounds how long a revoked key keeps working; see auth.KeyCacheTTL.
const KeyCacheTTL = auth.KeyCacheTTL

// NewAPIKey returns a new random API key; see auth.NewAPIKey.
func NewAPIKey() string { return auth.NewAPIKey() }

// HashKey is the stored form of an API key; see auth.HashKey.
func HashKey(raw string) string { return auth.HashKey(raw) }

// KeyStore finds API keys by hash; see auth.KeyStore.
type KeyStore = auth.KeyStore

// IssuerStore finds the tenant that configured a JWT issuer; see auth.IssuerStore.
type IssuerStore = auth.IssuerStore
