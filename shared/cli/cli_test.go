package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/infra/devstack"
	"github.com/gancho-dev/gancho/shared/cli"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// The whole local system (API, delivery worker, sweeper) on the emulators `make test`
// starts, shared by the tests of this package: each works on objects of its own.
var (
	devOnce sync.Once
	dev     *devstack.Dev
	devErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if dev != nil {
		if err := dev.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop the local stack:", err)
		}
	}
	os.Exit(code)
}

// stack returns the running local stack, started on first use.
func stack(t *testing.T) *devstack.Dev {
	t.Helper()
	testenv.Config(t) // skip or fail like every integration test
	devOnce.Do(func() {
		root, err := filepath.Abs("../..")
		if err != nil {
			devErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		dev, devErr = devstack.Start(ctx, devstack.Options{
			RepoRoot:  root,
			Addr:      "127.0.0.1:0",
			StackName: "cli-" + strings.ToLower(testenv.TenantID()[4:16]),
			Log:       testenv.Logger(t),
			Getenv:    os.Getenv,
		})
	})
	if devErr != nil {
		t.Fatal(devErr)
	}
	return dev
}

// safeBuffer is a buffer a running command writes while the test reads it.
type safeBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// user runs the command line as one user: their config folder and environment.
type user struct {
	t         *testing.T
	configDir string
	env       map[string]string
}

// loggedIn is a user whose GANCHO_URL and GANCHO_API_KEY name the local stack.
func loggedIn(t *testing.T) *user {
	d := stack(t)
	return &user{t: t, configDir: t.TempDir(), env: map[string]string{"GANCHO_URL": d.URL, "GANCHO_API_KEY": d.APIKey}}
}

type result struct {
	code           int
	stdout, stderr string
}

func (u *user) cliEnv() cli.Env {
	return cli.Env{Getenv: func(k string) string { return u.env[k] }, ConfigDir: u.configDir}
}

func (u *user) run(stdin string, args ...string) result {
	u.t.Helper()
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), args, strings.NewReader(stdin), &out, &errb, u.cliEnv())
	return result{code, out.String(), errb.String()}
}

// ok runs a command that must succeed.
func (u *user) ok(args ...string) result {
	u.t.Helper()
	r := u.run("", args...)
	if r.code != 0 {
		u.t.Fatalf("gancho %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// okJSON runs a command with --json that must succeed and decodes its output.
func (u *user) okJSON(out any, args ...string) {
	u.t.Helper()
	r := u.ok(append(args, "--json")...)
	if err := json.Unmarshal([]byte(r.stdout), out); err != nil {
		u.t.Fatalf("gancho %s --json: %v\n%s", strings.Join(args, " "), err, r.stdout)
	}
}

// waitFor polls cond until it holds, within a generous bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// receiver is a loopback endpoint that answers status and counts requests.
func receiver(t *testing.T, status int) (string, func() int) {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		n++
		mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// eventType registers a type in the dev tenant's catalog.
func eventType(u *user, name string, extra ...string) {
	u.t.Helper()
	u.ok(append([]string{"event-types", "put", name, "--description", "cli test"}, extra...)...)
}

func TestLoginStoresCredentialsForTheUserOnly(t *testing.T) {
	d := stack(t)
	tests := []struct {
		name  string
		args  []string
		stdin string
	}{
		{"flags", []string{"login", "--url", d.URL, "--key", d.APIKey}, ""},
		{"prompts", []string{"login"}, d.URL + "\n" + d.APIKey + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &user{t: t, configDir: filepath.Join(t.TempDir(), "gancho"), env: map[string]string{}}
			r := u.run(tc.stdin, tc.args...)
			if r.code != 0 {
				t.Fatalf("login: exit %d: %s", r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, "Logged in to "+d.URL) {
				t.Errorf("login said %q", r.stdout)
			}
			file := filepath.Join(u.configDir, "config.json")
			for path, want := range map[string]os.FileMode{file: 0o600, u.configDir: 0o700} {
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != want {
					t.Errorf("%s: mode %o, want %o", path, fi.Mode().Perm(), want)
				}
			}
			var stored cli.Credentials
			raw, _ := os.ReadFile(file)
			if err := json.Unmarshal(raw, &stored); err != nil || stored.URL != d.URL || stored.Key != d.APIKey {
				t.Errorf("stored %s (%v)", raw, err)
			}
			// The stored credentials serve the next commands; the environment overrides them.
			u.ok("event-types", "list")
			u.env["GANCHO_API_KEY"] = "gk_wrong"
			if r := u.run("", "event-types", "list"); r.code != cli.ExitAuth {
				t.Errorf("GANCHO_API_KEY override: exit %d, want %d", r.code, cli.ExitAuth)
			}
			delete(u.env, "GANCHO_API_KEY")
			u.ok("logout")
			if _, err := os.Stat(file); !os.IsNotExist(err) {
				t.Errorf("after logout: %v", err)
			}
			if r := u.run("", "event-types", "list"); r.code != cli.ExitAuth || !strings.Contains(r.stderr, "not logged in") {
				t.Errorf("after logout: exit %d %q", r.code, r.stderr)
			}
		})
	}
	t.Run("bad key is not saved", func(t *testing.T) {
		u := &user{t: t, configDir: t.TempDir(), env: map[string]string{}}
		r := u.run("", "login", "--url", d.URL, "--key", "gk_not_a_key")
		if r.code != cli.ExitAuth || !strings.Contains(r.stderr, "401") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(u.configDir, "config.json")); !os.IsNotExist(err) {
			t.Errorf("a refused key was saved: %v", err)
		}
	})
}

func TestExitCodes(t *testing.T) {
	stack(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + closed.Addr().String()
	closed.Close()
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		code   int
		stderr []string
	}{
		{"ok", nil, []string{"event-types", "list"}, cli.ExitOK, nil},
		{"401 bad key", map[string]string{"GANCHO_API_KEY": "gk_wrong"}, []string{"subscriptions", "list"}, cli.ExitAuth, []string{"401 Unauthorized"}},
		{"403 tenant key on an operator route", nil, []string{"redrive"}, cli.ExitAuth, []string{"403 Forbidden"}},
		{"404 unknown id", nil, []string{"subscriptions", "get", "sub_unknown"}, cli.ExitAPI, []string{"404 Not Found"}},
		{"422 names the field", nil, []string{"subscriptions", "create", "--url", "ftp://example.com/x"}, cli.ExitAPI, []string{"422", "- url:"}},
		{"422 another account's queue without a role", nil, []string{"subscriptions", "create", "--sqs-queue-url", "http://127.0.0.1:1/222222222222/q"}, cli.ExitAPI, []string{"422", "- destination.roleArn:"}},
		{"a role without a queue", nil, []string{"subscriptions", "create", "--role-arn", "arn:aws:iam::222222222222:role/r"}, cli.ExitUsage, []string{"--role-arn goes with"}},
		{"no destination", nil, []string{"subscriptions", "create", "--events", "a.b"}, cli.ExitUsage, []string{"--url, --sqs-queue-url or --sns-topic-arn is required"}},
		{"422 unknown event type", nil, []string{"publish", "--type", "no.such.type", "--payload", "{}"}, cli.ExitAPI, []string{"422", "type"}},
		{"unreachable", map[string]string{"GANCHO_URL": deadURL}, []string{"events", "list"}, cli.ExitServer, []string{"cannot reach the API"}},
		{"not logged in", map[string]string{"GANCHO_URL": "", "GANCHO_API_KEY": ""}, []string{"events", "list"}, cli.ExitAuth, []string{"not logged in"}},
		{"unknown flag", nil, []string{"events", "list", "--bogus"}, cli.ExitUsage, []string{"unknown flag"}},
		{"unknown command", nil, []string{"nope"}, cli.ExitUsage, []string{"unknown command"}},
		{"missing argument", nil, []string{"subscriptions", "get"}, cli.ExitUsage, []string{"needs ID"}},
		{"bad payload JSON", nil, []string{"publish", "--type", "x", "--payload", "{"}, cli.ExitUsage, []string{"--payload is not valid JSON"}},
		{"bad --since", nil, []string{"events", "list", "--since", "yesterday"}, cli.ExitUsage, []string{"--since"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := loggedIn(t)
			for k, v := range tc.env {
				u.env[k] = v
			}
			r := u.run("", tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", r.code, tc.code, r.stderr)
			}
			for _, want := range tc.stderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
		})
	}
}

func TestHelpListsExitCodesAndExamples(t *testing.T) {
	u := &user{t: t, configDir: t.TempDir(), env: map[string]string{}}
	for _, args := range [][]string{{"--help"}, {"publish", "--help"}, {"subscriptions", "update", "--help"}, {"listen", "--help"}} {
		r := u.ok(args...)
		if !strings.Contains(r.stdout, "Examples:") {
			t.Errorf("gancho %v: no examples", args)
		}
	}
	r := u.ok("--help")
	for _, want := range []string{"Exit codes:", "0  success", "2  bad usage", "3  server", "4  partial failure", "5  authentication"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

func TestEventTypesAndSubscriptions(t *testing.T) {
	u := loggedIn(t)
	if r := u.ok("event-types", "put", "cli.sub.created", "--description", "first"); !strings.Contains(r.stdout, "Created") {
		t.Errorf("put: %q", r.stdout)
	}
	if r := u.ok("event-types", "put", "cli.sub.created", "--description", "second", "--schema", `{"type":"object"}`); !strings.Contains(r.stdout, "Updated") {
		t.Errorf("put again: %q", r.stdout)
	}
	var types struct {
		Data []gancho.EventType `json:"data"`
	}
	u.okJSON(&types, "event-types", "list", "--all")
	found := false
	for _, et := range types.Data {
		found = found || (et.Name == "cli.sub.created" && et.Description == "second" && len(et.Schema) > 0)
	}
	if !found {
		t.Errorf("event-types list --json: %+v", types.Data)
	}
	if r := u.ok("event-types", "list", "--all"); !regexp.MustCompile(`(?m)^NAME\s+DESCRIPTION`).MatchString(r.stdout) || !strings.Contains(r.stdout, "cli.sub.created") {
		t.Errorf("event-types list table:\n%s", r.stdout)
	}

	target, _ := receiver(t, http.StatusOK)
	var sub gancho.Subscription
	u.okJSON(&sub, "subscriptions", "create", "--url", target+"/hooks", "--events", "cli.sub.created", "--name", "cli test", "--header", "X-Team=billing")
	if !strings.HasPrefix(sub.ID, "sub_") || !strings.HasPrefix(sub.Secret, "whsec_") || sub.Headers["X-Team"] != "billing" {
		t.Fatalf("create: %+v", sub)
	}
	if r := u.ok("subscriptions", "list", "--event", "cli.sub.created"); !strings.Contains(r.stdout, sub.ID) || !strings.Contains(r.stdout, "cli test") {
		t.Errorf("list:\n%s", r.stdout)
	}
	if r := u.ok("subscriptions", "get", sub.ID); !strings.Contains(r.stdout, "POST "+target+"/hooks") || strings.Contains(r.stdout, sub.Secret) {
		t.Errorf("get:\n%s", r.stdout)
	}
	// A queue of the stack's own account, under the destination prefix.
	queue := "http://127.0.0.1:1/000000000000/" + gancho.DefaultDestinationPrefix + "cli"
	var qsub gancho.Subscription
	u.okJSON(&qsub, "subscriptions", "create", "--sqs-queue-url", queue, "--events", "cli.sub.created")
	if qsub.Destination.Type != gancho.DestinationSQS || qsub.Destination.QueueURL != queue || qsub.URL != "" {
		t.Fatalf("create with --sqs-queue-url: %+v", qsub)
	}
	if r := u.ok("subscriptions", "get", qsub.ID); !strings.Contains(r.stdout, "sqs "+queue) {
		t.Errorf("get of a queue subscription:\n%s", r.stdout)
	}
	u.ok("subscriptions", "delete", qsub.ID)

	tests := []struct {
		name  string
		args  []string
		check func(gancho.Subscription) bool
	}{
		{"--set", []string{"--set", "isActive=false", "--set", "timeoutSeconds=5"}, func(s gancho.Subscription) bool { return !s.IsActive && s.TimeoutSeconds == 5 }},
		{"--set nested and JSON values", []string{"--set", `events=["cli.sub.created","webhook.test"]`, "--set", "metadata.team=billing"},
			func(s gancho.Subscription) bool {
				return len(s.Events) == 2 && strings.Contains(string(s.Metadata), "billing")
			}},
		{"--patch", []string{"--patch", `{"isActive": true, "description": "patched"}`}, func(s gancho.Subscription) bool { return s.IsActive && s.Description == "patched" }},
	}
	for _, tc := range tests {
		t.Run("update "+tc.name, func(t *testing.T) {
			var got gancho.Subscription
			u.okJSON(&got, append([]string{"subscriptions", "update", sub.ID}, tc.args...)...)
			if !tc.check(got) {
				t.Errorf("after update: %+v", got)
			}
		})
	}
	t.Run("update from a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "patch.json")
		if err := os.WriteFile(file, []byte(`{"name": "from file"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		var got gancho.Subscription
		u.okJSON(&got, "subscriptions", "update", sub.ID, "-f", file)
		if got.Name != "from file" {
			t.Errorf("name %q", got.Name)
		}
	})
	t.Run("update 422 names the field", func(t *testing.T) {
		r := u.run("", "subscriptions", "update", sub.ID, "--set", "timeoutSeconds=99")
		if r.code != cli.ExitAPI || !strings.Contains(r.stderr, "timeoutSeconds") {
			t.Errorf("exit %d: %s", r.code, r.stderr)
		}
	})

	var tested struct {
		EventID    string `json:"eventId"`
		DeliveryID string `json:"deliveryId"`
	}
	u.okJSON(&tested, "subscriptions", "test", sub.ID)
	if !strings.HasPrefix(tested.DeliveryID, "dlv_") {
		t.Errorf("test: %+v", tested)
	}
	waitFor(t, "the test delivery", func() bool {
		var dl gancho.Delivery
		u.okJSON(&dl, "deliveries", "get", tested.DeliveryID)
		return dl.Status == gancho.StatusDelivered
	})

	var rotated struct {
		Secret string `json:"secret"`
	}
	u.okJSON(&rotated, "subscriptions", "rotate", sub.ID)
	if !strings.HasPrefix(rotated.Secret, "whsec_") || rotated.Secret == sub.Secret {
		t.Errorf("rotate: %q", rotated.Secret)
	}
	if r := u.ok("subscriptions", "secret", sub.ID); strings.TrimSpace(r.stdout) != rotated.Secret {
		t.Errorf("secret: %q, want %q", r.stdout, rotated.Secret)
	}
	u.ok("subscriptions", "delete", sub.ID)
	if r := u.run("", "subscriptions", "get", sub.ID); r.code != cli.ExitAPI {
		t.Errorf("get after delete: exit %d", r.code)
	}
	if r := u.ok("event-types", "delete", "cli.sub.created"); !strings.Contains(r.stdout, "Archived") {
		t.Errorf("delete type: %q", r.stdout)
	}
}

func TestPublishNDJSONCountsRefusedEvents(t *testing.T) {
	u := loggedIn(t)
	eventType(u, "cli.bulk", "--schema", `{"type":"object","required":["n"]}`)
	target, received := receiver(t, http.StatusOK)
	var sub gancho.Subscription
	u.okJSON(&sub, "subscriptions", "create", "--url", target, "--events", "cli.bulk")

	// 250 events: every 10th misses the schema's "n", every 25th names no catalog
	// type, and one line is not JSON.
	var in strings.Builder
	refused := 0
	for i := range 250 {
		switch {
		case i%25 == 24:
			fmt.Fprintf(&in, `{"type":"cli.no.such.type","payload":{"n":%d}}`+"\n", i)
			refused++
		case i%10 == 9:
			fmt.Fprintf(&in, `{"type":"cli.bulk","payload":{"m":%d}}`+"\n", i)
			refused++
		default:
			fmt.Fprintf(&in, `{"type":"cli.bulk","payload":{"n":%d}}`+"\n", i)
		}
		if i == 100 {
			in.WriteString("not json\n\n")
			refused++
		}
	}
	file := filepath.Join(t.TempDir(), "events.ndjson")
	if err := os.WriteFile(file, []byte(in.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	published := 251 - refused
	summary := fmt.Sprintf("published %d, failed %d", published, refused)

	r := u.run("", "publish", "-f", file, "--run-id", "cli-test-"+sub.ID)
	if r.code != cli.ExitPartial {
		t.Fatalf("exit %d, want %d\n%s", r.code, cli.ExitPartial, r.stderr)
	}
	if strings.TrimSpace(r.stdout) != summary {
		t.Errorf("stdout %q, want %q", r.stdout, summary)
	}
	for _, want := range []string{"line 10: ", "n", "line 25: ", "type", "line 102: not a JSON object", "publishing: 251/251"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	waitFor(t, "every published event delivered", func() bool { return received() >= published })

	// The same input and run id again, from standard input with --json: every chunk
	// is answered from the first run, nothing is published twice.
	r = u.run(in.String(), "publish", "-", "--run-id", "cli-test-"+sub.ID, "--json")
	if r.code != cli.ExitPartial || !strings.Contains(r.stderr, summary) {
		t.Fatalf("rerun: exit %d\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 251 {
		t.Fatalf("rerun --json: %d lines, want 251", len(lines))
	}
	ok := 0
	for i, l := range lines {
		var item struct {
			ID    string          `json:"id"`
			Error json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal([]byte(l), &item); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if item.ID != "" {
			ok++
		}
		// In input order: the line that is not JSON is the 102nd event line.
		if notJSON := strings.Contains(l, "Not sent"); notJSON != (i == 101) {
			t.Errorf("result %d: %s", i, l)
		}
	}
	if ok != published {
		t.Errorf("rerun: %d published, want %d", ok, published)
	}
	var events struct {
		Data []gancho.Event `json:"data"`
	}
	u.okJSON(&events, "events", "list", "--type", "cli.bulk", "--all")
	if len(events.Data) != published {
		t.Errorf("events list: %d cli.bulk events, want %d (a rerun published again?)", len(events.Data), published)
	}
	if received() != published {
		t.Errorf("receiver got %d, want %d", received(), published)
	}
}

func TestPublishOneAndFollowItsDeliveries(t *testing.T) {
	u := loggedIn(t)
	eventType(u, "cli.one")
	target, attempts := receiver(t, http.StatusInternalServerError)
	var sub gancho.Subscription
	u.okJSON(&sub, "subscriptions", "create", "--url", target, "--events", "cli.one", "--retry-schedule", "1")

	r := u.ok("publish", "--type", "cli.one", "--payload", `{"orderId": 42}`, "--subject", "o-42", "--idempotency-key", "cli-one-"+sub.ID)
	m := regexp.MustCompile(`Published (evt_\S+) \(cli.one\): 1 delivery queued`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("publish said %q", r.stdout)
	}
	evID := m[1]
	if r := u.ok("events", "get", evID); !strings.Contains(r.stdout, `"orderId": 42`) || !strings.Contains(r.stdout, "o-42") {
		t.Errorf("events get:\n%s", r.stdout)
	}
	if r := u.ok("events", "list", "--type", "cli.one", "--since", "1h"); !strings.Contains(r.stdout, evID) {
		t.Errorf("events list:\n%s", r.stdout)
	}

	var dls struct {
		Data []gancho.Delivery `json:"data"`
	}
	u.okJSON(&dls, "deliveries", "list", "--event", evID)
	if len(dls.Data) != 1 {
		t.Fatalf("deliveries of the event: %+v", dls.Data)
	}
	dlv := dls.Data[0].ID
	waitFor(t, "the delivery to fail (2 attempts)", func() bool {
		var d gancho.Delivery
		u.okJSON(&d, "deliveries", "get", dlv)
		return d.Status == gancho.StatusFailed
	})
	r = u.ok("deliveries", "get", dlv)
	for _, want := range []string{"status:", "failed", "ATTEMPT", "500"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("deliveries get lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := u.ok("deliveries", "list", "--subscription", sub.ID, "--status", "failed"); !strings.Contains(r.stdout, dlv) {
		t.Errorf("deliveries list --status failed:\n%s", r.stdout)
	}

	before := attempts()
	u.ok("retry", dlv)
	waitFor(t, "the retried attempt", func() bool { return attempts() > before })
	waitFor(t, "the retry to end", func() bool {
		var d gancho.Delivery
		u.okJSON(&d, "deliveries", "get", dlv)
		return d.Status == gancho.StatusFailed
	})

	before = attempts()
	if r := u.ok("recover", sub.ID, "--since", "1h"); !strings.Contains(r.stdout, "re-queued 1") {
		t.Errorf("recover: %q", r.stdout)
	}
	waitFor(t, "the recovered attempt", func() bool { return attempts() > before })
	if r := u.run("", "recover", sub.ID); r.code != cli.ExitUsage {
		t.Errorf("recover without --since: exit %d", r.code)
	}
	if r := u.run("", "deliveries", "list"); r.code != cli.ExitUsage {
		t.Errorf("deliveries list without a filter: exit %d", r.code)
	}
}

func TestRedriveWithTheOperatorKey(t *testing.T) {
	d := stack(t)
	u := loggedIn(t)
	u.env["GANCHO_ADMIN_KEY"] = d.AdminKey
	var out struct {
		Moved   *int `json:"moved"`
		Skipped *int `json:"skipped"`
	}
	u.okJSON(&out, "redrive")
	if out.Moved == nil || out.Skipped == nil {
		t.Errorf("redrive --json: %+v", out)
	}
	if r := u.ok("redrive", "--admin-key", d.AdminKey); !strings.HasPrefix(r.stdout, "moved ") {
		t.Errorf("redrive: %q", r.stdout)
	}
}

func TestListenVerifiesEachDeliveryAndRemovesItsSubscription(t *testing.T) {
	tests := []struct {
		name   string
		status int // the --forward-to target's answer; 0: no --forward-to
		json   bool
		port   bool // --port instead of a free port of its choosing
	}{
		{"print", 0, false, false},
		{"forward", http.StatusAccepted, false, false},
		{"json", 0, true, false},
		{"port", 0, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := loggedIn(t)
			eventType(u, "cli.listen")
			args := []string{"listen", "--events", "cli.listen"}
			want := http.StatusOK
			var forwarded func() int
			if tc.status != 0 {
				var target string
				target, forwarded = receiver(t, tc.status)
				args = append(args, "--forward-to", target+"/webhooks")
				want = tc.status
			}
			if tc.json {
				args = append(args, "--json")
			}
			port := ""
			if tc.port {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				port = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
				ln.Close()
				args = append(args, "--port", port)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var stdout, stderr safeBuffer
			done := make(chan int, 1)
			go func() { done <- cli.Run(ctx, args, strings.NewReader(""), &stdout, &stderr, u.cliEnv()) }()

			ready := regexp.MustCompile(`Ready: subscription (sub_\S+) receives`)
			var subID string
			waitFor(t, "listen to be ready", func() bool {
				select {
				case code := <-done:
					t.Fatalf("listen ended early: exit %d\n%s", code, stderr.String())
				default:
				}
				m := ready.FindStringSubmatch(stderr.String())
				if m != nil {
					subID = m[1]
				}
				return m != nil
			})
			if port != "" && !strings.Contains(stderr.String(), "at http://127.0.0.1:"+port+"/") {
				t.Errorf("--port %s: %s", port, stderr.String())
			}
			r := u.ok("publish", "--type", "cli.listen", "--payload", `{"hello": "listen"}`)
			evID := regexp.MustCompile(`evt_\S+`).FindString(r.stdout)
			waitFor(t, "the delivery to be printed", func() bool { return strings.Contains(stdout.String(), evID) })

			line := stdout.String()
			if tc.json {
				var rec struct {
					EventID        string          `json:"eventId"`
					Type           string          `json:"type"`
					SignatureValid bool            `json:"signatureValid"`
					Status         int             `json:"status"`
					Body           json.RawMessage `json:"body"`
				}
				if err := json.Unmarshal([]byte(strings.TrimSpace(line)), &rec); err != nil {
					t.Fatalf("listen --json line %q: %v", line, err)
				}
				if !rec.SignatureValid || rec.Type != "cli.listen" || rec.Status != want || !strings.Contains(string(rec.Body), "listen") {
					t.Errorf("listen --json: %+v", rec)
				}
			} else {
				for _, w := range []string{"cli.listen", "✓ signature", fmt.Sprintf("→ %d", want)} {
					if !strings.Contains(line, w) {
						t.Errorf("listen printed %q, lacks %q", line, w)
					}
				}
			}
			if forwarded != nil && forwarded() != 1 {
				t.Errorf("forwarded %d requests, want 1", forwarded())
			}

			cancel()
			if code := <-done; code != 0 {
				t.Fatalf("listen: exit %d\n%s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), "Deleted subscription "+subID) {
				t.Errorf("stderr: %s", stderr.String())
			}
			if r := u.run("", "subscriptions", "get", subID); r.code != cli.ExitAPI || !strings.Contains(r.stderr, "404") {
				t.Errorf("the temporary subscription is still there: exit %d", r.code)
			}
		})
	}
}

// TestPublishRerunAfterALostAnswerPublishesNothingTwice: the second chunk reaches the
// API and is published, but its answer is lost on the way back; the run stops with
// exit 3 and its run id, and the rerun with that id publishes every event once.
func TestPublishRerunAfterALostAnswerPublishesNothingTwice(t *testing.T) {
	d := stack(t)
	u := loggedIn(t)
	eventType(u, "cli.rerun")
	api, err := url.Parse(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	batches, loseAnswer := 0, 2
	proxy := httputil.NewSingleHostReverseProxy(api)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/events/batch" {
			proxy.ServeHTTP(w, r)
			return
		}
		mu.Lock()
		batches++
		lose := batches == loseAnswer
		mu.Unlock()
		if !lose {
			proxy.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		proxy.ServeHTTP(rec, r)
		if rec.Code != http.StatusAccepted {
			t.Errorf("the lost batch was answered %d", rec.Code)
		}
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer front.Close()
	u.env["GANCHO_URL"] = front.URL

	var in strings.Builder
	for i := range 250 {
		fmt.Fprintf(&in, `{"type":"cli.rerun","payload":{"n":%d}}`+"\n", i)
	}
	file := filepath.Join(t.TempDir(), "events.ndjson")
	if err := os.WriteFile(file, []byte(in.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	// The first run draws a progress bar, as on a terminal.
	var stdout, stderr bytes.Buffer
	env := u.cliEnv()
	env.Terminal = func(any) bool { return true }
	code := cli.Run(context.Background(), []string{"publish", "-f", file}, strings.NewReader(""), &stdout, &stderr, env)
	if code != cli.ExitServer {
		t.Fatalf("first run: exit %d, want %d\n%s", code, cli.ExitServer, stderr.String())
	}
	m := regexp.MustCompile(`--run-id (\S+)`).FindStringSubmatch(stderr.String())
	if m == nil || !strings.Contains(stderr.String(), "published 100, failed 0; stopped early") || !strings.Contains(stderr.String(), "502") {
		t.Fatalf("first run said:\n%s", stderr.String())
	}

	r := u.run("", "publish", "-f", file, "--run-id", m[1])
	if r.code != 0 || strings.TrimSpace(r.stdout) != "published 250, failed 0" {
		t.Fatalf("rerun: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var events struct {
		Data []gancho.Event `json:"data"`
	}
	u.okJSON(&events, "events", "list", "--type", "cli.rerun", "--all", "--limit", "100")
	if len(events.Data) != 250 {
		t.Errorf("%d cli.rerun events stored, want 250", len(events.Data))
	}
}

// stats reads the local server's counters: after a delivery, the summary line counts
// it, and --json prints the figures; an API without the local route is exit 1 with a
// message that says where the figures are instead.
func TestStatsReadsTheLocalServersFigures(t *testing.T) {
	u := loggedIn(t)
	eventType(u, "cli.stats")
	target, _ := receiver(t, http.StatusOK)
	var sub gancho.Subscription
	u.okJSON(&sub, "subscriptions", "create", "--url", target, "--events", "cli.stats")
	u.ok("publish", "--type", "cli.stats", "--payload", `{"n": 1}`)
	var snap struct {
		EventsPublished int64 `json:"eventsPublished"`
		Deliveries      int64 `json:"deliveries"`
	}
	waitFor(t, "a delivery counted", func() bool {
		u.okJSON(&snap, "stats")
		return snap.Deliveries > 0
	})
	if snap.EventsPublished < 1 {
		t.Fatalf("stats = %+v", snap)
	}
	if r := u.ok("stats"); !strings.HasPrefix(r.stdout, "stats: published ") || !strings.Contains(r.stdout, "delivered ") {
		t.Fatalf("stats said %q", r.stdout)
	}
	elsewhere := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(elsewhere.Close)
	other := &user{t: t, configDir: t.TempDir(), env: map[string]string{"GANCHO_URL": elsewhere.URL, "GANCHO_API_KEY": "gk_x"}}
	if r := other.run("", "stats"); r.code != 1 || !strings.Contains(r.stderr, "CloudWatch") {
		t.Fatalf("stats against an API without the route: %d %q", r.code, r.stderr)
	}
}
