// Package templatecheck holds the tests that keep template.yaml in agreement with the
// code: function folders and sample events, the route table, references, environment
// variables, the deliveries queue, payload formats and IAM policies. It has no API.
package templatecheck
