/**
 * Docker references as signatures name them, and the `signedIdentity`
 * rules of containers-policy.json(5) that compare the reference a
 * signature names with the image being checked.
 *
 * @module
 */

import { AptOstreeError, UsageError } from "../errors.ts";
import { parseImageReference } from "../reference/image_ref.ts";

/** A normalised docker reference: `domain/path` plus tag and/or digest. */
export interface NamedReference {
  /** `registry.example.com/team/app`, `docker.io/library/busybox`. */
  repository: string;
  /** The tag, when named. */
  tag?: string;
  /** The digest, when named. */
  digest?: string;
}

/**
 * Parses and normalises a docker reference (`busybox` is
 * `docker.io/library/busybox`), as containers/image compares them.
 *
 * @example
 * ```ts
 * import { normalizeReference } from "./identity.ts";
 * normalizeReference("busybox:1").repository; // "docker.io/library/busybox"
 * ```
 */
export function normalizeReference(text: string): NamedReference {
  const ref = parseImageReference(text.replace(/^docker:\/\//, ""));
  // parseImageReference gives `latest` when a reference names neither.
  const explicitTag = /:[\w][\w.-]*$/.test(text.replace(/@.*$/, "").replace(/^.*\//, ""));
  return {
    repository: ref.repository,
    ...(ref.tag !== undefined && (explicitTag || ref.digest === undefined) ? { tag: ref.tag } : {}),
    ...(ref.digest !== undefined ? { digest: ref.digest } : {}),
  };
}

/**
 * Formats a normalised reference (`repo:tag`, `repo@digest` or both).
 *
 * @example
 * ```ts
 * import { formatReference, normalizeReference } from "./identity.ts";
 * formatReference(normalizeReference("localhost:5000/web:1")); // "localhost:5000/web:1"
 * ```
 */
export function formatReference(ref: NamedReference): string {
  return `${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ""}${
    ref.digest !== undefined ? `@${ref.digest}` : ""
  }`;
}

/** A `signedIdentity` of containers-policy.json(5). */
export type SignedIdentity =
  | { type: "matchExact" }
  | { type: "matchRepoDigestOrExact" }
  | { type: "matchRepository" }
  | { type: "exactReference"; dockerReference: string }
  | { type: "exactRepository"; dockerRepository: string };

/**
 * Checks a `signedIdentity` object read from a policy.
 *
 * @example
 * ```ts
 * import { parseSignedIdentity } from "./identity.ts";
 * parseSignedIdentity({ type: "matchRepository" }, "policy.json");
 * ```
 */
export function parseSignedIdentity(value: unknown, where: string): SignedIdentity {
  const obj = value as Record<string, unknown> | undefined;
  const bad = (why: string) =>
    new UsageError(`${where}: invalid signedIdentity: ${why}`, {
      solution:
        "Use matchExact, matchRepoDigestOrExact, matchRepository, exactReference or exactRepository (containers-policy.json(5))",
    });
  if (typeof obj !== "object" || obj === null || typeof obj.type !== "string") throw bad("no type");
  switch (obj.type) {
    case "matchExact":
    case "matchRepoDigestOrExact":
    case "matchRepository":
      return { type: obj.type };
    case "exactReference":
      if (typeof obj.dockerReference !== "string") throw bad("exactReference needs dockerReference");
      return { type: "exactReference", dockerReference: obj.dockerReference };
    case "exactRepository":
      if (typeof obj.dockerRepository !== "string") throw bad("exactRepository needs dockerRepository");
      return { type: "exactRepository", dockerRepository: obj.dockerRepository };
    case "remapIdentity":
      throw bad("remapIdentity is not supported by apt-ostree");
    default:
      throw bad(`unknown type ${obj.type}`);
  }
}

/**
 * Whether the reference a signature names (`signed`) is acceptable for
 * the image known as `image` under `rule`; returns why not, or undefined
 * when it matches. `image` is undefined when the image has no docker
 * reference (a layout without a recorded name): only the exact rules can
 * match then.
 *
 * @example
 * ```ts
 * import { identityMismatch } from "./identity.ts";
 * identityMismatch({ type: "matchRepository" }, "localhost:5000/web:2", "localhost:5000/web:1"); // undefined
 * ```
 */
export function identityMismatch(rule: SignedIdentity, image: string | undefined, signed: string): string | undefined {
  let signedRef: NamedReference;
  try {
    signedRef = normalizeReference(signed);
  } catch {
    return `the signature names an invalid reference ${JSON.stringify(signed)}`;
  }
  const says = `the signature is for ${signed}`;
  if (rule.type === "exactReference") {
    const want = normalizeReference(rule.dockerReference);
    return formatReference(want) === formatReference(signedRef) ? undefined : `${says}, not ${rule.dockerReference}`;
  }
  if (rule.type === "exactRepository") {
    const want = normalizeReference(rule.dockerRepository);
    return want.repository === signedRef.repository ? undefined : `${says}, not repository ${rule.dockerRepository}`;
  }
  if (image === undefined) return `${says}, but the image has no docker reference to compare it with`;
  const imageRef = normalizeReference(image);
  const exact = formatReference(imageRef) === formatReference(signedRef) && imageRef.tag !== undefined;
  switch (rule.type) {
    case "matchExact":
      return exact ? undefined : `${says}, not ${image}`;
    case "matchRepoDigestOrExact":
      if (imageRef.digest !== undefined && imageRef.tag === undefined) {
        return imageRef.repository === signedRef.repository
          ? undefined
          : `${says}, not repository ${imageRef.repository}`;
      }
      return exact ? undefined : `${says}, not ${image}`;
    case "matchRepository":
      return imageRef.repository === signedRef.repository
        ? undefined
        : `${says}, not repository ${imageRef.repository}`;
  }
}

/**
 * Checks that a reference given to sign under names a tag or a digest
 * (a signature's identity must be a full reference).
 *
 * @example
 * ```ts
 * import { signingIdentity } from "./identity.ts";
 * signingIdentity("busybox:1"); // "docker.io/library/busybox:1"
 * ```
 */
export function signingIdentity(text: string): string {
  let ref: NamedReference;
  try {
    ref = normalizeReference(text);
  } catch (error) {
    throw new UsageError(`Invalid signing identity: ${text}`, {
      solution: "Give {signIdentity} as a full docker reference, e.g. registry.example.com/team/app:1.0",
      cause: error,
    });
  }
  if (ref.tag === undefined && ref.digest === undefined) {
    throw new AptOstreeError(`The signing identity names no tag: ${text}`, {
      solution: "Give {signIdentity} with a tag, e.g. registry.example.com/team/app:1.0",
    });
  }
  // As containers/image writes it: normalised (`docker.io/library/busybox:1`).
  return formatReference(ref);
}
