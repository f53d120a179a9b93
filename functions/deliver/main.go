// Command deliver is the Lambda that consumes the deliveries queue and sends webhooks.
package main

import "github.com/gancho-dev/gancho/shared/app/deliverfn"

func main() { deliverfn.StartDeliver() }
