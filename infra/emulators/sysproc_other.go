//go:build !unix

package emulators

import (
	"errors"
	"os"
	"syscall"
)

// childSysProcAttr has nothing to set where process groups are not supported.
func childSysProcAttr() *syscall.SysProcAttr { return nil }

// killGroup kills the process itself; force is ignored.
func killGroup(p *os.Process, _ bool) error {
	err := p.Kill()
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}
