/**
 * Extended attributes through libc (`lsetxattr`, `llistxattr`,
 * `lgetxattr`): Deno has no xattr API, and the values (such as
 * `security.capability`) are binary. Symlinks are never followed. Needs
 * `--allow-ffi`.
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";

const SYMBOLS = {
  lsetxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "i32"], result: "i32" },
  llistxattr: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  lgetxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
} as const;

let libc: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

function lib(): Deno.DynamicLibrary<typeof SYMBOLS> {
  if (libc) return libc;
  try {
    libc = Deno.dlopen("libc.so.6", SYMBOLS);
  } catch (error) {
    throw new AptOstreeError(`Cannot load libc for extended attributes: ${(error as Error).message}`, {
      solution: "apt-ostree needs glibc (libc.so.6) and the --allow-ffi permission to write extended attributes",
      cause: error,
    });
  }
  return libc;
}

const encoder = new TextEncoder();

function cString(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(text + "\0");
}

/** An extended attribute: its name and its exact binary value. */
export interface Xattr {
  /** Attribute name, e.g. `security.capability`. */
  name: string;
  /** Raw value bytes. */
  value: Uint8Array;
}

/** The errno of the last failed call, and its text. */
function lastError(): { errno: number; text: string } {
  const l = lib();
  const pointer = l.symbols.__errno_location();
  const errno = pointer ? new Deno.UnsafePointerView(pointer).getInt32() : 0;
  const textPointer = l.symbols.strerror(errno);
  const text = textPointer ? new Deno.UnsafePointerView(textPointer).getCString() : `errno ${errno}`;
  return { errno, text };
}

/** errno values that mean "not allowed" (EPERM, EACCES) or "not supported" (ENOTSUP). */
export const XATTR_EPERM = 1;
/** EACCES. */
export const XATTR_EACCES = 13;
/** ENOTSUP / EOPNOTSUPP on Linux. */
export const XATTR_ENOTSUP = 95;
/** ENODATA: the attribute does not exist. */
const XATTR_ENODATA = 61;
/** ERANGE: the buffer is too small. */
const XATTR_ERANGE = 34;

/** A failed xattr call, with its errno. */
export class XattrError extends Error {
  constructor(message: string, readonly errno: number) {
    super(message);
    this.name = "XattrError";
  }
}

/**
 * Sets an extended attribute on a path (a symlink itself, not its target).
 *
 * @example
 * ```ts
 * import { setXattr } from "./xattr.ts";
 * setXattr("/tmp/file", "user.comment", new TextEncoder().encode("hello"));
 * ```
 */
export function setXattr(path: string, name: string, value: Uint8Array): void {
  const buffer = new Uint8Array(value.length);
  buffer.set(value);
  const rc = lib().symbols.lsetxattr(cString(path), cString(name), buffer, BigInt(buffer.length), 0);
  if (rc !== 0) {
    const { errno, text } = lastError();
    throw new XattrError(`cannot set ${name} on ${path}: ${text}`, errno);
  }
}

/**
 * Lists the extended attributes of a path (symlinks not followed), with
 * their values.
 *
 * @example
 * ```ts
 * import { listXattrs } from "./xattr.ts";
 * for (const { name, value } of listXattrs("/tmp/file")) console.log(name, value.length);
 * ```
 */
export function listXattrs(path: string): Xattr[] {
  const l = lib();
  const p = cString(path);
  const size = Number(l.symbols.llistxattr(p, null, 0n));
  if (size < 0) {
    const { errno, text } = lastError();
    if (errno === XATTR_ENOTSUP) return [];
    throw new XattrError(`cannot list xattrs of ${path}: ${text}`, errno);
  }
  if (size === 0) return [];
  const names = new Uint8Array(size);
  const got = Number(l.symbols.llistxattr(p, names, BigInt(size)));
  if (got < 0) throw new XattrError(`cannot list xattrs of ${path}: ${lastError().text}`, lastError().errno);
  const out: Xattr[] = [];
  const decoder = new TextDecoder();
  let start = 0;
  for (let i = 0; i < got; i++) {
    if (names[i] !== 0) continue;
    const name = decoder.decode(names.subarray(start, i));
    start = i + 1;
    const n = cString(name);
    const valueSize = Number(l.symbols.lgetxattr(p, n, null, 0n));
    if (valueSize < 0) continue;
    const value = new Uint8Array(valueSize);
    const read = Number(l.symbols.lgetxattr(p, n, value, BigInt(valueSize)));
    if (read < 0) continue;
    out.push({ name, value: value.subarray(0, read) });
  }
  return out;
}

/**
 * Reads one extended attribute of a path (symlinks not followed); undefined
 * when the path does not have it.
 *
 * @example
 * ```ts
 * import { getXattr } from "./xattr.ts";
 * const value = getXattr("/tmp/file", "user.comment");
 * ```
 */
export function getXattr(path: string, name: string): Uint8Array | undefined {
  const l = lib();
  const p = cString(path);
  const n = cString(name);
  // One call with a buffer that fits most values; ask for the size only when it does not.
  let buffer = new Uint8Array(256);
  for (;;) {
    const read = Number(l.symbols.lgetxattr(p, n, buffer, BigInt(buffer.length)));
    if (read >= 0) return buffer.subarray(0, read);
    const { errno, text } = lastError();
    if (errno === XATTR_ENODATA) return undefined;
    if (errno !== XATTR_ERANGE) throw new XattrError(`cannot read ${name} of ${path}: ${text}`, errno);
    const size = Number(l.symbols.lgetxattr(p, n, null, 0n));
    if (size < 0) throw new XattrError(`cannot read ${name} of ${path}: ${lastError().text}`, lastError().errno);
    buffer = new Uint8Array(size);
  }
}
