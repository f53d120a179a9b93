// IAM roles and STS for the local endpoint, enough to test cross-account access
// the way a customer grants it: the customer's account creates a role whose
// trust policy names the caller's account (or a role of it) and, usually, an
// external id; the caller assumes it and acts in the customer's account with the
// temporary credentials it gets.
//
// IAM (query protocol, version 2010-05-08): CreateRole, GetRole, DeleteRole,
// UpdateAssumeRolePolicy. A role belongs to the caller's account:
// arn:aws:iam::<account>:role<path><name>.
//
// STS (query protocol, version 2011-06-15): AssumeRole, GetCallerIdentity.
// AssumeRole succeeds only for an existing role whose trust policy allows
// sts:AssumeRole to the caller with the request's context, else AccessDenied
// (403), as AWS answers both. The trust policy is evaluated here:
//   - Principal "*", {"AWS": "*"}, an account id or arn:aws:iam::<account>:root
//     match any caller of that account; a role ARN matches callers acting as that
//     role; arn:aws:sts::<account>:assumed-role/<role>/<name> matches that one.
//     A static key stands for every principal of its account (it is the
//     account's root, and the keys of its users and roles are not modelled).
//     Service and Federated principals match no caller.
//   - Condition operators StringEquals, StringNotEquals, StringLike,
//     StringNotLike and their IgnoreCase forms (not Like), on the keys
//     sts:ExternalId, sts:RoleSessionName, aws:PrincipalAccount, aws:PrincipalArn;
//     a missing key fails the positive operators and passes the negative ones.
//   - A matching Deny wins over any Allow.
// Anything else in a policy is refused when the role is created
// (MalformedPolicyDocument), so a policy never means less here than on AWS.
// Temporary access key ids start with ASIA and encode the role's account;
// issued credentials last as long as the process and expiry is not enforced.
import { randomBytes, randomUUID } from "node:crypto";
import { ACCOUNT_ID, newAccessKeyId } from "./identity.mjs";

const IAM_XMLNS = "https://iam.amazonaws.com/doc/2010-05-08/";
const STS_XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/";
const DEFAULT_DURATION_SECONDS = 3600;
const MIN_DURATION_SECONDS = 900;
const MAX_DURATION_SECONDS = 43200;

function escapeXml(value) {
  return String(value)
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&apos;");
}

// xml renders a nested object as XML elements; undefined values are left out.
function xml(fields) {
  return Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<${k}>${typeof v === "object" ? xml(v) : escapeXml(v)}</${k}>`)
    .join("");
}

function success(xmlns, action, result) {
  const body = result === undefined ? "" : `<${action}Result>${xml(result)}</${action}Result>`;
  return {
    status: 200,
    body: `<${action}Response xmlns="${xmlns}">${body}<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`,
  };
}

class ApiError extends Error {
  constructor(code, message, status = 400) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

function errorResponse(xmlns, err) {
  return {
    status: err.status,
    body:
      `<ErrorResponse xmlns="${xmlns}"><Error><Type>Sender</Type><Code>${escapeXml(err.code)}</Code>` +
      `<Message>${escapeXml(err.message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
  };
}

function validation(message) {
  return new ApiError("ValidationError", message);
}

function isoSeconds(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function randomId(prefix, length) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const bytes = randomBytes(length);
  let out = prefix;
  for (const b of bytes) {
    out += alphabet[b & 31];
  }
  return out;
}

// --- trust policies ----------------------------------------------------------

const CONDITION_OPERATORS = {
  StringEquals: (value, pattern) => value === pattern,
  StringNotEquals: (value, pattern) => value !== pattern,
  StringEqualsIgnoreCase: (value, pattern) => value.toLowerCase() === pattern.toLowerCase(),
  StringNotEqualsIgnoreCase: (value, pattern) => value.toLowerCase() !== pattern.toLowerCase(),
  StringLike: (value, pattern) => wildcard(pattern).test(value),
  StringNotLike: (value, pattern) => !wildcard(pattern).test(value),
};
const NEGATED = new Set(["StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike"]);
const STATEMENT_FIELDS = new Set(["Sid", "Effect", "Principal", "Action", "Condition"]);

function wildcard(pattern, flags = "") {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*").replaceAll("?", ".");
  return new RegExp(`^${re}$`, flags);
}

function list(value) {
  return Array.isArray(value) ? value : [value];
}

function malformed(message) {
  return new ApiError("MalformedPolicyDocument", message);
}

const PRINCIPAL_ARN = /^arn:aws:(iam::\d{12}:(root|role\/.+|user\/.+)|sts::\d{12}:assumed-role\/[^/]+\/.+)$/;

// parseTrustPolicy checks a trust policy and returns it in the form
// trustAllows evaluates, or throws MalformedPolicyDocument.
export function parseTrustPolicy(text) {
  let doc;
  try {
    doc = JSON.parse(text);
  } catch {
    throw malformed("This policy contains invalid Json");
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc) || doc.Statement === undefined) {
    throw malformed("Syntax errors in policy: the document needs a Statement");
  }
  const statements = list(doc.Statement).map((st, i) => {
    const where = `Statement ${i + 1}`;
    if (st === null || typeof st !== "object" || Array.isArray(st)) {
      throw malformed(`${where} is not an object`);
    }
    for (const field of Object.keys(st)) {
      if (!STATEMENT_FIELDS.has(field)) {
        throw malformed(`${where}: the field ${field} is not supported in a trust policy here`);
      }
    }
    if (st.Effect !== "Allow" && st.Effect !== "Deny") {
      throw malformed(`${where}: Effect must be Allow or Deny`);
    }
    if (st.Action === undefined || !list(st.Action).every((a) => typeof a === "string")) {
      throw malformed(`${where}: Action must be a string or a list of strings`);
    }
    return {
      effect: st.Effect,
      actions: list(st.Action).map((a) => wildcard(a, "i")),
      principal: parsePrincipal(st.Principal, where),
      conditions: parseConditions(st.Condition ?? {}, where),
    };
  });
  return { statements };
}

function parsePrincipal(principal, where) {
  if (principal === "*") {
    return { any: true, aws: [] };
  }
  if (principal === null || typeof principal !== "object" || Array.isArray(principal)) {
    throw malformed(`${where}: Principal must be "*" or an object`);
  }
  const out = { any: false, aws: [] };
  for (const [kind, values] of Object.entries(principal)) {
    if (kind === "Service" || kind === "Federated" || kind === "CanonicalUser") {
      continue; // matches no caller of this endpoint
    }
    if (kind !== "AWS") {
      throw malformed(`${where}: unknown principal type ${kind}`);
    }
    for (const value of list(values)) {
      if (value === "*") {
        out.any = true;
      } else if (typeof value === "string" && (ACCOUNT_ID.test(value) || PRINCIPAL_ARN.test(value))) {
        out.aws.push(value);
      } else {
        throw malformed(`Invalid principal in policy: "AWS":"${value}"`);
      }
    }
  }
  return out;
}

function parseConditions(condition, where) {
  if (condition === null || typeof condition !== "object" || Array.isArray(condition)) {
    throw malformed(`${where}: Condition must be an object`);
  }
  const out = [];
  for (const [operator, entries] of Object.entries(condition)) {
    if (!CONDITION_OPERATORS[operator]) {
      throw malformed(`${where}: the condition operator ${operator} is not supported here`);
    }
    if (entries === null || typeof entries !== "object" || Array.isArray(entries)) {
      throw malformed(`${where}: ${operator} must map condition keys to values`);
    }
    for (const [key, values] of Object.entries(entries)) {
      if (!list(values).every((v) => typeof v === "string")) {
        throw malformed(`${where}: the values of ${operator} ${key} must be strings`);
      }
      out.push({ operator, key: key.toLowerCase(), values: list(values) });
    }
  }
  return out;
}

// principalMatches reports whether a principal of a trust policy names the caller.
function principalMatches(principal, caller) {
  if (principal.any) {
    return true;
  }
  return principal.aws.some((p) => {
    if (ACCOUNT_ID.test(p)) {
      return caller.account === p;
    }
    const m = p.match(/^arn:aws:(iam|sts)::(\d{12}):(.+)$/);
    if (!m || m[2] !== caller.account) {
      return false;
    }
    const [, service, , resource] = m;
    if (resource === "root" || !caller.assumed) {
      return true; // the account, or the account's root (a static key)
    }
    const a = caller.assumed;
    if (service === "iam" && resource.startsWith("role/")) {
      return resource.slice(resource.lastIndexOf("/") + 1).toLowerCase() === a.roleName.toLowerCase();
    }
    return service === "sts" && p === a.assumedRoleArn;
  });
}

function conditionsHold(conditions, context) {
  return conditions.every(({ operator, key, values }) => {
    const value = context[key];
    if (value === undefined) {
      return NEGATED.has(operator);
    }
    const test = CONDITION_OPERATORS[operator];
    return NEGATED.has(operator) ? values.every((v) => test(value, v)) : values.some((v) => test(value, v));
  });
}

// trustAllows evaluates a parsed trust policy for sts:AssumeRole.
export function trustAllows(policy, caller, context) {
  let allowed = false;
  for (const st of policy.statements) {
    const applies =
      st.actions.some((a) => a.test("sts:AssumeRole")) &&
      principalMatches(st.principal, caller) &&
      conditionsHold(st.conditions, context);
    if (applies && st.effect === "Deny") {
      return false;
    }
    allowed ||= applies;
  }
  return allowed;
}

// --- IAM and STS -------------------------------------------------------------

const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
const ASSUMED_NAME = /^[\w+=,.@-]{2,64}$/;
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;
const ROLE_ARN = /^arn:aws:iam::(\d{12}):role(\/(?:[\x21-\x7e]*\/)?)([\w+=,.@-]{1,64})$/;

function roleXml(role) {
  return {
    Path: role.path,
    RoleName: role.name,
    RoleId: role.id,
    Arn: role.arn,
    CreateDate: role.createDate,
    // IAM returns the document URL-encoded.
    AssumeRolePolicyDocument: encodeURIComponent(role.policyText),
    Description: role.description,
    MaxSessionDuration: role.maxDuration,
  };
}

export class IamSts {
  roles = new Map(); // "<account>/<lower-case name>" -> role

  constructor(identities) {
    this.identities = identities;
  }

  // handle answers an IAM or STS query-protocol request: { status, body }.
  handle(service, params, caller) {
    const xmlns = service === "iam" ? IAM_XMLNS : STS_XMLNS;
    try {
      const action = params.Action;
      const handler = (service === "iam" ? IAM_HANDLERS : STS_HANDLERS)[action];
      if (!handler) {
        throw new ApiError("InvalidAction", `Could not find operation ${action} for this local endpoint`);
      }
      return success(xmlns, action, handler.call(this, params, caller));
    } catch (err) {
      if (err instanceof ApiError) {
        return errorResponse(xmlns, err);
      }
      throw err;
    }
  }

  role(account, name) {
    const role = this.roles.get(`${account}/${name.toLowerCase()}`);
    if (!role) {
      throw new ApiError("NoSuchEntity", `The role with name ${name} cannot be found.`, 404);
    }
    return role;
  }
}

function roleName(params) {
  const name = params.RoleName;
  if (!name) {
    throw validation("1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null");
  }
  if (!ROLE_NAME.test(name)) {
    throw validation(`1 validation error detected: Value '${name}' at 'roleName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have length 1 to 64`);
  }
  return name;
}

function policyDocument(params) {
  const text = params.AssumeRolePolicyDocument ?? params.PolicyDocument;
  if (!text) {
    throw validation("1 validation error detected: Value null at 'assumeRolePolicyDocument' failed to satisfy constraint: Member must not be null");
  }
  return { text, policy: parseTrustPolicy(text) };
}

const IAM_HANDLERS = {
  CreateRole(params, caller) {
    const name = roleName(params);
    const { text, policy } = policyDocument(params);
    const path = params.Path ?? "/";
    if (!/^\/(?:[\x21-\x7e]*\/)?$/.test(path) || path.length > 512) {
      throw validation(`1 validation error detected: Value '${path}' at 'path' failed to satisfy constraint: Member must begin and end with /`);
    }
    const maxDuration = params.MaxSessionDuration === undefined ? DEFAULT_DURATION_SECONDS : Number(params.MaxSessionDuration);
    if (!Number.isInteger(maxDuration) || maxDuration < 3600 || maxDuration > MAX_DURATION_SECONDS) {
      throw validation(`1 validation error detected: Value '${params.MaxSessionDuration}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value between 3600 and 43200`);
    }
    const key = `${caller.account}/${name.toLowerCase()}`;
    if (this.roles.has(key)) {
      throw new ApiError("EntityAlreadyExists", `Role with name ${name} already exists.`, 409);
    }
    const role = {
      account: caller.account,
      name,
      path,
      id: randomId("AROA", 17),
      arn: `arn:aws:iam::${caller.account}:role${path}${name}`,
      createDate: isoSeconds(new Date()),
      policyText: text,
      policy,
      description: params.Description,
      maxDuration,
    };
    this.roles.set(key, role);
    return { Role: roleXml(role) };
  },

  GetRole(params, caller) {
    return { Role: roleXml(this.role(caller.account, roleName(params))) };
  },

  DeleteRole(params, caller) {
    const role = this.role(caller.account, roleName(params));
    this.roles.delete(`${role.account}/${role.name.toLowerCase()}`);
    return undefined;
  },

  UpdateAssumeRolePolicy(params, caller) {
    const role = this.role(caller.account, roleName(params));
    const { text, policy } = policyDocument(params);
    role.policyText = text;
    role.policy = policy;
    return undefined;
  },
};

const STS_HANDLERS = {
  GetCallerIdentity(_params, caller) {
    return { Arn: caller.arn, UserId: caller.userId, Account: caller.account };
  },

  AssumeRole(params, caller) {
    const roleArn = params.RoleArn;
    const assumedName = params.RoleSessionName;
    const externalId = params.ExternalId;
    if (!roleArn) {
      throw validation("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null");
    }
    if (!assumedName || !ASSUMED_NAME.test(assumedName)) {
      throw validation(`1 validation error detected: Value '${assumedName ?? "null"}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length 2 to 64`);
    }
    if (externalId !== undefined && !EXTERNAL_ID.test(externalId)) {
      throw validation(`1 validation error detected: Value '${externalId}' at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]* and have length 2 to 1224`);
    }
    const m = roleArn.match(ROLE_ARN);
    if (!m) {
      throw validation(`${roleArn} is invalid`);
    }
    const denied = new ApiError(
      "AccessDenied",
      `User: ${caller.arn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
      403,
    );
    const role = this.roles.get(`${m[1]}/${m[3].toLowerCase()}`);
    if (!role || role.arn !== `arn:aws:iam::${m[1]}:role${m[2]}${role.name}`) {
      throw denied;
    }
    const context = {
      "sts:externalid": externalId,
      "sts:rolesessionname": assumedName,
      "aws:principalaccount": caller.account,
      "aws:principalarn": caller.arn,
    };
    if (!trustAllows(role.policy, caller, context)) {
      throw denied;
    }
    const seconds = params.DurationSeconds === undefined ? DEFAULT_DURATION_SECONDS : Number(params.DurationSeconds);
    if (!Number.isInteger(seconds) || seconds < MIN_DURATION_SECONDS) {
      throw validation(`1 validation error detected: Value '${params.DurationSeconds}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to ${MIN_DURATION_SECONDS}`);
    }
    if (seconds > role.maxDuration) {
      throw validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.");
    }
    const assumed = {
      accessKeyId: newAccessKeyId("ASIA", role.account),
      secretAccessKey: randomBytes(30).toString("base64"),
      token: randomBytes(192).toString("base64"),
      expiration: isoSeconds(new Date(Date.now() + seconds * 1000)),
      account: role.account,
      roleName: role.name,
      roleId: role.id,
      assumedName,
      assumedRoleArn: `arn:aws:sts::${role.account}:assumed-role/${role.name}/${assumedName}`,
    };
    this.identities.addAssumed(assumed);
    return {
      Credentials: {
        AccessKeyId: assumed.accessKeyId,
        SecretAccessKey: assumed.secretAccessKey,
        SessionToken: assumed.token,
        Expiration: assumed.expiration,
      },
      AssumedRoleUser: {
        AssumedRoleId: `${role.id}:${assumedName}`,
        Arn: assumed.assumedRoleArn,
      },
    };
  },
};
