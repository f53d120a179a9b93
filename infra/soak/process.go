package soak

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Server is the Gancho process (infra/cmd/gancho-local): API, delivery worker and
// sweeper, pointed at emulators that outlive it.
type Server struct {
	bin  string // built gancho-local
	dir  string // repository root: gancho-local finds template.yaml from its working directory
	env  []string
	log  *os.File // the process's output, across restarts
	port int
	URL  string

	cmd  *exec.Cmd
	done chan struct{}
}

// BuildServer compiles gancho-local once into dir.
func BuildServer(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "gancho-local")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./infra/cmd/gancho-local")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build gancho-local: %w\n%s", err, out)
	}
	return bin, nil
}

// NewServer prepares a server on a free loopback port it keeps across restarts, run
// with this process's environment plus vars; its output goes to logPath.
func NewServer(bin, root string, vars map[string]string, logPath string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	vars["PORT"] = strconv.Itoa(port)
	return &Server{bin: bin, dir: root, env: mergeEnv(os.Environ(), vars), log: log, port: port,
		URL: "http://127.0.0.1:" + strconv.Itoa(port)}, nil
}

// Start runs the process and waits until /v1/health answers.
func (s *Server) Start(ctx context.Context) error {
	cmd := exec.Command(s.bin)
	cmd.Dir = s.dir
	cmd.Env = s.env
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	cmd.SysProcAttr = childSysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start gancho-local: %w", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(s.done)
	return s.waitHealthy(ctx)
}

func (s *Server) waitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/v1/health", nil)
		if res, err := hc.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("gancho-local exited during start (%s); see %s", s.cmd.ProcessState, s.log.Name())
		case <-ctx.Done():
			return fmt.Errorf("gancho-local did not answer /v1/health: %w; see %s", ctx.Err(), s.log.Name())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Kill sends SIGKILL (kill -9) and waits for the process to be gone.
func (s *Server) Kill() error {
	if s.cmd == nil {
		return nil
	}
	// Process.Kill is SIGKILL: no shutdown code runs, as in a crash.
	if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-s.done
	s.cmd = nil
	return nil
}

// Stop ends the process gracefully (SIGINT, as Ctrl-C), SIGKILL after a grace period.
func (s *Server) Stop() {
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.Kill()
		}
		s.cmd = nil
	}
	_ = s.log.Close()
}

// Pid is the running process's id (0 when it is not running).
func (s *Server) Pid() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// LogPath is the file holding the process's output.
func (s *Server) LogPath() string { return s.log.Name() }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// mergeEnv returns base with the variables of set added or replaced.
func mergeEnv(base []string, set map[string]string) []string {
	out := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if _, ok := set[name]; !ok {
			out = append(out, kv)
		}
	}
	for k, v := range set {
		out = append(out, k+"="+v)
	}
	return out
}
