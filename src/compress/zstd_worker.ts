/**
 * Web Worker body for {@linkcode ZstdWorkerStream}: one zstd stream per
 * worker, fed chunk by chunk, so that zstd runs beside the tar writer and
 * the hashing on the main thread.
 *
 * @module
 */

import { constants, createZstdCompress } from "node:zlib";
import { garbageCollector } from "../util/gc.ts";

/** A message to the worker. */
export type ZstdWorkerRequest =
  | { type: "start"; level: number }
  | { type: "chunk"; input: ArrayBuffer; length: number }
  | { type: "end" };

/** A message from the worker. */
export type ZstdWorkerReply =
  | { type: "output"; data: ArrayBuffer[]; input?: ArrayBuffer }
  | { type: "done"; data: ArrayBuffer[] }
  | { type: "error"; message: string };

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<ZstdWorkerRequest>) => void) | null;
  postMessage(message: ZstdWorkerReply, transfer?: Transferable[]): void;
};
const collectGarbage = garbageCollector(8);

let zstd: ReturnType<typeof createZstdCompress> | undefined;
let pending: ArrayBuffer[] = [];
/** Requests not yet handed to zstd; one write at a time keeps the output the same run to run. */
const queue: ZstdWorkerRequest[] = [];
let busy = false;

function take(): ArrayBuffer[] {
  const out = pending;
  pending = [];
  return out;
}

function next(): void {
  if (busy || !zstd) return;
  const request = queue.shift();
  if (!request) return;
  busy = true;
  if (request.type === "chunk") {
    zstd.write(new Uint8Array(request.input, 0, request.length), () => {
      collectGarbage();
      const data = take();
      scope.postMessage({ type: "output", data, input: request.input }, [...data, request.input]);
      busy = false;
      next();
    });
  } else if (request.type === "end") {
    zstd.end(); // "end" posts the rest and "done"
  }
}

scope.onmessage = (event) => {
  const request = event.data;
  if (request.type === "start") {
    zstd = createZstdCompress({
      chunkSize: 1 << 20,
      params: { [constants.ZSTD_c_compressionLevel]: request.level },
    });
    zstd.on("data", (data: Uint8Array) => {
      pending.push((Uint8Array.prototype.slice.call(data) as Uint8Array).buffer as ArrayBuffer);
    });
    zstd.on("error", (error: Error) => scope.postMessage({ type: "error", message: error.message }));
    zstd.on("end", () => {
      const data = take();
      scope.postMessage({ type: "done", data }, data);
    });
    return;
  }
  if (!zstd) {
    scope.postMessage({ type: "error", message: "zstd worker not started" });
    return;
  }
  queue.push(request);
  next();
};
