package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/testenv"
)

// TestTryItBlockWorksAsPrinted starts `make run`'s program, takes the "Try it" block
// it prints, and runs every command of it against the running system: each must
// answer 2xx. The receiver the block names is played here when port 9000 is free.
func TestTryItBlockWorksAsPrinted(t *testing.T) {
	testenv.Config(t) // skip or fail like every integration test
	hooks := make(chan string, 10)
	if ln, err := net.Listen("tcp", "127.0.0.1:9000"); err == nil {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			hooks <- r.URL.Path + " " + string(body)
		})}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
	} else {
		t.Logf("port 9000 is taken (%v): checking the answers only, not the delivery", err)
		hooks = nil
	}

	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	getenv := func(name string) string {
		switch name {
		case "PORT":
			return "0"
		case "GANCHO_DEV_API_KEY", "GANCHO_ADMIN_KEY":
			return ""
		}
		return os.Getenv(name)
	}
	go func() { done <- run(ctx, getenv, out, testWriter{t}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	block := waitBlock(t, out, done)
	t.Logf("block as printed:\n%s", block)
	checkPortalLine(t, out.String())

	cmds := commands(block)
	if len(cmds) < 3 {
		t.Fatalf("block has %d commands: %q", len(cmds), cmds)
	}
	vars := map[string]string{}
	for _, line := range cmds {
		words, err := shellWords(line, vars)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		switch words[0] {
		case "export":
			for _, kv := range words[1:] {
				k, v, _ := strings.Cut(kv, "=")
				vars[k] = v
			}
		case "curl":
			code, body := curl(t, words[1:])
			if code < 200 || code > 299 {
				t.Errorf("%s\n→ %d %s", line, code, body)
			}
		default:
			t.Fatalf("unexpected command %q in the block", words[0])
		}
	}
	if hooks != nil {
		select {
		case got := <-hooks:
			if !strings.HasPrefix(got, "/hook ") || !strings.Contains(got, `"orderId":42`) {
				t.Errorf("receiver got %s", got)
			}
		case <-time.After(30 * time.Second):
			t.Error("the published event did not reach the receiver on 127.0.0.1:9000")
		}
	}

	// The same block through bash and curl, where they exist.
	bash, berr := exec.LookPath("bash")
	_, cerr := exec.LookPath("curl")
	if berr != nil || cerr != nil {
		t.Log("bash or curl missing: block not run through them")
		return
	}
	script := "set -euo pipefail\ncurl() { command curl -sS -o /dev/null -w '%{http_code}\\n' \"$@\"; }\n" + block
	got, err := exec.Command(bash, "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, got)
	}
	codes := strings.Fields(string(got))
	if len(codes) != len(cmds)-1 {
		t.Errorf("bash ran %d requests, want %d: %s", len(codes), len(cmds)-1, got)
	}
	for _, c := range codes {
		if !strings.HasPrefix(c, "2") {
			t.Errorf("bash + curl: status %s (%s)", c, got)
		}
	}
}

// waitBlock waits for the banner and returns the lines of its "Try it" block.
func waitBlock(t *testing.T, out *syncBuffer, done <-chan error) string {
	t.Helper()
	deadline := time.After(90 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s := out.String()
		if _, rest, ok := strings.Cut(s, "Try it:\n"); ok {
			if block, _, ok := strings.Cut(rest, "\nCtrl-C"); ok {
				return block
			}
		}
		select {
		case err := <-done:
			t.Fatalf("run ended before printing the block: %v\n%s", err, s)
		case <-deadline:
			t.Fatalf("no Try it block within 90 s:\n%s", s)
		case <-tick.C:
		}
	}
}

// commands joins continued lines and drops comments and blank lines.
func commands(block string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(block, "\n") {
		line = strings.TrimSpace(line)
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`))
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

// shellWords splits a command line as a POSIX shell would for the forms the block
// uses: single quotes, double quotes with $NAME / ${NAME}, and bare words.
func shellWords(line string, vars map[string]string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	expand := func(s string, i int) (string, int) { // s[i] == '$'
		j := i + 1
		if j < len(s) && s[j] == '{' {
			end := strings.IndexByte(s[j:], '}')
			if end < 0 {
				return "$", i + 1
			}
			return vars[s[j+1:j+end]], j + end + 1
		}
		for j < len(s) && (s[j] == '_' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9') {
			j++
		}
		if j == i+1 {
			return "$", j
		}
		return vars[s[i+1:j]], j
	}
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
			i++
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unclosed single quote")
			}
			w.WriteString(line[i+1 : i+1+end])
			inWord, i = true, i+end+2
		case c == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '$' {
					v, next := expand(line, i)
					w.WriteString(v)
					i = next - 1
					continue
				}
				w.WriteByte(line[i])
			}
			if i >= len(line) {
				return nil, fmt.Errorf("unclosed double quote")
			}
			inWord, i = true, i+1
		case c == '$':
			v, next := expand(line, i)
			w.WriteString(v)
			inWord, i = true, next
		default:
			w.WriteByte(c)
			inWord, i = true, i+1
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// curl performs a curl command line of the forms the block uses.
func curl(t *testing.T, args []string) (int, string) {
	t.Helper()
	method, target, body := "", "", ""
	hasBody := false
	header := http.Header{}
	for i := 0; i < len(args); i++ {
		next := func() string {
			if i+1 >= len(args) {
				t.Fatalf("curl: %s needs a value", args[i])
			}
			i++
			return args[i]
		}
		switch a := args[i]; {
		case a == "-s":
		case a == "-X":
			method = next()
		case a == "-H":
			k, v, _ := strings.Cut(next(), ":")
			header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		case a == "-d":
			body, hasBody = next(), true
		case strings.HasPrefix(a, "-"):
			t.Fatalf("curl: option %s not understood here", a)
		default:
			target = a
		}
	}
	if method == "" {
		method = http.MethodGet
		if hasBody {
			method = http.MethodPost
		}
	}
	if hasBody && header.Get("Content-Type") == "" {
		header.Set("Content-Type", "application/x-www-form-urlencoded") // as curl -d does
	}
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

func TestShellWords(t *testing.T) {
	vars := map[string]string{"KEY": "gk_1"}
	for _, tc := range []struct {
		line string
		want []string
	}{
		{`curl -s http://h/v1 -H "Authorization: Bearer $KEY"`, []string{"curl", "-s", "http://h/v1", "-H", "Authorization: Bearer gk_1"}},
		{`curl -d '{"a":"$KEY"}' x${KEY}y`, []string{"curl", "-d", `{"a":"$KEY"}`, "xgk_1y"}},
		{`export A=b`, []string{"export", "A=b"}},
	} {
		got, err := shellWords(tc.line, vars)
		if err != nil || strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("shellWords(%s) = %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testWriter sends the program's logs to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// checkPortalLine checks the banner's portal link: the page opens, and the token in
// its fragment is the demo owner's credential.
func checkPortalLine(t *testing.T, banner string) {
	t.Helper()
	var link string
	for _, line := range strings.Split(banner, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "portal" {
			link = f[1]
		}
	}
	u, err := url.Parse(link)
	if link == "" || err != nil || u.Path != "/portal" || u.RawQuery != "" {
		t.Fatalf("the banner's portal line holds %q (%v), want a /portal link:\n%s", link, err, banner)
	}
	frag, _ := url.ParseQuery(u.Fragment)
	get := func(path, token string) int {
		req, _ := http.NewRequest("GET", u.Scheme+"://"+u.Host+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := get("/portal", ""); code != 200 {
		t.Errorf("GET /portal: %d", code)
	}
	if code := get("/v1/subscriptions", frag.Get("token")); code != 200 {
		t.Errorf("the portal link's token: GET /v1/subscriptions answered %d", code)
	}
}
