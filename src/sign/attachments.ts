/**
 * cosign's key-based signatures as attachments: an OCI image manifest
 * under the tag `sha256-<hex>.sig` (the signed manifest's digest), one
 * layer per signature (media type
 * `application/vnd.dev.cosign.simplesigning.v1+json`, the payload as its
 * blob, the base64 signature in the `dev.cosignproject.cosign/signature`
 * annotation), and a config whose `rootfs.diff_ids` lists the layers. In a
 * registry the tag is the registry's; in an OCI layout it is an entry of
 * `index.json`. A new signature is appended to the layers already there.
 *
 * @module
 */

import { AptOstreeError, UsageError } from "../errors.ts";
import { digestHex, sha256Digest } from "../digest/digest.ts";
import { LayoutSink } from "../layout/oci_layout.ts";
import { readLayoutIndex } from "../layout/oci_layout.ts";
import { LayoutSource } from "../layout/source.ts";
import { MAX_SMALL_BLOB } from "../oci/image.ts";
import { parseManifest, type RawManifest, rawManifest } from "../oci/manifest.ts";
import { ANNOTATION_REF_NAME, type Descriptor, MEDIA_TYPE_CONFIG, MEDIA_TYPE_MANIFEST } from "../oci/types.ts";
import type { RegistryOptions } from "../registry/client.ts";
import { RegistrySink } from "../registry/sink.ts";
import { type ImageLocation, parseImageLocation } from "../reference/transport.ts";

/** The media type of a cosign signature layer. */
export const COSIGN_LAYER_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json";
/** The annotation holding the base64 signature. */
export const COSIGN_SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";

/**
 * The tag cosign stores the signatures of `digest` under.
 *
 * @example
 * ```ts
 * import { sigstoreTag } from "./attachments.ts";
 * sigstoreTag("sha256:" + "a".repeat(64)); // "sha256-aaa….sig"
 * ```
 */
export function sigstoreTag(digest: string): string {
  return `sha256-${digestHex(digest)}.sig`;
}

/** One cosign signature: its payload and base64 signature. */
export interface CosignSignature {
  /** The payload's bytes. */
  payload: Uint8Array;
  /** The base64 DER signature. */
  signature: string;
}

/** Where `.sig` manifests are read and written. */
interface AttachmentStore {
  read(): Promise<{ raw: RawManifest; blob(d: Descriptor): Promise<Uint8Array> } | undefined>;
  write(blobs: Uint8Array[], raw: RawManifest): Promise<void>;
  close(): void;
}

async function openStore(location: ImageLocation, tag: string, options: RegistryOptions): Promise<AttachmentStore> {
  if (location.transport === "docker") {
    const at = parseImageLocation(`docker://${location.ref.name}:${tag}`);
    if (at.transport !== "docker") throw new TypeError("not a registry location");
    const sink = await RegistrySink.open(at, options);
    const repo = sink.repo;
    return {
      async read() {
        if (!(await repo.statManifest(tag))) return undefined;
        const raw = await repo.getManifest(tag);
        return { raw, blob: (d) => repo.fetchBlobBytes(d.digest, Math.min(d.size, MAX_SMALL_BLOB)) };
      },
      async write(blobs, raw) {
        for (const b of blobs) await sink.blobs.putBytes(b);
        await sink.commit(raw);
      },
      close: () => sink.close(),
    };
  }
  if (location.transport === "oci") {
    const path = location.path;
    return {
      async read() {
        const index = await readLayoutIndex(path);
        if (!index.manifests.some((m) => m.annotations?.[ANNOTATION_REF_NAME] === tag)) return undefined;
        const source = await LayoutSource.open(path, tag);
        return { raw: await source.root(), blob: (d) => source.blobBytes(d) };
      },
      async write(blobs, raw) {
        const sink = await LayoutSink.open(path, { tag });
        try {
          for (const b of blobs) await sink.blobs.putBytes(b);
          await sink.commit(raw);
        } catch (error) {
          await sink.abort();
          throw error;
        } finally {
          sink.close();
        }
      },
      close() {},
    };
  }
  throw new UsageError(`Sigstore signatures are stored in registries and OCI layouts, not in a ${location.transport}`, {
    solution: "Sign the image in the registry or layout you copy the archive to",
  });
}

async function readSignatures(
  found: { raw: RawManifest; blob(d: Descriptor): Promise<Uint8Array> },
  where: string,
): Promise<{ layers: Descriptor[]; signatures: CosignSignature[] }> {
  const parsed = parseManifest(found.raw, where);
  if (parsed.kind !== "manifest") {
    throw new AptOstreeError(`${where} is an index, not a cosign signature manifest`, {
      solution: "Remove the tag, or ask whoever wrote it",
    });
  }
  const layers = parsed.manifest.layers;
  const signatures: CosignSignature[] = [];
  for (const layer of layers) {
    const signature = layer.annotations?.[COSIGN_SIGNATURE_ANNOTATION];
    if (layer.mediaType !== COSIGN_LAYER_MEDIA_TYPE || signature === undefined) continue;
    signatures.push({ payload: await found.blob(layer), signature });
  }
  return { layers, signatures };
}

/**
 * Reads the cosign signatures attached to `digest` in a registry
 * repository or an OCI layout (none when there is no `.sig` tag).
 *
 * @example
 * ```ts
 * import { readCosignSignatures } from "./attachments.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * const signatures = await readCosignSignatures(parseImageLocation("oci:web.oci:1"), "sha256:" + "a".repeat(64));
 * ```
 */
export async function readCosignSignatures(
  location: ImageLocation,
  digest: string,
  options: RegistryOptions = {},
): Promise<CosignSignature[]> {
  const tag = sigstoreTag(digest);
  const store = await openStore(location, tag, options);
  try {
    const found = await store.read();
    return found ? (await readSignatures(found, tag)).signatures : [];
  } finally {
    store.close();
  }
}

/** What {@linkcode attachCosignSignature} wrote. */
export interface AttachResult {
  /** The `.sig` tag. */
  tag: string;
  /** The digest of the `.sig` manifest. */
  manifestDigest: string;
  /** How many signatures it holds now. */
  signatures: number;
  /** False when the same signature was already there. */
  added: boolean;
}

/**
 * Attaches a cosign signature of `digest`: the `.sig` manifest, with the
 * signatures already there kept and this one appended.
 *
 * @example
 * ```ts
 * import { attachCosignSignature } from "./attachments.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * await attachCosignSignature(parseImageLocation("oci:web.oci:1"), "sha256:" + "a".repeat(64), {
 *   payload: new TextEncoder().encode("{}"),
 *   signature: "MEUCIQ…",
 * });
 * ```
 */
export async function attachCosignSignature(
  location: ImageLocation,
  digest: string,
  signature: CosignSignature,
  options: RegistryOptions = {},
): Promise<AttachResult> {
  const tag = sigstoreTag(digest);
  const store = await openStore(location, tag, options);
  try {
    const found = await store.read();
    const layers = found ? (await readSignatures(found, tag)).layers : [];
    const layer: Descriptor = {
      mediaType: COSIGN_LAYER_MEDIA_TYPE,
      size: signature.payload.length,
      digest: sha256Digest(signature.payload),
      annotations: { [COSIGN_SIGNATURE_ANNOTATION]: signature.signature },
    };
    const same = layers.some((l) =>
      l.digest === layer.digest && l.annotations?.[COSIGN_SIGNATURE_ANNOTATION] === signature.signature
    );
    if (same && found) return { tag, manifestDigest: found.raw.digest, signatures: layers.length, added: false };
    const all = [...layers, layer];
    // As cosign writes it; containers/image reads only rootfs.diff_ids.
    const config = new TextEncoder().encode(JSON.stringify({
      architecture: "",
      config: {},
      created: "0001-01-01T00:00:00Z",
      history: [{ created: "0001-01-01T00:00:00Z" }],
      os: "",
      rootfs: { type: "layers", diff_ids: all.map((l) => l.digest) },
    }));
    const manifest = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_MANIFEST,
      config: { mediaType: MEDIA_TYPE_CONFIG, size: config.length, digest: sha256Digest(config) },
      layers: all,
    };
    const raw = rawManifest(new TextEncoder().encode(JSON.stringify(manifest)), MEDIA_TYPE_MANIFEST);
    await store.write([config, signature.payload], raw);
    return { tag, manifestDigest: raw.digest, signatures: all.length, added: true };
  } finally {
    store.close();
  }
}
