/**
 * A layer blob's bytes to its tar stream: the compression named by the
 * media type, or else recognised from the first bytes (gzip, zstd or none),
 * undone as the bytes stream through.
 *
 * @module
 */

import { createGunzip, createZstdDecompress } from "node:zlib";
import { throughNodeTransform } from "../util/node_stream.ts";
import { type LayerCompression, layerCompression, sniffCompression } from "./manifest.ts";

/** A layer's tar stream and the compression it came in. */
export interface LayerTar {
  /** The compression undone. */
  kind: LayerCompression;
  /** The uncompressed tar. */
  tar: ReadableStream<Uint8Array>;
}

/** Reads the first chunk to learn the compression, then gives the whole stream back. */
async function sniffStream(
  stream: ReadableStream<Uint8Array>,
): Promise<{ kind: LayerCompression; stream: ReadableStream<Uint8Array> }> {
  const reader = stream.getReader();
  const first = await reader.read();
  const head = first.done ? new Uint8Array(0) : first.value;
  let sentFirst = first.done;
  const out = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!sentFirst) {
        sentFirst = true;
        controller.enqueue(head);
        return;
      }
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return { kind: sniffCompression(head), stream: out };
}

/**
 * Opens the tar inside a layer blob of `mediaType` (a media type that names
 * no compression, such as Docker's, is sniffed).
 *
 * @example
 * ```ts
 * import { openLayerTar } from "./layer_stream.ts";
 * const blob = (await Deno.open("layer.tar.gz")).readable;
 * const { kind, tar } = await openLayerTar("application/vnd.oci.image.layer.v1.tar+gzip", blob);
 * ```
 */
export async function openLayerTar(mediaType: string, blob: ReadableStream<Uint8Array>): Promise<LayerTar> {
  const sniffed = await sniffStream(blob);
  const kind = layerCompression(mediaType) ?? sniffed.kind;
  if (kind === "none") return { kind, tar: sniffed.stream };
  const node = kind === "gzip" ? createGunzip({ chunkSize: 1 << 20 }) : createZstdDecompress({ chunkSize: 1 << 20 });
  return { kind, tar: throughNodeTransform(sniffed.stream, node) };
}
