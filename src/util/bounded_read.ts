/**
 * Reading a whole body into memory, never more than a cap: a peer that
 * sends an endless body gets an error (or, for text only shown to people,
 * a truncated prefix), not all of the machine's memory.
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/**
 * Reads a whole (small) body, refusing more than `maxSize` bytes.
 *
 * @example
 * ```ts
 * import { readLimited } from "./bounded_read.ts";
 * const bytes = await readLimited(new Response("abc").body!, 10, "test"); // 3 bytes
 * ```
 */
export async function readLimited(
  body: ReadableStream<Uint8Array>,
  maxSize: number,
  what: string,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > maxSize) {
      await body.cancel().catch(() => {});
      throw new AptOstreeError(`The ${what} is larger than ${maxSize} bytes`, {
        solution: "This is not a normal image or registry answer; check the reference and the registry",
      });
    }
    chunks.push(chunk);
  }
  return concat(chunks, size);
}

/**
 * Reads at most `maxSize` bytes of a body as text and drops the rest (for
 * error bodies, which are only shown, truncated).
 *
 * @example
 * ```ts
 * import { readPrefix } from "./bounded_read.ts";
 * await readPrefix(new Response("x".repeat(10)).body, 4); // "xxxx"
 * ```
 */
export async function readPrefix(body: ReadableStream<Uint8Array> | null, maxSize: number): Promise<string> {
  if (!body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  try {
    while (size < maxSize) {
      const { done, value } = await reader.read();
      if (done) break;
      const part = value.subarray(0, maxSize - size);
      chunks.push(part);
      size += part.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return new TextDecoder().decode(concat(chunks, size));
}
