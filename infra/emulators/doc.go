// Package emulators runs Gancho's AWS dependencies on one machine and
// creates the resources of its SAM template there.
//
// Start launches DynamoDB Local (a Java program) and fauxqs (an SQS and SNS
// emulator on Node.js, with accounts, IAM roles and STS AssumeRole added by
// infra/local/fauxqs.mjs), both from infra/local, on loopback ports. Provision
// reads template.yaml and creates its DynamoDB tables and SQS queues with
// the names a deployed stack would give them, on those emulators or on any
// other endpoint. LoadTemplate exposes the same reading of the template to
// tests that check the code against it.
package emulators
