/**
 * Files through libc, for trees of 100,000 files: under the CLI's
 * permission flags a `node:fs` open costs ~15 µs, a libc open, read and
 * close ~4 µs together. Needs `--allow-ffi`; without it the same answers
 * come from `node:fs`. Also what {@linkcode ObjectStatter} (in `ostree/`)
 * calls: `statx` and the xattr calls.
 *
 * @module
 */

import { closeSync, openSync, readSync } from "node:fs";

const SYMBOLS = {
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  llistxattr: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  lgetxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
  statvfs: { parameters: ["buffer", "buffer"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

const ENOENT = 2;
const EACCES = 13;
const EPERM = 1;
/** `errno` of an xattr call for a name the file does not have. */
export const ENODATA = 61;
const EINTR = 4;
const O_RDONLY_CLOEXEC = 0o2000000;

/** The libc functions this module binds. */
export type LibcSymbols = typeof SYMBOLS;

let loaded: Deno.DynamicLibrary<typeof SYMBOLS> | null | undefined;

/**
 * libc's functions, or null where FFI is not allowed (or `statx` is
 * missing): callers then take the slower `node:fs` or `Deno` path.
 *
 * @example
 * ```ts
 * import { libc } from "./libc.ts";
 * libc() === null; // true without --allow-ffi
 * ```
 */
export function libc(): Deno.DynamicLibrary<typeof SYMBOLS> | null {
  if (loaded === undefined) {
    try {
      loaded = Deno.dlopen("libc.so.6", SYMBOLS);
    } catch {
      loaded = null; // no FFI permission, or no statx: the slower path
    }
  }
  return loaded;
}

const encoder = new TextEncoder();

/**
 * The calling thread's `errno` after a failed call.
 *
 * @example
 * ```ts
 * import { lastErrno, libc } from "./libc.ts";
 * const l = libc();
 * if (l && l.symbols.close(-1) !== 0) lastErrno(l); // 9 (EBADF)
 * ```
 */
export function lastErrno(l: Deno.DynamicLibrary<typeof SYMBOLS>): number {
  const pointer = l.symbols.__errno_location();
  return pointer ? new Deno.UnsafePointerView(pointer).getInt32() : 0;
}

/**
 * An error for an `errno`: Deno's `NotFound` and `PermissionDenied` for
 * those, a plain `Error` for the rest.
 *
 * @example
 * ```ts
 * import { errnoError } from "./libc.ts";
 * errnoError(2, "cannot open x") instanceof Deno.errors.NotFound; // true
 * ```
 */
export function errnoError(errno: number, message: string): Error {
  if (errno === ENOENT) return new Deno.errors.NotFound(message);
  if (errno === EACCES || errno === EPERM) return new Deno.errors.PermissionDenied(message);
  return new Error(message);
}

const pathBuffer = new Uint8Array(4096);

/**
 * Opens a file for reading through libc, or returns undefined when FFI is
 * not available (then use `node:fs`). Under the CLI's permission flags an
 * `open` through `node:fs` costs ~15 µs, through libc ~2 µs: that is most
 * of the time of a layer of 100,000 small files.
 *
 * @example
 * ```ts
 * import { closeFile, openFile, readFile } from "./libc.ts";
 * const fd = openFile("/etc/hostname");
 * if (fd !== undefined) {
 *   const n = readFile(fd, new Uint8Array(64));
 *   closeFile(fd);
 * }
 * ```
 */
export function openFile(path: string): number | undefined {
  const l = libc();
  if (!l) return undefined;
  let cPath: Uint8Array<ArrayBuffer> = pathBuffer;
  const { read, written } = encoder.encodeInto(path, pathBuffer);
  if (read < path.length || written >= pathBuffer.length) cPath = encoder.encode(path + "\0");
  else pathBuffer[written] = 0;
  for (;;) {
    const fd = l.symbols.open(cPath, O_RDONLY_CLOEXEC);
    if (fd >= 0) return fd;
    const errno = lastErrno(l);
    if (errno !== EINTR) throw errnoError(errno, `cannot open ${path}: errno ${errno}`);
  }
}

/**
 * Reads from a descriptor that {@linkcode openFile} returned into `into`;
 * returns the bytes read, 0 at the end.
 *
 * @example
 * ```ts
 * import { openFile, readFile } from "./libc.ts";
 * const fd = openFile("/etc/hostname")!;
 * readFile(fd, new Uint8Array(64));
 * ```
 */
export function readFile(fd: number, into: Uint8Array): number {
  const l = libc()!;
  for (;;) {
    const n = Number(l.symbols.read(fd, into as Uint8Array<ArrayBuffer>, BigInt(into.length)));
    if (n >= 0) return n;
    const errno = lastErrno(l);
    if (errno !== EINTR) throw errnoError(errno, `cannot read: errno ${errno}`);
  }
}

/**
 * Closes a descriptor that {@linkcode openFile} returned.
 *
 * @example
 * ```ts
 * import { closeFile, openFile } from "./libc.ts";
 * closeFile(openFile("/etc/hostname")!);
 * ```
 */
export function closeFile(fd: number): void {
  libc()!.symbols.close(fd);
}

/** A file open for reading from its start. */
export interface FileReader {
  /** Fills `into` from where the last read ended; returns the bytes read, 0 at the end. */
  read(into: Uint8Array): number;
  /** Releases the file. */
  close(): void;
}

class LibcReader implements FileReader {
  constructor(private readonly fd: number) {}
  read(into: Uint8Array): number {
    return readFile(this.fd, into);
  }
  close(): void {
    closeFile(this.fd);
  }
}

class NodeReader implements FileReader {
  constructor(private readonly fd: number) {}
  read(into: Uint8Array): number {
    return readSync(this.fd, into, 0, into.length, null);
  }
  close(): void {
    closeSync(this.fd);
  }
}

/**
 * Opens a file for reading: through libc when FFI is available, else
 * through `node:fs` file descriptors.
 *
 * @example
 * ```ts
 * import { openReader } from "./libc.ts";
 * const file = openReader("/etc/hostname");
 * try {
 *   file.read(new Uint8Array(64));
 * } finally {
 *   file.close();
 * }
 * ```
 */
export function openReader(path: string): FileReader {
  const fd = openFile(path);
  return fd === undefined ? new NodeReader(openSync(path, "r")) : new LibcReader(fd);
}

/** `struct statvfs` on 64-bit Linux (glibc): `f_frsize` at 8, `f_bavail` at 32, 112 bytes in all. */
const STATVFS_SIZE = 112;

/**
 * Bytes available to unprivileged writers on the file system that holds
 * `path` (`statvfs`: `f_bavail * f_frsize`), or undefined where libc cannot
 * tell (no FFI permission, a failed call).
 *
 * @example
 * ```ts
 * import { availableBytes } from "./libc.ts";
 * availableBytes("/tmp"); // e.g. 52_000_000_000
 * ```
 */
export function availableBytes(path: string): number | undefined {
  const l = libc();
  if (!l || Deno.build.os !== "linux") return undefined;
  const out = new Uint8Array(STATVFS_SIZE);
  if (l.symbols.statvfs(encoder.encode(path + "\0"), out) !== 0) return undefined;
  const view = new DataView(out.buffer);
  return Number(view.getBigUint64(8, true)) * Number(view.getBigUint64(32, true));
}
