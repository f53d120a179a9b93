package memstore_test

import (
	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/deliver"
	"github.com/gancho-dev/gancho/shared/httpapi"
	"github.com/gancho-dev/gancho/shared/memstore"
	"github.com/gancho-dev/gancho/shared/publish"
	"github.com/gancho-dev/gancho/shared/sweeper"
)

// The store implements every interface the services define for it, the optional
// ones too (which a service checks for at run time), as the DynamoDB store does
// (shared/dynamo/implements_test.go).
var (
	_ publish.Store         = (*memstore.Store)(nil)
	_ publish.BatchStore    = (*memstore.Store)(nil)
	_ publish.Inbox         = (*memstore.Store)(nil)
	_ publish.BatchLoader   = (*memstore.Store)(nil)
	_ publish.Requeuer      = (*memstore.Store)(nil)
	_ deliver.Store         = (*memstore.Store)(nil)
	_ deliver.RateLimiter   = (*memstore.Store)(nil)
	_ deliver.NoticeSettler = (*memstore.Store)(nil)
	_ httpapi.Store         = (*memstore.Store)(nil)
	_ auth.IssuerStore      = (*memstore.Store)(nil)
	_ httpapi.KeyAdminStore = (*memstore.Store)(nil)
	_ sweeper.Store         = (*memstore.Store)(nil)
)
