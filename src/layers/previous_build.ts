/**
 * What earlier builds left in a layout and how a new build uses it: layers
 * to reuse by key, bins to keep, and whole images to reuse when nothing
 * changed. It all lives in annotations, so the layout is the cache.
 *
 * @module
 */

import type { StoredImage } from "../oci/image.ts";
import { ANNOTATION_CONTAINERD_NAME, type Descriptor } from "../oci/types.ts";
import type { ImageReference } from "../reference/image_ref.ts";
import type { LayerBin } from "./layer_plan.ts";

/** Layer annotation: the layer key (see `layer_key.ts`). */
export const ANNOTATION_LAYER_KEY = "org.apt-ostree.layer.key";
/** Layer annotation: the bin id. */
export const ANNOTATION_LAYER_BIN = "org.apt-ostree.layer.bin";
/** Layer annotation: the units (packages or path prefixes) of the bin, as a JSON array. */
export const ANNOTATION_LAYER_UNITS = "org.apt-ostree.layer.units";
/** Manifest annotation: the fingerprint of everything the build depended on. */
export const ANNOTATION_BUILD = "org.apt-ostree.build";
/** Manifest annotation: the maximum number of layers the build was asked for (`N/bootc` for an ostree-native image). */
export const ANNOTATION_MAX_LAYERS = "org.apt-ostree.max-layers";

/** A layer that can be reused. */
export interface CachedLayer {
  /** Its descriptor (digest, size, media type, annotations). */
  descriptor: Descriptor;
  /** Its diff id. */
  diffId: string;
}

/**
 * Indexes the layers of the given images by layer key.
 *
 * @example
 * ```ts
 * import { layerCache } from "./previous_build.ts";
 * const cache = layerCache([]); // Map of layer key → { descriptor, diffId }
 * ```
 */
export function layerCache(images: readonly StoredImage[]): Map<string, CachedLayer> {
  const cache = new Map<string, CachedLayer>();
  for (const image of images) {
    image.manifest.layers.forEach((layer, i) => {
      const key = layer.annotations?.[ANNOTATION_LAYER_KEY];
      const diffId = image.config.rootfs.diff_ids[i];
      if (key && diffId && !cache.has(key)) cache.set(key, { descriptor: layer, diffId });
    });
  }
  return cache;
}

function repositoryOf(fullName: string | undefined): string | undefined {
  return fullName?.replace(/@.*$/, "").replace(/:[^:/]*$/, "");
}

/**
 * The previous build of the same image: the one tagged as `ref`, else the
 * last of the same repository, among those that pass `accept`.
 */
function latestBuildOf(
  images: readonly StoredImage[],
  ref: ImageReference,
  accept: (image: StoredImage) => boolean = () => true,
): StoredImage | undefined {
  const repository = repositoryOf(ref.fullName);
  const candidates = images.filter((image) =>
    repositoryOf(image.descriptor.annotations?.[ANNOTATION_CONTAINERD_NAME]) === repository && accept(image)
  );
  return candidates.find((image) => image.descriptor.annotations?.[ANNOTATION_CONTAINERD_NAME] === ref.fullName) ??
    candidates[candidates.length - 1];
}

/**
 * The bins of the most relevant previous build of the same image (same
 * repository; the same tag preferred) made with the same maximum layer
 * count, in layer order.
 *
 * @example
 * ```ts
 * import { previousBins } from "./previous_build.ts";
 * import { parseImageReference } from "../reference/image_ref.ts";
 * previousBins([], parseImageReference("app:1"), 64); // undefined
 * ```
 */
export function previousBins(
  images: readonly StoredImage[],
  ref: ImageReference,
  maxLayers: number | string,
): LayerBin[] | undefined {
  const chosen = latestBuildOf(
    images,
    ref,
    (image) => image.manifest.annotations?.[ANNOTATION_MAX_LAYERS] === String(maxLayers),
  );
  if (!chosen) return undefined;
  const bins: LayerBin[] = [];
  for (const layer of chosen.manifest.layers) {
    const id = layer.annotations?.[ANNOTATION_LAYER_BIN];
    if (!id) return undefined;
    let units: unknown;
    try {
      units = JSON.parse(layer.annotations?.[ANNOTATION_LAYER_UNITS] ?? "[]");
    } catch {
      return undefined;
    }
    if (!Array.isArray(units) || !units.every((u) => typeof u === "string")) return undefined;
    bins.push({ id, units });
  }
  return bins;
}

/**
 * An image of the layout built with exactly this fingerprint, if any.
 *
 * @example
 * ```ts
 * import { imageWithFingerprint } from "./previous_build.ts";
 * imageWithFingerprint([], "sha256:abc"); // undefined
 * ```
 */
export function imageWithFingerprint(images: readonly StoredImage[], fingerprint: string): StoredImage | undefined {
  return images.find((image) => image.manifest.annotations?.[ANNOTATION_BUILD] === fingerprint);
}
