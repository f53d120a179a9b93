package lambdatest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// FunctionEnv is a function's environment: the GANCHO_* and AWS_* variables of this
// process (the stack's), without the ones that read local files, with set added or
// replacing them, plus Lambda's own variables.
func FunctionEnv(name string, set map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if (strings.HasPrefix(k, "GANCHO_") || strings.HasPrefix(k, "AWS_")) &&
			!strings.HasPrefix(k, "AWS_LAMBDA_") && !localOnly[k] && set[k] == "" {
			env = append(env, kv)
		}
	}
	for k, v := range set {
		env = append(env, k+"="+v)
	}
	return append(env, LambdaEnv(name, "")...)
}

// localOnly are AWS variables that point at files of the machine, which a Lambda has not.
var localOnly = map[string]bool{
	"AWS_PROFILE": true, "AWS_DEFAULT_PROFILE": true, "AWS_CONFIG_FILE": true, "AWS_SHARED_CREDENTIALS_FILE": true,
}

// LambdaEnv are the variables Lambda sets for a provided runtime.
func LambdaEnv(name, taskRoot string) []string {
	fn := StackName() + "-" + name
	return []string{
		"AWS_LAMBDA_FUNCTION_NAME=" + fn,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + fn,
		"AWS_LAMBDA_LOG_STREAM_NAME=" + time.Now().UTC().Format("2006/01/02") + "/[$LATEST]" + newRequestID()[:8],
		"_HANDLER=bootstrap",
		"LAMBDA_TASK_ROOT=" + taskRoot,
		"TZ=:UTC",
		"LANG=en_US.UTF-8",
		"PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin",
	}
}

// StackName is GANCHO_STACK_NAME, or gancho-test.
func StackName() string {
	if s := os.Getenv("GANCHO_STACK_NAME"); s != "" {
		return s
	}
	return "gancho-test"
}

// FunctionARN is the ARN a function of the stack would have.
func FunctionARN(name string) string {
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = "us-east-1"
	}
	return "arn:aws:lambda:" + region + ":123456789012:function:" + StackName() + "-" + name
}

// Build builds the named folders of functions/ with one go build, as `make build` and
// the deployment do: CGO_ENABLED=0, -tags lambda.norpc, -trimpath, stripped, each a
// binary named bootstrap in dir/<name>/. env adds to or replaces the go command's
// environment (GOCACHE for a build from nothing). It returns the binaries by name.
func Build(root, goos, goarch, dir string, names []string, env ...string) (map[string]string, error) {
	out := filepath.Join(dir, "out") + string(filepath.Separator)
	args := []string{"build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out}
	for _, n := range names {
		args = append(args, "./functions/"+n)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch), env...)
	if output, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("GOOS=%s GOARCH=%s go %s: %v\n%s", goos, goarch, strings.Join(args, " "), err, output)
	}
	bins := map[string]string{}
	for _, n := range names {
		exe := n
		if goos == "windows" {
			exe += ".exe"
		}
		bootstrap := filepath.Join(dir, n, "bootstrap")
		if err := os.MkdirAll(filepath.Dir(bootstrap), 0o755); err != nil {
			return nil, err
		}
		if err := os.Rename(filepath.Join(out, exe), bootstrap); err != nil {
			return nil, fmt.Errorf("go build made no binary for functions/%s: %w", n, err)
		}
		bins[n] = bootstrap
	}
	return bins, nil
}

// FunctionFolders are the folders under functions/ that hold a main.go.
func FunctionFolders(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(root, "functions", e.Name(), "main.go")); e.IsDir() && err == nil {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, errors.New("no functions/*/main.go")
	}
	return names, nil
}
