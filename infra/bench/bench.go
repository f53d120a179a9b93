// Package bench holds what the commands that write BENCHMARKS.md share: replacing one
// "## " section of the document, describing the machine the figures were taken on,
// and running a command against the local stack when it was started without one.
package bench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// UpdateSection replaces the section of the Markdown in old that starts with the line
// heading (a "## " heading; it runs up to the next "## " heading, its "### "
// subsections with it) by section, or appends section; a missing file (old empty)
// starts with a title.
func UpdateSection(old, heading, section string) string {
	if old == "" {
		return "# Benchmarks\n\n" + section
	}
	lines := strings.SplitAfter(old, "\n")
	start, end := -1, len(lines)
	for i, ln := range lines {
		h := strings.TrimRight(ln, "\r\n")
		if start < 0 && h == heading {
			start = i
			continue
		}
		if start >= 0 && strings.HasPrefix(h, "## ") {
			end = i
			break
		}
	}
	if start < 0 {
		if !strings.HasSuffix(old, "\n") {
			old += "\n"
		}
		return old + "\n" + section
	}
	tail := strings.Join(lines[end:], "")
	if tail != "" && !strings.HasSuffix(section, "\n\n") {
		section += "\n"
	}
	return strings.Join(lines[:start], "") + section + tail
}

// WriteSection puts section in the file at path in place of its heading section (see
// UpdateSection), creating the file when missing.
func WriteSection(path, heading, section string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return os.WriteFile(path, []byte(UpdateSection(string(old), heading, section)), 0o644)
}

// Machine describes where and how figures were taken.
type Machine struct {
	Date    time.Time
	CPUs    int
	Memory  string
	CPU     string
	Command string
	Commit  string
}

// Taken is the sentence saying so: "Taken <date> on <n> CPUs (<model>), <memory>
// memory, commit <commit>, with `<command>`."
func (m Machine) Taken() string {
	return fmt.Sprintf("Taken %s on %d CPUs (%s), %s memory, commit %s, with `%s`.",
		m.Date.Format("2006-01-02"), m.CPUs, m.CPU, m.Memory, m.Commit, m.Command)
}

// DescribeMachine reads this machine's CPUs and memory (from /proc where there is
// one) and the repository's commit at root.
func DescribeMachine(root, command string) Machine {
	m := Machine{Date: time.Now().UTC(), CPUs: runtime.NumCPU(), Memory: "unknown", CPU: runtime.GOARCH, Command: command, Commit: "unknown"}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				if kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB")); err == nil {
					m.Memory = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
				}
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	return m
}

// Command is how the figures were asked for: the make target when make ran the
// command, else "go run ./infra/cmd/<name>" and its arguments.
func Command(name, makeTarget string, args []string) string {
	if os.Getenv("MAKELEVEL") != "" && makeTarget != "" {
		return "make " + makeTarget
	}
	return strings.TrimSpace("go run ./infra/cmd/" + name + " " + strings.Join(args, " "))
}

// List parses a flag's comma-separated list with parse, which returns an error for a
// value out of range; blanks are skipped. An empty list is empty, not an error.
func List[T any](flagName, list string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		v, err := parse(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %q %w", flagName, s, err)
		}
		out = append(out, v)
	}
	return out, nil
}
