/**
 * containers-policy.json(5): the trust policy skopeo and podman apply
 * before they use an image. Parsed here with the requirement types a
 * key-based setup uses (`insecureAcceptAnything`, `reject`, `signedBy`
 * with GPG keys, `sigstoreSigned` with a public key) and looked up as
 * containers/image looks it up: the transport's most specific scope, then
 * the transport's `""`, then `default`.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import { AptOstreeError, UsageError } from "../errors.ts";
import { decodeBase64 } from "../util/base64.ts";
import { parseSignedIdentity, type SignedIdentity } from "./identity.ts";
import { dockerScopes } from "./registries_d.ts";

/** Key material: a file to read, or the bytes themselves (`keyData`). */
export type KeySource = { path: string } | { data: Uint8Array };

/** One requirement of a policy. */
export type PolicyRequirement =
  | { type: "insecureAcceptAnything" }
  | { type: "reject" }
  | { type: "signedBy"; keys: KeySource[]; signedIdentity: SignedIdentity }
  | { type: "sigstoreSigned"; key: KeySource; signedIdentity: SignedIdentity };

/** A parsed policy. */
export interface Policy {
  /** The file it came from. */
  path: string;
  /** `default`. */
  default: PolicyRequirement[];
  /** `transports`: transport → scope → requirements. */
  transports: Record<string, Record<string, PolicyRequirement[]>>;
}

function bad(where: string, why: string): UsageError {
  return new UsageError(`Invalid policy ${where}: ${why}`, {
    solution: "Fix the file (containers-policy.json(5)), or name another one with {policy}",
  });
}

function base64Bytes(text: unknown, where: string): Uint8Array {
  if (typeof text !== "string") throw bad(where, "keyData is not a string");
  const bytes = decodeBase64(text);
  if (!bytes) throw bad(where, "keyData is not base64");
  return bytes;
}

/**
 * Parses one requirement; relative key paths are relative to the policy's
 * directory.
 *
 * @example
 * ```ts
 * import { parseRequirement } from "./policy.ts";
 * parseRequirement({ type: "sigstoreSigned", keyPath: "/etc/keys/cosign.pub" }, "policy.json");
 * ```
 */
export function parseRequirement(value: unknown, where: string): PolicyRequirement {
  const r = value as Record<string, unknown> | null;
  if (typeof r !== "object" || r === null || typeof r.type !== "string") throw bad(where, "a requirement has no type");
  const keyPath = (p: unknown): KeySource => {
    if (typeof p !== "string" || p === "") throw bad(where, "keyPath is not a string");
    return { path: resolve(dirname(where), p) };
  };
  const identity = () =>
    r.signedIdentity === undefined
      ? { type: "matchRepoDigestOrExact" as const }
      : parseSignedIdentity(r.signedIdentity, where);
  switch (r.type) {
    case "insecureAcceptAnything":
    case "reject":
      return { type: r.type };
    case "signedBy": {
      if (r.keyType !== "GPGKeys") throw bad(where, `signedBy keyType ${r.keyType} is not supported (only GPGKeys)`);
      const given = [r.keyPath, r.keyPaths, r.keyData].filter((x) => x !== undefined).length;
      if (given !== 1) throw bad(where, "signedBy needs exactly one of keyPath, keyPaths and keyData");
      const keys: KeySource[] = r.keyPath !== undefined
        ? [keyPath(r.keyPath)]
        : r.keyPaths !== undefined
        ? (Array.isArray(r.keyPaths) && r.keyPaths.length > 0 ? r.keyPaths.map(keyPath) : (() => {
          throw bad(where, "keyPaths is not a list of paths");
        })())
        : [{ data: base64Bytes(r.keyData, where) }];
      return { type: "signedBy", keys, signedIdentity: identity() };
    }
    case "sigstoreSigned": {
      const given = [r.keyPath, r.keyData].filter((x) => x !== undefined).length;
      if (given !== 1) {
        throw bad(
          where,
          "sigstoreSigned needs exactly one of keyPath and keyData (Fulcio certificates and Rekor are not supported)",
        );
      }
      const key = r.keyPath !== undefined ? keyPath(r.keyPath) : { data: base64Bytes(r.keyData, where) };
      return { type: "sigstoreSigned", key, signedIdentity: identity() };
    }
    default:
      throw bad(where, `unknown requirement type ${r.type}`);
  }
}

function requirements(value: unknown, where: string): PolicyRequirement[] {
  if (!Array.isArray(value) || value.length === 0) throw bad(where, "a requirement list is empty or not a list");
  return value.map((v) => parseRequirement(v, where));
}

/**
 * Reads a policy file.
 *
 * @example
 * ```ts
 * import { loadPolicy } from "./policy.ts";
 * const policy = await loadPolicy("/etc/containers/policy.json");
 * ```
 */
export async function loadPolicy(path: string): Promise<Policy> {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UsageError(`No policy file ${path}`, { solution: "Check {policy}" });
    }
    throw bad(path, (error as Error).message);
  }
  const policy: Policy = { path, default: requirements(json?.default, path), transports: {} };
  const transports = json.transports ?? {};
  if (typeof transports !== "object" || transports === null) throw bad(path, "transports is not a mapping");
  for (const [transport, scopes] of Object.entries(transports)) {
    if (typeof scopes !== "object" || scopes === null) throw bad(path, `transports.${transport} is not a mapping`);
    policy.transports[transport] = {};
    for (const [scope, reqs] of Object.entries(scopes)) {
      policy.transports[transport][scope] = requirements(reqs, path);
    }
  }
  return policy;
}

/**
 * The scopes an image is looked up under in a policy, most specific
 * first: a docker reference's (`host/repo:tag`, `host/repo`, namespaces,
 * `host`, `*.domain`), or a path's (`/abs/path:tag`, `/abs/path`, its
 * parent directories).
 *
 * @example
 * ```ts
 * import { policyScopes } from "./policy.ts";
 * policyScopes("oci", "/srv/web.oci", "1"); // ["/srv/web.oci:1", "/srv/web.oci", "/srv", "/"]
 * ```
 */
export function policyScopes(transport: string, name: string, tag?: string): string[] {
  if (transport === "docker") return dockerScopes(name);
  const path = resolve(name);
  const scopes = tag !== undefined ? [`${path}:${tag}`] : [];
  for (let p = path;; p = dirname(p)) {
    scopes.push(p);
    if (p === dirname(p)) break;
  }
  return scopes;
}

/**
 * The requirements that apply to an image: the first scope of
 * `transport` the policy names, else the transport's `""`, else
 * `default`. Returns where they came from too, for messages.
 *
 * @example
 * ```ts
 * import { loadPolicy, requirementsFor } from "./policy.ts";
 * const { requirements } = requirementsFor(await loadPolicy("policy.json"), "docker", ["localhost:5000/web:1"]);
 * ```
 */
export function requirementsFor(
  policy: Policy,
  transport: string,
  scopes: string[],
): { requirements: PolicyRequirement[]; scope: string } {
  const byScope = policy.transports[transport] ?? {};
  for (const scope of scopes) {
    if (byScope[scope] !== undefined) return { requirements: byScope[scope], scope: `${transport}:${scope}` };
  }
  if (byScope[""] !== undefined) return { requirements: byScope[""], scope: `${transport} (default)` };
  return { requirements: policy.default, scope: "default" };
}

/**
 * Reads key material.
 *
 * @example
 * ```ts
 * import { readKey } from "./policy.ts";
 * const bytes = await readKey({ path: "/etc/keys/cosign.pub" });
 * ```
 */
export async function readKey(key: KeySource): Promise<Uint8Array> {
  if ("data" in key) return key.data;
  try {
    return await Deno.readFile(key.path);
  } catch (error) {
    throw new AptOstreeError(`Cannot read the key ${key.path}: ${(error as Error).message}`, {
      solution: "Check the key's path ({key}, or the policy's keyPath)",
    });
  }
}
