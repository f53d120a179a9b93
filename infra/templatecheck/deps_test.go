package templatecheck

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/gancho-dev/gancho/"

// routeForbidden is what no route function links: a Lambda carries only the code it
// runs (a smaller bootstrap to fetch and map at a cold start), so no route links the
// consumer or the sweeper. What each non-route function must not link is in nonRoutes.
var routeForbidden = []string{"shared/deliver", "shared/sweeper", "shared/ingest"}

// sdkForbidden is what no function links: the AWS SDK's shared-config loader and the
// credential providers it brings (SSO, STS, IMDS, linked into every bootstrap), which a
// Lambda never runs: its credentials and region are in its environment. The one
// exception is in sdkAllowed.
var sdkForbidden = []string{
	"github.com/aws/aws-sdk-go-v2/config",
	"github.com/aws/aws-sdk-go-v2/service/sts",
	"github.com/aws/aws-sdk-go-v2/service/sso",
	"github.com/aws/aws-sdk-go-v2/service/ssooidc",
}

// sdkAllowed are the exceptions to sdkForbidden: the consumer calls STS AssumeRole
// for SQS and SNS destinations in customers' accounts (shared/awsdest).
var sdkAllowed = map[string][]string{"deliver": {"github.com/aws/aws-sdk-go-v2/service/sts"}}

// TestFunctionsLinkOnlyWhatTheyRun reads `go list -deps` of every function and checks
// the rule above: every folder is a route of httpapi.Routes() or a known consumer.
func TestFunctionsLinkOnlyWhatTheyRun(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", "./functions/...")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	routes := routesByName()
	seen := 0
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		name, ok := strings.CutPrefix(fields[0], module+"functions/")
		if !ok {
			t.Errorf("go list printed %q, not a function", fields[0])
			continue
		}
		seen++
		nr, consumer := nonRoutes[name]
		forbidden := nr.forbidden
		switch _, route := routes[name]; {
		case route:
			forbidden = routeForbidden
		case !consumer:
			t.Errorf("functions/%s is neither a route of httpapi.Routes() nor in nonRoutes; declare it there", name)
			continue
		}
		deps := fields[1:]
		for _, pkg := range forbidden {
			if slices.Contains(deps, module+pkg) {
				t.Errorf("functions/%s links %s, which it never runs; wire it from the shared/app package of its own kind", name, pkg)
			}
		}
		for _, pkg := range sdkForbidden {
			if slices.Contains(deps, pkg) && !slices.Contains(sdkAllowed[name], pkg) {
				t.Errorf("functions/%s links %s, which a Lambda never runs; build the AWS configuration from the environment (shared/config)", name, pkg)
			}
		}
	}
	if seen < len(routes)+len(nonRoutes) {
		t.Errorf("go list saw %d functions; want at least %d (every route and consumer)", seen, len(routes)+len(nonRoutes))
	}
}

// services are the packages that hold Gancho's rules; they speak the domain's types
// (shared/gancho) and define the small interfaces they need, so none of them depends
// on the store's package or the AWS SDK's DynamoDB client: the store is chosen by the
// wiring (shared/app), and the in-memory store (shared/memstore, for tests) or
// another store fits without them.
var services = []string{"shared/gancho", "shared/publish", "shared/deliver", "shared/httpapi", "shared/auth", "shared/openapi",
	"shared/catalog", "shared/results", "shared/sweeper", "shared/ingest"}

// TestServicesDoNotDependOnTheStore reads `go list -deps` of the service packages.
func TestServicesDoNotDependOnTheStore(t *testing.T) {
	args := []string{"list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}"}
	for _, s := range services {
		args = append(args, "./"+s)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	forbidden := []string{module + "shared/dynamo", module + "shared/memstore", "github.com/aws/aws-sdk-go-v2/service/dynamodb"}
	seen := 0
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		seen++
		for _, f := range forbidden {
			if slices.Contains(fields[1:], f) {
				t.Errorf("%s depends on %s", fields[0], f)
			}
		}
	}
	if seen != len(services) {
		t.Errorf("go list described %d packages, want %d", seen, len(services))
	}
}
