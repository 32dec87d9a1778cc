/**
 * OCI 1.1 referrers: artifacts (an SBOM, a signature) attached to an image
 * by a manifest whose `subject` is the image's manifest. Registries with
 * the referrers API list them at `/v2/NAME/referrers/DIGEST`; elsewhere
 * (docker-registry 2.8, OCI layouts) the **tag-schema fallback** lists them
 * in an image index under the tag `sha256-<hex>`. This module is the one
 * implementation of that index: {@linkcode appendReferrer} adds an entry
 * and keeps every other one (another tool's attachments stay).
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";
import { digestHex, sha256Digest } from "../digest/digest.ts";
import { type RawManifest, rawManifest } from "./manifest.ts";
import { jsonBytes } from "./image_config.ts";
import { type Descriptor, type ImageIndex, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST } from "./types.ts";

/** The empty config of an artifact manifest (the two bytes `{}`). */
export const MEDIA_TYPE_EMPTY = "application/vnd.oci.empty.v1+json";

/** The empty descriptor's bytes. */
export const EMPTY_JSON: Uint8Array = new TextEncoder().encode("{}");

/** Descriptor of {@linkcode EMPTY_JSON}. */
export const EMPTY_DESCRIPTOR: Descriptor = {
  mediaType: MEDIA_TYPE_EMPTY,
  digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
  size: 2,
};

/** Annotation of an artifact manifest: when it was made. */
export const ANNOTATION_CREATED = "org.opencontainers.image.created";

/**
 * The fallback tag listing the referrers of `digest`: `sha256-<hex>`.
 *
 * @example
 * ```ts
 * import { referrersTag } from "./referrers.ts";
 * referrersTag("sha256:" + "ab".repeat(32)); // "sha256-abab…"
 * ```
 */
export function referrersTag(digest: string): string {
  return `sha256-${digestHex(digest)}`;
}

/** An artifact manifest, its layer's descriptor and bytes. */
export interface Artifact {
  /** The manifest. */
  manifest: RawManifest;
  /** Its `artifactType`. */
  artifactType: string;
  /** The one layer (the document). */
  layer: Descriptor;
  /** The layer's bytes. */
  bytes: Uint8Array;
}

/**
 * Makes an artifact manifest for one document attached to `subject`: the
 * empty config, `artifactType`, one layer of `mediaType` = `artifactType`.
 * The same inputs give the same bytes.
 *
 * @example
 * ```ts
 * import { artifactManifest } from "./referrers.ts";
 * const subject = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: "sha256:" + "a".repeat(64), size: 1 };
 * const a = artifactManifest(subject, "application/spdx+json", new TextEncoder().encode("{}\n"), {
 *   "org.opencontainers.image.created": "2024-01-01T00:00:00Z",
 * });
 * a.manifest.mediaType; // "application/vnd.oci.image.manifest.v1+json"
 * ```
 */
export function artifactManifest(
  subject: Descriptor,
  artifactType: string,
  bytes: Uint8Array,
  annotations: Record<string, string> = {},
  title?: string,
): Artifact {
  const layer: Descriptor = {
    mediaType: artifactType,
    digest: sha256Digest(bytes),
    size: bytes.length,
    ...(title ? { annotations: { "org.opencontainers.image.title": title } } : {}),
  };
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_MANIFEST,
    artifactType,
    config: EMPTY_DESCRIPTOR,
    layers: [layer],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
  return { manifest: rawManifest(jsonBytes(manifest), MEDIA_TYPE_MANIFEST), artifactType, layer, bytes };
}

/**
 * The descriptor an index lists for a referrer: with its `artifactType` and annotations.
 *
 * @example
 * ```ts
 * import { referrerDescriptor } from "./referrers.ts";
 * import { rawManifest } from "./manifest.ts";
 * referrerDescriptor(rawManifest(new TextEncoder().encode('{"schemaVersion":2,"artifactType":"a/b","layers":[]}')))
 *   .artifactType; // "a/b"
 * ```
 */
export function referrerDescriptor(raw: RawManifest): Descriptor {
  const parsed = JSON.parse(new TextDecoder().decode(raw.bytes));
  const artifactType = parsed.artifactType ?? parsed.config?.mediaType;
  return {
    mediaType: raw.mediaType,
    digest: raw.digest,
    size: raw.bytes.length,
    ...(typeof artifactType === "string" ? { artifactType } : {}),
    ...(parsed.annotations && typeof parsed.annotations === "object" ? { annotations: parsed.annotations } : {}),
  };
}

/**
 * The `subject` of a manifest, when it names one.
 *
 * @example
 * ```ts
 * import { subjectOf } from "./referrers.ts";
 * import { rawManifest } from "./manifest.ts";
 * subjectOf(rawManifest(new TextEncoder().encode('{"schemaVersion":2,"layers":[]}'))); // undefined
 * ```
 */
export function subjectOf(raw: RawManifest): Descriptor | undefined {
  try {
    const subject = JSON.parse(new TextDecoder().decode(raw.bytes))?.subject;
    return typeof subject?.digest === "string" ? subject : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Parses a fallback (or referrers API) index, refusing anything else.
 *
 * @example
 * ```ts
 * import { parseReferrersIndex } from "./referrers.ts";
 * import { rawManifest } from "./manifest.ts";
 * parseReferrersIndex(rawManifest(new TextEncoder().encode('{"schemaVersion":2,"manifests":[]}')), "x").manifests; // []
 * ```
 */
export function parseReferrersIndex(raw: RawManifest, where: string): ImageIndex {
  let index: ImageIndex;
  try {
    index = JSON.parse(new TextDecoder().decode(raw.bytes));
  } catch {
    index = undefined as unknown as ImageIndex;
  }
  if (index?.schemaVersion !== 2 || !Array.isArray(index.manifests)) {
    throw new AptOstreeError(`${where} is not an image index of referrers`, {
      solution: "Another tool wrote something else under that tag; remove the tag, then attach again",
    });
  }
  return index;
}

/**
 * Adds `referrer` to a fallback index (a new one when `existing` is
 * undefined), keeping every entry already there, in their order; undefined
 * when the index already lists it (nothing to write).
 *
 * @example
 * ```ts
 * import { appendReferrer } from "./referrers.ts";
 * const d = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: "sha256:" + "b".repeat(64), size: 9,
 *   artifactType: "application/spdx+json" };
 * const index = appendReferrer(undefined, d)!;
 * appendReferrer(index, d); // undefined: already listed
 * ```
 */
export function appendReferrer(existing: ImageIndex | undefined, referrer: Descriptor): ImageIndex | undefined {
  const manifests = existing?.manifests ?? [];
  if (manifests.some((m) => m.digest === referrer.digest)) return undefined;
  return {
    ...(existing ?? {}),
    schemaVersion: 2,
    mediaType: existing?.mediaType ?? MEDIA_TYPE_INDEX,
    manifests: [...manifests, referrer],
  };
}

/**
 * The index's bytes as a raw manifest.
 *
 * @example
 * ```ts
 * import { appendReferrer, indexManifest } from "./referrers.ts";
 * const d = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: "sha256:" + "b".repeat(64), size: 9 };
 * indexManifest(appendReferrer(undefined, d)!).mediaType; // "application/vnd.oci.image.index.v1+json"
 * ```
 */
export function indexManifest(index: ImageIndex): RawManifest {
  return rawManifest(jsonBytes(index), MEDIA_TYPE_INDEX);
}
