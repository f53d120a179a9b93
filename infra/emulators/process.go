package emulators

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"time"
)

const (
	tailSize  = 4096            // bytes of output kept for error messages
	waitDelay = 2 * time.Second // how long Wait waits for output after the process exits
)

// process is an emulator running as a child in its own process group.
type process struct {
	name  string
	cmd   *exec.Cmd
	tail  *tailBuffer
	stdin io.Closer // the child's lifeline, if it watches its stdin
	done  chan struct{}
	err   error // result of Wait, set before done closes

	stopOnce sync.Once
}

// startProcess starts the command in dir. Its output goes to log, each
// line prefixed with the process name, and its last bytes are kept for
// error messages. With lifeline set, the child's standard input is a pipe
// that stays open until stop.
func startProcess(name, dir string, log io.Writer, lifeline bool, argv ...string) (*process, error) {
	p := &process{name: name, tail: &tailBuffer{max: tailSize}, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Dir = dir
	out := io.Writer(p.tail)
	if log != nil {
		out = io.MultiWriter(p.tail, &prefixWriter{w: log, prefix: "[" + name + "] "})
	}
	p.cmd.Stdout = out
	p.cmd.Stderr = out
	p.cmd.WaitDelay = waitDelay
	p.cmd.SysProcAttr = childSysProcAttr()
	if lifeline {
		w, err := p.cmd.StdinPipe()
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		p.stdin = w
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// hasExited reports whether the process has ended.
func (p *process) hasExited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exited reports the error for a process that ended by itself.
func (p *process) exited() error {
	status := "status 0"
	if p.err != nil {
		status = p.err.Error()
	}
	return fmt.Errorf("%s %w (%s); last output:\n%s", p.name, errEarlyExit, status, p.tail.String())
}

// stop sends SIGTERM to the process group, SIGKILL after grace, and waits.
// An exit caused by these signals is not an error.
func (p *process) stop(grace time.Duration) error {
	var err error
	p.stopOnce.Do(func() { err = p.terminate(grace) })
	return err
}

func (p *process) terminate(grace time.Duration) error {
	if p.stdin != nil {
		_ = p.stdin.Close()
	}
	if p.hasExited() {
		_ = killGroup(p.cmd.Process, true)
		return nil
	}
	if err := killGroup(p.cmd.Process, false); err != nil {
		return fmt.Errorf("stop %s: %w", p.name, err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		if err := killGroup(p.cmd.Process, true); err != nil {
			return fmt.Errorf("kill %s: %w", p.name, err)
		}
		<-p.done
	}
	// Whatever the leader left behind in its group goes too.
	_ = killGroup(p.cmd.Process, true)
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}

// prefixWriter writes each line to w with a prefix.
type prefixWriter struct {
	w       io.Writer
	prefix  string
	partial bool // the last write ended mid-line
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	var out []byte
	for rest := b; len(rest) > 0; {
		if !p.partial {
			out = append(out, p.prefix...)
		}
		line, after, found := bytes.Cut(rest, []byte{'\n'})
		out = append(out, line...)
		if found {
			out = append(out, '\n')
		}
		p.partial = !found
		rest = after
	}
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

// syncWriter serialises writes, so that the outputs of several children
// sharing one log do not interleave within a write.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// errEarlyExit marks a child that ended before it answered.
var errEarlyExit = errors.New("exited before it was ready")
