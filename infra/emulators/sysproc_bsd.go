//go:build unix && !linux

package emulators

import "syscall"

// childSysProcAttr puts a child in its own process group, so that stopping
// it reaches its own children too.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
