package templatecheck

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gancho-dev/gancho/shared/config"
	"github.com/gancho-dev/gancho/shared/httpapi"
)

// A function's declared access is what it may do to the table and queues: a route's is
// its Access in httpapi.Routes(), a consumer's is below. The access check requires the
// template to grant exactly the policies it implies, and TestFunctionAccessMatchesPolicies
// requires every call the code makes to stay within it.

// policyFor is one policy a declared access implies: a SAM policy template on the
// resource an environment variable names, the one the code sends its calls to.
type policyFor struct{ policy, env string }

// accessPolicies are the policies of each httpapi.Access flag. AccessWrite's
// DynamoDBCrudPolicy also reads, so a route declaring both gets that one only.
var accessPolicies = []struct {
	access httpapi.Access
	policy policyFor
}{
	{httpapi.AccessRead, policyFor{"DynamoDBReadPolicy", "GANCHO_TABLE_NAME"}},
	{httpapi.AccessWrite, policyFor{"DynamoDBCrudPolicy", "GANCHO_TABLE_NAME"}},
	{httpapi.AccessQueue, policyFor{"SQSSendMessagePolicy", "GANCHO_DELIVERIES_QUEUE_URL"}},
	{httpapi.AccessOrderedQueue, policyFor{"SQSSendMessagePolicy", "GANCHO_ORDERED_QUEUE_URL"}},
	{httpapi.AccessDeadLetters, policyFor{"SQSPollerPolicy", "GANCHO_DELIVERIES_DLQ_URL"}},
}

// everyFunction are the policies of every function, route or not, whatever its access:
// each reads its encryption keys at init from the Secrets Manager secret
// GANCHO_ENCRYPTION_KEYS_SECRET names (config.Load), and nothing else of Secrets Manager.
var everyFunction = []policyFor{
	{"AWSSecretsManagerGetSecretValuePolicy", config.EnvKeysSecret},
}

// nonRoute is a function that serves no route: its declared access, and the packages
// it must not link (a Lambda carries only the code it runs, so the deliveries consumer
// has no HTTP API, JWT or JSON Schema handlers; see TestFunctionsLinkOnlyWhatTheyRun).
type nonRoute struct {
	access    httpapi.Access
	extra     []policyFor // beyond the flags: a consumer's own dead-letter queue, holding ordered messages
	forbidden []string
	// destinations: the function sends to SQS and SNS destinations, and holds exactly
	// destinationsPolicy for it.
	destinations bool
}

// destinationsPolicy is the one inline policy a function may hold, and the one policy
// scoped to resources outside the template: sending to the queues and topics of this
// account whose names start with the DestinationPrefix parameter (never the stack's
// own, which the code refuses as destinations too), and assuming roles, which are the
// customers' in their own accounts (each trusts this account for one tenant, by
// external id). Any other form, broader or not, fails the access and iam checks.
const destinationsPolicy = `policy {Statement: [{Effect: "Allow", Action: "sqs:SendMessage", Resource: !Sub "arn:${AWS::Partition}:sqs:*:${AWS::AccountId}:${DestinationPrefix}*"}, ` +
	`{Effect: "Allow", Action: "sns:Publish", Resource: !Sub "arn:${AWS::Partition}:sns:*:${AWS::AccountId}:${DestinationPrefix}*"}, ` +
	`{Effect: "Allow", Action: "sts:AssumeRole", Resource: !Sub "arn:${AWS::Partition}:iam::*:role/*"}]}`

// nonRoutes are every function of the template that is not a route.
var nonRoutes = map[string]nonRoute{
	"deliver": {
		access: httpapi.AccessWrite | httpapi.AccessQueue | httpapi.AccessOrderedQueue,
		extra: []policyFor{
			{"SQSSendMessagePolicy", "GANCHO_DELIVERIES_DLQ_URL"}, // dead-letters deliveries that exhaust their attempts
			{"SQSPollerPolicy", "GANCHO_ORDERED_QUEUE_URL"},       // holds an ordered message invisible until its retry
		},
		forbidden:    []string{"shared/httpapi", "shared/auth", "shared/openapi", "shared/catalog", "shared/results", "shared/sweeper", "shared/ingest"},
		destinations: true,
	},
	"sweeper": {
		access:    httpapi.AccessWrite | httpapi.AccessQueue | httpapi.AccessOrderedQueue,
		forbidden: []string{"shared/httpapi", "shared/auth", "shared/openapi", "shared/catalog", "shared/results", "shared/deliver", "shared/ingest"},
	},
	"ingest": {
		access:    httpapi.AccessWrite | httpapi.AccessQueue | httpapi.AccessOrderedQueue,
		extra:     []policyFor{{"SQSSendMessagePolicy", "GANCHO_INGEST_DLQ_URL"}}, // moves messages that fail validation
		forbidden: []string{"shared/deliver", "shared/sweeper"},
	},
}

// declared is a function's declared access: what it is ("route get-tenant", for
// messages), the access, and the policies it implies. ok is false for a folder that
// is neither a route nor a non-route function.
type declared struct {
	what     string
	access   httpapi.Access
	policies []policyFor
	unknown  httpapi.Access // flags accessPolicies does not know
}

func declaredAccess(folder string) (declared, bool) {
	var d declared
	var extra []policyFor
	if rt, ok := routesByName()[folder]; ok {
		d.what, d.access = "route "+folder, rt.Access
	} else if nr, ok := nonRoutes[folder]; ok {
		d.what, d.access, extra = "function "+folder, nr.access, nr.extra
	} else {
		return declared{}, false
	}
	rest := d.access
	if rest&httpapi.AccessWrite != 0 {
		rest &^= httpapi.AccessRead
	}
	for _, ap := range accessPolicies {
		if rest&ap.access != 0 {
			d.policies = append(d.policies, ap.policy)
			rest &^= ap.access
		}
	}
	d.policies = append(d.policies, extra...)
	d.policies = append(d.policies, everyFunction...)
	d.unknown = rest
	return d, true
}

// where says where d is declared, for messages.
func (d declared) where() string {
	if strings.HasPrefix(d.what, "route ") {
		return "shared/httpapi/routes.go"
	}
	return "nonRoutes in infra/templatecheck"
}

// heldPolicy is a policy a function has, or is to have: a SAM policy template on a
// template resource (its logical id).
type heldPolicy struct{ policy, resource string }

func (h heldPolicy) String() string {
	if h.resource == "" {
		return h.policy
	}
	return h.policy + " on " + h.resource
}

// resolve is the policy p on the resource f's environment variable names.
func (t *template) resolve(f function, p policyFor) heldPolicy {
	fn, arg, _ := t.env(f)[p.env].intrinsic()
	id, _ := arg.scalar()
	if fn != "Ref" || id == "" {
		return heldPolicy{p.policy, "(the resource of " + p.env + ", which the function does not set to a !Ref)"}
	}
	return heldPolicy{p.policy, id}
}

// heldPolicies are a function's Policies, each with its node. A policy that is not a
// SAM policy template on one resource (a managed policy, an inline statement) is held
// as itself: no access implies it, so the access check reports it.
func heldPolicies(f function) ([]heldPolicy, []*node) {
	var out []heldPolicy
	var nodes []*node
	for _, p := range f.props.get("Policies").list() {
		if s, ok := p.scalar(); ok {
			out, nodes = append(out, heldPolicy{policy: s}), append(nodes, p)
			continue
		}
		if len(p.keys()) == 0 || p.get("Statement") != nil {
			out, nodes = append(out, heldPolicy{policy: "policy " + p.String()}), append(nodes, p)
			continue
		}
		for i, name := range p.keys() {
			params := p.vals[i]
			var id string
			if len(params.keys()) == 1 {
				v := params.vals[0]
				switch fn, arg, _ := v.intrinsic(); fn {
				case "Ref":
					id, _ = arg.scalar()
				case "Fn::GetAtt":
					id, _ = getAttID(v, "")
				}
			}
			if id == "" {
				id = params.String()
			}
			out, nodes = append(out, heldPolicy{name, id}), append(nodes, p)
		}
	}
	return out, nodes
}

// checkAccess compares every function's policies with its declared access, both ways.
func checkAccess(c *checker, r *report) {
	t := c.t
	for _, f := range t.functions() {
		if f.folder == "" {
			continue // the functions check reports it
		}
		d, ok := declaredAccess(f.folder)
		if !ok {
			r.addf(f.res, f.id, "functions/%s is neither a route of httpapi.Routes() nor in nonRoutes: declare its access so its policies can be checked", f.folder)
			continue
		}
		if d.unknown != 0 {
			r.addf(f.res, f.id, "%s declares access %s, which accessPolicies does not map to policies", d.what, d.unknown)
		}
		var want []heldPolicy
		for _, p := range d.policies {
			want = append(want, t.resolve(f, p))
		}
		if nonRoutes[f.folder].destinations {
			want = append(want, heldPolicy{policy: destinationsPolicy})
		}
		held, nodes := heldPolicies(f)
		for i, h := range held {
			switch {
			case slices.Index(held, h) < i:
				r.addf(nodes[i], f.id, "grants %s twice", h)
			case !slices.Contains(want, h):
				r.addf(nodes[i], f.id, "%s is declared %s (%s), which does not grant %s: remove the policy, or declare the access it is for",
					d.what, d.access, d.where(), h)
			}
		}
		for _, w := range want {
			if !slices.Contains(held, w) {
				anchor := f.props.get("Policies")
				if anchor == nil {
					anchor = f.res
				}
				r.addf(anchor, f.id, "%s is declared %s (%s), which needs %s; the template does not grant it", d.what, d.access, d.where(), w)
			}
		}
	}
}

// outsideDeclared reports the calls of a function that its declared access does not
// grant: the code does more than routes.go (or nonRoutes) says it may.
func outsideDeclared(t *template, f function, calls []awsCall) []string {
	d, ok := declaredAccess(f.folder)
	if !ok {
		return nil // checkAccess reports it
	}
	var grants []grant
	for _, p := range d.policies {
		h := t.resolve(f, p)
		for _, a := range samPolicyActions[h.policy] {
			grants = append(grants, grant{a, h.resource})
		}
	}
	var out []string
	for _, c := range calls {
		if !slices.ContainsFunc(grants, c.grantedBy) {
			out = append(out, fmt.Sprintf("%s is declared %s (%s) but calls %s (%s) on %s", d.what, d.access, d.where(), c.action, c.op, c.resource))
		}
	}
	return out
}

// TestAccessCheckFindsMismatches runs the access check on small templates, each
// with one function whose policies disagree with its declared access, so a check that
// has stopped seeing anything fails too.
func TestAccessCheckFindsMismatches(t *testing.T) {
	for _, tc := range []struct {
		fixture  string
		mistake  string
		mentions [][]string // one report per item, mentioning all of its strings
	}{
		{"access-read-route-writes.yaml", "a read-only route with write access",
			[][]string{{"GetTenantFunction", "route get-tenant is declared read", "does not grant DynamoDBCrudPolicy on GanchoTable"},
				{"GetTenantFunction", "needs DynamoDBReadPolicy on GanchoTable"}}},
		{"access-write-route-reads.yaml", "a route that writes with a read-only policy",
			[][]string{{"UpdateTenantFunction", "route update-tenant is declared write", "does not grant DynamoDBReadPolicy on GanchoTable"},
				{"UpdateTenantFunction", "needs DynamoDBCrudPolicy on GanchoTable"}}},
		{"access-undeclared-queue.yaml", "a queue the route does not declare",
			[][]string{{"GetEventFunction", "route get-event is declared read", "does not grant SQSSendMessagePolicy on DeliveriesQueue"}}},
		{"access-missing-dead-letters.yaml", "a declared access the template does not grant",
			[][]string{{"RedriveDeadLettersFunction", "declared write+queue+dead-letters", "needs SQSPollerPolicy on DeliveriesDLQ"}}},
		{"access-consumer.yaml", "a consumer with a managed policy beyond its declared access, and one missing",
			[][]string{{"DeliverFunction", "function deliver is declared", "nonRoutes", "does not grant AmazonSQSFullAccess"},
				{"IngestFunction", "function ingest", "needs SQSSendMessagePolicy on IngestDLQ"}}},
		{"access-destinations-broad.yaml", "the destinations policy widened to every account's queues",
			[][]string{{"DeliverFunction", "does not grant policy", "sqs:*:*:*"}, {"DeliverFunction", "needs policy", "${DestinationPrefix}"}}},
		{"access-keys-secret.yaml", "a function that cannot read the keys' secret, and one that reads another secret",
			[][]string{{"HealthFunction", "route health is declared", "needs AWSSecretsManagerGetSecretValuePolicy on EncryptionKeysSecretArn"},
				{"GetTenantFunction", "route get-tenant is declared read", "does not grant AWSSecretsManagerGetSecretValuePolicy on OtherSecretArn"}}},
		{"access-unknown-function.yaml", "a function with no declared access",
			[][]string{{"ReportFunction", "functions/report is neither a route", "declare its access"}}},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			tpl, err := loadTemplate(filepath.Join("testdata", tc.fixture))
			if err != nil {
				t.Fatal(err)
			}
			r := &report{file: tc.fixture}
			checkAccess(&checker{t: tpl, root: repoRoot(t)}, r)
			for _, want := range tc.mentions {
				if !slices.ContainsFunc(r.msgs, func(m string) bool {
					return !slices.ContainsFunc(want, func(s string) bool { return !strings.Contains(m, s) })
				}) {
					t.Errorf("missed %s: want a report mentioning %q", tc.mistake, want)
				}
			}
			if len(r.msgs) != len(tc.mentions) {
				t.Errorf("%d reports, want %d (the fixture's other functions are right)", len(r.msgs), len(tc.mentions))
			}
			if t.Failed() {
				t.Logf("it reported:\n\t%s", strings.Join(r.msgs, "\n\t"))
			}
		})
	}
}

// TestCallsOutsideDeclaredAccess keeps the walk's second check honest: a call the
// declared access does not grant is reported with the function and the call, whatever
// the template's policies grant.
func TestCallsOutsideDeclaredAccess(t *testing.T) {
	tpl, err := loadTemplate(filepath.Join(repoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fns := map[string]function{}
	for _, f := range tpl.functions() {
		fns[f.folder] = f
	}
	get := awsCall{op: "GetItem", action: "dynamodb:GetItem", resource: "GanchoTable"}
	put := awsCall{op: "TransactWriteItems", action: "dynamodb:PutItem", resource: "GanchoTable"}
	send := awsCall{op: "SendMessageBatch", action: "sqs:SendMessageBatch", resource: "DeliveriesQueue"}
	sendOrdered := awsCall{op: "SendMessageBatch", action: "sqs:SendMessageBatch", resource: "OrderedQueue"}
	for _, tc := range []struct {
		folder string
		calls  []awsCall
		want   []string // one report each, in order
	}{
		{"get-tenant", []awsCall{get, put}, []string{"route get-tenant is declared read (shared/httpapi/routes.go) but calls dynamodb:PutItem (TransactWriteItems) on GanchoTable"}},
		{"get-tenant", []awsCall{get}, nil},
		{"update-tenant", []awsCall{get, put, send}, []string{"route update-tenant is declared write (shared/httpapi/routes.go) but calls sqs:SendMessageBatch (SendMessageBatch) on DeliveriesQueue"}},
		{"retry-delivery", []awsCall{put, send, sendOrdered}, []string{"route retry-delivery is declared write+queue (shared/httpapi/routes.go) but calls sqs:SendMessageBatch (SendMessageBatch) on OrderedQueue"}},
		{"deliver", []awsCall{put, send, sendOrdered, {op: "ChangeMessageVisibility", action: "sqs:ChangeMessageVisibility", resource: "OrderedQueue"}}, nil},
	} {
		f, ok := fns[tc.folder]
		if !ok {
			t.Fatalf("template.yaml has no function for %s", tc.folder)
		}
		if got := outsideDeclared(tpl, f, tc.calls); !slices.Equal(got, tc.want) {
			t.Errorf("%s calling %v: reported\n\t%q\nwant\n\t%q", tc.folder, tc.calls, got, tc.want)
		}
	}
}
