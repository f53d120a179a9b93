// Accounts for fauxqs, which itself knows one (000000000000): who calls is read
// from the request's credentials, and SQS queues and SNS topics belong to the
// account that created them. The conventions are LocalStack's, so that the same
// tests hold on both:
//
//   - an access key id of 12 digits acts as that account;
//   - a key issued by AssumeRole (iam.mjs) acts as the role's account;
//   - a LocalStack structured key (LSIA.../LKIA...) acts as the account it encodes;
//   - any other key, or none, acts as 000000000000.
//
// Queue URLs are http://<request host>/<account>/<name>, queue ARNs
// arn:aws:sqs:<region>:<account>:<name>, topic ARNs arn:aws:sns:<region>:<account>:<name>.
// A caller reaches only its own account's queues and topics: there are no
// resource policies here, so every cross-account call is refused the way AWS
// refuses it without one (SQS AccessDenied, SNS AuthorizationError, both 403).
// Signatures are not verified.
import { SqsStore } from "./node_modules/fauxqs/dist/sqs/sqsStore.js";
import { SnsStore } from "./node_modules/fauxqs/dist/sns/snsStore.js";
import { S3Store } from "./node_modules/fauxqs/dist/s3/s3Store.js";
import { SqsError, SnsError } from "./node_modules/fauxqs/dist/common/errors.js";
import { snsErrorResponse } from "./node_modules/fauxqs/dist/common/xml.js";
import { createQueue } from "./node_modules/fauxqs/dist/sqs/actions/createQueue.js";
import { getQueueUrl } from "./node_modules/fauxqs/dist/sqs/actions/getQueueUrl.js";
import { listQueues } from "./node_modules/fauxqs/dist/sqs/actions/listQueues.js";
import { createTopic } from "./node_modules/fauxqs/dist/sns/actions/createTopic.js";
import { listTopics } from "./node_modules/fauxqs/dist/sns/actions/listTopics.js";
import { listSubscriptions } from "./node_modules/fauxqs/dist/sns/actions/listSubscriptions.js";
import { ACCOUNT_ID, DEFAULT_ACCOUNT, Identities, arnAccount } from "./identity.mjs";
import { IamSts } from "./iam.mjs";

// --- stores ------------------------------------------------------------------

function withAccount(arn, account) {
  const parts = arn.split(":");
  parts[4] = account;
  return parts.join(":");
}

// queueUrlAccount returns the account of a queue URL (its first path segment).
function queueUrlAccount(queueUrl) {
  try {
    const segment = new URL(queueUrl).pathname.split("/")[1] ?? "";
    return ACCOUNT_ID.test(segment) ? segment : undefined;
  } catch {
    return undefined;
  }
}

// AccountSqsStore keeps queues by URL and ARN, both naming the account, as
// fauxqs does; only the by-name index (fauxqs's inspection endpoints) needs care
// when accounts share a name: it keeps the default account's queue.
class AccountSqsStore extends SqsStore {
  createQueue(name, url, arn, attributes, tags) {
    const previous = this.queuesByName.get(name);
    const queue = super.createQueue(name, url, arn, attributes, tags);
    if (previous && arnAccount(previous.arn) === DEFAULT_ACCOUNT) {
      this.queuesByName.set(name, previous);
    }
    return queue;
  }

  deleteQueue(url) {
    const queue = this.queues.get(url);
    const indexed = queue && this.queuesByName.get(queue.name);
    if (!super.deleteQueue(url)) {
      return false;
    }
    if (indexed && indexed !== queue) {
      this.queuesByName.set(queue.name, indexed);
    } else {
      const other = [...this.queues.values()].find((q) => q.name === queue.name);
      if (other) {
        this.queuesByName.set(queue.name, other);
      }
    }
    return true;
  }
}

// AccountSnsStore names the topic's account in topic and subscription ARNs.
class AccountSnsStore extends SnsStore {
  // createTopicIn is createTopic for a topic of the given account. fauxqs's
  // createTopic (validation, idempotency) runs on a scratch store holding at most
  // the existing topic, under the ARN fauxqs would give it.
  createTopicIn(account, name, attributes, tags, region) {
    if (account === DEFAULT_ACCOUNT) {
      return this.createTopic(name, attributes, tags, region);
    }
    const arn = `arn:aws:sns:${region}:${account}:${name}`;
    const scratch = new SnsStore();
    const existing = this.topics.get(arn);
    if (existing) {
      scratch.topics.set(withAccount(arn, DEFAULT_ACCOUNT), existing);
    }
    const topic = scratch.createTopic(name, attributes, tags, region);
    topic.arn = arn;
    this.topics.set(arn, topic);
    return topic;
  }

  subscribe(topicArn, protocol, endpoint, attributes) {
    const known = this.subscriptions.size;
    const sub = super.subscribe(topicArn, protocol, endpoint, attributes);
    const account = arnAccount(topicArn);
    if (!sub || !account || this.subscriptions.size === known) {
      return sub; // none, or one that exists already
    }
    // A subscription of another account's queue stays pending: AWS delivers to
    // it only once the queue's owner confirms it and the queue's policy lets SNS
    // send, and neither exists here.
    const endpointAccount = protocol === "sqs" ? arnAccount(endpoint) : undefined;
    if (endpointAccount && endpointAccount !== account) {
      sub.confirmed = false;
    }
    if (arnAccount(sub.arn) !== account) {
      const arn = withAccount(sub.arn, account);
      this.subscriptions.delete(sub.arn);
      const topic = this.topics.get(topicArn);
      topic.subscriptionArns = topic.subscriptionArns.map((a) => (a === sub.arn ? arn : a));
      sub.arn = arn;
      this.subscriptions.set(arn, sub);
    }
    return sub;
  }
}

// createStores returns fauxqs stores with accounts. Queue URLs carry the
// address the client used (an empty host), not fauxqs's sqs.REGION.localhost.
export function createStores(region) {
  const sqsStore = new AccountSqsStore();
  sqsStore.host = "";
  sqsStore.region = region;
  const snsStore = new AccountSnsStore();
  snsStore.region = region;
  return { sqsStore, snsStore, s3Store: new S3Store() };
}

// sqsView is the store as one account sees it, for fauxqs's handlers that
// name queues by name and so assume the default account.
function sqsView(store, account) {
  const view = Object.create(store);
  view.getQueueByArn = (arn) => store.getQueueByArn(withAccount(arn, account));
  view.buildQueueUrl = (...args) =>
    store.buildQueueUrl(...args).replace(`/${DEFAULT_ACCOUNT}/`, `/${account}/`);
  view.createQueue = (name, url, arn, attributes, tags) =>
    store.createQueue(name, url, withAccount(arn, account), attributes, tags);
  view.listQueues = (prefix, maxResults) => {
    const own = store.listQueues(prefix).filter((q) => arnAccount(q.arn) === account);
    return maxResults ? own.slice(0, maxResults) : own;
  };
  return view;
}

function snsView(store, account) {
  const view = Object.create(store);
  view.createTopic = (name, attributes, tags, region) => store.createTopicIn(account, name, attributes, tags, region);
  view.listTopics = () => store.listTopics().filter((t) => arnAccount(t.arn) === account);
  view.listSubscriptions = () => store.listSubscriptions().filter((s) => arnAccount(s.topicArn) === account);
  return view;
}

// --- requests ----------------------------------------------------------------

// sqsAccessDenied is SQS's answer (JSON protocol, query-compatible) to a call
// on another account's queue: the SDKs read the code AccessDenied from the
// x-amzn-query-error header.
function sqsAccessDenied(reply, caller, action, resource) {
  const verb = `sqs:${action}`;
  reply.status(403);
  reply.header("content-type", "application/x-amz-json-1.0");
  reply.header("x-amzn-query-error", "AccessDenied;Sender");
  return {
    __type: "com.amazon.coral.service#AccessDeniedException",
    message: `User: ${caller.arn} is not authorized to perform: ${verb} on resource: ${resource} because no resource-based policy allows the ${verb} action`,
  };
}

// runSqs runs a fauxqs SQS handler the way fauxqs's router does.
async function runSqs(reply, handler, body, store, request) {
  try {
    const result = await handler(body, store, request);
    reply.header("content-type", "application/x-amz-json-1.0");
    return result;
  } catch (err) {
    if (err instanceof SqsError) {
      reply.status(err.statusCode);
      reply.header("content-type", "application/x-amz-json-1.0");
      reply.header("x-amzn-query-error", err.queryErrorHeader);
      return err.toJSON();
    }
    throw err;
  }
}

async function handleSqs(request, reply, caller, sqsStore) {
  const target = request.headers["x-amz-target"];
  const action = typeof target === "string" ? target.replace("AmazonSQS.", "") : "";
  const body = request.body ?? {};
  const region = caller.region ?? sqsStore.region;
  switch (action) {
    case "CreateQueue":
      return runSqs(reply, createQueue, body, sqsView(sqsStore, caller.account), request);
    case "ListQueues":
      return runSqs(reply, listQueues, body, sqsView(sqsStore, caller.account), request);
    case "GetQueueUrl": {
      const owner = body.QueueOwnerAWSAccountId;
      if (owner && owner !== caller.account) {
        return sqsAccessDenied(reply, caller, action, `arn:aws:sqs:${region}:${owner}:${body.QueueName}`);
      }
      return runSqs(reply, getQueueUrl, body, sqsView(sqsStore, caller.account), request);
    }
  }
  const owner = queueUrlAccount(body.QueueUrl);
  if (owner && owner !== caller.account) {
    const name = new URL(body.QueueUrl).pathname.split("/")[2] ?? "";
    return sqsAccessDenied(reply, caller, action, `arn:aws:sqs:${region}:${owner}:${name}`);
  }
  return undefined; // fauxqs serves it
}

// The parameters of SNS actions that name a resource of some account.
const SNS_RESOURCE_PARAMS = ["TopicArn", "SubscriptionArn", "ResourceArn"];

// xmlReply answers a query-protocol request (SNS, STS, IAM).
function xmlReply(reply, body, status = 200) {
  reply.status(status);
  reply.header("content-type", "text/xml");
  return body;
}

async function runSns(reply, handler, params, snsStore, sqsStore, request) {
  try {
    return xmlReply(reply, await handler(params, snsStore, sqsStore, request));
  } catch (err) {
    if (err instanceof SnsError) {
      return xmlReply(reply, snsErrorResponse(err.code, err.message, err.senderFault ? "Sender" : "Receiver"), err.statusCode);
    }
    throw err;
  }
}

async function handleSns(request, reply, caller, snsStore, sqsStore) {
  const params = request.body ?? {};
  const action = params.Action;
  // ConfirmSubscription is authorised by its token, whoever sends it: that is how
  // a queue's owner accepts another account's subscription.
  for (const name of action === "ConfirmSubscription" ? [] : SNS_RESOURCE_PARAMS) {
    const owner = arnAccount(params[name]);
    if (owner && owner !== caller.account) {
      const verb = `SNS:${action}`;
      return xmlReply(
        reply,
        snsErrorResponse(
          "AuthorizationError",
          `User: ${caller.arn} is not authorized to perform: ${verb} on resource: ${params[name]} because no resource-based policy allows the ${verb} action`,
        ),
        403,
      );
    }
  }
  const handler = { CreateTopic: createTopic, ListTopics: listTopics, ListSubscriptions: listSubscriptions }[action];
  if (handler) {
    const answer = await runSns(reply, handler, params, snsView(snsStore, caller.account), sqsStore, request);
    return ownerFixed(answer, caller.account);
  }
  return undefined; // fauxqs serves it (and ownerFixed its answer, see onSend)
}

// ownerFixed names the account in the Owner fields fauxqs fills with its own.
function ownerFixed(xml, account) {
  if (typeof xml !== "string" || account === DEFAULT_ACCOUNT) {
    return xml;
  }
  return xml
    .replaceAll(`<Owner>${DEFAULT_ACCOUNT}</Owner>`, `<Owner>${account}</Owner>`)
    .replace(`<key>Owner</key><value>${DEFAULT_ACCOUNT}</value>`, `<key>Owner</key><value>${account}</value>`);
}

const STS_ACTIONS = new Set(["AssumeRole", "GetCallerIdentity"]);
const IAM_ACTIONS = new Set(["CreateRole", "GetRole", "DeleteRole", "UpdateAssumeRolePolicy"]);

// queryService tells which service a query-protocol request is for: the one its
// credential scope names, else the one its action belongs to.
function queryService(caller, action) {
  if (caller.service === "sts" || caller.service === "iam") {
    return caller.service;
  }
  if (STS_ACTIONS.has(action)) {
    return "sts";
  }
  if (IAM_ACTIONS.has(action)) {
    return "iam";
  }
  return "sns";
}

// installAccounts makes the app account-aware. It must be called before the app
// listens; the stores must be those of createStores.
export function installAccounts(app, { sqsStore, snsStore }) {
  const identities = new Identities();
  const iamSts = new IamSts(identities);
  const ownerOf = new WeakMap(); // request -> account whose Owner fields to fix
  app.addHook("preHandler", async (request, reply) => {
    if (request.method !== "POST" || request.routeOptions?.url !== "/") {
      return;
    }
    const caller = identities.callerOf(request);
    const contentType = request.headers["content-type"] ?? "";
    let answer;
    if (contentType.includes("application/x-amz-json-1.0")) {
      answer = await handleSqs(request, reply, caller, sqsStore);
    } else if (contentType.includes("application/x-www-form-urlencoded")) {
      const params = request.body ?? {};
      const service = queryService(caller, params.Action);
      if (service === "sns") {
        answer = await handleSns(request, reply, caller, snsStore, sqsStore);
        if (answer === undefined && (params.Action === "GetTopicAttributes" || params.Action === "ListSubscriptionsByTopic")) {
          ownerOf.set(request, caller.account);
        }
      } else {
        const { status, body } = iamSts.handle(service, params, caller);
        answer = xmlReply(reply, body, status);
      }
    }
    if (answer !== undefined) {
      reply.send(answer);
      return reply;
    }
  });
  app.addHook("onSend", async (request, reply, payload) => {
    const account = ownerOf.get(request);
    return account && reply.statusCode === 200 ? ownerFixed(payload, account) : payload;
  });
}
