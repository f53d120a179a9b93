// Package benchdoc writes benchmark figures into BENCHMARKS.md: each benchmark owns
// one "## " section, replaced whole on every run, and says where its figures were
// taken.
package benchdoc

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

// Machine describes where figures were taken.
type Machine struct {
	Date    time.Time
	CPUs    int
	Memory  string
	CPU     string
	Command string
	Commit  string
}

// Describe reads this machine's CPU model and count, its memory, and the commit
// checked out in root; command is how the figures were made.
func Describe(root, command string) Machine {
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

// Replace replaces the section of the Markdown in old that starts with the heading
// line (e.g. "## Cost") up to the next "## " heading with section, or appends it; a
// missing file starts with a title.
func Replace(old, heading, section string) string {
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

// Write replaces the heading's section of the file at path (created when missing).
func Write(path, heading, section string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return os.WriteFile(path, []byte(Replace(string(old), heading, section)), 0o644)
}
