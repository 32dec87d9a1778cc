/**
 * Checking an image's signatures against keys (`image verify --key`) or a
 * containers-policy.json (`--policy`): each signature's cryptography (gpgv
 * for simple signatures, ECDSA P-256 for cosign's), that it signs this
 * manifest's digest, and that the reference it names is acceptable under
 * the `signedIdentity` rule.
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";
import type { RegistryOptions } from "../registry/client.ts";
import type { ImageLocation } from "../reference/transport.ts";
import { readCosignSignatures } from "./attachments.ts";
import { readPublicKey, verifyBytes } from "./cosign_key.ts";
import { gpgVerify } from "./gpg.ts";
import { formatReference, identityMismatch, normalizeReference, type SignedIdentity } from "./identity.ts";
import { readLookasideSignatures } from "./lookaside.ts";
import { COSIGN_TYPE, parsePayload, SIMPLE_SIGNING_TYPE } from "./payload.ts";
import { loadPolicy, type PolicyRequirement, policyScopes, readKey, requirementsFor } from "./policy.ts";
import { loadRegistriesD, lookasideDir } from "./registries_d.ts";

/** Options for {@linkcode verifySignatures}. */
export interface VerifySignaturesOptions {
  /** Public keys: PEM (cosign) or GPG exports; a signature by any one of them is enough. */
  keys?: string[];
  /** A containers-policy.json to apply instead. */
  policy?: string;
  /** The docker reference the image is known as (default: a registry image's own, a layout's recorded name). */
  identity?: string;
  /** registries.d directory for the lookaside. */
  registriesD?: string;
  /** Directory of simple signatures (instead of the lookaside; the only place for layouts and archives). */
  signatureDir?: string;
  /** How to reach the registry. */
  registry?: RegistryOptions;
}

/** The outcome of one requirement. */
export interface RequirementResult {
  /** The requirement's type. */
  type: PolicyRequirement["type"];
  /** Whether it is satisfied. */
  ok: boolean;
  /** What satisfied it, or why not. */
  message: string;
}

/** What {@linkcode verifySignatures} found. */
export interface SignaturesResult {
  /** The image. */
  image: string;
  /** Its manifest (or index) digest. */
  digest: string;
  /** The reference compared with the signatures' identities (undefined when the image has none). */
  reference: string | undefined;
  /** Where the requirements came from (`--key`, or the policy scope). */
  scope: string;
  /** Whether the image is accepted. */
  accepted: boolean;
  /** Each requirement's outcome. */
  requirements: RequirementResult[];
}

function imageReference(location: ImageLocation, imageName: string | undefined, identity?: string): string | undefined {
  if (identity !== undefined) return formatReference(normalizeReference(identity));
  if (location.transport === "docker") {
    const named = normalizeReference(location.ref.name);
    return formatReference({ repository: named.repository, tag: location.ref.tag, digest: location.ref.digest });
  }
  if (location.transport === "docker-archive" && location.ref) return location.ref.fullName;
  if (imageName === undefined) return undefined;
  try {
    return formatReference(normalizeReference(imageName));
  } catch {
    return undefined;
  }
}

interface Context {
  location: ImageLocation;
  digest: string;
  reference: string | undefined;
  options: VerifySignaturesOptions;
  simple?: Promise<{ signatures: { path: string; bytes: Uint8Array }[]; where: string }>;
  cosign?: Promise<{ payload: Uint8Array; signature: string }[]>;
}

function simpleSignatures(ctx: Context): NonNullable<Context["simple"]> {
  ctx.simple ??= (async () => {
    const { location, options, digest } = ctx;
    let base = options.signatureDir;
    let pathRef = ctx.reference;
    if (location.transport === "docker") {
      pathRef = `${location.ref.name}:${location.ref.tag ?? "latest"}`;
      base ??= lookasideDir(await loadRegistriesD(options.registriesD), pathRef, "read");
    }
    if (base === undefined || pathRef === undefined) {
      return { signatures: [], where: "nowhere (name a directory with --signature-dir and the image's --identity)" };
    }
    return { signatures: await readLookasideSignatures(base, pathRef, digest), where: base };
  })();
  return ctx.simple;
}

function cosignSignatures(ctx: Context): NonNullable<Context["cosign"]> {
  ctx.cosign ??= ctx.location.transport === "docker" || ctx.location.transport === "oci"
    ? readCosignSignatures(ctx.location, ctx.digest, ctx.options.registry)
    : Promise.resolve([]);
  return ctx.cosign;
}

function checkPayload(
  bytes: Uint8Array,
  type: string,
  ctx: Context,
  rule: SignedIdentity,
): string | undefined {
  let payload;
  try {
    payload = parsePayload(bytes);
  } catch (error) {
    return (error as Error).message;
  }
  if (payload.type !== type) {
    return `the payload's type is ${JSON.stringify(payload.type)}, not ${JSON.stringify(type)}`;
  }
  if (payload.manifestDigest !== ctx.digest) {
    return `the signature is for manifest ${payload.manifestDigest}, but the image's manifest is ${ctx.digest} (changed after signing?)`;
  }
  const mismatch = identityMismatch(rule, ctx.reference, payload.dockerReference);
  return mismatch === undefined ? undefined : `identity mismatch: ${mismatch}`;
}

async function evaluate(req: PolicyRequirement, ctx: Context): Promise<RequirementResult> {
  const type = req.type;
  if (type === "insecureAcceptAnything") return { type, ok: true, message: "accepted without a signature" };
  if (type === "reject") return { type, ok: false, message: "the policy rejects every image here" };
  const reasons: string[] = [];
  if (type === "signedBy") {
    const keys = await Promise.all(req.keys.map(readKey));
    const { signatures, where } = await simpleSignatures(ctx);
    if (signatures.length === 0) {
      return {
        type,
        ok: false,
        message: `A signature was required, but no simple signature exists (looked in ${where})`,
      };
    }
    for (const sig of signatures) {
      const result = await gpgVerify(sig.bytes, keys);
      if (!result.ok) {
        reasons.push(`${sig.path}: ${result.reason}`);
        continue;
      }
      const problem = checkPayload(result.payload, SIMPLE_SIGNING_TYPE, ctx, req.signedIdentity);
      if (problem === undefined) {
        return { type, ok: true, message: `simple signature ${sig.path} by GPG key ${result.fingerprint}` };
      }
      reasons.push(`${sig.path}: ${problem}`);
    }
    return { type, ok: false, message: reasons.join("; ") };
  }
  const pem = new TextDecoder().decode(await readKey(req.key));
  const key = readPublicKey(pem, "path" in req.key ? req.key.path : "(keyData)");
  const signatures = await cosignSignatures(ctx);
  if (signatures.length === 0) {
    return { type, ok: false, message: "A signature was required, but no sigstore signature (.sig tag) exists" };
  }
  for (const [i, sig] of signatures.entries()) {
    if (!verifyBytes(key, sig.payload, sig.signature)) {
      reasons.push(`sigstore signature ${i + 1}: does not verify with the key (signed by another key, or changed)`);
      continue;
    }
    const problem = checkPayload(sig.payload, COSIGN_TYPE, ctx, req.signedIdentity);
    if (problem === undefined) return { type, ok: true, message: `sigstore signature ${i + 1} verified with the key` };
    reasons.push(`sigstore signature ${i + 1}: ${problem}`);
  }
  return { type, ok: false, message: reasons.join("; ") };
}

function isPem(bytes: Uint8Array): boolean {
  return new TextDecoder().decode(bytes.subarray(0, 100)).includes("-----BEGIN PUBLIC KEY-----");
}

/**
 * Checks the signatures of the image `digest` at `location`. With `keys`,
 * the image is accepted when a signature by one of them verifies, signs
 * this digest and names the image (`matchRepoDigestOrExact`, or exactly
 * `identity`). With `policy`, every requirement that applies must hold.
 *
 * @example
 * ```ts
 * import { verifySignatures } from "./verify.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * const result = await verifySignatures(parseImageLocation("docker://localhost:5000/web:1"), "sha256:" + "a".repeat(64), undefined, {
 *   keys: ["cosign.pub"],
 *   registry: { tlsVerify: false },
 * });
 * if (!result.accepted) console.log(result.requirements.map((r) => r.message));
 * ```
 */
export async function verifySignatures(
  location: ImageLocation,
  digest: string,
  imageName: string | undefined,
  options: VerifySignaturesOptions,
): Promise<SignaturesResult> {
  const reference = imageReference(location, imageName, options.identity);
  const ctx: Context = { location, digest, reference, options };
  const image = location.transport === "docker" ? `docker://${location.ref.name}` : location.path;
  if (options.policy !== undefined) {
    const policy = await loadPolicy(options.policy);
    const name = location.transport === "docker" ? reference ?? location.ref.name : location.path;
    const tag = location.transport === "docker"
      ? undefined
      : location.transport === "docker-archive"
      ? undefined
      : location.tag;
    const { requirements, scope } = requirementsFor(
      policy,
      location.transport,
      policyScopes(location.transport, name, tag),
    );
    const results: RequirementResult[] = [];
    for (const req of requirements) results.push(await evaluate(req, ctx));
    return {
      image,
      digest,
      reference,
      scope: `${options.policy} (${scope})`,
      accepted: results.every((r) => r.ok),
      requirements: results,
    };
  }
  if (options.keys === undefined || options.keys.length === 0) {
    throw new AptOstreeError("Nothing to verify signatures with", { solution: "Give {key} or {policy}" });
  }
  const rule: SignedIdentity = options.identity !== undefined
    ? { type: "exactReference", dockerReference: options.identity }
    : { type: "matchRepoDigestOrExact" };
  const gpgKeys: string[] = [];
  const results: RequirementResult[] = [];
  for (const path of options.keys) {
    const bytes = await readKey({ path });
    if (isPem(bytes)) {
      results.push(await evaluate({ type: "sigstoreSigned", key: { data: bytes }, signedIdentity: rule }, ctx));
    } else gpgKeys.push(path);
  }
  if (gpgKeys.length > 0) {
    results.push(
      await evaluate({ type: "signedBy", keys: gpgKeys.map((path) => ({ path })), signedIdentity: rule }, ctx),
    );
  }
  return { image, digest, reference, scope: "--key", accepted: results.some((r) => r.ok), requirements: results };
}
