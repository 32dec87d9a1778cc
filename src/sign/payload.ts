/**
 * The signed payloads of container signatures: the "atomic container
 * signature" of simple signing (GPG, containers-signature(5)) and the
 * "cosign container image signature" of cosign's `.sig` attachments. Both
 * say which image (the manifest digest) is known under which name (the
 * docker reference); the signature covers the payload's exact bytes.
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { parseSourceDateEpoch } from "../util/source_date_epoch.ts";

/** The payload type of simple signing (GPG). */
export const SIMPLE_SIGNING_TYPE = "atomic container signature";
/** The payload type of cosign signatures. */
export const COSIGN_TYPE = "cosign container image signature";

/** Which format a payload is for. */
export type PayloadKind = "simple" | "cosign";

/** What a payload says. */
export interface SignaturePayload {
  /** `atomic container signature` or `cosign container image signature`. */
  type: string;
  /** The docker reference the signer named (`HOST/NAME:TAG`). */
  dockerReference: string;
  /** The manifest digest signed. */
  manifestDigest: string;
  /** The `optional` section (creator, timestamp, …). */
  optional: Record<string, unknown>;
}

/** Options for {@linkcode makePayload}. */
export interface MakePayloadOptions {
  /** The creator (default `apt-ostree <version>`). */
  creator?: string;
  /** Seconds since the epoch (default: `SOURCE_DATE_EPOCH`, else now). */
  timestamp?: number;
}

/**
 * The timestamp for a new signature: `SOURCE_DATE_EPOCH` when it is set
 * (reproducible builds), else now, in whole seconds; a malformed value is a
 * usage error, as for every other time the tool stamps.
 *
 * @example
 * ```ts
 * import { signatureTimestamp } from "./payload.ts";
 * signatureTimestamp("1700000000"); // 1700000000
 * ```
 */
export function signatureTimestamp(sourceDateEpoch: string | undefined = Deno.env.get("SOURCE_DATE_EPOCH")): number {
  return parseSourceDateEpoch(sourceDateEpoch) ?? Math.floor(Date.now() / 1000);
}

/**
 * Makes the payload bytes for a signature of `manifestDigest` known as
 * `dockerReference`, in the key order containers/image and cosign write.
 *
 * @example
 * ```ts
 * import { makePayload } from "./payload.ts";
 * const bytes = makePayload("simple", "registry.example.com/web:1", "sha256:" + "0".repeat(64), { timestamp: 1 });
 * ```
 */
export function makePayload(
  kind: PayloadKind,
  dockerReference: string,
  manifestDigest: string,
  options: MakePayloadOptions = {},
): Uint8Array {
  const payload = {
    critical: {
      identity: { "docker-reference": dockerReference },
      image: { "docker-manifest-digest": manifestDigest },
      type: kind === "simple" ? SIMPLE_SIGNING_TYPE : COSIGN_TYPE,
    },
    optional: {
      creator: options.creator ?? `apt-ostree ${VERSION}`,
      timestamp: options.timestamp ?? signatureTimestamp(),
    },
  };
  return new TextEncoder().encode(JSON.stringify(payload));
}

function invalid(why: string): AptOstreeError {
  return new AptOstreeError(`Invalid signature payload: ${why}`, {
    solution: "The signature was not made for a container image; sign the image again",
  });
}

/**
 * Parses payload bytes and checks their shape (not the signature: that is
 * the caller's, before trusting what this returns).
 *
 * @example
 * ```ts
 * import { makePayload, parsePayload } from "./payload.ts";
 * const digest = "sha256:" + "0".repeat(64);
 * parsePayload(makePayload("cosign", "localhost:5000/web:1", digest)).manifestDigest === digest; // true
 * ```
 */
export function parsePayload(bytes: Uint8Array): SignaturePayload {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw invalid("not JSON");
  }
  const obj = json as Record<string, Record<string, unknown>> | null;
  const critical = obj?.critical as Record<string, Record<string, unknown> | string> | undefined;
  if (typeof critical !== "object" || critical === null) throw invalid("no critical section");
  const type = critical.type;
  const identity = critical.identity as Record<string, unknown> | undefined;
  const image = critical.image as Record<string, unknown> | undefined;
  const ref = identity?.["docker-reference"];
  const digest = image?.["docker-manifest-digest"];
  if (typeof type !== "string") throw invalid("no critical.type");
  if (typeof ref !== "string") throw invalid("no critical.identity.docker-reference");
  if (typeof digest !== "string" || !/^sha(256|384|512):[0-9a-f]+$/.test(digest)) {
    throw invalid("no valid critical.image.docker-manifest-digest");
  }
  const optional = obj?.optional;
  return {
    type,
    dockerReference: ref,
    manifestDigest: digest,
    optional: typeof optional === "object" && optional !== null ? optional : {},
  };
}
