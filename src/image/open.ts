/**
 * Opening any image location (`oci:`, `oci-archive:`, `docker-archive:`,
 * `docker://`) as an {@linkcode ImageSource} to read or an
 * {@linkcode ImageSink} to write: the one place that knows every format.
 *
 * @module
 */

import { ArchiveSink } from "../archive/sink.ts";
import { ArchiveSource } from "../archive/source.ts";
import { LayoutSink } from "../layout/oci_layout.ts";
import { LayoutSource } from "../layout/source.ts";
import type { ImageSink, ImageSource } from "../oci/image.ts";
import type { RegistryOptions } from "../registry/client.ts";
import { RegistrySink, type RegistrySinkOptions } from "../registry/sink.ts";
import { RegistrySource } from "../registry/source.ts";
import type { ImageLocation } from "../reference/transport.ts";
import type { ReplaceGuardOptions } from "../util/replace_guard.ts";

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

/** Options for {@linkcode openImageSink}. */
export interface OpenSinkOptions extends RegistrySinkOptions {
  /** The tag for a location that names none (`oci:PATH`, `oci-archive:PATH`; default `latest`). */
  tag?: string;
  /** The full image name recorded in a layout or archive (`io.containerd.image.name`). */
  name?: string;
  /** The name docker gives a loaded docker-archive (`RepoTags`), when the location names none. */
  repoTag?: string;
  /** Replace a file, an empty directory or a broken layout at a local path. */
  force?: boolean;
  /** Paths that replacing must never remove, nor anything above them. */
  protect?: ReplaceGuardOptions["protect"];
}

/**
 * Opens a location for writing one image.
 *
 * @example
 * ```ts
 * import { openImageSink } from "./open.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * const sink = await openImageSink(parseImageLocation("oci:copy.oci:1.0"));
 * // copy blobs and manifests in, then: await sink.commit(root);
 * sink.close();
 * ```
 */
export async function openImageSink(location: ImageLocation, options: OpenSinkOptions = {}): Promise<ImageSink> {
  const { name, force, protect } = options;
  switch (location.transport) {
    case "oci":
      return await LayoutSink.open(location.path, { tag: location.tag ?? options.tag, name, force, protect });
    case "oci-archive":
      return await ArchiveSink.open(location.path, "oci-archive", {
        tag: location.tag ?? options.tag,
        name,
        force,
        protect,
      });
    case "docker-archive":
      return await ArchiveSink.open(location.path, "docker", {
        tag: location.ref?.tag ?? options.tag,
        name: location.ref?.fullName ?? name,
        repoTag: location.ref?.familiarName ?? options.repoTag,
        force,
        protect,
      });
    case "docker":
      return await RegistrySink.open(location, options);
  }
}
