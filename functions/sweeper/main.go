// Command sweeper is the scheduled Lambda that re-queues parked deliveries.
package main

import "github.com/gancho-dev/gancho/shared/app/sweeperfn"

func main() { sweeperfn.StartSweeper() }
