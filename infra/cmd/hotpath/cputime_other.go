//go:build !unix

package main

import "time"

// processCPU is not measured here: the CPU columns show "–".
func processCPU() time.Duration { return 0 }
