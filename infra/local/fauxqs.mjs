// Starts the fauxqs SQS emulator on the loopback interface only.
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
// (http://127.0.0.1:PORT/000000000000/NAME).
import { parseArgs } from "node:util";
import { buildApp } from "fauxqs";

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

// loadStores returns stores whose queue URLs use the request's Host header.
// fauxqs exports no store classes, so they are loaded from its dist folder;
// if that layout ever changes the default stores are used instead.
async function loadStores(region) {
  const dist = new URL("./node_modules/fauxqs/dist/", import.meta.url);
  try {
    const [{ SqsStore }, { SnsStore }, { S3Store }] = await Promise.all([
      import(new URL("sqs/sqsStore.js", dist).href),
      import(new URL("sns/snsStore.js", dist).href),
      import(new URL("s3/s3Store.js", dist).href),
    ]);
    const sqsStore = new SqsStore();
    sqsStore.host = "";
    sqsStore.region = region;
    const snsStore = new SnsStore();
    snsStore.region = region;
    return { sqsStore, snsStore, s3Store: new S3Store() };
  } catch (err) {
    console.error(`fauxqs: using default stores (${err.message})`);
    return undefined;
  }
}

async function main() {
  const opts = options();
  const stores = await loadStores(opts.region);
  const app = buildApp({ logger: false, defaultRegion: opts.region, stores });
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
