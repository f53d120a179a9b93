// Command subscription-results is the Lambda for one Gancho API route; see shared/httpapi.Routes.
package main

import (
	// The results' timeZone names IANA zones; the Lambda runtime image may have no
	// zoneinfo of its own.
	_ "time/tzdata"

	"github.com/gancho-dev/gancho/shared/app/apifn"
)

func main() { apifn.StartRoute("subscription-results") }
