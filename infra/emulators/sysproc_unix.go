//go:build unix

package emulators

import (
	"errors"
	"os"
	"syscall"
)

// killGroup signals the process group led by p: SIGKILL when force is set,
// SIGTERM otherwise. A group that no longer exists is not an error.
func killGroup(p *os.Process, force bool) error {
	sig := syscall.SIGTERM
	if force {
		sig = syscall.SIGKILL
	}
	err := syscall.Kill(-p.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}
