/**
 * Opens any image name (`oci:`, `oci-archive:`, `docker-archive:`,
 * `docker://`) as an {@linkcode ImageSource}.
 *
 * @module
 */

import type { RegistryOptions } from "../registry/client.ts";
import type { ImageLocation } from "../reference/transport.ts";
import { ArchiveSource } from "../archive/source.ts";
import type { ImageSource } from "../oci/image.ts";
import { LayoutSource } from "../layout/source.ts";
import { RegistrySource } from "../registry/source.ts";

/**
 * Opens an image for reading.
 *
 * @example
 * ```ts
 * import { openImageSource } from "./open.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * const source = await openImageSource(parseImageLocation("oci:out.oci:latest"));
 * const root = await source.root();
 * source.close();
 * ```
 */
export async function openImageSource(location: ImageLocation, options: RegistryOptions = {}): Promise<ImageSource> {
  switch (location.transport) {
    case "oci":
      return await LayoutSource.open(location.path, location.tag);
    case "oci-archive":
    case "docker-archive":
      return await ArchiveSource.open(location);
    case "docker":
      return await RegistrySource.open(location, options);
  }
}
