package dynamo_test

import (
	"github.com/gancho-dev/gancho/shared/deliver"
	"github.com/gancho-dev/gancho/shared/dynamo"
	"github.com/gancho-dev/gancho/shared/httpapi"
	"github.com/gancho-dev/gancho/shared/publish"
	"github.com/gancho-dev/gancho/shared/sweeper"
)

// The store implements every interface the services define for it, the optional
// ones too (which a service checks for at run time).
var (
	_ publish.Store         = (*dynamo.Store)(nil)
	_ publish.BatchStore    = (*dynamo.Store)(nil)
	_ publish.Inbox         = (*dynamo.Store)(nil)
	_ deliver.Store         = (*dynamo.Store)(nil)
	_ deliver.RateLimiter   = (*dynamo.Store)(nil)
	_ deliver.NoticeSettler = (*dynamo.Store)(nil)
	_ httpapi.Store         = (*dynamo.Store)(nil)
	_ sweeper.Store         = (*dynamo.Store)(nil)
)
