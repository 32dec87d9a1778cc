/**
 * CRC-32 combination: the CRC of two concatenated byte ranges from the CRCs
 * of each, as zlib's `crc32_combine` computes it (GF(2) matrix powers). This
 * lets workers checksum their own blocks of a gzip stream.
 *
 * @module
 */

function matrixTimes(mat: Uint32Array, vec: number): number {
  let sum = 0;
  let i = 0;
  while (vec !== 0) {
    if (vec & 1) sum ^= mat[i];
    vec >>>= 1;
    i++;
  }
  return sum >>> 0;
}

function matrixSquare(square: Uint32Array, mat: Uint32Array): void {
  for (let n = 0; n < 32; n++) square[n] = matrixTimes(mat, mat[n]);
}

/**
 * Returns the CRC-32 of `A ‖ B` given `crc32(A)`, `crc32(B)` and `B`'s
 * length in bytes.
 *
 * @example
 * ```ts
 * import { crc32 } from "node:zlib";
 * import { crc32Combine } from "./crc32.ts";
 * const a = new Uint8Array([1, 2]), b = new Uint8Array([3]);
 * crc32Combine(crc32(a), crc32(b), b.length) === crc32(new Uint8Array([1, 2, 3])); // true
 * ```
 */
export function crc32Combine(crc1: number, crc2: number, length2: number): number {
  if (length2 <= 0) return crc1 >>> 0;
  const even = new Uint32Array(32);
  const odd = new Uint32Array(32);
  odd[0] = 0xedb88320; // the CRC-32 polynomial
  let row = 1;
  for (let n = 1; n < 32; n++) {
    odd[n] = row;
    row <<= 1;
  }
  matrixSquare(even, odd); // operator for two zero bits
  matrixSquare(odd, even); // operator for four zero bits
  let crc = crc1 >>> 0;
  let len = length2;
  do {
    matrixSquare(even, odd);
    if (len % 2 === 1) crc = matrixTimes(even, crc);
    len = Math.floor(len / 2);
    if (len === 0) break;
    matrixSquare(odd, even);
    if (len % 2 === 1) crc = matrixTimes(odd, crc);
    len = Math.floor(len / 2);
  } while (len !== 0);
  return (crc ^ crc2) >>> 0;
}
