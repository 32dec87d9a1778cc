/**
 * Referrers between formats: attaching an artifact (an SBOM) to an image
 * in any sink that can hold referrers, carrying an image's referrers along
 * in a copy, and reading an attached document back, digest checked. The
 * formats' own parts are `ImageSink.putReferrer` and
 * `ImageSource.referrers`; the fallback index is written in one place
 * (`oci/referrers.ts`).
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";
import type { ImageSink, ImageSource } from "../oci/image.ts";
import { isForeignLayer, parseManifest, type RawManifest } from "../oci/manifest.ts";
import { type Artifact, EMPTY_DESCRIPTOR, EMPTY_JSON } from "../oci/referrers.ts";
import type { Descriptor } from "../oci/types.ts";

/** What {@linkcode attachArtifact} did. */
export interface AttachResult {
  /** The artifact manifest's digest. */
  digest: string;
  /** Its `artifactType`. */
  artifactType: string;
  /** Whether anything was written (false: the same artifact was attached already). */
  written: boolean;
}

/**
 * Attaches an artifact to the image `subject` in `sink` (after the image's
 * commit): its blobs, its manifest, and its listing as a referrer. An
 * artifact attached before (same bytes) is left as it is.
 *
 * @example
 * ```ts
 * import { attachArtifact } from "./referrers.ts";
 * import { artifactManifest } from "../oci/referrers.ts";
 * import { openImageSink } from "./open.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * const sink = await openImageSink(parseImageLocation("oci:out.oci:1"));
 * const subject = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: "sha256:" + "a".repeat(64), size: 1 };
 * await attachArtifact(sink, subject, artifactManifest(subject, "application/spdx+json", new Uint8Array([123, 125])));
 * ```
 */
export async function attachArtifact(
  sink: ImageSink,
  subject: Descriptor,
  artifact: Artifact,
  signal?: AbortSignal,
): Promise<AttachResult> {
  if (!sink.putReferrer) {
    throw new AptOstreeError(`${sink.description} cannot hold referrers (an SBOM attached to an image)`, {
      solution: "Write to an OCI layout (oci:) or a registry (docker://), or leave out {sbom}",
    });
  }
  let written = false;
  if (!(await sink.blobs.has(EMPTY_DESCRIPTOR.digest, signal))) {
    await sink.blobs.putBytes(EMPTY_JSON, signal);
    written = true;
  }
  if (!(await sink.blobs.has(artifact.layer.digest, signal))) {
    await sink.blobs.putBytes(artifact.bytes, signal);
    written = true;
  }
  written = (await sink.putReferrer(artifact.manifest, subject, signal)) || written;
  return { digest: artifact.manifest.digest, artifactType: artifact.artifactType, written };
}

/** How deep referrers of referrers are followed (a signature of an SBOM is 2). */
const MAX_REFERRER_DEPTH = 3;

/**
 * Copies the referrers of `subjects` (and theirs, a few levels deep) from
 * `source` into `sink`, after the image itself was committed there.
 * Resolves to the number of referrers newly listed. A source or sink that
 * holds no referrers copies none.
 *
 * @example
 * ```ts
 * import { copyReferrers } from "./referrers.ts";
 * import { openImageSink, openImageSource } from "./open.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * const source = await openImageSource(parseImageLocation("oci:web.oci:1"));
 * const sink = await openImageSink(parseImageLocation("docker://localhost:5000/web:1"), { tlsVerify: false });
 * const root = await source.root();
 * await copyReferrers(source, sink, [{ mediaType: root.mediaType, digest: root.digest, size: root.bytes.length }]);
 * ```
 */
export async function copyReferrers(
  source: ImageSource,
  sink: ImageSink,
  subjects: readonly Descriptor[],
  signal?: AbortSignal,
): Promise<number> {
  if (!source.referrers || !sink.putReferrer) return 0;
  let listed = 0;
  const seen = new Set<string>();
  let level = [...subjects];
  for (let depth = 0; depth < MAX_REFERRER_DEPTH && level.length > 0; depth++) {
    const next: Descriptor[] = [];
    for (const subject of level) {
      for (const descriptor of await source.referrers(subject, signal)) {
        if (seen.has(descriptor.digest)) continue;
        seen.add(descriptor.digest);
        const raw = await source.manifest(descriptor, signal);
        const parsed = parseManifest(raw, source.description);
        if (parsed.kind !== "manifest") continue; // an index as a referrer: not carried
        for (const blob of [parsed.manifest.config, ...parsed.manifest.layers]) {
          if (isForeignLayer(blob) || (await sink.blobs.has(blob.digest, signal))) continue;
          await sink.blobs.copy(blob, (offset) => source.openBlob(blob, offset, signal), {
            signal,
            from: source.registry,
            where: source.description,
          });
        }
        if (await sink.putReferrer(raw, subject, signal)) listed++;
        next.push({ mediaType: raw.mediaType, digest: raw.digest, size: raw.bytes.length });
      }
    }
    level = next;
  }
  return listed;
}

/** A document attached to an image, read back. */
export interface AttachedDocument {
  /** The artifact manifest. */
  manifest: RawManifest;
  /** Its `artifactType`. */
  artifactType: string;
  /** The document's descriptor (the artifact's layer). */
  layer: Descriptor;
  /** The document (digest and size checked). */
  bytes: Uint8Array;
}

/**
 * Reads the documents of `artifactTypes` attached to `subject` (each
 * manifest and document checked against its digest), in the order the
 * source lists them.
 *
 * @example
 * ```ts
 * import { readAttached } from "./referrers.ts";
 * import { openImageSource } from "./open.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * const source = await openImageSource(parseImageLocation("oci:web.oci:1"));
 * const root = await source.root();
 * const docs = await readAttached(source, { mediaType: root.mediaType, digest: root.digest, size: root.bytes.length },
 *   ["application/spdx+json"]);
 * ```
 */
export async function readAttached(
  source: ImageSource,
  subject: Descriptor,
  artifactTypes: readonly string[],
  signal?: AbortSignal,
): Promise<AttachedDocument[]> {
  if (!source.referrers) return [];
  const out: AttachedDocument[] = [];
  for (const descriptor of await source.referrers(subject, signal)) {
    if (descriptor.artifactType !== undefined && !artifactTypes.includes(descriptor.artifactType)) continue;
    const raw = await source.manifest(descriptor, signal);
    const parsed = parseManifest(raw, source.description);
    if (parsed.kind !== "manifest") continue;
    const json = JSON.parse(new TextDecoder().decode(raw.bytes));
    const artifactType: string = json.artifactType ?? parsed.manifest.config.mediaType;
    if (!artifactTypes.includes(artifactType) || json.subject?.digest !== subject.digest) continue;
    const layer = parsed.manifest.layers[0];
    if (!layer) continue;
    out.push({ manifest: raw, artifactType, layer, bytes: await source.blobBytes(layer, signal) });
  }
  return out;
}
