package templatecheck

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"gopkg.in/yaml.v3"

	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/config"
	"github.com/gancho-dev/gancho/shared/httpapi"
	"github.com/gancho-dev/gancho/shared/ingest"
	"github.com/gancho-dev/gancho/shared/queue"
	"github.com/gancho-dev/gancho/shared/seal"
)

// The checks. Each one reads the template and the code and reports every disagreement
// it finds, with the template line, so one run shows everything to fix.
var checks = []struct {
	name  string
	guard string // what breaks when the check fails
	run   func(*checker, *report)
}{
	{"functions", "every AWS::Serverless::Function builds from functions/<folder>/ (main.go, a bootstrap on a provided runtime) and has events/<folder>.json; every folder under functions/ is deployed", checkFunctions},
	{"sample-events", "events/<folder>.json is an event the function's trigger really sends (HTTP API 2.0 for its route, SQS for its queue), and every sample under events/ is one function's", checkSampleEvents},
	{"routes", "API Gateway and the local server (both driven by httpapi.Routes()) expose the same routes, each served by the Lambda of the same name", checkRoutes},
	{"references", "every !Ref, !GetAtt and ${} resolves to a resource, a parameter or a pseudo parameter", checkReferences},
	{"environment", "every variable the template sets is one config.FromEnv reads, holds a value it accepts, and every function gets the variables it requires", checkEnvironment},
	{"deliveries-queue", "the deliver consumer reports partial batch failures, consumes the queue the API publishes to, and failed messages reach the DLQ it writes to", checkDeliveriesQueue},
	{"payload-format", "every HttpApi event uses payload format 2.0, the only one httpadapter.NewV2 understands", checkPayloadFormat},
	{"api-timeouts", "no API function outlives the HTTP API integration timeout (30 s)", checkAPITimeouts},
	{"iam", "every function's policies are scoped to resources this template defines: no '*', no literal ARNs, no account-wide managed policies", checkIAM},
	{"access", "every function's policies are exactly those its declared access implies (a route's Access in httpapi.Routes(), a consumer's in nonRoutes): a read-only route never gets write access, no queue beyond those declared", checkAccess},
}

func TestTemplate(t *testing.T) {
	c := newChecker(t, filepath.Join(repoRoot(t), "template.yaml"))
	for _, ch := range checks {
		t.Run(ch.name, func(t *testing.T) {
			r := &report{file: "template.yaml"}
			ch.run(c, r)
			for _, m := range r.msgs {
				t.Error(m)
			}
			if t.Failed() {
				t.Logf("check %q guards that %s.", ch.name, ch.guard)
			}
		})
	}
}

// TestCheckerFindsBrokenTemplate runs the checks on a copy of the template with
// deliberate mistakes, so a checker that has stopped seeing anything fails too.
func TestCheckerFindsBrokenTemplate(t *testing.T) {
	c := newChecker(t, filepath.Join("testdata", "broken-template.yaml"))
	got := map[string][]string{}
	for _, ch := range checks {
		r := &report{file: "broken-template.yaml"}
		ch.run(c, r)
		got[ch.name] = r.msgs
	}
	for _, want := range []struct{ check, mistake, mentions string }{
		{"references", "a dangling !Ref in Outputs", "!Ref GanchoTabel"},
		{"references", "a dangling ${} inside !Sub", "${HttpAPI}"},
		{"routes", "an HttpApi event for a route httpapi.Routes() does not have", "GET /v1/deliveries/{id}/attempts"},
		{"sample-events", "a sample event of a function the template does not have", "events/ingest.json"},
		{"environment", "the keys themselves in the environment", "GANCHO_ENCRYPTION_KEYS puts the encryption keys in the functions' environment"},
		{"environment", "a function that does not name the keys' secret", "GANCHO_ENCRYPTION_KEYS_SECRET is not set"},
		{"iam", "a secret named by a literal ARN", "AWSSecretsManagerGetSecretValuePolicy.SecretArn is \"arn:aws:secretsmanager"},
	} {
		found := slices.ContainsFunc(got[want.check], func(m string) bool { return strings.Contains(m, want.mentions) })
		if !found {
			t.Errorf("check %q missed %s (want a report mentioning %q); it reported:\n\t%s",
				want.check, want.mistake, want.mentions, strings.Join(got[want.check], "\n\t"))
		}
	}
	for _, ch := range checks {
		for _, m := range got[ch.name] {
			t.Logf("%s: %s", ch.name, m)
		}
	}
}

// TestLocalServerServesEveryRoute checks that every route of the table is mounted, both
// on the local server (Handler()) and on its own Lambda (Handler(name)): without
// credentials a scoped route answers 401, health 200, and no route 404 "no route" or
// 405. The API has no store: authentication rejects a request without credentials
// before anything reads one, and health reads none.
func TestLocalServerServesEveryRoute(t *testing.T) {
	api := httpapi.New(httpapi.Config{Log: slog.New(slog.DiscardHandler)})
	handlers := []struct {
		name string
		h    func(httpapi.Route) http.Handler
	}{
		{"local server", func(httpapi.Route) http.Handler { return api.Handler() }},
		{"route Lambda", func(rt httpapi.Route) http.Handler { return api.Handler(rt.Name) }},
	}
	for _, rt := range httpapi.Routes() {
		t.Run(rt.Name, func(t *testing.T) {
			target := pathParam.ReplaceAllString(rt.Path, "x1")
			want, what := http.StatusUnauthorized, "401: scope "+rt.Scope+" needs credentials"
			switch {
			case rt.Name == "health":
				want, what = http.StatusOK, "200"
			case rt.Scope == httpapi.ScopeNone:
				want, what = 0, "the route's own answer, not 404 or 405" // open routes: any answer of their own
			}
			for _, h := range handlers {
				rec := httptest.NewRecorder()
				h.h(rt).ServeHTTP(rec, httptest.NewRequest(rt.Method, target, nil))
				unmounted := rec.Code == http.StatusNotFound && strings.Contains(rec.Body.String(), "no route") || rec.Code == http.StatusMethodNotAllowed
				if unmounted || want != 0 && rec.Code != want {
					t.Errorf("%s: %s %s without credentials answered %d %s; want %s",
						h.name, rt.Method, target, rec.Code, strings.TrimSpace(rec.Body.String()), what)
				}
			}
		})
	}
	t.Run("unknown path", func(t *testing.T) {
		// The negative of the assertion above: an unmounted path is a 404 "no route".
		rec := httptest.NewRecorder()
		api.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/no-such-route", nil))
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "no route") {
			t.Errorf("GET /v1/no-such-route answered %d %s; want 404 no route", rec.Code, rec.Body.String())
		}
	})
}

// TestConfigEnvProbe pins what the environment check learns from config.FromEnv, so a
// probe that silently learns nothing cannot pass the environment check vacuously.
func TestConfigEnvProbe(t *testing.T) {
	env, err := probeConfigEnv()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"GANCHO_TABLE_NAME", "GANCHO_DELIVERIES_QUEUE_URL", "GANCHO_DELIVERIES_DLQ_URL"} {
		if !env.required[name] {
			t.Errorf("config.FromEnv should require %s; probe found required=%v", name, env.required)
		}
	}
	for _, name := range []string{"GANCHO_ALLOW_INSECURE_TARGETS", "GANCHO_LOG_LEVEL"} {
		if !slices.Contains(env.read, name) || env.required[name] {
			t.Errorf("config.FromEnv should read %s as optional; probe found read=%v required=%v", name, env.read, env.required)
		}
	}
	// The keys are given outright or named by their secret: either will do, so
	// neither is required, and the secret's name is read only without the keys.
	for _, name := range []string{config.EnvKeys, config.EnvKeysSecret} {
		if !slices.Contains(env.read, name) || env.required[name] {
			t.Errorf("config.FromEnv should read %s as optional; probe found read=%v required=%v", name, env.read, env.required)
		}
	}
	if err := env.accepts("GANCHO_LOG_LEVEL", "loud"); err == nil {
		t.Error(`config.FromEnv should reject GANCHO_LOG_LEVEL="loud"`)
	}
}

// --- the checks ---------------------------------------------------------------------

var codeURIPattern = regexp.MustCompile(`^functions/([^/]+)/?$`)

func checkFunctions(c *checker, r *report) {
	byFolder := map[string]string{}
	for _, f := range c.t.functions() {
		uri, ok := f.props.get("CodeUri").scalar()
		if !ok {
			r.addf(f.res, f.id, "CodeUri must be the literal folder functions/<folder>/, got %s", f.props.get("CodeUri"))
			continue
		}
		if f.folder == "" {
			r.addf(f.props.get("CodeUri"), f.id, "CodeUri %q is not functions/<folder>/: every Lambda is built from its own folder under functions/", uri)
			continue
		}
		if other, dup := byFolder[f.folder]; dup {
			r.addf(f.props.get("CodeUri"), f.id, "functions/%s/ is also the CodeUri of %s: one folder, one function", f.folder, other)
		}
		byFolder[f.folder] = f.id
		dir := filepath.Join(c.root, "functions", f.folder)
		if _, err := os.Stat(filepath.Join(dir, "main.go")); err != nil {
			r.addf(f.props.get("CodeUri"), f.id, "CodeUri %q: functions/%s/main.go does not exist (%v)", uri, f.folder, errors.Unwrap(err))
		}
		if _, err := os.Stat(filepath.Join(c.root, "events", f.folder+".json")); err != nil {
			r.addf(f.res, f.id, "no sample event events/%s.json: add one (the Lambda binary test invokes every function with its sample)", f.folder)
		}
		if rt, ok := c.t.fnProp(f, "Runtime").scalar(); !ok || !strings.HasPrefix(rt, "provided.") {
			r.addf(c.t.fnProp(f, "Runtime"), f.id, "Runtime is %s; a Go Lambda built as bootstrap needs an OS-only runtime (provided.al2023)", c.t.fnProp(f, "Runtime"))
		}
		if h, _ := c.t.fnProp(f, "Handler").scalar(); h != "bootstrap" {
			r.addf(c.t.fnProp(f, "Handler"), f.id, "Handler is %q; provided runtimes start the executable named bootstrap", h)
		}
		if bm, _ := f.res.at("Metadata", "BuildMethod").scalar(); bm != "go1.x" {
			r.addf(f.res, f.id, "Metadata.BuildMethod is %q; sam build needs go1.x to compile functions/%s into bootstrap", bm, f.folder)
		}
	}
	entries, err := os.ReadDir(filepath.Join(c.root, "functions"))
	if err != nil {
		r.addf(nil, "functions/", "cannot list the function folders: %v", err)
		return
	}
	for _, e := range entries {
		if e.IsDir() && byFolder[e.Name()] == "" {
			r.addf(c.t.root.get("Resources"), "functions/"+e.Name(), "no AWS::Serverless::Function has CodeUri functions/%s/: the folder would never be deployed", e.Name())
		}
	}
}

func checkSampleEvents(c *checker, r *report) {
	routes := routesByName()
	folders := map[string]bool{}
	for _, f := range c.t.functions() {
		if f.folder == "" {
			continue
		}
		folders[f.folder] = true
		file := "events/" + f.folder + ".json"
		data, err := os.ReadFile(filepath.Join(c.root, filepath.FromSlash(file)))
		if err != nil {
			continue // reported by the functions check
		}
		var api, sqs, sched []fnEvent
		for _, ev := range f.events() {
			switch ev.typ {
			case "HttpApi":
				api = append(api, ev)
			case "SQS":
				sqs = append(sqs, ev)
			case "Schedule", "ScheduleV2":
				sched = append(sched, ev)
			}
		}
		switch {
		case len(api) > 0:
			var keys []string
			for _, ev := range api {
				m, _ := ev.props.get("Method").scalar()
				p, _ := ev.props.get("Path").scalar()
				keys = append(keys, strings.ToUpper(m)+" "+p)
			}
			rt, hasRoute := routes[f.folder]
			for _, problem := range checkAPISample(data, keys, rt, hasRoute) {
				r.addf(f.res, file, "%s", problem)
			}
		case len(sqs) > 0:
			decode := func(body string) error { _, err := queue.Decode(body); return err }
			what := "a delivery message the consumer accepts"
			if f.folder == "ingest" {
				decode = func(body string) error { _, err := ingest.Decode(body); return err }
				what = `an ingest message {"tenantId", "event"}`
			}
			// events/<folder>.json is of the first SQS event; extraSamples name the others'.
			samples := map[string]string{file: sqs[0].name}
			for name, evName := range extraSamples[f.folder] {
				samples["events/"+name+".json"] = evName
			}
			covered := map[string]bool{}
			for _, sfile := range slices.Sorted(maps.Keys(samples)) {
				evName := samples[sfile]
				i := slices.IndexFunc(sqs, func(ev fnEvent) bool { return ev.name == evName })
				if i < 0 {
					r.addf(f.res, sfile, "extraSamples gives it to SQS event %s, which %s does not have", evName, f.id)
					continue
				}
				covered[evName] = true
				sdata := data
				if sfile != file {
					if sdata, err = os.ReadFile(filepath.Join(c.root, filepath.FromSlash(sfile))); err != nil {
						r.addf(sqs[i].node, sfile, "the sample of SQS event %s is missing: %v", evName, errors.Unwrap(err))
						continue
					}
				}
				qID, _ := getAttID(sqs[i].props.get("Queue"), "Arn")
				fifo := scalarOr(c.t.resources[qID].at("Properties", "FifoQueue"), "") == "true"
				for _, problem := range checkSQSSample(sdata, decode, what, fifo) {
					r.addf(sqs[i].node, sfile, "%s", problem)
				}
			}
			for _, ev := range sqs {
				if !covered[ev.name] {
					r.addf(ev.node, f.id+" event "+ev.name, "has no sample event: add events/%s-<queue>.json and name it in extraSamples (sam local invoke and the Lambda binary test use it)", f.folder)
				}
			}
		case len(sched) > 0:
			for _, problem := range checkScheduleSample(data, sched[0]) {
				r.addf(sched[0].node, file, "%s", problem)
			}
		default:
			if !json.Valid(data) {
				r.addf(f.res, file, "is not valid JSON")
			}
		}
	}
	// A sample no function has is stale: a renamed route's old event, which nothing
	// checks any more and sam local invoke cannot use.
	samples, err := filepath.Glob(filepath.Join(c.root, "events", "*.json"))
	if err != nil {
		r.addf(nil, "events/", "cannot list the sample events: %v", err)
		return
	}
	for folder, extra := range extraSamples {
		if folders[folder] {
			for name := range extra {
				folders[name] = true
			}
		}
	}
	for _, s := range samples {
		if name := strings.TrimSuffix(filepath.Base(s), ".json"); !folders[name] {
			r.addf(c.t.root.get("Resources"), "events/"+name+".json", "no function has CodeUri functions/%s/: the sample is of nothing; remove it or rename it after its function", name)
		}
	}
}

// checkAPISample checks an API Gateway HTTP API (payload 2.0) request for one of the
// route keys ("GET /v1/x/{id}").
func checkAPISample(data []byte, routeKeys []string, rt httpapi.Route, hasRoute bool) []string {
	var ev events.APIGatewayV2HTTPRequest
	if err := strictJSON(data, &ev); err != nil {
		return []string{"is not an API Gateway HTTP API v2 event: " + err.Error()}
	}
	var out []string
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if ev.Version != "2.0" {
		bad(`version is %q, want "2.0"`, ev.Version)
	}
	if !slices.Contains(routeKeys, ev.RouteKey) {
		bad("routeKey is %q; the function's HttpApi events are %q", ev.RouteKey, routeKeys)
	}
	rc := ev.RequestContext
	if rc.RouteKey != ev.RouteKey {
		bad("requestContext.routeKey %q differs from routeKey %q", rc.RouteKey, ev.RouteKey)
	}
	method, pattern, _ := strings.Cut(ev.RouteKey, " ")
	if rc.HTTP.Method != method {
		bad("requestContext.http.method is %q, want %q (from routeKey)", rc.HTTP.Method, method)
	}
	if rc.HTTP.Path != ev.RawPath {
		bad("requestContext.http.path %q differs from rawPath %q", rc.HTTP.Path, ev.RawPath)
	}
	want := map[string]bool{}
	filled := pathParam.ReplaceAllStringFunc(pattern, func(p string) string {
		name := strings.TrimSuffix(strings.Trim(p, "{}"), "+")
		want[name] = true
		return ev.PathParameters[name]
	})
	for name := range want {
		if ev.PathParameters[name] == "" {
			bad("pathParameters has no %q for route %s", name, ev.RouteKey)
		}
	}
	for name := range ev.PathParameters {
		if !want[name] {
			bad("pathParameters.%s is not a parameter of route %s", name, ev.RouteKey)
		}
	}
	if filled != ev.RawPath {
		bad("rawPath %q is not route %s with its pathParameters (%q)", ev.RawPath, ev.RouteKey, filled)
	}
	q, err := url.ParseQuery(ev.RawQueryString)
	if err != nil {
		bad("rawQueryString %q: %v", ev.RawQueryString, err)
	}
	if len(q) != len(ev.QueryStringParameters) {
		bad("rawQueryString %q and queryStringParameters %v disagree", ev.RawQueryString, ev.QueryStringParameters)
	}
	for k, v := range q {
		if ev.QueryStringParameters[k] != strings.Join(v, ",") {
			bad("queryStringParameters.%s is %q, rawQueryString says %q", k, ev.QueryStringParameters[k], strings.Join(v, ","))
		}
	}
	for k := range ev.Headers {
		if k != strings.ToLower(k) {
			bad("header %q: API Gateway sends header names in lower case", k)
		}
	}
	if rc.HTTP.SourceIP == "" || rc.HTTP.UserAgent == "" {
		bad("requestContext.http needs sourceIp and userAgent")
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			bad("isBase64Encoded but body is not base64: %v", err)
		}
	}
	if cl, ok := ev.Headers["content-length"]; ok && cl != strconv.Itoa(len(body)) {
		bad("content-length is %s but the body has %d bytes", cl, len(body))
	}
	if len(body) > 0 {
		// The API's decoder takes application/json and any +json type (merge-patch+json).
		if mt, _, err := mime.ParseMediaType(ev.Headers["content-type"]); err != nil || mt != "application/json" && !strings.HasSuffix(mt, "+json") {
			bad("has a body but content-type %q; the API accepts application/json or a +json type", ev.Headers["content-type"])
		} else if !json.Valid(body) {
			bad("body is not valid JSON")
		}
	}
	if !hasRoute {
		return out // reported by the routes check
	}
	if rt.Method+" "+rt.Path != ev.RouteKey {
		bad("routeKey %q is not the route %s of httpapi.Routes() (%s %s)", ev.RouteKey, rt.Name, rt.Method, rt.Path)
	}
	if rt.Scope != httpapi.ScopeNone {
		header := ev.Headers["authorization"]
		if !strings.HasPrefix(header, "Bearer "+auth.KeyPrefix) && ev.Headers["x-api-key"] == "" {
			bad("route needs scope %s: send authorization: Bearer %s... (got %q)", rt.Scope, auth.KeyPrefix, header)
		}
	}
	return out
}

// extraSamples are a function's sample events beyond events/<folder>.json (which is
// its first SQS event's): sample name → the SQS event it is of. The deliveries
// consumer reads two queues, and a batch from the FIFO queue takes its own path
// (recognised by MessageGroupId), so each has a sample.
var extraSamples = map[string]map[string]string{
	"deliver": {"deliver-ordered": "Ordered"},
}

// fifoAttributes are the attributes SQS adds to a message received from a FIFO queue.
var fifoAttributes = []string{"MessageGroupId", "MessageDeduplicationId", "SequenceNumber"}

// checkSQSSample checks an SQS batch whose bodies decode decodes (what: what they are),
// received from a FIFO queue or a standard one.
func checkSQSSample(data []byte, decode func(string) error, what string, fifo bool) []string {
	var ev events.SQSEvent
	if err := strictJSON(data, &ev); err != nil {
		return []string{"is not an SQS event: " + err.Error()}
	}
	if len(ev.Records) == 0 {
		return []string{"has no Records"}
	}
	var out []string
	for i, rec := range ev.Records {
		bad := func(format string, args ...any) {
			out = append(out, fmt.Sprintf("Records[%d]: ", i)+fmt.Sprintf(format, args...))
		}
		if rec.EventSource != "aws:sqs" {
			bad(`eventSource is %q, want "aws:sqs"`, rec.EventSource)
		}
		if !strings.HasPrefix(rec.EventSourceARN, "arn:aws:sqs:") {
			bad("eventSourceARN %q is not an SQS queue ARN", rec.EventSourceARN)
		}
		if rec.MessageId == "" || rec.ReceiptHandle == "" {
			bad("needs a messageId (the batchItemFailures identifier) and a receiptHandle")
		}
		if sum := md5.Sum([]byte(rec.Body)); rec.Md5OfBody != "" && rec.Md5OfBody != hex.EncodeToString(sum[:]) {
			bad("md5OfBody %s is not the MD5 of body (%x)", rec.Md5OfBody, sum)
		}
		if n, err := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"]); err != nil || n < 1 {
			bad("attributes.ApproximateReceiveCount %q is not a count", rec.Attributes["ApproximateReceiveCount"])
		}
		if err := decode(rec.Body); err != nil {
			bad("body %s is not %s: %v", rec.Body, what, err)
		}
		switch fromFIFO := strings.HasSuffix(rec.EventSourceARN, ".fifo"); {
		case fifo && !fromFIFO:
			bad("eventSourceARN %q is not a FIFO queue's (.fifo), but the sample is of one", rec.EventSourceARN)
		case !fifo && fromFIFO:
			bad("eventSourceARN %q is a FIFO queue's, but the sample is of a standard queue", rec.EventSourceARN)
		}
		for _, a := range fifoAttributes {
			switch {
			case fifo && rec.Attributes[a] == "":
				bad("attributes.%s is missing: SQS sets it on every message of a FIFO queue (and the consumer takes the ordered path by MessageGroupId)", a)
			case !fifo && rec.Attributes[a] != "":
				bad("attributes.%s is set, which only a FIFO queue's messages carry: the consumer would take the ordered path", a)
			}
		}
	}
	return out
}

// checkScheduleSample checks the payload a schedule sends: its Input when it has one,
// else the default notification of EventBridge Scheduler (ScheduleV2; detail is the
// string "{}") or of an EventBridge rule (Schedule; detail is {}).
func checkScheduleSample(data []byte, ev fnEvent) []string {
	if input, ok := ev.props.get("Input").scalar(); ok {
		var want, got any
		if json.Unmarshal([]byte(input), &want) != nil || json.Unmarshal(data, &got) != nil || !reflect.DeepEqual(want, got) {
			return []string{"the schedule sends its Input verbatim; the sample must be that JSON: " + input}
		}
		return nil
	}
	var n events.EventBridgeEvent
	if err := strictJSON(data, &n); err != nil {
		return []string{"is not a scheduled event notification: " + err.Error()}
	}
	source, arn, detail := "aws.scheduler", "arn:aws:scheduler:", `"{}"`
	if ev.typ == "Schedule" {
		source, arn, detail = "aws.events", "arn:aws:events:", "{}"
	}
	var out []string
	if n.DetailType != "Scheduled Event" || n.Source != source {
		out = append(out, fmt.Sprintf(`a %s event sends detail-type "Scheduled Event" and source %q; got %q and %q`, ev.typ, source, n.DetailType, n.Source))
	}
	if len(n.Resources) != 1 || !strings.HasPrefix(n.Resources[0], arn) {
		out = append(out, fmt.Sprintf("resources must be the one %s... ARN of the schedule; got %q", arn, n.Resources))
	}
	if strings.ReplaceAll(string(n.Detail), " ", "") != detail {
		out = append(out, fmt.Sprintf("detail is %s; a %s event without Input sends %s", n.Detail, ev.typ, detail))
	}
	if n.ID == "" || n.AccountID == "" || n.Region == "" || n.Time.IsZero() || n.Version != "0" {
		out = append(out, "needs version \"0\", id, account, region and time")
	}
	return out
}

var startCall = regexp.MustCompile(`^Start`)

func checkRoutes(c *checker, r *report) {
	byKey := map[string]httpapi.Route{}
	for _, rt := range httpapi.Routes() {
		byKey[rt.Method+" "+rt.Path] = rt
	}
	served := map[string][]string{}
	for _, f := range c.t.functions() {
		api := false
		for _, ev := range f.events() {
			if ev.typ != "HttpApi" {
				continue
			}
			api = true
			method, okM := ev.props.get("Method").scalar()
			p, okP := ev.props.get("Path").scalar()
			if !okM || !okP {
				r.addf(ev.node, f.id, "HttpApi event %s needs a literal Method and Path", ev.name)
				continue
			}
			key := strings.ToUpper(method) + " " + goPattern(p)
			rt, ok := byKey[key]
			switch {
			case !ok:
				r.addf(ev.props.get("Path"), f.id, "HttpApi event %s routes %s %s to functions/%s, but httpapi.Routes() has no such route: the Lambda and the local server would answer 404; add the route to shared/httpapi/routes.go or remove the event",
					ev.name, strings.ToUpper(method), p, f.folder)
			case rt.Name != f.folder:
				r.addf(ev.props.get("Path"), f.id, "%s is route %q in httpapi.Routes(), but this function is built from functions/%s: its Lambda mounts only route %q and would answer 404",
					key, rt.Name, f.folder, f.folder)
			default:
				served[rt.Name] = append(served[rt.Name], f.id)
			}
		}
		if f.folder != "" {
			c.checkEntryPoint(r, f, api)
		}
	}
	for _, rt := range httpapi.Routes() {
		switch fns := served[rt.Name]; len(fns) {
		case 0:
			r.addf(c.t.root.get("Resources"), "route "+rt.Name, "%s %s is in httpapi.Routes() (so the local server serves it) but no function in the template has CodeUri functions/%s/ with an HttpApi event Method: %s, Path: %s: it would not be deployed",
				rt.Method, rt.Path, rt.Name, rt.Method, rt.Path)
		case 1:
		default:
			r.addf(c.t.root.get("Resources"), "route "+rt.Name, "%s %s is served by %d functions (%s); API Gateway routes it to exactly one", rt.Method, rt.Path, len(fns), strings.Join(fns, ", "))
		}
	}
}

// checkEntryPoint reads functions/<folder>/main.go and checks that a route function
// starts its own route, and other functions start no route at all.
func (c *checker) checkEntryPoint(r *report, f function, api bool) {
	file := filepath.Join(c.root, "functions", f.folder, "main.go")
	parsed, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		return // a missing main.go is the functions check's; a broken one fails the build
	}
	var starts []string
	ast.Inspect(parsed, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || !startCall.MatchString(sel.Sel.Name) {
			return true
		}
		s := sel.Sel.Name + "("
		if len(call.Args) == 1 {
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				s += lit.Value
			} else {
				s += "?"
			}
		}
		starts = append(starts, s+")")
		return true
	})
	want := fmt.Sprintf("StartRoute(%q)", f.folder)
	switch {
	case api && !slices.Contains(starts, want):
		r.addf(f.res, f.id, "functions/%s/main.go must call apifn.%s so its Lambda serves its own route; it calls %v", f.folder, want, starts)
	case !api && slices.ContainsFunc(starts, func(s string) bool { return strings.HasPrefix(s, "StartRoute(") }):
		r.addf(f.res, f.id, "functions/%s/main.go starts an API route (%v) but the function has no HttpApi event", f.folder, starts)
	}
}

func checkReferences(c *checker, r *report) {
	t := c.t
	generated := t.samGenerated()
	isResource := func(id string) bool { return t.resources[id] != nil || generated[id] }
	walkRefs(t.root, nil, func(rf ref) {
		switch {
		case rf.kind == "Ref" || rf.kind == "Sub" && rf.attr == "":
			if rf.local || isResource(rf.id) || t.params[rf.id] != nil || pseudoParams[rf.id] {
				return
			}
			r.addf(rf.node, rf.String(), "%s is not a resource, a parameter or a pseudo parameter of this template%s", rf.id, suggest(rf.id, t.names()))
		default: // GetAtt, or ${X.Attr} in a Sub
			if !isResource(rf.id) {
				r.addf(rf.node, rf.String(), "%s is not a resource of this template%s", rf.id, suggest(rf.id, t.ids))
				return
			}
			if attrs, known := getAttAttributes[t.typeOf(rf.id)]; known && !slices.Contains(attrs, rf.attr) {
				r.addf(rf.node, rf.String(), "%s (%s) has no attribute %s; it has %s", rf.id, t.typeOf(rf.id), rf.attr, strings.Join(attrs, ", "))
			}
		}
	})
	for _, id := range t.ids {
		res := t.resources[id]
		for _, dep := range res.get("DependsOn").list() {
			if s, _ := dep.scalar(); !isResource(s) {
				r.addf(dep, id, "DependsOn %s is not a resource of this template", dep)
			}
		}
		if cond := res.get("Condition"); cond != nil {
			if s, _ := cond.scalar(); !t.conditions[s] {
				r.addf(cond, id, "Condition %s is not defined under Conditions", cond)
			}
		}
	}
}

func checkEnvironment(c *checker, r *report) {
	env := c.env
	read := map[string]bool{}
	for _, n := range env.read {
		read[n] = true
	}
	t := c.t
	sets := []struct {
		subject string
		vars    *node
	}{{"Globals.Function", t.root.at("Globals", "Function", "Environment", "Variables")}}
	for _, f := range t.functions() {
		sets = append(sets, struct {
			subject string
			vars    *node
		}{f.id, f.props.at("Environment", "Variables")})
	}
	for _, set := range sets {
		for i, name := range set.vars.keys() {
			val := set.vars.vals[i]
			switch {
			case !read[name]:
				r.addf(val, set.subject, "%s is set but the code never reads it (config.FromEnv reads %s)", name, strings.Join(env.read, ", "))
				continue
			case !strings.HasPrefix(name, "GANCHO_"):
				r.addf(val, set.subject, "%s points the AWS SDK at an emulator; it belongs in local runs (withstack), not in the deployed template", name)
				continue
			}
			c.checkEnvValue(r, set.subject, name, val)
		}
	}
	for _, f := range t.functions() {
		eff := t.env(f)
		if eff[config.EnvKeysSecret] == nil {
			r.addf(f.res, f.id, "%s is not set (in Globals or the function): the function would have no encryption keys and fail its init", config.EnvKeysSecret)
		}
		for _, name := range env.read {
			if env.required[name] && eff[name] == nil {
				r.addf(f.res, f.id, "%s is not set (in Globals or the function) but config.FromEnv requires it: the function would fail its init", name)
			}
		}
	}
}

// envResource says which resource type a variable must !Ref: the code uses the Ref
// value (a table's name, a queue's URL) directly.
var envResource = map[string]string{
	"GANCHO_TABLE_NAME":           "AWS::DynamoDB::Table",
	"GANCHO_DELIVERIES_QUEUE_URL": "AWS::SQS::Queue",
	"GANCHO_DELIVERIES_DLQ_URL":   "AWS::SQS::Queue",
	"GANCHO_INGEST_DLQ_URL":       "AWS::SQS::Queue",
}

func (c *checker) checkEnvValue(r *report, subject, name string, val *node) {
	t := c.t
	switch name {
	case config.EnvKeys:
		// Whatever its source, a value here is in the function's configuration, which
		// the console and GetFunctionConfiguration show to whoever may read it.
		r.addf(val, subject, "%s puts the encryption keys in the functions' environment; name their Secrets Manager secret with %s instead (README \"Deploy\")", name, config.EnvKeysSecret)
		return
	case config.EnvKeysSecret:
		fn, arg, _ := val.intrinsic()
		id, _ := arg.scalar()
		p := t.params[id]
		switch {
		case fn == "Ref" && t.typeOf(id) == "AWS::SecretsManager::Secret":
		case fn != "Ref" || p == nil:
			r.addf(val, subject, "%s is %s; it must be !Ref of a parameter (the secret is made before the stack) or of an AWS::SecretsManager::Secret", name, val)
		case p.get("Default") != nil:
			r.addf(p.get("Default"), "parameter "+id, "holds %s but has a Default: a deployment must name its own keys' secret", name)
		case !strings.Contains(scalarOr(p.get("AllowedPattern"), ""), ":secretsmanager:"):
			r.addf(p, "parameter "+id, "holds %s but has no AllowedPattern of Secrets Manager ARNs: a name or a wrong ARN would deploy, and every function then fail its init", name)
		}
		return
	}
	if typ, ok := envResource[name]; ok {
		fn, arg, _ := val.intrinsic()
		id, _ := arg.scalar()
		if fn != "Ref" || t.typeOf(id) != typ {
			r.addf(val, subject, "%s must be !Ref of an %s (its Ref value is what the code expects), got %s", name, typ, val)
		}
		return
	}
	var values []string
	if s, ok := val.scalar(); ok {
		values = []string{s}
	} else if fn, arg, _ := val.intrinsic(); fn == "Ref" {
		id, _ := arg.scalar()
		p := t.params[id]
		if p == nil {
			return // a resource's Ref value cannot be known here; dangling refs are the references check's
		}
		for _, v := range p.get("AllowedValues").list() {
			s, _ := v.scalar()
			values = append(values, s)
		}
		if d, ok := p.get("Default").scalar(); ok {
			values = append(values, d)
		}
	}
	for _, v := range values {
		if err := c.env.accepts(name, v); err != nil {
			r.addf(val, subject, "%s can be %q, which config.FromEnv rejects: %v", name, v, err)
		}
	}
}

func checkDeliveriesQueue(c *checker, r *report) {
	t := c.t
	var consumers int
	for _, f := range t.functions() {
		for _, ev := range f.events() {
			if ev.typ != "SQS" {
				continue
			}
			consumers++
			c.checkSQSEvent(r, f, ev)
		}
		if f.folder == "deliver" && !slices.ContainsFunc(f.events(), func(ev fnEvent) bool { return ev.typ == "SQS" }) {
			r.addf(f.res, f.id, "functions/deliver is the deliveries consumer but the function has no SQS event")
		}
	}
	if consumers == 0 {
		r.addf(t.root.get("Resources"), "Resources", "no function has an SQS event: nothing consumes the deliveries queue")
	}
}

func (c *checker) checkSQSEvent(r *report, f function, ev fnEvent) {
	t := c.t
	subject := f.id + " event " + ev.name
	if !slices.ContainsFunc(ev.props.get("FunctionResponseTypes").list(), func(n *node) bool {
		s, _ := n.scalar()
		return s == "ReportBatchItemFailures"
	}) {
		r.addf(ev.node, subject, "FunctionResponseTypes must list ReportBatchItemFailures: the consumer returns batchItemFailures, which Lambda ignores without it (one failure would then redeliver, or drop, the whole batch)")
	}
	qID, ok := getAttID(ev.props.get("Queue"), "Arn")
	if !ok || t.typeOf(qID) != "AWS::SQS::Queue" {
		r.addf(ev.props.get("Queue"), subject, "Queue must be !GetAtt <queue>.Arn of an AWS::SQS::Queue in this template, got %s", ev.props.get("Queue"))
		return
	}
	q := t.resources[qID].get("Properties")
	rp := q.get("RedrivePolicy")
	dlqID, okDLQ := getAttID(rp.get("deadLetterTargetArn"), "Arn")
	switch {
	case rp == nil:
		r.addf(t.resources[qID], qID, "has no RedrivePolicy: a message that keeps failing would circle until retention expires instead of reaching a dead-letter queue")
	case !okDLQ || t.typeOf(dlqID) != "AWS::SQS::Queue":
		r.addf(rp, qID, "RedrivePolicy.deadLetterTargetArn must be !GetAtt <dlq>.Arn of a queue in this template, got %s", rp.get("deadLetterTargetArn"))
	}
	if n, err := strconv.Atoi(scalarOr(rp.get("maxReceiveCount"), "")); rp != nil && (err != nil || n < 1) {
		r.addf(rp, qID, "RedrivePolicy.maxReceiveCount must be a positive number, got %s", rp.get("maxReceiveCount"))
	}
	timeout, tnode, err := t.timeout(f)
	if err != nil {
		r.addf(tnode, f.id, "%v", err)
	}
	vt, err := strconv.Atoi(scalarOr(q.get("VisibilityTimeout"), "30"))
	switch {
	case err != nil:
		r.addf(q.get("VisibilityTimeout"), qID, "VisibilityTimeout must be a literal number of seconds to be checked, got %s", q.get("VisibilityTimeout"))
	case timeout > 0 && vt < 6*timeout:
		r.addf(q.get("VisibilityTimeout"), qID, "VisibilityTimeout is %d s, less than 6x the %d s Timeout of its consumer %s (want >= %d): Lambda needs that margin to retry throttled batches",
			vt, timeout, f.id, 6*timeout)
	}
	if f.folder == "ingest" {
		// Messages that fail validation are moved to GANCHO_INGEST_DLQ_URL by the
		// consumer, those that keep failing by the redrive policy: one queue.
		fn, arg, _ := t.env(f)["GANCHO_INGEST_DLQ_URL"].intrinsic()
		if id, _ := arg.scalar(); dlqID != "" && (fn != "Ref" || id != dlqID) {
			r.addf(t.env(f)["GANCHO_INGEST_DLQ_URL"], f.id, "GANCHO_INGEST_DLQ_URL is %s but must be !Ref %s, the dead-letter queue of %s", t.env(f)["GANCHO_INGEST_DLQ_URL"], dlqID, qID)
		}
		return
	}
	if f.folder != "deliver" {
		return
	}
	// The API publishes to GANCHO_DELIVERIES_QUEUE_URL and the consumer dead-letters
	// to GANCHO_DELIVERIES_DLQ_URL: they must be this event's queue and its DLQ. The
	// FIFO queue of ordered deliveries is GANCHO_ORDERED_QUEUE_URL; its own DLQ only
	// catches poison messages (failed deliveries are dead-lettered to the standard DLQ).
	env := t.env(f)
	wants := []struct{ name, id, role string }{
		{"GANCHO_DELIVERIES_QUEUE_URL", qID, "the queue this function consumes"},
		{"GANCHO_DELIVERIES_DLQ_URL", dlqID, "the dead-letter queue of " + qID},
	}
	if fifo, _ := q.get("FifoQueue").scalar(); fifo == "true" {
		wants = wants[:1]
		wants[0].name = "GANCHO_ORDERED_QUEUE_URL"
	}
	for _, want := range wants {
		if want.id == "" {
			continue
		}
		fn, arg, _ := env[want.name].intrinsic()
		if id, _ := arg.scalar(); fn != "Ref" || id != want.id {
			r.addf(env[want.name], f.id, "%s is %s but must be !Ref %s, %s", want.name, env[want.name], want.id, want.role)
		}
	}
}

func checkPayloadFormat(c *checker, r *report) {
	for _, f := range c.t.functions() {
		for _, ev := range f.events() {
			if ev.typ != "HttpApi" {
				continue
			}
			if v, _ := ev.props.get("PayloadFormatVersion").scalar(); v != "2.0" {
				r.addf(ev.node, f.id+" event "+ev.name, `PayloadFormatVersion must be "2.0" (the function runs httpadapter.NewV2), got %s`, ev.props.get("PayloadFormatVersion"))
			}
		}
	}
}

// httpAPIMaxTimeout is the longest an HTTP API waits for its integration.
const httpAPIMaxTimeout = 30

func checkAPITimeouts(c *checker, r *report) {
	for _, f := range c.t.functions() {
		if !slices.ContainsFunc(f.events(), func(ev fnEvent) bool { return ev.typ == "HttpApi" }) {
			continue
		}
		timeout, n, err := c.t.timeout(f)
		switch {
		case err != nil:
			r.addf(n, f.id, "%v", err)
		case timeout > httpAPIMaxTimeout:
			r.addf(n, f.id, "Timeout %d s exceeds the HTTP API integration timeout (%d s): clients would get 503 while the function still runs", timeout, httpAPIMaxTimeout)
		}
	}
}

// policyParams are SAM policy template parameters whose value the checker can type:
// the resource type and the attribute (empty: !Ref) that yields what the parameter needs.
var policyParams = map[string]struct{ typ, attr, want string }{
	"TableName": {"AWS::DynamoDB::Table", "", "!Ref <table>, which is the table's name"},
	"QueueName": {"AWS::SQS::Queue", "QueueName", "!GetAtt <queue>.QueueName (!Ref of a queue is its URL)"},
}

// unscopedManagedPolicies grant only logging and tracing, which have no resource of
// this template to be scoped to.
var unscopedManagedPolicies = map[string]bool{"AWSLambdaBasicExecutionRole": true, "AWSXRayDaemonWriteAccess": true}

func checkIAM(c *checker, r *report) {
	t := c.t
	for _, f := range t.functions() {
		if role := f.props.get("Role"); role != nil {
			r.addf(role, f.id, "Role is set: its policies live elsewhere and cannot be checked; use Policies with SAM policy templates")
		}
		for _, p := range f.props.get("Policies").list() {
			if s, ok := p.scalar(); ok {
				if !unscopedManagedPolicies[s] {
					r.addf(p, f.id, "managed policy %s is not scoped to this template's resources; use a SAM policy template on a template resource", s)
				}
				continue
			}
			if fn, arg, ok := p.intrinsic(); ok {
				id, _ := arg.scalar()
				if fn != "Ref" || t.typeOf(id) != "AWS::IAM::ManagedPolicy" {
					r.addf(p, f.id, "policy %s must be !Ref of an AWS::IAM::ManagedPolicy of this template", p)
					continue
				}
				c.checkStatements(r, f.id, t.resources[id].at("Properties", "PolicyDocument"))
				continue
			}
			if p.get("Statement") != nil {
				if nonRoutes[f.folder].destinations && "policy "+p.String() == destinationsPolicy {
					continue // the customers' resources: the access check holds it to its exact form
				}
				c.checkStatements(r, f.id, p)
				continue
			}
			for i, tmpl := range p.keys() {
				params := p.vals[i]
				if len(params.keys()) == 0 {
					r.addf(p, f.id, "policy template %s names no resource: it grants its actions on every resource of that kind", tmpl)
				}
				for j, name := range params.keys() {
					if name == "SecretArn" {
						c.checkSecretParam(r, f, tmpl+"."+name, params.vals[j])
						continue
					}
					c.checkPolicyParam(r, f.id, tmpl+"."+name, name, params.vals[j])
				}
			}
		}
	}
}

// checkSecretParam checks a policy's secret: the one secret a function may read is the
// one holding its encryption keys, made before the stack (README "Deploy"), so it is
// named by the same parameter as the function's GANCHO_ENCRYPTION_KEYS_SECRET.
func (c *checker) checkSecretParam(r *report, f function, what string, v *node) {
	env := c.t.env(f)[config.EnvKeysSecret]
	fn, arg, _ := v.intrinsic()
	id, _ := arg.scalar()
	switch {
	case fn != "Ref" || (c.t.params[id] == nil && c.t.typeOf(id) != "AWS::SecretsManager::Secret"):
		r.addf(v, f.id, "%s is %s; it must be !Ref of the parameter (or AWS::SecretsManager::Secret) naming the keys' secret, as %s does", what, v, config.EnvKeysSecret)
	case env == nil || env.String() != v.String():
		r.addf(v, f.id, "%s is %s but the function's %s is %s: it may read its keys' secret only", what, v, config.EnvKeysSecret, env)
	}
}

func (c *checker) checkPolicyParam(r *report, subject, what, name string, v *node) {
	t := c.t
	if s, ok := v.scalar(); ok {
		if s == "*" {
			r.addf(v, subject, "%s is '*': the policy would cover every resource of the account", what)
		} else {
			r.addf(v, subject, "%s is the literal %q, not a resource of this template; reference one with !Ref or !GetAtt", what, s)
		}
		return
	}
	if want, ok := policyParams[name]; ok {
		fn, arg, _ := v.intrinsic()
		var id, attr string
		switch fn {
		case "Ref":
			id, _ = arg.scalar()
		case "Fn::GetAtt":
			id, _ = getAttID(v, "")
			attr = getAttAttr(v)
		}
		if t.typeOf(id) != want.typ || attr != want.attr {
			r.addf(v, subject, "%s is %s; it must name an %s of this template as %s", what, v, want.typ, want.want)
		}
		return
	}
	c.checkScopedTo(r, subject, what, v)
}

// checkScopedTo requires v to reference template resources, and nothing else that
// could name a resource outside the template (a parameter).
func (c *checker) checkScopedTo(r *report, subject, what string, v *node) {
	t := c.t
	var resources int
	walkRefs(v, nil, func(rf ref) {
		switch {
		case t.resources[rf.id] != nil:
			resources++
		case pseudoParams[rf.id] || rf.local:
		default:
			r.addf(rf.node, subject, "%s references %s, which is not a resource of this template", what, rf.id)
		}
	})
	if resources == 0 {
		r.addf(v, subject, "%s is %s, which names no resource of this template", what, v)
	}
}

func (c *checker) checkStatements(r *report, subject string, doc *node) {
	for i, st := range doc.get("Statement").list() {
		what := fmt.Sprintf("Statement[%d]", i)
		if nr := st.get("NotResource"); nr != nil {
			r.addf(nr, subject, "%s uses NotResource: it grants access to everything else", what)
		}
		res := st.get("Resource")
		if res == nil {
			r.addf(st, subject, "%s has no Resource", what)
		}
		for _, v := range res.list() {
			if s, ok := v.scalar(); ok {
				if s == "*" || strings.HasSuffix(s, ":*") {
					r.addf(v, subject, "%s Resource %q: the policy must not cover every resource", what, s)
				} else {
					r.addf(v, subject, "%s Resource %q is a literal ARN, not a resource of this template", what, s)
				}
				continue
			}
			c.checkScopedTo(r, subject, what+" Resource", v)
		}
	}
}

// --- the checker's inputs -----------------------------------------------------------

type checker struct {
	t    *template
	root string // repository root
	env  envModel
}

func newChecker(t *testing.T, templatePath string) *checker {
	t.Helper()
	tpl, err := loadTemplate(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	env, err := probeConfigEnv()
	if err != nil {
		t.Fatal(err)
	}
	return &checker{t: tpl, root: repoRoot(t), env: env}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

func routesByName() map[string]httpapi.Route {
	out := map[string]httpapi.Route{}
	for _, rt := range httpapi.Routes() {
		out[rt.Name] = rt
	}
	return out
}

// pathParam matches a route parameter: {id} in both API Gateway and net/http, or API
// Gateway's greedy {proxy+}.
var pathParam = regexp.MustCompile(`\{[^{}/]+\}`)

// goPattern writes an API Gateway path the way net/http patterns (and so Routes())
// write it: a greedy {proxy+} is {proxy...}.
func goPattern(p string) string {
	return pathParam.ReplaceAllStringFunc(p, func(s string) string {
		if name, ok := strings.CutSuffix(strings.Trim(s, "{}"), "+"); ok {
			return "{" + name + "...}"
		}
		return s
	})
}

// envModel is what config.FromEnv reads, learnt by calling it with a getenv that
// records the names asked for: no list to keep in sync by hand.
type envModel struct {
	read     []string        // every name FromEnv asks for, sorted
	required map[string]bool // names whose absence FromEnv rejects
	good     map[string]string
}

// accepts reports whether FromEnv takes value for name, every other name being valid.
func (e envModel) accepts(name, value string) error {
	vals := maps.Clone(e.good)
	vals[name] = value
	_, err := config.FromEnv(func(n string) string { return vals[n] })
	return err
}

// probeConfigEnv finds, for every variable config.FromEnv reads, a value it accepts
// (trying a few plausible ones: the variable asked for last before an error is the one
// rejected), then empties each variable in turn to find which are required and which
// further variables are read only when another is empty.
func probeConfigEnv() (envModel, error) {
	// A name, a number, a boolean, a log level, a sealing key, an AWS account id.
	candidates := []string{"x", "1", "true", "info", seal.NewKey("k1"), "123456789012"}
	choice := map[string]int{}
	value := func(n string) string { return candidates[choice[n]] }
	run := func(override map[string]string) ([]string, error) {
		var asked []string
		_, err := config.FromEnv(func(n string) string {
			asked = append(asked, n)
			if v, ok := override[n]; ok {
				return v
			}
			return value(n)
		})
		return asked, err
	}
	names := map[string]bool{}
	for grown := true; grown; {
		for tries := 0; ; tries++ {
			asked, err := run(nil)
			for _, n := range asked {
				names[n] = true
			}
			if err == nil {
				break
			}
			if len(asked) == 0 || tries > 100 {
				return envModel{}, fmt.Errorf("config.FromEnv fails before reading anything: %v", err)
			}
			last := asked[len(asked)-1]
			if choice[last]++; choice[last] == len(candidates) {
				return envModel{}, fmt.Errorf("config.FromEnv rejects every value tried for %s (%q): %v", last, candidates, err)
			}
		}
		grown = false
		for n := range names {
			asked, _ := run(map[string]string{n: ""})
			for _, a := range asked {
				if !names[a] {
					names[a], grown = true, true
				}
			}
		}
	}
	e := envModel{required: map[string]bool{}, good: map[string]string{}}
	for n := range names {
		e.read = append(e.read, n)
		e.good[n] = value(n)
	}
	sort.Strings(e.read)
	for _, n := range e.read {
		if _, err := run(map[string]string{n: ""}); err != nil {
			e.required[n] = true
		}
	}
	return e, nil
}

// --- the template -------------------------------------------------------------------

// node is a YAML value with its line. Short-form intrinsics are rewritten to their long
// form (`!GetAtt Q.Arn` is the mapping {Fn::GetAtt: [Q, Arn]}) so both forms read the same.
type node struct {
	kind  yaml.Kind
	line  int
	null  bool
	value string   // scalars
	names []string // mapping keys, in order
	vals  []*node  // mapping values
	items []*node  // sequence items
}

func parseYAML(data []byte) (*node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, errors.New("empty document")
	}
	return convert(doc.Content[0])
}

func convert(y *yaml.Node) (*node, error) {
	if y.Kind == yaml.AliasNode {
		return convert(y.Alias)
	}
	if strings.HasPrefix(y.Tag, "!") && !strings.HasPrefix(y.Tag, "!!") {
		name := strings.TrimPrefix(y.Tag, "!")
		inner := *y
		inner.Tag = ""
		inner.Style &^= yaml.TaggedStyle
		arg, err := convert(&inner)
		if err != nil {
			return nil, err
		}
		if name == "GetAtt" && arg.kind == yaml.ScalarNode {
			id, attr, ok := strings.Cut(arg.value, ".")
			if !ok {
				return nil, fmt.Errorf("line %d: !GetAtt %s: want LogicalId.Attribute", y.Line, arg.value)
			}
			arg = &node{kind: yaml.SequenceNode, line: y.Line, items: []*node{
				{kind: yaml.ScalarNode, line: y.Line, value: id}, {kind: yaml.ScalarNode, line: y.Line, value: attr}}}
		}
		key := "Fn::" + name
		if name == "Ref" || name == "Condition" {
			key = name
		}
		return &node{kind: yaml.MappingNode, line: y.Line, names: []string{key}, vals: []*node{arg}}, nil
	}
	n := &node{kind: y.Kind, line: y.Line}
	switch y.Kind {
	case yaml.ScalarNode:
		n.value, n.null = y.Value, y.ShortTag() == "!!null"
	case yaml.SequenceNode:
		for _, c := range y.Content {
			item, err := convert(c)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, item)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(y.Content); i += 2 {
			v, err := convert(y.Content[i+1])
			if err != nil {
				return nil, err
			}
			n.names = append(n.names, y.Content[i].Value)
			n.vals = append(n.vals, v)
		}
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node", y.Line)
	}
	return n, nil
}

// get returns a mapping's value for key; nil on anything else (nil-safe, so chains of
// get on a missing property end in nil).
func (n *node) get(key string) *node {
	if n == nil || n.kind != yaml.MappingNode {
		return nil
	}
	for i, k := range n.names {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

func (n *node) at(keys ...string) *node {
	for _, k := range keys {
		n = n.get(k)
	}
	return n
}

// keys are a mapping's keys; nil for an intrinsic, which is a value, not a mapping.
func (n *node) keys() []string {
	if _, _, ok := n.intrinsic(); ok || n == nil || n.kind != yaml.MappingNode {
		return nil
	}
	return n.names
}

func (n *node) scalar() (string, bool) {
	if n == nil || n.kind != yaml.ScalarNode || n.null {
		return "", false
	}
	return n.value, true
}

func scalarOr(n *node, def string) string {
	if n == nil {
		return def
	}
	s, _ := n.scalar()
	return s
}

// intrinsic returns a function call's name ("Ref", "Fn::Sub", ...) and argument.
func (n *node) intrinsic() (string, *node, bool) {
	if n == nil || n.kind != yaml.MappingNode || len(n.names) != 1 {
		return "", nil, false
	}
	k := n.names[0]
	if k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
		return k, n.vals[0], true
	}
	return "", nil, false
}

// list is a sequence's items, or a single value as a one-item list.
func (n *node) list() []*node {
	switch {
	case n == nil:
		return nil
	case n.kind == yaml.SequenceNode:
		return n.items
	}
	return []*node{n}
}

// String renders n compactly, intrinsics in short form, for messages.
func (n *node) String() string {
	if n == nil {
		return "(missing)"
	}
	if fn, arg, ok := n.intrinsic(); ok {
		short := "!" + strings.TrimPrefix(fn, "Fn::")
		if fn == "Fn::GetAtt" && len(arg.items) == 2 {
			return short + " " + arg.items[0].value + "." + arg.items[1].value
		}
		if s, ok := arg.scalar(); ok && fn != "Fn::Sub" {
			return short + " " + s
		}
		return short + " " + arg.String()
	}
	switch n.kind {
	case yaml.ScalarNode:
		if n.null {
			return "null"
		}
		return strconv.Quote(n.value)
	case yaml.SequenceNode:
		parts := make([]string, len(n.items))
		for i, it := range n.items {
			parts[i] = it.String()
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	parts := make([]string, len(n.names))
	for i, k := range n.names {
		parts[i] = k + ": " + n.vals[i].String()
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

type template struct {
	root       *node
	resources  map[string]*node
	ids        []string // resource logical ids, sorted
	params     map[string]*node
	conditions map[string]bool
}

func loadTemplate(p string) (*template, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	root, err := parseYAML(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	t := &template{root: root, resources: map[string]*node{}, params: map[string]*node{}, conditions: map[string]bool{}}
	res := root.get("Resources")
	for i, id := range res.keys() {
		t.resources[id] = res.vals[i]
		t.ids = append(t.ids, id)
	}
	sort.Strings(t.ids)
	params := root.get("Parameters")
	for i, id := range params.keys() {
		t.params[id] = params.vals[i]
	}
	for _, id := range root.get("Conditions").keys() {
		t.conditions[id] = true
	}
	if len(t.ids) == 0 {
		return nil, fmt.Errorf("%s: no Resources", p)
	}
	return t, nil
}

func (t *template) typeOf(id string) string {
	s, _ := t.resources[id].get("Type").scalar()
	return s
}

func (t *template) names() []string {
	out := slices.Clone(t.ids)
	for p := range t.params {
		out = append(out, p)
	}
	for p := range pseudoParams {
		out = append(out, p)
	}
	return out
}

// samGenerated are the logical ids SAM adds that a template may reference: a
// function's role when it names none, and the implicit HTTP API.
func (t *template) samGenerated() map[string]bool {
	out := map[string]bool{}
	for _, f := range t.functions() {
		if f.props.get("Role") == nil {
			out[f.id+"Role"] = true
		}
		for _, ev := range f.events() {
			if ev.typ == "HttpApi" && ev.props.get("ApiId") == nil {
				out["ServerlessHttpApi"] = true
			}
		}
	}
	return out
}

type function struct {
	id     string
	res    *node // the resource
	props  *node // its Properties
	folder string
}

func (t *template) functions() []function {
	var out []function
	for _, id := range t.ids {
		if t.typeOf(id) != "AWS::Serverless::Function" {
			continue
		}
		f := function{id: id, res: t.resources[id], props: t.resources[id].get("Properties")}
		if uri, ok := f.props.get("CodeUri").scalar(); ok {
			if m := codeURIPattern.FindStringSubmatch(path.Clean(uri) + "/"); m != nil {
				f.folder = m[1]
			}
		}
		out = append(out, f)
	}
	return out
}

// fnProp is a function property, or its Globals.Function default.
func (t *template) fnProp(f function, key string) *node {
	if v := f.props.get(key); v != nil {
		return v
	}
	return t.root.at("Globals", "Function", key)
}

// timeout is a function's Timeout in seconds (3 when neither it nor Globals sets one).
func (t *template) timeout(f function) (int, *node, error) {
	n := t.fnProp(f, "Timeout")
	if n == nil {
		return 3, f.res, nil
	}
	s, _ := n.scalar()
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, n, fmt.Errorf("Timeout must be a literal number of seconds to be checked, got %s", n)
	}
	return v, n, nil
}

// env is a function's effective environment: Globals merged with its own variables.
func (t *template) env(f function) map[string]*node {
	out := map[string]*node{}
	for _, vars := range []*node{t.root.at("Globals", "Function", "Environment", "Variables"), f.props.at("Environment", "Variables")} {
		for i, k := range vars.keys() {
			out[k] = vars.vals[i]
		}
	}
	return out
}

type fnEvent struct {
	name, typ string
	node      *node
	props     *node
}

func (f function) events() []fnEvent {
	evs := f.props.get("Events")
	var out []fnEvent
	for i, name := range evs.keys() {
		typ, _ := evs.vals[i].get("Type").scalar()
		out = append(out, fnEvent{name: name, typ: typ, node: evs.vals[i], props: evs.vals[i].get("Properties")})
	}
	return out
}

func getAttID(n *node, wantAttr string) (string, bool) {
	fn, arg, _ := n.intrinsic()
	if fn != "Fn::GetAtt" || len(arg.items) != 2 {
		return "", false
	}
	id, _ := arg.items[0].scalar()
	attr, _ := arg.items[1].scalar()
	return id, wantAttr == "" || attr == wantAttr
}

func getAttAttr(n *node) string {
	_, arg, _ := n.intrinsic()
	if arg == nil || len(arg.items) != 2 {
		return ""
	}
	s, _ := arg.items[1].scalar()
	return s
}

var pseudoParams = map[string]bool{
	"AWS::AccountId": true, "AWS::NotificationARNs": true, "AWS::NoValue": true, "AWS::Partition": true,
	"AWS::Region": true, "AWS::StackId": true, "AWS::StackName": true, "AWS::URLSuffix": true,
}

// getAttAttributes are the attributes of the resource types this template uses.
var getAttAttributes = map[string][]string{
	"AWS::SQS::Queue":           {"Arn", "QueueName", "QueueUrl"},
	"AWS::DynamoDB::Table":      {"Arn", "StreamArn"},
	"AWS::Serverless::HttpApi":  {"ApiEndpoint", "ApiId"},
	"AWS::Serverless::Function": {"Arn", "SnapStartResponse", "SnapStartResponse.ApplyOn", "SnapStartResponse.OptimizationStatus"},
}

// ref is one reference made by an intrinsic function.
type ref struct {
	kind  string // Ref, GetAtt or Sub
	id    string
	attr  string // GetAtt, or ${X.Attr} in a Sub
	local bool   // a variable of the enclosing Sub's own variable map
	node  *node
}

func (rf ref) String() string {
	switch {
	case rf.kind == "Ref":
		return "!Ref " + rf.id
	case rf.kind == "GetAtt":
		return "!GetAtt " + rf.id + "." + rf.attr
	case rf.attr != "":
		return "${" + rf.id + "." + rf.attr + "}"
	}
	return "${" + rf.id + "}"
}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

// walkRefs calls visit for every reference under n. locals are the variables of the
// enclosing Fn::Sub's map.
func walkRefs(n *node, locals map[string]bool, visit func(ref)) {
	if n == nil {
		return
	}
	if fn, arg, ok := n.intrinsic(); ok {
		switch fn {
		case "Ref":
			id, _ := arg.scalar()
			visit(ref{kind: "Ref", id: id, node: n})
			return
		case "Fn::GetAtt":
			switch {
			case len(arg.items) == 2:
				id, _ := arg.items[0].scalar()
				if attr, ok := arg.items[1].scalar(); ok {
					visit(ref{kind: "GetAtt", id: id, attr: attr, node: n})
				} else { // the attribute may itself be computed
					visit(ref{kind: "GetAtt", id: id, attr: "", node: n})
					walkRefs(arg.items[1], locals, visit)
				}
			default:
				if s, ok := arg.scalar(); ok {
					id, attr, _ := strings.Cut(s, ".")
					visit(ref{kind: "GetAtt", id: id, attr: attr, node: n})
				}
			}
			return
		case "Fn::Sub":
			str, vars := arg, (*node)(nil)
			if arg.kind == yaml.SequenceNode && len(arg.items) == 2 {
				str, vars = arg.items[0], arg.items[1]
			}
			own := map[string]bool{}
			for i, k := range vars.keys() {
				own[k] = true
				walkRefs(vars.vals[i], locals, visit)
			}
			s, _ := str.scalar()
			for _, m := range subVar.FindAllStringSubmatch(s, -1) {
				name := strings.TrimSpace(m[1])
				if strings.HasPrefix(name, "!") {
					continue // ${!Literal} is the text ${Literal}
				}
				id, attr, _ := strings.Cut(name, ".")
				visit(ref{kind: "Sub", id: id, attr: attr, local: own[name], node: n})
			}
			return
		}
	}
	for _, c := range n.items {
		walkRefs(c, locals, visit)
	}
	for _, c := range n.vals {
		walkRefs(c, locals, visit)
	}
}

// suggest proposes the closest known name for a probable typo.
func suggest(name string, known []string) string {
	best, bestD := "", 4
	for _, k := range known {
		if d := distance(strings.ToLower(name), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return " (did you mean " + best + "?)"
}

func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// --- reporting ----------------------------------------------------------------------

type report struct {
	file string
	msgs []string
}

// addf records a finding at n's line ("template.yaml:42: Subject: message").
func (r *report) addf(n *node, subject, format string, args ...any) {
	loc := r.file
	if n != nil && n.line > 0 {
		loc += ":" + strconv.Itoa(n.line)
	}
	r.msgs = append(r.msgs, loc+": "+subject+": "+fmt.Sprintf(format, args...))
}

// strictJSON decodes data into v, rejecting fields v does not have.
func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// TestSQSSampleQueueKind: a sample is of the kind of queue its event reads, since the
// consumer tells an ordered batch by its FIFO attributes; the wrong kind is reported.
func TestSQSSampleQueueKind(t *testing.T) {
	decode := func(body string) error { _, err := queue.Decode(body); return err }
	for _, tc := range []struct {
		file     string
		fifo     bool
		mentions string // "" for no report
	}{
		{"deliver.json", false, ""},
		{"deliver-ordered.json", true, ""},
		{"deliver.json", true, "attributes.MessageGroupId is missing"},
		{"deliver-ordered.json", false, "attributes.MessageGroupId is set"},
	} {
		data, err := os.ReadFile(filepath.Join(repoRoot(t), "events", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		got := checkSQSSample(data, decode, "a delivery message", tc.fifo)
		switch {
		case tc.mentions == "" && len(got) > 0:
			t.Errorf("%s (fifo %v): reported %q, want nothing", tc.file, tc.fifo, got)
		case tc.mentions != "" && !slices.ContainsFunc(got, func(m string) bool { return strings.Contains(m, tc.mentions) }):
			t.Errorf("%s (fifo %v): reported %q, want a report mentioning %q", tc.file, tc.fifo, got, tc.mentions)
		}
	}
}
