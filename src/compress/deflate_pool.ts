/**
 * A build's threads: `size - 1` Web Workers plus the calling thread. They
 * deflate independent blocks in parallel (the calling thread takes a block
 * itself when every worker is busy with one waiting), and run other
 * synchronous work given as a module and a function ({@linkcode
 * DeflatePool.call}: the tree reader's system calls, while the calling
 * thread decodes dirtrees). A worker costs 20-40 MB of memory; the calling
 * thread is mostly idle while tar batches wait for compression, so it does
 * its share: same speed, one worker less. One pool serves every layer of a
 * build; terminate it when the build ends. Every block goes through the
 * same function, so the bytes do not depend on which thread deflated it,
 * nor on the pool's size.
 *
 * @module
 */

import { deflateBlock } from "./deflate_block.ts";

/** Largest single final block deflated on the calling thread instead of a worker. */
const INLINE_LIMIT = 256 * 1024;

/** A block sent to a worker. */
export interface DeflateJob {
  /** What to do. */
  kind: "deflate";
  /** Job number, echoed in the result. */
  id: number;
  /** Uncompressed bytes (transferred). */
  input: ArrayBuffer;
  /** Number of valid bytes in `input`. */
  length: number;
  /** Whether this is the stream's last block (sets BFINAL). */
  final: boolean;
  /** zlib compression level. */
  level: number;
}

/** A function call sent to a worker: `(await import(module))[fn](...args)`. */
export interface CallJob {
  /** What to do. */
  kind: "call";
  /** Job number, echoed in the result. */
  id: number;
  /** URL of the module. */
  module: string;
  /** Name of the exported function. */
  fn: string;
  /** Its arguments (structured-cloned). */
  args: unknown[];
}

/** A job for a worker. */
export type PoolJob = DeflateJob | CallJob;

/** A worker's answer to a {@linkcode CallJob}. */
export interface CallResult {
  /** Job number. */
  id: number;
  /** What the function returned (typed arrays in its top-level fields are transferred). */
  value?: unknown;
  /** Set when the call threw. */
  error?: string;
}

/** A worker's answer. */
export interface DeflateResult {
  /** Job number. */
  id: number;
  /** Raw deflate bytes (transferred). */
  output: ArrayBuffer;
  /** CRC-32 of the uncompressed block. */
  crc: number;
  /** The input buffer, handed back for reuse. */
  input?: ArrayBuffer;
  /** Set when deflating failed. */
  error?: string;
}

/** A deflated block. */
export interface DeflatedBlock {
  /** Raw deflate bytes. */
  data: Uint8Array;
  /** CRC-32 of the uncompressed block. */
  crc: number;
  /** The block's input buffer, back from the worker (for reuse). */
  input: Uint8Array | undefined;
}

interface Pending {
  resolve: (result: DeflateResult & CallResult) => void;
  reject: (error: Error) => void;
}

/**
 * The number of compression threads to use by default: one per CPU.
 *
 * @example
 * ```ts
 * import { defaultWorkerCount } from "./deflate_pool.ts";
 * defaultWorkerCount(); // e.g. 2
 * ```
 */
export function defaultWorkerCount(): number {
  return Math.max(1, navigator.hardwareConcurrency || 1);
}

/**
 * Deflates blocks on a fixed set of threads (`size - 1` workers and the caller).
 *
 * @example
 * ```ts
 * import { DeflatePool } from "./deflate_pool.ts";
 * const pool = new DeflatePool(2);
 * try {
 *   const block = await pool.deflate(new Uint8Array(1024), true, 6);
 * } finally {
 *   pool.terminate();
 * }
 * ```
 */
export class DeflatePool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: { job: PoolJob; pending: Pending }[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private terminated = false;

  constructor(readonly size: number = defaultWorkerCount()) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`Thread count must be >= 1, got ${size}`);
  }

  private spawn(): Worker {
    const worker = new Worker(new URL("./deflate_worker.ts", import.meta.url).href, { type: "module" });
    worker.onmessage = (event: MessageEvent<DeflateResult & CallResult>) => {
      const result = event.data;
      const pending = this.pending.get(result.id);
      this.pending.delete(result.id);
      if (pending) {
        if (result.error !== undefined) pending.reject(new Error(`pool worker: ${result.error}`));
        else pending.resolve(result);
      }
      this.dispatch(worker);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      const error = new Error(`deflate worker failed: ${event.message}`);
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
      this.terminate();
    };
    this.workers.push(worker);
    return worker;
  }

  private dispatch(worker: Worker): void {
    const next = this.queue.shift();
    if (!next) {
      this.idle.push(worker);
      return;
    }
    this.pending.set(next.job.id, next.pending);
    worker.postMessage(next.job, next.job.kind === "deflate" ? [next.job.input] : []);
  }

  /** Queues a job and hands it to an idle worker (spawning one if the pool may); false when none is free. */
  private submit(job: PoolJob, pending: Pending): boolean {
    this.queue.push({ job, pending });
    const worker = this.idle.pop() ?? (this.workers.length < this.size - 1 ? this.spawn() : undefined);
    if (worker) this.dispatch(worker);
    return worker !== undefined;
  }

  /**
   * Whether {@linkcode call} runs on another thread (the pool has workers),
   * so that a caller can do other work meanwhile.
   */
  get parallel(): boolean {
    return this.size > 1 && !this.terminated;
  }

  /**
   * Calls the exported function `fn` of `module` with `args` on a worker
   * (jobs run in order, one at a time per worker). The function must be
   * synchronous or return a promise, take and return structured-clonable
   * values; typed arrays in the top-level fields of what it returns are
   * transferred, not copied. Without workers (a pool of size 1) it runs
   * here. Aborting `signal` takes back a call that no worker has started
   * (it rejects with the signal's reason); a started one runs to its end.
   */
  async call<T>(module: URL, fn: string, args: unknown[], options: { signal?: AbortSignal } = {}): Promise<T> {
    if (this.terminated) throw new Error("deflate pool is terminated");
    if (this.size === 1) return await (await import(module.href))[fn](...args) as T;
    const id = this.nextId++;
    return await new Promise<T>((resolve, reject) => {
      const pending: Pending = { resolve: (result) => resolve(result.value as T), reject };
      this.submit({ kind: "call", id, module: module.href, fn, args }, pending);
      // A call no worker has started yet can be taken back (the caller does the work itself).
      options.signal?.addEventListener("abort", () => {
        const at = this.queue.findIndex((q) => q.pending === pending);
        if (at < 0) return;
        this.queue.splice(at, 1);
        reject(options.signal!.reason);
      }, { once: true });
    });
  }

  /**
   * Deflates `input` (whose buffer is transferred to a worker: do not use it
   * afterwards). Non-final blocks end with a sync flush.
   */
  deflate(input: Uint8Array, final: boolean, level: number): Promise<DeflatedBlock> {
    if (this.terminated) return Promise.reject(new Error("deflate pool is terminated"));
    if (final && this.workers.length === 0 && input.length <= INLINE_LIMIT) {
      // A stream of one small block (a small layer) before any worker runs:
      // starting one costs more than deflating it here.
      return Promise.resolve({ ...deflateBlock(input, true, level), input: undefined });
    }
    // Transfer needs a buffer of our own holding exactly the input.
    const owned = input.byteOffset === 0 && input.byteLength === input.buffer.byteLength
      ? input
      : Uint8Array.prototype.slice.call(input) as Uint8Array;
    return new Promise<DeflatedBlock>((resolve, reject) => {
      const job: DeflateJob = {
        kind: "deflate",
        id: this.nextId++,
        input: owned.buffer as ArrayBuffer,
        length: owned.byteLength,
        final,
        level,
      };
      const given = this.submit(job, {
        resolve: (result) =>
          resolve({
            data: new Uint8Array(result.output),
            crc: result.crc,
            input: result.input ? new Uint8Array(result.input) : undefined,
          }),
        reject,
      });
      if (!given && (this.workers.length === 0 || this.queue.length > 1)) {
        // Every worker is busy and has a job waiting: the calling thread
        // deflates this one itself (it is one of the pool's threads).
        this.queue.pop();
        resolve({ ...deflateBlock(owned, final, level), input: owned });
      }
    });
  }

  /** Stops every worker; pending jobs are rejected. */
  terminate(): void {
    if (this.terminated) return;
    this.terminated = true;
    for (const worker of this.workers) worker.terminate();
    const error = new Error("deflate pool terminated");
    for (const p of this.pending.values()) p.reject(error);
    for (const q of this.queue) q.pending.reject(error);
    this.pending.clear();
    this.queue.length = 0;
  }
}
