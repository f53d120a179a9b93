// Starts the fauxqs emulator (SQS, SNS and S3 on one port) on the loopback
// interface only, with AWS accounts, IAM roles and STS AssumeRole added.
//
//   node fauxqs.mjs --port 9324 [--region us-east-1] [--exit-on-stdin-close]
//
// Prints "fauxqs ready on http://127.0.0.1:PORT" once it accepts requests and
// exits with status 0 on SIGTERM or SIGINT. --port 0 picks a free port.
// With --exit-on-stdin-close the process also exits when its standard input
// reaches end of file, so it never outlives the program that started it.
//
// Queue URLs: fauxqs by default builds them as http://sqs.REGION.localhost:PORT/...,
// a host name that does not resolve everywhere. The stores are built here with an
// empty host so that queue URLs carry the address the client used
// (http://127.0.0.1:PORT/ACCOUNT/NAME).
//
// Accounts (accounts.mjs, identity.mjs, iam.mjs), following LocalStack: the access
// key id chooses the account (12 digits: that account; a key from AssumeRole: the
// role's account; anything else: 000000000000); queues and topics belong to the
// account that created them and other accounts are refused (SQS AccessDenied, SNS
// AuthorizationError); IAM CreateRole and STS AssumeRole, with the trust policy's
// principal and sts:ExternalId checked, give access to another account.
import { parseArgs } from "node:util";
import { buildApp } from "fauxqs";
import { createStores, installAccounts } from "./accounts.mjs";

const HOST = "127.0.0.1";

function options() {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "9324" },
      region: { type: "string", default: "us-east-1" },
      "exit-on-stdin-close": { type: "boolean", default: false },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`invalid --port ${values.port}`);
  }
  return { port, region: values.region, exitOnStdinClose: values["exit-on-stdin-close"] };
}

async function main() {
  const opts = options();
  const stores = createStores(opts.region);
  const app = buildApp({ logger: false, defaultRegion: opts.region, stores });
  installAccounts(app, stores);
  await app.listen({ port: opts.port, host: HOST });
  const { port } = app.server.address();
  console.log(`fauxqs ready on http://${HOST}:${port}`);

  let closing = false;
  const shutdown = async (reason) => {
    if (closing) {
      process.exit(0);
    }
    closing = true;
    console.log(`fauxqs stopping (${reason})`);
    const force = setTimeout(() => process.exit(0), 3000);
    force.unref();
    try {
      await app.close();
    } finally {
      process.exit(0);
    }
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
  if (opts.exitOnStdinClose) {
    process.stdin.on("end", () => shutdown("stdin closed"));
    process.stdin.on("error", () => shutdown("stdin error"));
    process.stdin.resume();
  }
}

main().catch((err) => {
  console.error(`fauxqs: ${err.stack ?? err}`);
  process.exit(1);
});
