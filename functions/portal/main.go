// Command portal is the Lambda for one Gancho API route; see shared/httpapi.Routes.
package main

import "github.com/gancho-dev/gancho/shared/app/apifn"

func main() { apifn.StartRoute("portal") }
