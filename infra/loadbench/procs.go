package loadbench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100
// on every Linux architecture Go supports.
const clockTicks = 100

// processes are the Gancho process and the emulators', by pid.
type processes struct {
	gancho    int
	emulators map[string]int
}

// usage is CPU time used so far, per process tree.
type usage struct {
	gancho    time.Duration
	emulators map[string]time.Duration
}

func (p processes) cpu() usage {
	parents := parentsByPid()
	u := usage{gancho: treeCPU(p.gancho, parents), emulators: map[string]time.Duration{}}
	for name, pid := range p.emulators {
		u.emulators[name] = treeCPU(pid, parents)
	}
	return u
}

// resetPeakRSS starts the Gancho process's peak resident set (VmHWM) afresh.
func (p processes) resetPeakRSS() {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.gancho), []byte("5"), 0)
}

// peakRSS is the Gancho process's peak resident set since the last reset, in bytes.
func (p processes) peakRSS() int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.gancho))
	if err != nil {
		return 0
	}
	for _, ln := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(ln, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// stat is what /proc/<pid>/stat says of a process.
type stat struct {
	ppid int
	cpu  time.Duration // utime + stime + cutime + cstime
}

func readStat(pid int) (stat, bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return stat{}, false
	}
	// The command name (field 2) may hold spaces; the fields after it do not.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 15 {
		return stat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	var ticks int64
	for _, i := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
		n, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += n
	}
	return stat{ppid: ppid, cpu: time.Duration(ticks) * time.Second / clockTicks}, true
}

// parentsByPid maps every process to its parent.
func parentsByPid() map[int]stat {
	out := map[int]stat{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(pid); ok {
			out[pid] = st
		}
	}
	return out
}

// treeCPU is the CPU time of pid and every process below it.
func treeCPU(pid int, all map[int]stat) time.Duration {
	if pid == 0 {
		return 0
	}
	total := all[pid].cpu
	for child, st := range all {
		if st.ppid == pid && child != pid {
			total += treeCPU(child, all)
		}
	}
	return total
}

func numCPU() int { return runtime.NumCPU() }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// takeProfiles saves, from the Gancho process at addr, a CPU profile of the middle
// of a window of length d, then its goroutines, mutex and block contention.
func takeProfiles(ctx context.Context, addr, dir string, d time.Duration) error {
	select {
	case <-time.After(d / 6):
	case <-ctx.Done():
		return ctx.Err()
	}
	secs := max(1, int(d.Seconds()*2/3))
	hc := client(2, time.Duration(secs)*time.Second+30*time.Second)
	for _, p := range []struct{ name, path string }{
		{"cpu.pprof", "profile?seconds=" + strconv.Itoa(secs)},
		{"goroutine.pprof", "goroutine"},
		{"goroutine.txt", "goroutine?debug=1"},
		{"mutex.pprof", "mutex"},
		{"block.pprof", "block"},
	} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/"+p.path, nil)
		if err != nil {
			return err
		}
		res, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		f, err := os.Create(filepath.Join(dir, p.name))
		if err == nil {
			_, err = io.Copy(f, res.Body)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		res.Body.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return nil
}
