/**
 * Base64 for keys, signatures and envelopes: one encoder for any size (in
 * chunks, not one `String.fromCharCode` call per byte) and one strict
 * decoder that says "not base64" instead of throwing a `DOMException`.
 *
 * @module
 */

/**
 * Standard base64 (with padding) of `bytes`.
 *
 * @example
 * ```ts
 * import { encodeBase64 } from "./base64.ts";
 * encodeBase64(new TextEncoder().encode("hi")); // "aGk="
 * ```
 */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/**
 * The bytes of standard base64 `text` (whitespace ignored), or undefined
 * when it is not base64.
 *
 * @example
 * ```ts
 * import { decodeBase64 } from "./base64.ts";
 * decodeBase64("aGk="); // Uint8Array [104, 105]
 * decodeBase64("not base64!"); // undefined
 * ```
 */
export function decodeBase64(text: string): Uint8Array | undefined {
  try {
    return Uint8Array.from(atob(text.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}
