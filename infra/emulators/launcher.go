package emulators

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// launcherClass is the class infra/local/LoopbackDynamoDBLocal.java defines.
const launcherClass = "LoopbackDynamoDBLocal"

// compileLauncher compiles the loopback launcher of DynamoDB Local once per
// launcher source, jar folder and compiler, into a folder under .local/, and returns
// that folder. Concurrent callers each compile into a folder of their own and the
// first rename wins, so a half-written class is never used.
func compileLauncher(ctx context.Context, t tools) (string, error) {
	if t.javac == "" {
		return "", errors.New("no Java compiler (javac) found")
	}
	src, err := os.ReadFile(t.dynamoLauncher)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, part := range [][]byte{src, []byte(t.dynamoDir), []byte(t.javac)} {
		h.Write(part)
		h.Write([]byte{0})
	}
	// Absolute: the emulator runs in the jar's folder.
	dir, err := filepath.Abs(filepath.Join(t.cacheDir, hex.EncodeToString(h.Sum(nil))[:16]))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, launcherClass+".class")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(t.cacheDir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(t.cacheDir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	// --release 17: the class must run on the oldest Java the emulators accept,
	// whatever JDK compiles it.
	cmd := exec.CommandContext(ctx, t.javac, "--release", "17", "-nowarn",
		"-cp", filepath.Join(t.dynamoDir, "DynamoDBLocal.jar"), "-d", tmp, t.dynamoLauncher)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("compile %s: %w\n%s", t.dynamoLauncher, err, bytes.TrimSpace(out.Bytes()))
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, launcherClass+".class")); statErr == nil {
			return dir, nil // another start compiled it first
		}
		return "", err
	}
	return dir, nil
}
