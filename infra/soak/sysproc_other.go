//go:build !linux

package soak

import "syscall"

// childSysProcAttr has nothing to set: the soak stops the process itself.
func childSysProcAttr() *syscall.SysProcAttr { return nil }
