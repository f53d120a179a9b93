//go:build linux

package emulators

import "syscall"

// childSysProcAttr puts a child in its own process group, so that stopping
// it reaches its own children too, and has the kernel kill it should this
// process die without stopping it.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
