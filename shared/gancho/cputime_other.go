//go:build !linux

package gancho

import "time"

// threadCPU returns the monotonic wall clock: the CPU time of one thread is read
// on Linux only (where Gancho runs), elsewhere budgets count waiting too.
func threadCPU() time.Duration { return time.Since(clockStart) }
