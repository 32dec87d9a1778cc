/**
 * Loose objects through libc: `statx`, xattr calls and `open`/`read`, for
 * trees of 100,000 files. Under the CLI's permission flags a `node:fs` open
 * costs ~15 µs and a `Deno.lstatSync` ~2.5 µs (a `Deno.FileInfo` to build);
 * `statx` relative to an open `objects/` directory costs about two thirds
 * of that, one `llistxattr` into a reused buffer answers "no xattrs" in one
 * call, and a libc open, read and close take ~4 µs together. Needs
 * `--allow-ffi`; without it (or without `statx` in libc) the same answers
 * come from `Deno.lstatSync`, `node:fs` and `util/xattr.ts`.
 *
 * @module
 */

import { closeSync, openSync, readSync } from "node:fs";
import { getXattr, listXattrs } from "../util/xattr.ts";
import type { Xattr } from "./tree.ts";

/** What the tree reader needs of an object's `stat`. */
export interface ObjectStat {
  /** `st_mode` (type and permission bits). */
  mode: number;
  /** Owner. */
  uid: number;
  /** Group. */
  gid: number;
  /** Size in bytes. */
  size: number;
}

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

const AT_SYMLINK_NOFOLLOW = 0x100;
const STATX_BASIC_STATS = 0x7ff;
const O_RDONLY_DIRECTORY_CLOEXEC = 0o200000 | 0o2000000;
const ENOENT = 2;
const EACCES = 13;
const EPERM = 1;
const ENODATA = 61;
const EINTR = 4;
const O_RDONLY_CLOEXEC = 0o2000000;

let libc: Deno.DynamicLibrary<typeof SYMBOLS> | null | undefined;

function lib(): Deno.DynamicLibrary<typeof SYMBOLS> | null {
  if (libc === undefined) {
    try {
      libc = Deno.dlopen("libc.so.6", SYMBOLS);
    } catch {
      libc = null; // no FFI permission, or no statx: the slower path
    }
  }
  return libc;
}

const encoder = new TextEncoder();

function lastErrno(l: Deno.DynamicLibrary<typeof SYMBOLS>): number {
  const pointer = l.symbols.__errno_location();
  return pointer ? new Deno.UnsafePointerView(pointer).getInt32() : 0;
}

function errnoError(errno: number, message: string): Error {
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
 * import { closeFile, openFile, readFile } from "./object_stat.ts";
 * const fd = openFile("/etc/hostname");
 * if (fd !== undefined) {
 *   const n = readFile(fd, new Uint8Array(64));
 *   closeFile(fd);
 * }
 * ```
 */
export function openFile(path: string): number | undefined {
  const l = lib();
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
 * import { openFile, readFile } from "./object_stat.ts";
 * const fd = openFile("/etc/hostname")!;
 * readFile(fd, new Uint8Array(64));
 * ```
 */
export function readFile(fd: number, into: Uint8Array): number {
  const l = lib()!;
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
 * import { closeFile, openFile } from "./object_stat.ts";
 * closeFile(openFile("/etc/hostname")!);
 * ```
 */
export function closeFile(fd: number): void {
  lib()!.symbols.close(fd);
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
 * import { openReader } from "./object_stat.ts";
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

/**
 * Metadata calls on the loose objects of one repository.
 *
 * @example
 * ```ts
 * import { ObjectStatter } from "./object_stat.ts";
 * const objects = new ObjectStatter("/srv/repo/objects");
 * const stat = objects.stat("ab/cdef….file");
 * const xattrs = objects.xattrs("ab/cdef….file");
 * objects.close();
 * ```
 */
export class ObjectStatter {
  private readonly lib = lib();
  private readonly dirFd: number;
  private readonly relPath = new Uint8Array(256);
  private readonly absPath: Uint8Array;
  private readonly absPrefix: number;
  private readonly statBuffer = new Uint8Array(256);
  private readonly statView = new DataView(this.statBuffer.buffer);
  private readonly listBuffer = new Uint8Array(1024);
  private readonly valueBuffer = new Uint8Array(1024);
  private readonly names = new Map<string, Uint8Array<ArrayBuffer>>();

  constructor(readonly objectsDir: string) {
    const prefix = encoder.encode(objectsDir + "/");
    this.absPath = new Uint8Array(prefix.length + 256);
    this.absPath.set(prefix);
    this.absPrefix = prefix.length;
    this.dirFd = this.lib ? this.lib.symbols.open(encoder.encode(objectsDir + "\0"), O_RDONLY_DIRECTORY_CLOEXEC) : -1;
  }

  /** Releases the directory descriptor. */
  close(): void {
    if (this.lib && this.dirFd >= 0) this.lib.symbols.close(this.dirFd);
  }

  private errno(): number {
    return lastErrno(this.lib!);
  }

  private fail(what: string, rel: string): never {
    const errno = this.errno();
    throw errnoError(errno, `${what} ${this.objectsDir}/${rel}: errno ${errno}`);
  }

  private setRel(rel: string): Uint8Array<ArrayBuffer> {
    const { written } = encoder.encodeInto(rel, this.relPath);
    this.relPath[written] = 0;
    return this.relPath;
  }

  private setAbs(rel: string): Uint8Array<ArrayBuffer> {
    const { written } = encoder.encodeInto(rel, this.absPath.subarray(this.absPrefix));
    this.absPath[this.absPrefix + written] = 0;
    return this.absPath as Uint8Array<ArrayBuffer>;
  }

  /** `lstat` of an object, by its path relative to `objects/`. */
  stat(rel: string): ObjectStat {
    if (!this.lib || this.dirFd < 0) {
      const info = Deno.lstatSync(`${this.objectsDir}/${rel}`);
      return { mode: info.mode ?? 0, uid: info.uid ?? 0, gid: info.gid ?? 0, size: info.size };
    }
    const rc = this.lib.symbols.statx(
      this.dirFd,
      this.setRel(rel),
      AT_SYMLINK_NOFOLLOW,
      STATX_BASIC_STATS,
      this.statBuffer,
    );
    if (rc !== 0) this.fail("cannot stat", rel);
    const v = this.statView;
    // struct statx: stx_uid at 20, stx_gid at 24, stx_mode (u16) at 28, stx_size (u64) at 40.
    return {
      mode: v.getUint16(28, true),
      uid: v.getUint32(20, true),
      gid: v.getUint32(24, true),
      size: v.getUint32(40, true) + v.getUint32(44, true) * 0x100000000,
    };
  }

  /** Every xattr of an object (symlinks not followed), in the order the file system lists them. */
  xattrs(rel: string): Xattr[] {
    if (!this.lib) return listXattrs(`${this.objectsDir}/${rel}`);
    const n = Number(this.lib.symbols.llistxattr(this.setAbs(rel), this.listBuffer, BigInt(this.listBuffer.length)));
    if (n === 0) return [];
    // Some xattrs (or more than the buffer holds): the general reader.
    return listXattrs(`${this.objectsDir}/${rel}`);
  }

  /** One xattr of an object, or undefined when it has none of that name. */
  xattr(rel: string, name: string): Uint8Array | undefined {
    if (!this.lib) return getXattr(`${this.objectsDir}/${rel}`, name);
    let cName = this.names.get(name);
    if (!cName) {
      cName = encoder.encode(name + "\0");
      this.names.set(name, cName);
    }
    const n = Number(
      this.lib.symbols.lgetxattr(this.setAbs(rel), cName, this.valueBuffer, BigInt(this.valueBuffer.length)),
    );
    if (n >= 0) return this.valueBuffer.slice(0, n);
    if (this.errno() === ENODATA) return undefined;
    // Too big for the buffer, or an error to report: the general reader.
    return getXattr(`${this.objectsDir}/${rel}`, name);
  }
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
 * import { availableBytes } from "./object_stat.ts";
 * availableBytes("/tmp"); // e.g. 52_000_000_000
 * ```
 */
export function availableBytes(path: string): number | undefined {
  const l = lib();
  if (!l || Deno.build.os !== "linux") return undefined;
  const out = new Uint8Array(STATVFS_SIZE);
  if (l.symbols.statvfs(encoder.encode(path + "\0"), out) !== 0) return undefined;
  const view = new DataView(out.buffer);
  return Number(view.getBigUint64(8, true)) * Number(view.getBigUint64(32, true));
}
