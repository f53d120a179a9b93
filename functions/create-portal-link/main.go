// Command create-portal-link is the Lambda for one Gancho API route; see shared/httpapi.Routes.
package main

import "github.com/gancho-dev/gancho/shared/app/apifn"

func main() { apifn.StartRoute("create-portal-link") }
