/**
 * What an earlier build attached to an image that a build reuses as it
 * is: its SBOMs are kept (found, digest checked) instead of being made
 * and compared again, so that an unchanged rebuild stays as cheap as one
 * without SBOMs.
 *
 * @module
 */

import { openImageSource } from "../image/open.ts";
import { type AttachResult, readAttached } from "../image/referrers.ts";
import type { Descriptor } from "../oci/types.ts";
import type { ImageReference } from "../reference/image_ref.ts";
import type { ImageLocation } from "../reference/transport.ts";
import type { RegistryOptions } from "../registry/client.ts";
import { SBOM_MEDIA_TYPES, type SbomFormat } from "../sbom/documents.ts";

/** An SBOM found attached to an image. */
export type AttachedSbom = AttachResult & { format: SbomFormat; size: number };

/**
 * The SBOMs of `formats` attached to `subject` at `location` (a layout or
 * a registry), each the first one listed; none when the location cannot
 * be read (the caller makes them again then).
 *
 * @example
 * ```ts
 * import { attachedSboms } from "./attached.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * import { parseImageReference } from "../reference/image_ref.ts";
 * const subject = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: "sha256:" + "a".repeat(64), size: 1 };
 * const found = await attachedSboms(parseImageLocation("oci:web.oci"), parseImageReference("web:1"), {}, subject, ["spdx"]);
 * ```
 */
export async function attachedSboms(
  location: ImageLocation,
  ref: ImageReference,
  registry: RegistryOptions | undefined,
  subject: Descriptor,
  formats: readonly SbomFormat[],
): Promise<AttachedSbom[]> {
  if (formats.length === 0 || (location.transport !== "oci" && location.transport !== "docker")) return [];
  const at: ImageLocation = location.transport === "oci"
    ? { ...location, tag: location.tag ?? ref.tag ?? "latest" }
    : location;
  try {
    const source = await openImageSource(at, registry ?? {});
    try {
      const found = await readAttached(source, subject, formats.map((f) => SBOM_MEDIA_TYPES[f]));
      const out: AttachedSbom[] = [];
      for (const format of formats) {
        const doc = found.find((d) => d.artifactType === SBOM_MEDIA_TYPES[format]);
        if (!doc) continue;
        out.push({
          format,
          size: doc.bytes.length,
          digest: doc.manifest.digest,
          artifactType: doc.artifactType,
          written: false,
        });
      }
      return out;
    } finally {
      source.close();
    }
  } catch {
    return [];
  }
}
