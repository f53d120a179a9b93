package templatecheck

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/gancho-dev/gancho/infra/emulators"
	"github.com/gancho-dev/gancho/shared/app"
	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/config"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// samPolicyActions are the actions of the SAM policy templates this check expands,
// as samtranslator/policy_templates_data/policy_templates.json defines them. Each
// grants them on the resource its one parameter names (a table also covers its
// indexes).
var samPolicyActions = map[string][]string{
	"DynamoDBCrudPolicy": {"dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Scan", "dynamodb:Query",
		"dynamodb:UpdateItem", "dynamodb:BatchWriteItem", "dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:ConditionCheckItem"},
	"DynamoDBReadPolicy":   {"dynamodb:GetItem", "dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:DescribeTable"},
	"DynamoDBWritePolicy":  {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"},
	"SQSSendMessagePolicy": {"sqs:SendMessage*"},
	// On the secret its SecretArn names (a parameter: the secret is made before the stack).
	"AWSSecretsManagerGetSecretValuePolicy": {"secretsmanager:GetSecretValue"},
	"SQSPollerPolicy": {"sqs:ChangeMessageVisibility", "sqs:ChangeMessageVisibilityBatch", "sqs:DeleteMessage",
		"sqs:DeleteMessageBatch", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"},
}

// TestFunctionAccessMatchesPolicies runs every function's code against the emulators
// (each API route through its own Lambda's handler, with success and main error
// paths, the consumer on the messages the routes queued, the sweeper on parked and
// unqueued work), records every DynamoDB and SQS operation each one performs, and
// checks that the function's policies in template.yaml grant the IAM action of each
// on that resource, and that its declared access (a route's Access in
// httpapi.Routes(), a consumer's in nonRoutes) does too. The emulators authorize
// nothing, so without this a missing permission shows up only as a 500 on AWS.
func TestFunctionAccessMatchesPolicies(t *testing.T) {
	base := testenv.Config(t)
	root := repoRoot(t)
	tpl, err := loadTemplate(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	w := newAccessWalk(t, base, tpl, root)
	w.run()

	grants := map[string][]grant{}
	r := &report{file: "template.yaml"}
	for _, f := range tpl.functions() {
		grants[f.folder] = policyGrants(tpl, f, r)
	}
	for _, f := range tpl.functions() {
		if !w.exercised[f.folder] {
			r.addf(f.res, f.id, "function %s is not exercised by this walk: add its calls to accessWalk so its policies are checked", f.folder)
			continue
		}
		for _, c := range w.rec.callsOf(f.folder) {
			if !slices.ContainsFunc(grants[f.folder], c.grantedBy) {
				r.addf(f.props.get("Policies"), f.id, "%s calls %s (%s) on %s, which its policies do not grant", f.folder, c.action, c.op, c.resource)
			}
		}
		for _, m := range outsideDeclared(tpl, f, w.rec.callsOf(f.folder)) {
			r.addf(f.res, f.id, "%s", m)
		}
	}
	for _, m := range r.msgs {
		t.Error(m)
	}
	if testing.Verbose() {
		for _, f := range tpl.functions() {
			var list []string
			for _, c := range w.rec.callsOf(f.folder) {
				list = append(list, c.action+" "+c.resource)
			}
			t.Logf("%s: %s", f.folder, strings.Join(slices.Compact(list), ", "))
		}
	}
}

// TestAccessCheckSeesMissingGrants keeps the check honest: a write recorded for a
// function with only a read policy is reported, transactions count as their items'
// actions, and SQSSendMessagePolicy's wildcard covers SendMessageBatch.
func TestAccessCheckSeesMissingGrants(t *testing.T) {
	read := []grant{}
	for _, a := range samPolicyActions["DynamoDBReadPolicy"] {
		read = append(read, grant{action: a, resource: "GanchoTable"})
	}
	send := []grant{{action: "sqs:SendMessage*", resource: "DeliveriesQueue"}}
	rec := &recorder{calls: map[string]map[awsCall]bool{}, tables: map[string]string{"t": "GanchoTable"}, queues: map[string]string{"u": "DeliveriesQueue"}}
	rec.record("fn", "dynamodb", &dynamodb.TransactWriteItemsInput{TransactItems: []dtypes.TransactWriteItem{{Update: &dtypes.Update{TableName: aws.String("t")}}}})
	rec.record("fn", "dynamodb", &dynamodb.GetItemInput{TableName: aws.String("t")})
	rec.record("fn", "sqs", &sqs.SendMessageBatchInput{QueueUrl: aws.String("u")})
	rec.record("fn", "sqs", &sqs.ReceiveMessageInput{QueueUrl: aws.String("u")})
	for _, c := range rec.callsOf("fn") {
		granted := slices.ContainsFunc(slices.Concat(read, send), c.grantedBy)
		want := c.action == "dynamodb:GetItem" || c.action == "sqs:SendMessageBatch"
		if granted != want {
			t.Errorf("%s on %s: granted %v, want %v", c.action, c.resource, granted, want)
		}
	}
	tx := &dynamodb.TransactWriteItemsInput{TransactItems: []dtypes.TransactWriteItem{
		{Put: &dtypes.Put{TableName: aws.String("t")}}, {Delete: &dtypes.Delete{TableName: aws.String("t")}},
		{ConditionCheck: &dtypes.ConditionCheck{TableName: aws.String("t")}}}}
	rec.record("tx", "dynamodb", tx)
	var got []string
	for _, c := range rec.callsOf("tx") {
		got = append(got, c.action+" "+c.resource)
	}
	want := []string{"dynamodb:ConditionCheckItem GanchoTable", "dynamodb:DeleteItem GanchoTable", "dynamodb:PutItem GanchoTable"}
	if !slices.Equal(got, want) {
		t.Errorf("a transaction records %q, want %q", got, want)
	}
}

// --- recording ----------------------------------------------------------------------

// awsCall is one IAM action a function's code needed, on a template resource.
type awsCall struct {
	op       string // the SDK operation, e.g. TransactWriteItems
	action   string // the IAM action, e.g. dynamodb:PutItem
	resource string // the template's logical id, or the raw name when unknown
}

func (c awsCall) grantedBy(g grant) bool {
	ok, _ := path.Match(strings.ToLower(g.action), strings.ToLower(c.action))
	return ok && g.resource == c.resource
}

// grant is one action a function's policies allow on one template resource.
type grant struct{ action, resource string }

// recorder collects the calls of each function through a middleware on its clients.
type recorder struct {
	mu     sync.Mutex
	calls  map[string]map[awsCall]bool // function → calls
	tables map[string]string           // table name → logical id
	queues map[string]string           // queue URL → logical id
}

func (r *recorder) callsOf(fn string) []awsCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]awsCall, 0, len(r.calls[fn]))
	for c := range r.calls[fn] {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b awsCall) int { return strings.Compare(a.action+a.resource+a.op, b.action+b.resource+b.op) })
	return out
}

// middleware records every operation a client sends, before it is sent: IAM
// authorizes the call whether or not it then fails a condition.
func (r *recorder) middleware(fn, service string) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("RecordCall",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				r.record(fn, service, in.Parameters)
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
}

func (r *recorder) record(fn, service string, input any) {
	op := strings.TrimSuffix(reflect.TypeOf(input).Elem().Name(), "Input")
	var calls []awsCall
	switch service {
	case "dynamodb":
		switch in := input.(type) {
		case *dynamodb.TransactWriteItemsInput:
			for _, a := range transactActions(in) {
				calls = append(calls, awsCall{op: op, action: a.action, resource: r.table(a.resource)})
			}
			if len(calls) == 0 {
				calls = append(calls, awsCall{op: op, action: "dynamodb:PutItem", resource: "(empty transaction)"})
			}
		case *dynamodb.BatchWriteItemInput:
			for name := range in.RequestItems {
				calls = append(calls, awsCall{op: op, action: "dynamodb:BatchWriteItem", resource: r.table(name)})
			}
		case *dynamodb.BatchGetItemInput:
			for name := range in.RequestItems {
				calls = append(calls, awsCall{op: op, action: "dynamodb:BatchGetItem", resource: r.table(name)})
			}
		case *dynamodb.TransactGetItemsInput:
			for _, it := range in.TransactItems {
				calls = append(calls, awsCall{op: op, action: "dynamodb:GetItem", resource: r.table(aws.ToString(it.Get.TableName))})
			}
		default:
			calls = append(calls, awsCall{op: op, action: "dynamodb:" + op, resource: r.table(stringField(input, "TableName"))})
		}
	case "sqs":
		calls = append(calls, awsCall{op: op, action: "sqs:" + op, resource: r.queue(stringField(input, "QueueUrl"))})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls[fn] == nil {
		r.calls[fn] = map[awsCall]bool{}
	}
	for _, c := range calls {
		r.calls[fn][c] = true
	}
}

// transactActions are the actions IAM checks for a write transaction: one per item,
// by the item's kind (there is no TransactWriteItems action).
func transactActions(in *dynamodb.TransactWriteItemsInput) []grant {
	var out []grant
	for _, it := range in.TransactItems {
		switch {
		case it.Put != nil:
			out = append(out, grant{"dynamodb:PutItem", aws.ToString(it.Put.TableName)})
		case it.Update != nil:
			out = append(out, grant{"dynamodb:UpdateItem", aws.ToString(it.Update.TableName)})
		case it.Delete != nil:
			out = append(out, grant{"dynamodb:DeleteItem", aws.ToString(it.Delete.TableName)})
		case it.ConditionCheck != nil:
			out = append(out, grant{"dynamodb:ConditionCheckItem", aws.ToString(it.ConditionCheck.TableName)})
		}
	}
	return out
}

func (r *recorder) table(name string) string {
	if id, ok := r.tables[name]; ok {
		return id
	}
	return "table " + strconv.Quote(name)
}

func (r *recorder) queue(url string) string {
	if id, ok := r.queues[url]; ok {
		return id
	}
	return "queue " + strconv.Quote(url)
}

func stringField(v any, name string) string {
	f := reflect.ValueOf(v).Elem().FieldByName(name)
	if !f.IsValid() || f.Kind() != reflect.Pointer || f.IsNil() {
		return ""
	}
	return f.Elem().String()
}

// policyGrants expands a function's Policies into actions on template resources.
// Policies this check cannot expand are reported, so none is silently ignored.
func policyGrants(t *template, f function, r *report) []grant {
	var out []grant
	for _, p := range f.props.get("Policies").list() {
		if s, ok := p.scalar(); ok {
			if !unscopedManagedPolicies[s] {
				r.addf(p, f.id, "managed policy %s: its actions are not known to the access check", s)
			}
			continue
		}
		if p.get("Statement") != nil {
			for _, st := range p.get("Statement").list() {
				if e, _ := st.get("Effect").scalar(); e != "Allow" {
					continue
				}
				var resources []string
				for _, res := range st.get("Resource").list() {
					walkRefs(res, nil, func(rf ref) {
						if t.resources[rf.id] != nil {
							resources = append(resources, rf.id)
						}
					})
				}
				actions := st.get("Action").list()
				if a := st.get("Action"); a != nil && a.kind != 0 && len(actions) == 0 {
					actions = []*node{a}
				}
				for _, a := range actions {
					s, _ := a.scalar()
					for _, res := range resources {
						out = append(out, grant{s, res})
					}
				}
			}
			continue
		}
		for i, name := range p.keys() {
			actions, ok := samPolicyActions[name]
			if !ok {
				r.addf(p, f.id, "policy template %s: its actions are not known to the access check; add them to samPolicyActions", name)
				continue
			}
			params := p.vals[i]
			for j := range params.keys() {
				v := params.vals[j]
				var id string
				switch fn, arg, _ := v.intrinsic(); fn {
				case "Ref":
					id, _ = arg.scalar()
				case "Fn::GetAtt":
					id, _ = getAttID(v, "")
				}
				for _, a := range actions {
					out = append(out, grant{a, id})
				}
			}
		}
	}
	return out
}

// --- the walk -----------------------------------------------------------------------

// accessWalk drives each function's code, each on an App of its own (a cold Lambda:
// no cache hides a read), on a table and queues of its own so the consumer and the
// sweeper see only this walk's work.
type accessWalk struct {
	t         *testing.T
	ctx       context.Context
	cfg       config.Config
	awsCfg    aws.Config
	setup     config.Clients // unrecorded: seeds state and drains the queues
	rec       *recorder
	apps      map[string]*app.App
	exercised map[string]bool
	admin     string
	receiver  *httptest.Server

	ingestURL   string // the ingest queue
	tenant, key string // the walk's tenant and its all-scopes key
	legacyKey   string // a key of a tenant stored without a default secret
	subs        map[string]string
	events      map[string]string
	deliveries  map[string]string
	keyID       string
}

func newAccessWalk(t *testing.T, base config.Config, tpl *template, root string) *accessWalk {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ddb := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) { o.DisableValidateResponseChecksum = base.LocalEndpoints })
	sq := sqs.NewFromConfig(awsCfg)
	stack := "access-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	var ingestURL string
	res, err := emulators.Provision(ctx, ddb, sq, filepath.Join(root, "template.yaml"), stack)
	if err != nil {
		t.Fatalf("provision a stack of its own: %v", err)
	}
	// The function's environment, resolved as the template resolves it.
	env := map[string]string{}
	for name, v := range tpl.env(function{props: &node{}}) {
		fn, arg, _ := v.intrinsic()
		id, _ := arg.scalar()
		switch {
		case fn != "Ref":
		case res.Tables[id] != "":
			env[name] = res.Tables[id]
		case res.Queues[id].URL != "":
			env[name] = res.Queues[id].URL
		}
	}
	cfg := base
	cfg.TableName, cfg.QueueURL, cfg.DLQURL, cfg.OrderedURL = env["GANCHO_TABLE_NAME"], env["GANCHO_DELIVERIES_QUEUE_URL"], env["GANCHO_DELIVERIES_DLQ_URL"], env["GANCHO_ORDERED_QUEUE_URL"]
	if cfg.TableName == "" || cfg.QueueURL == "" || cfg.DLQURL == "" || cfg.OrderedURL == "" {
		t.Fatalf("the template's Globals do not name the table and queues as expected: %v", env)
	}
	cfg.AllowInsecure = true
	// The ingest function's own queue and dead-letter queue, as the template wires them.
	for _, f := range tpl.functions() {
		if f.folder != "ingest" {
			continue
		}
		if _, arg, _ := tpl.env(f)["GANCHO_INGEST_DLQ_URL"].intrinsic(); arg != nil {
			id, _ := arg.scalar()
			cfg.IngestDLQURL = res.Queues[id].URL
		}
		for _, ev := range f.events() {
			if id, ok := getAttID(ev.props.get("Queue"), "Arn"); ok && ev.typ == "SQS" {
				ingestURL = res.Queues[id].URL
			}
		}
	}
	if cfg.IngestDLQURL == "" || ingestURL == "" {
		t.Fatalf("the template's ingest function does not name its queue and dead-letter queue as expected")
	}
	w := &accessWalk{ingestURL: ingestURL, t: t, ctx: ctx, cfg: cfg, awsCfg: awsCfg, apps: map[string]*app.App{}, exercised: map[string]bool{},
		rec:   &recorder{calls: map[string]map[awsCall]bool{}, tables: map[string]string{}, queues: map[string]string{}},
		admin: "gk_admin_" + auth.NewAPIKey()[3:], subs: map[string]string{}, events: map[string]string{}, deliveries: map[string]string{}}
	w.cfg.AdminKeyHash = auth.HashKey(w.admin)
	for id, name := range res.Tables {
		w.rec.tables[name] = id
	}
	for id, q := range res.Queues {
		w.rec.queues[q.URL] = id
	}
	w.setup = cfg.ClientsFrom(ddb, sq)
	w.receiver = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if strings.HasPrefix(r.URL.Path, "/fail") {
			rw.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(w.receiver.Close)
	return w
}

// appFor is the App of one function, its clients recording as that function.
func (w *accessWalk) appFor(fn string) *app.App {
	w.exercised[fn] = true
	if a, ok := w.apps[fn]; ok {
		return a
	}
	ddb := dynamodb.NewFromConfig(w.awsCfg, func(o *dynamodb.Options) {
		o.DisableValidateResponseChecksum = w.cfg.LocalEndpoints
		o.APIOptions = append(o.APIOptions, w.rec.middleware(fn, "dynamodb"))
	})
	sq := sqs.NewFromConfig(w.awsCfg, func(o *sqs.Options) { o.APIOptions = append(o.APIOptions, w.rec.middleware(fn, "sqs")) })
	a := app.New(w.cfg, w.cfg.ClientsFrom(ddb, sq), slog.New(slog.DiscardHandler))
	w.apps[fn] = a
	return a
}

// call sends one request to the Lambda of route fn and checks its status is one of want.
func (w *accessWalk) call(fn, method, target, cred, body string, want ...int) []byte {
	w.t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	rec := httptest.NewRecorder()
	w.appFor(fn).API.Handler(fn).ServeHTTP(rec, req)
	if !slices.Contains(want, rec.Code) {
		w.t.Errorf("%s: %s %s answered %d, want %v: %s", fn, method, target, rec.Code, want, strings.TrimSpace(rec.Body.String()))
	}
	return rec.Body.Bytes()
}

func (w *accessWalk) id(body []byte, keys ...string) string {
	var v map[string]any
	_ = json.Unmarshal(body, &v)
	for _, k := range keys[:len(keys)-1] {
		v, _ = v[k].(map[string]any)
	}
	s, _ := v[keys[len(keys)-1]].(string)
	if s == "" {
		w.t.Fatalf("no %s in %s", strings.Join(keys, "."), body)
	}
	return s
}

func (w *accessWalk) run() {
	t := w.t
	url := w.receiver.URL
	const missing = "zz_missing"

	// Tenants and their settings.
	body := w.call("create-tenant", "POST", "/v1/tenants", w.admin, `{"name":"Access walk"}`, 201)
	w.tenant, w.key = w.id(body, "tenant", "id"), w.id(body, "apiKey", "key")
	w.call("create-tenant", "POST", "/v1/tenants", w.admin, `{"name":`, 400)
	w.call("create-tenant", "POST", "/v1/tenants", w.admin, `{"id":"`+w.tenant+`","name":"again"}`, 409)
	w.call("get-tenant", "GET", "/v1/tenant", w.key, "", 200)
	w.call("get-tenant", "GET", "/v1/tenant", "gk_unknown", "", 401)
	w.call("update-tenant", "PATCH", "/v1/tenant", w.key, `{"name":"Access walk 2","signatureHeader":"X-Sig"}`, 200)
	w.call("update-tenant", "PATCH", "/v1/tenant", w.key, `{"secret":"mine"}`, 422)
	w.call("get-tenant-secret", "GET", "/v1/tenant/secret", w.key, "", 200)
	w.call("rotate-tenant-secret", "POST", "/v1/tenant/secret/rotate", w.key, "", 200)
	w.call("rotate-tenant-secret", "POST", "/v1/tenant/secret/rotate", w.key, `{"x":1}`, 400)
	w.legacyKey = w.legacyTenant()
	w.call("get-tenant-secret", "GET", "/v1/tenant/secret", w.legacyKey, "", 409)

	// API keys.
	body = w.call("create-api-key", "POST", "/v1/api-keys", w.key, `{"name":"reader","scopes":["events:read"]}`, 201)
	w.keyID = w.id(body, "id")
	w.call("create-api-key", "POST", "/v1/api-keys", w.key, `{"name":"bad","scopes":["nope"]}`, 422)
	w.call("list-api-keys", "GET", "/v1/api-keys", w.key, "", 200)
	w.call("get-api-key", "GET", "/v1/api-keys/"+w.keyID, w.key, "", 200)
	w.call("get-api-key", "GET", "/v1/api-keys/"+missing, w.key, "", 404)
	w.call("delete-api-key", "DELETE", "/v1/api-keys/"+w.keyID, w.key, "", 204)
	w.call("delete-api-key", "DELETE", "/v1/api-keys/"+w.keyID, w.key, "", 404)

	// Catalog.
	schema := `{"description":"an order","schema":{"type":"object","required":["orderId"],"properties":{"orderId":{"type":"integer"}}}}`
	w.call("put-event-type", "PUT", "/v1/event-types/order.created", w.key, schema, 201)
	w.call("put-event-type", "PUT", "/v1/event-types/order.created", w.key, schema, 200)
	w.call("put-event-type", "PUT", "/v1/event-types/order.gone", w.key, `{"description":"gone"}`, 201)
	w.call("put-event-type", "PUT", "/v1/event-types/order.bad", w.key, `{"schema":{"type":7}}`, 422)
	w.call("list-event-types", "GET", "/v1/event-types", w.key, "", 200)
	w.call("delete-event-type", "DELETE", "/v1/event-types/order.gone", w.key, "", 204)
	w.call("delete-event-type", "DELETE", "/v1/event-types/"+missing, w.key, "", 404)

	// Subscriptions: one that succeeds, one that fails (retries), one ordered that fails.
	for name, spec := range map[string]string{
		"ok":      `{"url":"` + url + `/ok/:id","events":["order.*"]}`,
		"fail":    `{"url":"` + url + `/fail","events":["order.created"]}`,
		"ordered": `{"url":"` + url + `/fail/ordered","events":["order.created"],"ordered":true}`,
		"gone":    `{"url":"` + url + `/ok","events":["order.created"]}`,
	} {
		w.subs[name] = w.id(w.call("create-subscription", "POST", "/v1/subscriptions", w.key, spec, 201), "id")
	}
	w.call("create-subscription", "POST", "/v1/subscriptions", w.key, `{"url":"`+url+`","events":["no.such.type"]}`, 422)
	ok := "/v1/subscriptions/" + w.subs["ok"]
	w.call("list-subscriptions", "GET", "/v1/subscriptions?event=order.created", w.key, "", 200)
	w.call("get-subscription", "GET", ok, w.key, "", 200)
	w.call("get-subscription", "GET", "/v1/subscriptions/"+missing, w.key, "", 404)
	w.call("replace-subscription", "PUT", ok, w.key, `{"url":"`+url+`/ok/:id","events":["order.*"],"name":"ok"}`, 200)
	w.call("replace-subscription", "PUT", "/v1/subscriptions/"+missing, w.key, `{"url":"`+url+`","events":["order.*"]}`, 404)
	w.call("update-subscription", "PATCH", ok, w.key, `{"description":"patched"}`, 200)
	w.call("update-subscription", "PATCH", ok, w.key, `{"timeoutSeconds":"x"}`, 422)
	w.call("get-subscription-secret", "GET", ok+"/secret", w.key, "", 200)
	w.call("get-subscription-secret", "GET", "/v1/subscriptions/"+missing+"/secret", w.key, "", 404)
	w.call("rotate-subscription-secret", "POST", ok+"/secret/rotate", w.key, "", 200)
	w.call("rotate-subscription-secret", "POST", "/v1/subscriptions/"+missing+"/secret/rotate", w.key, "", 404)
	w.call("delete-subscription", "DELETE", "/v1/subscriptions/"+w.subs["gone"], w.key, "", 204)
	w.call("delete-subscription", "DELETE", "/v1/subscriptions/"+w.subs["gone"], w.key, "", 404)

	// Publishing: fan-out, idempotent repeat, callback, refusals.
	pub := `{"type":"order.created","subject":"o-1","payload":{"orderId":1},"reference":{"type":"order","id":"o-1"}}`
	body = w.call("publish-event", "POST", "/v1/events", w.key, pub, 202)
	w.events["main"] = w.id(body, "id")
	w.callHeaders("publish-event", "POST", "/v1/events", pub, map[string]string{"Idempotency-Key": "walk-1"}, 202)
	w.callHeaders("publish-event", "POST", "/v1/events", pub, map[string]string{"Idempotency-Key": "walk-1"}, 202)
	w.call("publish-event", "POST", "/v1/events", w.key, `{"type":"order.created","payload":{"orderId":2},"reference":{"type":"order","id":"o-2"},"callbackUrl":"`+url+`/fail/callback"}`, 202)
	w.call("publish-event", "POST", "/v1/events", w.key, `{"type":"order.created","payload":{"orderId":"x"}}`, 422)
	w.call("publish-event", "POST", "/v1/events", w.key, `{"type":"no.such.type","payload":{}}`, 422)
	batch := `{"events":[` + pub + `,{"type":"order.created","payload":{"orderId":"x"}},{"type":"order.created","payload":{"orderId":6},"idempotencyKey":"walk-b"},` +
		`{"type":"order.created","payload":{"orderId":7},"callbackUrl":"` + url + `/fail/callback","reference":{"type":"order","id":"o-7"}}]}`
	w.call("publish-events-batch", "POST", "/v1/events/batch", w.key, batch, 202)
	w.call("publish-events-batch", "POST", "/v1/events/batch", w.key, batch, 202) // replays walk-b
	w.callHeaders("publish-events-batch", "POST", "/v1/events/batch", batch, map[string]string{"Idempotency-Key": "walk-batch"}, 202)
	w.callHeaders("publish-events-batch", "POST", "/v1/events/batch", batch, map[string]string{"Idempotency-Key": "walk-batch"}, 202)
	w.call("publish-events-batch", "POST", "/v1/events/batch", w.key, `{"events":[]}`, 422)
	w.ingest(`{"tenantId":"`+w.tenant+`","event":`+pub+`}`,
		`{"tenantId":"`+w.tenant+`","event":{"type":"order.created","payload":{"orderId":8},"idempotencyKey":"walk-i"}}`,
		`{"tenantId":"`+w.tenant+`","event":{"type":"order.created","payload":{"orderId":8},"idempotencyKey":"walk-i"}}`,
		`{"tenantId":"`+w.tenant+`","event":{"type":"order.created","payload":{"orderId":"x"}}}`,
		`{"tenantId":"`+missing+`","event":`+pub+`}`)
	w.call("test-subscription", "POST", ok+"/test", w.key, "", 202)
	w.call("test-subscription", "POST", "/v1/subscriptions/"+missing+"/test", w.key, "", 404)

	// The consumer: every message the routes queued, twice over (fan-outs queue
	// deliveries, failures queue retries), then the sweeper on parked and unqueued work.
	for range 3 {
		w.consume()
	}
	w.seedForSweeper()
	if _, err := w.appFor("sweeper").Sweeper.Sweep(w.ctx); err != nil {
		t.Errorf("sweeper: %v", err)
	}
	w.consume()

	// Reads of what was published and delivered.
	ev := "/v1/events/" + w.events["main"]
	w.call("list-events", "GET", "/v1/events?type=order.created", w.key, "", 200)
	w.call("get-event", "GET", ev, w.key, "", 200)
	w.call("get-event", "GET", "/v1/events/"+missing, w.key, "", 404)
	body = w.call("list-event-deliveries", "GET", ev+"/deliveries", w.key, "", 200)
	w.call("list-event-deliveries", "GET", "/v1/events/"+missing+"/deliveries", w.key, "", 404)
	w.call("list-subscription-deliveries", "GET", "/v1/subscriptions/"+w.subs["fail"]+"/deliveries", w.key, "", 200)
	w.call("list-subscription-deliveries", "GET", "/v1/subscriptions/"+missing+"/deliveries", w.key, "", 404)
	var dl struct {
		Data []gancho.Delivery `json:"data"`
	}
	_ = json.Unmarshal(body, &dl)
	for _, d := range dl.Data {
		w.call("get-delivery", "GET", "/v1/deliveries/"+d.ID, w.key, "", 200)
		switch d.Status {
		case gancho.StatusPending:
			w.call("retry-delivery", "POST", "/v1/deliveries/"+d.ID+"/retry", w.key, "", 409)
		case gancho.StatusRetrying: // 202 once retrying deliveries take a retry now (the API contract)
			w.call("retry-delivery", "POST", "/v1/deliveries/"+d.ID+"/retry", w.key, "", 202, 409)
		default:
			w.call("retry-delivery", "POST", "/v1/deliveries/"+d.ID+"/retry", w.key, "", 202)
		}
	}
	if len(dl.Data) == 0 {
		t.Errorf("the published event has no deliveries: %s", body)
	}
	failed := w.seedFailed()
	w.call("retry-delivery", "POST", "/v1/deliveries/"+failed+"/retry", w.key, "", 202)
	w.seedFailed() // for recover
	w.call("get-delivery", "GET", "/v1/deliveries/"+missing, w.key, "", 404)
	w.call("retry-delivery", "POST", "/v1/deliveries/"+missing+"/retry", w.key, "", 404)
	w.call("recover-subscription", "POST", "/v1/subscriptions/"+w.subs["fail"]+"/recover", w.key, `{"since":"2020-01-01T00:00:00Z"}`, 202)
	w.call("recover-subscription", "POST", "/v1/subscriptions/"+w.subs["fail"]+"/recover", w.key, `{"since":"soon"}`, 400)
	w.call("subscription-callback", "GET", ok+"/callback", w.key, "", 200)
	w.call("subscription-callback", "GET", "/v1/subscriptions/"+missing+"/callback", w.key, "", 404)
	w.call("subscription-results", "POST", ok+"/results", w.key, "", 200)
	w.call("subscription-results", "POST", ok+"/results?all=true", w.key, `{"from":"0","size":"20","calendarInterval":"month"}`, 200)
	w.call("subscription-results", "POST", "/v1/subscriptions/"+missing+"/results", w.key, "", 404)

	// Operator routes and open ones.
	w.seedDeadLetter()
	w.call("redrive-dead-letters", "POST", "/v1/dead-letters/redrive", w.admin, "", 202)
	w.call("redrive-dead-letters", "POST", "/v1/dead-letters/redrive", w.key, "", 403)
	w.call("health", "GET", "/v1/health", "", "", 200)
	w.call("help", "GET", "/v1/help", "", "", 200)
	w.call("openapi", "GET", "/v1/openapi.json", "", "", 200)
	w.call("create-portal-link", "POST", "/v1/portal-links", w.key, `{"ownerId":"walk-owner","expiresIn":600}`, 201)
	w.call("create-portal-link", "POST", "/v1/portal-links", w.key, `{}`, 422)
	w.call("portal", "GET", "/portal", "", "", 200)
	w.call("portal-asset", "GET", "/portal/app.js", "", "", 200)
	w.call("portal-asset", "GET", "/portal/"+missing, "", "", 404)
}

func (w *accessWalk) callHeaders(fn, method, target, body string, headers map[string]string, want int) {
	w.t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+w.key)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	w.appFor(fn).API.Handler(fn).ServeHTTP(rec, req)
	if rec.Code != want {
		w.t.Errorf("%s: %s %s answered %d, want %d: %s", fn, method, target, rec.Code, want, rec.Body.String())
	}
}

// legacyTenant stores a tenant as code before every tenant got a default secret
// did (no secret), and returns its key.
func (w *accessWalk) legacyTenant() string {
	st := w.setup.Store
	now := time.Now().UTC()
	id, raw := gancho.NewID(gancho.PrefixTenant, now), auth.NewAPIKey()
	k := gancho.APIKey{ID: gancho.NewID(gancho.PrefixKey, now), TenantID: id, Name: "old", Scopes: gancho.AllTenantScopes, CreatedAt: now}
	if err := st.CreateTenant(w.ctx, gancho.Tenant{ID: id, Name: "Old", CreatedAt: now, UpdatedAt: now}, k, auth.HashKey(raw)); err != nil {
		w.t.Fatal(err)
	}
	before, err := st.GetTenant(w.ctx, id)
	if err != nil {
		w.t.Fatal(err)
	}
	after := before
	after.Secret, after.UpdatedAt = "", now.Add(time.Millisecond)
	if err := st.UpdateTenant(w.ctx, before, after); err != nil {
		w.t.Fatal(err)
	}
	return raw
}

// consume hands every message waiting on the deliveries and ordered queues to the
// consumer, as the SQS event source would.
func (w *accessWalk) consume() {
	for _, q := range []string{w.cfg.QueueURL, w.cfg.OrderedURL} {
		out, err := w.setup.SQS.ReceiveMessage(w.ctx, &sqs.ReceiveMessageInput{QueueUrl: &q, MaxNumberOfMessages: 10,
			WaitTimeSeconds: 1, VisibilityTimeout: 1, MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
		if err != nil {
			w.t.Fatalf("receive from %s: %v", q, err)
		}
		if len(out.Messages) == 0 {
			continue
		}
		var ev events.SQSEvent
		for _, m := range out.Messages {
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
				Body: aws.ToString(m.Body), Attributes: m.Attributes, EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:us-east-1:000000000000:" + path.Base(q)})
		}
		res, err := w.appFor("deliver").Deliver.Handle(w.ctx, ev)
		if err != nil {
			w.t.Errorf("consumer: %v", err)
		}
		failed := map[string]bool{}
		for _, f := range res.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
		for _, m := range out.Messages {
			if !failed[aws.ToString(m.MessageId)] {
				// The event source deletes what the handler did not report failed.
				_, _ = w.setup.SQS.DeleteMessage(w.ctx, &sqs.DeleteMessageInput{QueueUrl: &q, ReceiptHandle: m.ReceiptHandle})
			}
		}
	}
}

// ingest sends bodies to the ingest queue and hands them to the ingest consumer, as the
// SQS event source would; the consumer must acknowledge every one (published, or moved
// to the ingest dead-letter queue).
func (w *accessWalk) ingest(bodies ...string) {
	for _, b := range bodies {
		if _, err := w.setup.SQS.SendMessage(w.ctx, &sqs.SendMessageInput{QueueUrl: &w.ingestURL, MessageBody: aws.String(b)}); err != nil {
			w.t.Fatal(err)
		}
	}
	out, err := w.setup.SQS.ReceiveMessage(w.ctx, &sqs.ReceiveMessageInput{QueueUrl: &w.ingestURL, MaxNumberOfMessages: 10,
		WaitTimeSeconds: 1, MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
	if err != nil {
		w.t.Fatal(err)
	}
	var ev events.SQSEvent
	for _, m := range out.Messages {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
			Body: aws.ToString(m.Body), Attributes: m.Attributes, EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:us-east-1:000000000000:" + path.Base(w.ingestURL)})
	}
	res, err := w.appFor("ingest").Ingest.Handle(w.ctx, ev)
	if err != nil || len(res.BatchItemFailures) != 0 || len(ev.Records) != len(bodies) {
		w.t.Errorf("ingest of %d messages (%d received): %+v, %v; want every one acknowledged", len(bodies), len(ev.Records), res, err)
	}
}

// seedForSweeper leaves an event whose fan-out was never queued and a delivery
// parked until a retry that is now due.
func (w *accessWalk) seedForSweeper() {
	st := w.setup.Store
	past := time.Now().UTC().Add(-10 * time.Minute)
	stuck := gancho.Event{ID: gancho.NewID(gancho.PrefixEvent, past), TenantID: w.tenant, Type: "order.created", CreatedAt: past, Payload: json.RawMessage(`{"orderId":3}`)}
	if err := st.CreateEvent(w.ctx, stuck); err != nil {
		w.t.Fatal(err)
	}
	ev := gancho.Event{ID: gancho.NewID(gancho.PrefixEvent, past), TenantID: w.tenant, Type: "order.created", CreatedAt: past, Payload: json.RawMessage(`{"orderId":4}`)}
	d := gancho.Delivery{ID: gancho.DeliveryID(ev.ID, w.subs["fail"]), TenantID: w.tenant, EventID: ev.ID, SubscriptionID: w.subs["fail"],
		EventType: ev.Type, Status: gancho.StatusPending, CreatedAt: past, UpdatedAt: past}
	if err := st.CreateEvent(w.ctx, testenv.Queued(ev, d)); err != nil {
		w.t.Fatal(err)
	}
	due := time.Now().Add(-time.Minute)
	a := gancho.Attempt{Number: 1, At: past, StatusCode: 503, Outcome: gancho.OutcomeFailure}
	if err := st.RecordAttempt(w.ctx, d, a, gancho.StatusRetrying, &due, true); err != nil {
		w.t.Fatal(err)
	}
}

// seedFailed stores an event whose delivery to the failing subscription has failed,
// and returns the delivery's id.
func (w *accessWalk) seedFailed() string {
	now := time.Now().UTC()
	ev := gancho.Event{ID: gancho.NewID(gancho.PrefixEvent, now), TenantID: w.tenant, Type: "order.created", CreatedAt: now, Payload: json.RawMessage(`{"orderId":5}`)}
	d := gancho.Delivery{ID: gancho.DeliveryID(ev.ID, w.subs["fail"]), TenantID: w.tenant, EventID: ev.ID, SubscriptionID: w.subs["fail"],
		EventType: ev.Type, Status: gancho.StatusPending, CreatedAt: now, UpdatedAt: now}
	if err := w.setup.Store.CreateEvent(w.ctx, testenv.Queued(ev, d)); err != nil {
		w.t.Fatal(err)
	}
	a := gancho.Attempt{Number: 1, At: now, StatusCode: 503, Outcome: gancho.OutcomeFailure}
	if err := w.setup.Store.RecordAttempt(w.ctx, d, a, gancho.StatusFailed, nil, false); err != nil {
		w.t.Fatal(err)
	}
	return d.ID
}

// seedDeadLetter leaves one delivery message on the dead-letter queue.
func (w *accessWalk) seedDeadLetter() {
	body := fmt.Sprintf(`{"t":%q,"d":"dlv_dead","e":"evt_dead","s":%q,"a":1}`, w.tenant, w.subs["ok"])
	if _, err := w.setup.SQS.SendMessage(w.ctx, &sqs.SendMessageInput{QueueUrl: &w.cfg.DLQURL, MessageBody: &body}); err != nil {
		w.t.Fatal(err)
	}
}
