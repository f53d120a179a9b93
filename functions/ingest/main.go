// Command ingest is the Lambda that consumes the ingest queue and publishes its events.
package main

import "github.com/gancho-dev/gancho/shared/app/ingestfn"

func main() { ingestfn.StartIngest() }
