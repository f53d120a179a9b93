// Who calls: the account (and, for keys AssumeRole issued, the assumed role) a
// request acts as, read from its SigV4 credential. See accounts.mjs for the rules.
import { randomBytes } from "node:crypto";
import { DEFAULT_ACCOUNT_ID } from "./node_modules/fauxqs/dist/common/types.js";

export const DEFAULT_ACCOUNT = DEFAULT_ACCOUNT_ID;
export const ACCOUNT_ID = /^\d{12}$/;

// --- access key ids ----------------------------------------------------------

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function base32(bytes) {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
      value &= (1 << bits) - 1;
    }
  }
  if (bits > 0) {
    out += BASE32[(value << (5 - bits)) & 31];
  }
  return out;
}

function unbase32(text) {
  const out = [];
  let bits = 0;
  let value = 0;
  for (const ch of text) {
    const v = BASE32.indexOf(ch);
    if (v < 0) {
      return undefined;
    }
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
      value &= (1 << bits) - 1;
    }
  }
  return Buffer.from(out);
}

// newAccessKeyId returns a key id of the given prefix that encodes the account
// the way AWS does (bits 7-46 of the first six bytes after the prefix), so tools
// that read the account from a key id read the right one.
export function newAccessKeyId(prefix, account) {
  const bytes = randomBytes(10);
  const head = (BigInt(account) << 7n) | BigInt(bytes[5] & 0x7f);
  for (let i = 5; i >= 0; i--) {
    bytes[i] = Number((head >> BigInt(8 * (5 - i))) & 0xffn);
  }
  return prefix + base32(bytes);
}

// accountOfStructuredKey returns the account a LocalStack structured key
// (LSIA.../LKIA..., at least 20 characters) encodes, or undefined.
function accountOfStructuredKey(key) {
  if (key.length < 20 || !/^L[SK]IA/.test(key)) {
    return undefined;
  }
  const bytes = unbase32(key.slice(4, 20));
  if (!bytes || bytes.length < 6) {
    return undefined;
  }
  const head = bytes.subarray(0, 6).reduce((n, b) => (n << 8n) | BigInt(b), 0n);
  return String((head & 0x7fffffffff80n) >> 7n).padStart(12, "0");
}

const CREDENTIAL = /Credential=([^/,\s]+)\/\d{8}\/([^/,\s]+)\/([^/,\s]+)\//;

// credentialOf returns the access key id, region and service of a SigV4 request,
// from its Authorization header or, for presigned URLs, its query.
function credentialOf(request) {
  const m = (request.headers.authorization ?? "").match(CREDENTIAL);
  if (m) {
    return { accessKeyId: m[1], region: m[2], service: m[3] };
  }
  const q = request.query?.["X-Amz-Credential"];
  if (typeof q === "string") {
    const [accessKeyId, , region, service] = q.split("/");
    return { accessKeyId, region, service };
  }
  return undefined;
}

// Identities resolves callers and remembers the credentials AssumeRole issued.
export class Identities {
  issued = new Map(); // access key id -> assumed role (iam.mjs AssumeRole)

  addAssumed(assumed) {
    this.issued.set(assumed.accessKeyId, assumed);
  }

  // callerOf returns who sends the request: account, ARN, user id, and the
  // assumed role when the key is one AssumeRole issued.
  callerOf(request) {
    const cred = credentialOf(request);
    const key = cred?.accessKeyId ?? "";
    const base = { region: cred?.region, service: cred?.service };
    const assumed = this.issued.get(key);
    if (assumed) {
      return {
        ...base,
        account: assumed.account,
        arn: assumed.assumedRoleArn,
        userId: `${assumed.roleId}:${assumed.assumedName}`,
        assumed,
      };
    }
    const account = ACCOUNT_ID.test(key) ? key : (accountOfStructuredKey(key) ?? DEFAULT_ACCOUNT);
    return { ...base, account, arn: `arn:aws:iam::${account}:root`, userId: account };
  }
}

// arnAccount returns the account field of an ARN, or undefined.
export function arnAccount(arn) {
  const account = typeof arn === "string" ? arn.split(":")[4] : undefined;
  return ACCOUNT_ID.test(account ?? "") ? account : undefined;
}
