/**
 * Manifests as registries serve them: OCI and Docker schema 2 manifests and
 * indexes (manifest lists), their media types, parsing with clear errors,
 * platform selection, and the compression of a layer.
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";
import { sha256Digest } from "../digest/digest.ts";
import {
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  MEDIA_TYPE_CONFIG,
  MEDIA_TYPE_INDEX,
  MEDIA_TYPE_MANIFEST,
  type Platform,
} from "./types.ts";

/** Docker schema 2 manifest. */
export const MEDIA_TYPE_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
/** Docker manifest list. */
export const MEDIA_TYPE_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
/** Docker image config. */
export const MEDIA_TYPE_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
/** Docker gzip layer. */
export const MEDIA_TYPE_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/** OCI uncompressed layer. */
export const MEDIA_TYPE_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar";

/** The `Accept` header for manifests: every kind we read. */
export const MANIFEST_ACCEPT: string = [
  MEDIA_TYPE_MANIFEST,
  MEDIA_TYPE_INDEX,
  MEDIA_TYPE_DOCKER_MANIFEST,
  MEDIA_TYPE_DOCKER_LIST,
].join(", ");

/** A manifest or index exactly as stored: its bytes, media type and digest. */
export interface RawManifest {
  /** The bytes (the digest covers exactly these). */
  bytes: Uint8Array;
  /** Media type. */
  mediaType: string;
  /** `sha256:<hex>` of the bytes. */
  digest: string;
}

/**
 * The descriptor of a raw manifest (media type, digest, size).
 *
 * @example
 * ```ts
 * import { rawDescriptor, rawManifest } from "./manifest.ts";
 * rawDescriptor(rawManifest(new TextEncoder().encode("{}"))).size; // 2
 * ```
 */
export function rawDescriptor(raw: RawManifest): Descriptor {
  return { mediaType: raw.mediaType, digest: raw.digest, size: raw.bytes.length };
}

/** A parsed manifest or index. */
export type ParsedManifest =
  | { kind: "index"; index: ImageIndex; raw: RawManifest }
  | { kind: "manifest"; manifest: ImageManifest; raw: RawManifest };

/**
 * Whether a media type is an index (OCI index or Docker manifest list).
 *
 * @example
 * ```ts
 * import { isIndexMediaType } from "./manifest.ts";
 * isIndexMediaType("application/vnd.oci.image.index.v1+json"); // true
 * ```
 */
export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === MEDIA_TYPE_INDEX || mediaType === MEDIA_TYPE_DOCKER_LIST;
}

/**
 * Whether a media type is an image manifest (OCI or Docker schema 2).
 *
 * @example
 * ```ts
 * import { isManifestMediaType } from "./manifest.ts";
 * isManifestMediaType("application/vnd.docker.distribution.manifest.v2+json"); // true
 * ```
 */
export function isManifestMediaType(mediaType: string): boolean {
  return mediaType === MEDIA_TYPE_MANIFEST || mediaType === MEDIA_TYPE_DOCKER_MANIFEST;
}

/**
 * Wraps bytes as a {@linkcode RawManifest}, taking the media type from the
 * JSON when it names one (else from `hint`, else from the shape).
 *
 * @example
 * ```ts
 * import { rawManifest } from "./manifest.ts";
 * const raw = rawManifest(new TextEncoder().encode('{"schemaVersion":2,"manifests":[]}'));
 * raw.mediaType; // "application/vnd.oci.image.index.v1+json"
 * ```
 */
export function rawManifest(bytes: Uint8Array, hint?: string): RawManifest {
  let mediaType = hint ?? "";
  try {
    const json = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof json?.mediaType === "string" && json.mediaType !== "") mediaType = json.mediaType;
    else if (!isIndexMediaType(mediaType) && !isManifestMediaType(mediaType)) {
      mediaType = Array.isArray(json?.manifests) ? MEDIA_TYPE_INDEX : MEDIA_TYPE_MANIFEST;
    }
  } catch {
    // parseManifest reports it
  }
  return { bytes, mediaType, digest: sha256Digest(bytes) };
}

function isDescriptor(value: unknown): value is Descriptor {
  const d = value as Descriptor;
  return typeof d === "object" && d !== null && typeof d.digest === "string" && typeof d.size === "number" &&
    typeof d.mediaType === "string" && /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(d.digest) &&
    Number.isSafeInteger(d.size) && d.size >= 0;
}

/**
 * Parses and checks a manifest or index; `where` names it in errors.
 *
 * @example
 * ```ts
 * import { parseManifest, rawManifest } from "./manifest.ts";
 * const parsed = parseManifest(rawManifest(new TextEncoder().encode('{"schemaVersion":2,"manifests":[]}')), "test");
 * parsed.kind; // "index"
 * ```
 */
export function parseManifest(raw: RawManifest, where: string): ParsedManifest {
  const bad = (why: string) =>
    new AptOstreeError(`Invalid manifest ${raw.digest} of ${where}: ${why}`, {
      solution: "The image is damaged or not an OCI/Docker image; push it again or choose another",
    });
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(new TextDecoder().decode(raw.bytes));
  } catch {
    throw bad("not JSON");
  }
  if (typeof json !== "object" || json === null) throw bad("not a JSON object");
  if (json.schemaVersion === 1) {
    throw new AptOstreeError(`${where} is a Docker schema 1 image, which is deprecated and not supported`, {
      solution: "Push the image again with a current tool (it then gets a schema 2 or OCI manifest)",
    });
  }
  if (json.schemaVersion !== 2) throw bad("schemaVersion is not 2");
  if (isIndexMediaType(raw.mediaType)) {
    if (!Array.isArray(json.manifests) || !json.manifests.every(isDescriptor)) throw bad("bad manifests list");
    return { kind: "index", index: json as unknown as ImageIndex, raw };
  }
  if (isManifestMediaType(raw.mediaType)) {
    if (!isDescriptor(json.config)) throw bad("bad config descriptor");
    if (!Array.isArray(json.layers) || !json.layers.every(isDescriptor)) throw bad("bad layers list");
    return { kind: "manifest", manifest: json as unknown as ImageManifest, raw };
  }
  throw new AptOstreeError(`${where} has media type ${raw.mediaType || "(none)"}, which is not an image`, {
    solution: "Choose an image (an OCI or Docker schema 2 manifest or index), not another artifact",
  });
}

/**
 * Picks the manifest for a platform from an index (variant matched when
 * asked for; `unknown` attestation entries never chosen).
 *
 * @example
 * ```ts
 * import { selectPlatform } from "./manifest.ts";
 * const d = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: "sha256:" + "a".repeat(64), size: 1 };
 * selectPlatform({ schemaVersion: 2, manifests: [{ ...d, platform: { architecture: "amd64", os: "linux" } }] },
 *   { architecture: "amd64", os: "linux" }, "img");
 * ```
 */
export function selectPlatform(index: ImageIndex, platform: Platform, where: string): Descriptor {
  const images = index.manifests.filter((m) => isManifestMediaType(m.mediaType) || isIndexMediaType(m.mediaType));
  const matches = images.filter((m) =>
    m.platform?.architecture === platform.architecture && (m.platform?.os ?? "linux") === platform.os &&
    (platform.variant === undefined || m.platform?.variant === undefined || m.platform.variant === platform.variant)
  );
  if (matches.length > 0) {
    return matches.find((m) => m.platform?.variant === platform.variant) ?? matches[0];
  }
  if (images.length === 1 && images[0].platform === undefined) return images[0];
  const available = images.map((m) =>
    m.platform
      ? `${m.platform.os}/${m.platform.architecture}${m.platform.variant ? `/${m.platform.variant}` : ""}`
      : "?"
  ).filter((p) => p !== "unknown/unknown");
  throw new AptOstreeError(
    `${where} has no image for ${platform.os}/${platform.architecture}${
      platform.variant ? `/${platform.variant}` : ""
    } (it has: ${available.join(", ") || "none"})`,
    { solution: "Choose the architecture with {arch}" },
  );
}

/** How a layer blob is compressed. */
export type LayerCompression = "gzip" | "zstd" | "none";

/**
 * A layer's compression from its media type, or undefined when the type
 * does not say (then sniff the bytes with {@linkcode sniffCompression}).
 *
 * @example
 * ```ts
 * import { layerCompression } from "./manifest.ts";
 * layerCompression("application/vnd.oci.image.layer.v1.tar+zstd"); // "zstd"
 * layerCompression("application/vnd.docker.image.rootfs.diff.tar.gzip"); // "gzip"
 * ```
 */
export function layerCompression(mediaType: string): LayerCompression | undefined {
  if (/\+gzip$|\.tar\.gzip$|tar\.gz$/.test(mediaType)) return "gzip";
  if (/\+zstd$|\.tar\.zstd$/.test(mediaType)) return "zstd";
  if (mediaType === MEDIA_TYPE_LAYER_TAR || mediaType === "application/vnd.docker.image.rootfs.diff.tar") {
    return "none";
  }
  return undefined;
}

/**
 * Detects gzip and zstd by their magic bytes.
 *
 * @example
 * ```ts
 * import { sniffCompression } from "./manifest.ts";
 * sniffCompression(new Uint8Array([0x1f, 0x8b, 8])); // "gzip"
 * ```
 */
export function sniffCompression(head: Uint8Array): LayerCompression {
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return "zstd";
  return "none";
}

/**
 * Whether a layer must not be pushed (a foreign or non-distributable layer
 * with URLs, which registries fetch from elsewhere).
 *
 * @example
 * ```ts
 * import { isForeignLayer } from "./manifest.ts";
 * isForeignLayer({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: "sha256:" + "a".repeat(64), size: 1 }); // false
 * ```
 */
export function isForeignLayer(layer: Descriptor & { urls?: string[] }): boolean {
  return /foreign|nondistributable/.test(layer.mediaType) && Array.isArray(layer.urls) && layer.urls.length > 0;
}

/**
 * Parses and checks an image config.
 *
 * @example
 * ```ts
 * import { parseImageConfig } from "./manifest.ts";
 * const config = parseImageConfig(new TextEncoder().encode('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'), "img");
 * config.architecture; // "amd64"
 * ```
 */
export function parseImageConfig(bytes: Uint8Array, where: string): ImageConfig {
  let json: ImageConfig;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new AptOstreeError(`The image config of ${where} is not JSON`, {
      solution: "The image is damaged; push it again or choose another",
    });
  }
  if (
    typeof json !== "object" || json === null || json.rootfs?.type !== "layers" ||
    !Array.isArray(json.rootfs.diff_ids) || !json.rootfs.diff_ids.every((d) => typeof d === "string")
  ) {
    throw new AptOstreeError(`The image config of ${where} has no valid rootfs.diff_ids`, {
      solution: "The image is damaged; push it again or choose another",
    });
  }
  return json;
}

/** Config media types of images. */
export const CONFIG_MEDIA_TYPES: readonly string[] = [MEDIA_TYPE_CONFIG, MEDIA_TYPE_DOCKER_CONFIG];
