//go:build linux

package soak

import "syscall"

// childSysProcAttr has the kernel kill the Gancho process should the soak die first.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
