/**
 * A pool of equal-sized byte buffers. The layer pipeline allocates a 1 MiB
 * buffer per block; without reuse, dead buffers pile up faster than the
 * garbage collector frees them (worst in workers, whose heaps are tiny), and
 * peak memory grows with the image. Buffers handed back are reused.
 *
 * @module
 */

/**
 * Equal-sized buffers, recycled.
 *
 * @example
 * ```ts
 * import { BufferPool } from "./buffer_pool.ts";
 * const pool = new BufferPool(1 << 20);
 * const buf = pool.take(); // zero-filled
 * pool.give(buf);
 * ```
 */
export class BufferPool {
  private readonly free: Uint8Array[] = [];

  /**
   * @param size bytes per buffer
   * @param maxFree how many idle buffers to keep at most
   */
  constructor(readonly size: number, readonly maxFree: number = 6) {}

  /** Returns a zero-filled buffer of {@linkcode size} bytes. */
  take(): Uint8Array {
    const buf = this.free.pop();
    if (!buf) return new Uint8Array(this.size);
    buf.fill(0);
    return buf;
  }

  /** Hands a buffer back; ignored unless it is a whole, live pool-sized buffer. */
  give(buf: Uint8Array): void {
    if (
      buf.byteLength === this.size && buf.byteOffset === 0 && buf.buffer.byteLength === this.size &&
      this.free.length < this.maxFree
    ) {
      this.free.push(buf);
    }
  }
}
