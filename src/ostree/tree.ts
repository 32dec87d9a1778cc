/**
 * Reads the whole tree of a commit (paths, types, modes, owners, sizes,
 * checksums, xattrs and symlink targets) from `ostree ls -R -X -C`, so that
 * metadata always comes from the commit and never from a checkout made by
 * whoever runs the tool.
 *
 * @module
 */

import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { AptOstreeError } from "../errors.ts";
import { spawnOstree } from "./command.ts";
import { parseGVariantTextAt, toBytes } from "./gvariant_text.ts";
import { GVariantError, GVariantUtf8Error } from "./gvariant.ts";
import {
  archiveHeaderLength,
  type DirTree,
  type ObjectMeta,
  parseArchiveFileHeader,
  parseDirMeta,
  parseDirTree,
} from "./objects.ts";
import type { OstreeRepo } from "./repo.ts";
import { mapLimit } from "../util/concurrency.ts";
import { getXattr, listXattrs, XATTR_EACCES, XATTR_EPERM, XattrError } from "../util/xattr.ts";

/** An extended attribute: its name and its exact binary value. */
export interface Xattr {
  /** Attribute name, e.g. `security.capability`. */
  name: string;
  /** Raw value bytes. */
  value: Uint8Array;
}

/** Kinds of entries an OSTree tree can hold. */
export type EntryKind = "file" | "directory" | "symlink";

/** One path of a commit's tree, with the metadata the commit records. */
export interface TreeEntry {
  /** Path relative to the root, without a leading slash (never empty). */
  path: string;
  /** Path as stored in the commit (differs from `path` after remapping). */
  sourcePath: string;
  /** Entry kind. */
  kind: EntryKind;
  /** Permission bits including setuid, setgid and sticky (`0o7777` mask). */
  mode: number;
  /** Owner user id. */
  uid: number;
  /** Owner group id. */
  gid: number;
  /** Size in bytes of a regular file's content (0 otherwise). */
  size: number;
  /**
   * Content object checksum for files and symlinks (covers content and
   * metadata), dirtree checksum for directories (covers the whole subtree).
   */
  checksum: string;
  /** Dirmeta checksum (directories only). */
  metaChecksum?: string;
  /** Symlink target (symlinks only). */
  target?: string;
  /** Extended attributes, in the order the commit stores them. */
  xattrs: Xattr[];
}

/** Options for {@linkcode listCommitTree}. */
export interface ListTreeOptions {
  /** Aborts the listing. */
  signal?: AbortSignal;
  /** How many `ostree ls` processes may run at once (default: one per CPU). */
  parallel?: number;
}

const LINE_HEAD_RE = /^([-dlcbps?])([0-7]{5,6}) (\d+) (\d+) +(\d+) ([0-9a-f]{64})(?: ([0-9a-f]{64}))? \{ /;
const EMPTY_XATTRS = "@a(ayay) [] } ";
const NEWLINE = 0x0a;

interface RawLine {
  text: string;
  /** Set when a line is not valid UTF-8: its lossy rendering. */
  invalid?: string;
}

/**
 * Splits a byte stream into lines, a batch of lines per chunk. Bytes are
 * decoded a chunk at a time (not a line at a time, which costs 10x more);
 * only a chunk that is not valid UTF-8 is decoded line by line, to point at
 * the culprit.
 */
async function* readLineBatches(stream: ReadableStream<Uint8Array>, separator: number): AsyncGenerator<RawLine[]> {
  const strict = new TextDecoder("utf-8", { fatal: true });
  const lossy = new TextDecoder("utf-8");
  const sep = String.fromCharCode(separator);
  let rest: Uint8Array = new Uint8Array(0);
  const decode = (bytes: Uint8Array): RawLine[] => {
    try {
      return strict.decode(bytes).split(sep).map((text) => ({ text }));
    } catch {
      const lines: RawLine[] = [];
      let start = 0;
      for (;;) {
        const end = bytes.indexOf(separator, start);
        const line = bytes.subarray(start, end < 0 ? bytes.length : end);
        try {
          lines.push({ text: strict.decode(line) });
        } catch {
          const text = lossy.decode(line);
          lines.push({ text, invalid: text });
        }
        if (end < 0) return lines;
        start = end + 1;
      }
    }
  };
  for await (const chunk of stream) {
    let data = chunk;
    if (rest.length > 0) {
      data = new Uint8Array(rest.length + chunk.length);
      data.set(rest);
      data.set(chunk, rest.length);
    }
    const last = data.lastIndexOf(separator);
    if (last < 0) {
      rest = data;
      continue;
    }
    yield decode(data.subarray(0, last));
    rest = data.slice(last + 1);
  }
  if (rest.length > 0) yield decode(rest);
}

function parseXattrs(value: unknown, path: string): Xattr[] {
  if (!Array.isArray(value)) throw badListing(`xattrs of ${path} are not an array`);
  return value.map((pair) => {
    if (!Array.isArray(pair) || pair.length !== 2) throw badListing(`bad xattr entry on ${path}`);
    const nameBytes = toBytes(pair[0]);
    // Names are stored NUL-terminated.
    const end = nameBytes.indexOf(0);
    const name = new TextDecoder().decode(end >= 0 ? nameBytes.subarray(0, end) : nameBytes);
    return { name, value: toBytes(pair[1]) };
  });
}

function badListing(detail: string): AptOstreeError {
  return new AptOstreeError(`Cannot read the commit's file list: ${detail}`, {
    solution: "Check the repository with: ostree fsck",
  });
}

/** Turns a failed `ostree ls` into a message that says what went wrong. */
function listingFailed(repo: OstreeRepo, commit: string, stderr: string): AptOstreeError {
  const detail = stderr.replace(/^error: /, "").replace(/\s+/g, " ").trim();
  if (/Permission denied/i.test(detail)) {
    return new AptOstreeError(`Permission denied reading the repository ${repo.path} (${detail})`, {
      solution: "Run as a user who can read every object of the repository (a bare repository needs root)",
    });
  }
  return new AptOstreeError(`Failed to checkout commit: ${commit}`, {
    solution: `Verify the commit exists and is accessible (ostree ls: ${detail})`,
  });
}

function invalidName(path: string): AptOstreeError {
  return new AptOstreeError(`File name is not valid UTF-8: ${path}`, {
    solution: "Rename the file in the source tree: OCI layers and bootc need UTF-8 paths",
  });
}

/** The result of parsing `ostree ls -R -X -C` output. */
export interface ParsedListing {
  /** Entries with absolute `sourcePath`s, root included, in listing order. */
  entries: TreeEntry[];
  /** Whether some names are ambiguous in the text form (newline, " -> "). */
  needExactNames: boolean;
}

function unsupportedType(path: string, type: string): AptOstreeError {
  const names: Record<string, string> = { c: "character device", b: "block device", p: "FIFO", s: "socket" };
  return new AptOstreeError(`Cannot put ${path} into a layer: unsupported file type (${names[type] ?? type})`, {
    solution: "OSTree commits hold regular files, directories and symlinks only; remove that entry from the tree",
  });
}

/**
 * Parses the output of `ostree ls -R -X -C` (one entry a line: type and
 * mode, uid, gid, size, checksum(s), xattrs as GVariant text, path, and
 * `-> target` for symlinks).
 *
 * @example
 * ```ts
 * import { parseTreeListing } from "./tree.ts";
 * const line = "-00644 0 0      3 " + "a".repeat(64) + " { @a(ayay) [] } /hello\n";
 * const { entries } = await parseTreeListing(ReadableStream.from([new TextEncoder().encode(line)]));
 * entries[0].sourcePath; // "/hello"
 * ```
 */
export async function parseTreeListing(stream: ReadableStream<Uint8Array>): Promise<ParsedListing> {
  const entries: TreeEntry[] = [];
  let needExactNames = false;
  let last: TreeEntry | undefined;
  let lastTail = "";
  const finishTail = () => {
    if (!last) return;
    if (last.kind === "symlink") {
      const parts = lastTail.split(" -> ");
      if (parts.length !== 2) needExactNames = true;
      last.sourcePath = parts[0];
      last.target = parts.slice(1).join(" -> ");
    } else {
      last.sourcePath = lastTail;
    }
  };
  for await (const batch of readLineBatches(stream, NEWLINE)) {
    for (const line of batch) {
      const m = LINE_HEAD_RE.exec(line.text);
      if (!m) {
        // A file name with a newline continues on the next line.
        if (!last) throw badListing(`unexpected line '${line.text.slice(0, 120)}'`);
        if (line.invalid) throw invalidName(lastTail + "\n" + line.invalid);
        lastTail += "\n" + line.text;
        needExactNames = true;
        continue;
      }
      finishTail();
      let xattrs: Xattr[];
      const head = m[0].length;
      if (line.text.startsWith(EMPTY_XATTRS, head)) {
        // The common case, without the general parser.
        xattrs = [];
        lastTail = line.text.slice(head + EMPTY_XATTRS.length);
      } else {
        const [value, end] = parseGVariantTextAt(line.text, head);
        if (!line.text.startsWith(" } ", end)) throw badListing(`unexpected line '${line.text.slice(0, 120)}'`);
        lastTail = line.text.slice(end + 3);
        xattrs = parseXattrs(value, lastTail);
      }
      if (line.invalid) throw invalidName(lastTail);
      if (m[1] !== "-" && m[1] !== "d" && m[1] !== "l") throw unsupportedType(lastTail, m[1]);
      const kind = m[1] === "d" ? "directory" : m[1] === "l" ? "symlink" : "file";
      last = {
        path: "",
        sourcePath: "",
        kind,
        mode: parseInt(m[2], 8) & 0o7777,
        uid: Number(m[3]),
        gid: Number(m[4]),
        size: kind === "file" ? Number(m[5]) : 0,
        checksum: m[6],
        metaChecksum: m[7],
        xattrs,
      };
      entries.push(last);
    }
  }
  finishTail();
  return { entries, needExactNames };
}

/**
 * Runs one `ostree ls -X -C` (with `-R` when `recursive`) over absolute
 * `paths` of a commit and parses its output. Each directory named is listed
 * with its own line first; paths stay absolute.
 *
 * @example
 * ```ts
 * import { OstreeRepo } from "./repo.ts";
 * import { listPaths } from "./tree.ts";
 * const repo = await OstreeRepo.open("repo");
 * const { entries } = await listPaths(repo, "main", ["/usr", "/etc"], false);
 * ```
 */
export async function listPaths(
  repo: OstreeRepo,
  commit: string,
  paths: string[],
  recursive: boolean,
  options: ListTreeOptions = {},
): Promise<ParsedListing> {
  const args = ["ls", repo.repoArg, ...(recursive ? ["-R"] : []), "-X", "-C", commit, "--", ...paths];
  const child = spawnOstree(args, options);
  const stderr = new Response(child.stderr).text();
  let parsed: ParsedListing;
  try {
    parsed = await parseTreeListing(child.stdout);
  } catch (error) {
    child.kill();
    await child.status;
    throw error;
  }
  const status = await child.status;
  if (!status.success) throw listingFailed(repo, commit, await stderr);
  return parsed;
}

/** Directories to split the recursive listing over; deeper levels are tried until there are this many. */
const SPLIT_TARGET = 64;
/** How deep to look for directories to split the listing over. */
const SPLIT_MAX_DEPTH = 3;

/**
 * Lists every entry of a commit's tree (root excluded). `ostree ls` spends
 * its time on one core, one write per line, so the tree is listed by
 * several processes at once: the first levels are listed alone, and the
 * directories found there are shared out among `parallel` recursive
 * listings. The result is in no particular order (callers sort).
 *
 * @example
 * ```ts
 * import { OstreeRepo } from "./repo.ts";
 * import { listCommitTree } from "./tree.ts";
 * const repo = await OstreeRepo.open("repo");
 * for (const entry of await listCommitTree(repo, "main")) console.log(entry.path, entry.mode);
 * ```
 */
export async function listCommitTree(
  repo: OstreeRepo,
  commit: string,
  options: ListTreeOptions = {},
): Promise<TreeEntry[]> {
  const parallel = Math.max(1, options.parallel ?? navigator.hardwareConcurrency ?? 1);
  const entries: TreeEntry[] = [];
  let frontier = ["/"];
  let exact = true;
  for (let depth = 0; parallel > 1 && depth < SPLIT_MAX_DEPTH && frontier.length < SPLIT_TARGET; depth++) {
    const level = await listPaths(repo, commit, frontier, false, options);
    if (level.needExactNames) {
      exact = false;
      break;
    }
    const listed = new Set(frontier);
    const next: string[] = [];
    for (const entry of level.entries) {
      if (listed.has(entry.sourcePath)) continue; // each listed directory's own line
      entries.push(entry);
      if (entry.kind === "directory") next.push(entry.sourcePath);
    }
    if (depth === 0) entries.push(...level.entries.filter((e) => e.sourcePath === "/"));
    frontier = next;
  }
  let all: TreeEntry[];
  if (!exact || parallel === 1) {
    all = await listWhole(repo, commit, options);
  } else {
    const parts = await listRecursively(repo, commit, frontier, { ...options, parallel });
    if (parts.some((p) => p.needExactNames)) {
      all = await listWhole(repo, commit, options);
    } else {
      all = entries;
      const known = new Set(entries.map((e) => e.sourcePath));
      for (const part of parts) {
        for (const entry of part.entries) if (!known.has(entry.sourcePath)) all.push(entry);
      }
    }
  }
  // Drop the root ("/") and make paths relative.
  const out: TreeEntry[] = [];
  for (const entry of all) {
    if (entry.sourcePath === "/") continue;
    if (!entry.sourcePath.startsWith("/")) throw badListing(`path '${entry.sourcePath}' is not absolute`);
    entry.sourcePath = entry.sourcePath.slice(1);
    entry.path = entry.sourcePath;
    out.push(entry);
  }
  return out;
}

/**
 * Lists directories recursively, in several `ostree ls` processes at once.
 * Subtrees differ in size and their sizes are unknown: the directories are
 * dealt into a few more groups than processes, and each process takes the
 * next group when it is done.
 *
 * @example
 * ```ts
 * import { OstreeRepo } from "./repo.ts";
 * import { listRecursively } from "./tree.ts";
 * const repo = await OstreeRepo.open("repo");
 * const parts = await listRecursively(repo, "main", ["/usr", "/etc", "/var"]);
 * ```
 */
export function listRecursively(
  repo: OstreeRepo,
  commit: string,
  dirs: string[],
  options: ListTreeOptions = {},
): Promise<ParsedListing[]> {
  const parallel = Math.max(1, options.parallel ?? navigator.hardwareConcurrency ?? 1);
  const groups: string[][] = Array.from({ length: Math.min(parallel * 3, dirs.length) }, () => []);
  [...dirs].sort().forEach((dir, i) => groups[i % groups.length].push(dir));
  return mapLimit(groups, parallel, (group) => listPaths(repo, commit, group, true, options));
}

/** One recursive listing of the whole tree, with exact names where the text form is ambiguous. */
async function listWhole(repo: OstreeRepo, commit: string, options: ListTreeOptions): Promise<TreeEntry[]> {
  const parsed = await listPaths(repo, commit, ["/"], true, options);
  if (parsed.needExactNames) await applyExactNames(repo, commit, parsed.entries, options);
  return parsed.entries;
}

/**
 * File names with newlines or " -> " make the text listing ambiguous; the
 * NUL-separated listing names the same entries, in the same order, exactly.
 */
async function applyExactNames(
  repo: OstreeRepo,
  commit: string,
  entries: TreeEntry[],
  options: ListTreeOptions,
): Promise<void> {
  const child = spawnOstree(["ls", repo.repoArg, "-R", "--nul-filenames-only", commit], options);
  const stderr = new Response(child.stderr).text();
  let i = 0;
  for await (const names of readLineBatches(child.stdout, 0)) {
    for (const name of names) {
      if (name.invalid) throw invalidName(name.invalid);
      const entry = entries[i++];
      if (!entry) throw badListing("listings disagree on the number of entries");
      if (entry.kind === "symlink") {
        const full = entry.target === undefined ? entry.sourcePath : `${entry.sourcePath} -> ${entry.target}`;
        if (!full.startsWith(name.text + " -> ")) throw badListing(`listings disagree about ${name.text}`);
        entry.target = full.slice(name.text.length + 4);
      }
      entry.sourcePath = name.text;
    }
  }
  if (!(await child.status).success) throw listingFailed(repo, commit, await stderr);
  if (i !== entries.length) throw badListing("listings disagree on the number of entries");
}

// ---------------------------------------------------------------------------
// Native reader: the commit's objects, read straight from the repository.

/** Options for {@linkcode readCommitTree}. */
export interface ReadTreeOptions {
  /** Aborts the reading. */
  signal?: AbortSignal;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;

/** What a content object records, whatever the repository mode. */
interface FileMeta {
  kind: "file" | "symlink";
  mode: number;
  uid: number;
  gid: number;
  size: number;
  target?: string;
  xattrs: Xattr[];
}

type ObjectKind = "commit" | "dirtree" | "dirmeta" | "file";

const OBJECT_NAMES: Record<ObjectKind, string> = {
  commit: "commit",
  dirtree: "directory tree",
  dirmeta: "directory metadata",
  file: "file",
};

/**
 * Turns a failure to read or decode an object into an error that names the
 * object and the path it was read for.
 */
function objectFailure(repo: OstreeRepo, checksum: string, kind: ObjectKind, path: string, error: unknown): Error {
  if (error instanceof AptOstreeError) return error;
  const where = path === "" ? "/" : "/" + path;
  const file = kind === "file" ? repo.objectPath(checksum) : repo.objectPath(checksum, kind);
  if (error instanceof Deno.errors.PermissionDenied) {
    return new AptOstreeError(`Permission denied reading the repository ${repo.path} (object ${file} for ${where})`, {
      solution: "Run as a user who can read every object of the repository (a bare repository needs root)",
      cause: error,
    });
  }
  if (error instanceof Deno.errors.NotFound) {
    return new AptOstreeError(
      `The repository ${repo.path} is missing the ${OBJECT_NAMES[kind]} object ${checksum} (for ${where})`,
      {
        solution: `Check the repository with: ostree fsck --repo=${repo.path} (then pull or commit the tree again)`,
        cause: error,
      },
    );
  }
  if (error instanceof GVariantUtf8Error) return invalidName(where + "/" + error.lossy);
  const detail = error instanceof Error ? error.message : String(error);
  return new AptOstreeError(`Corrupt ${OBJECT_NAMES[kind]} object ${file} (for ${where}): ${detail}`, {
    solution: `Check the repository with: ostree fsck --repo=${repo.path}`,
    cause: error,
  });
}

function kindOf(mode: number, path: string): "file" | "symlink" {
  const type = mode & S_IFMT;
  if (type === S_IFREG) return "file";
  if (type === S_IFLNK) return "symlink";
  const names: Record<number, string> = { 0o020000: "c", 0o060000: "b", 0o010000: "p", 0o140000: "s" };
  throw unsupportedType("/" + path, names[type] ?? `mode ${mode.toString(8)}`);
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** A bare-user symlink object's content: the target (ostree writes it with a trailing NUL). */
function readTarget(content: Uint8Array, path: string): string {
  const end = content.indexOf(0);
  const bytes = end >= 0 ? content.subarray(0, end) : content;
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw invalidName(`${"/" + path} -> ${new TextDecoder().decode(bytes)}`);
  }
}

/** Reads a content object's metadata the way the repository's mode stores it. */
function fileMetaReader(repo: OstreeRepo): (checksum: string, path: string) => FileMeta {
  const objectPath = (checksum: string) => repo.objectPath(checksum);
  switch (repo.mode) {
    case "archive":
      return (checksum, path) => {
        const fd = openSync(objectPath(checksum), "r");
        try {
          let head = new Uint8Array(4096);
          let got = readSync(fd, head, 0, head.length, 0);
          const need = 8 + archiveHeaderLength(head.subarray(0, got));
          if (need > got) {
            const more = new Uint8Array(need);
            more.set(head.subarray(0, got));
            got += readSync(fd, more, got, need - got, got);
            head = more;
          }
          const header = parseArchiveFileHeader(head.subarray(0, got));
          const kind = kindOf(header.mode, path);
          return {
            kind,
            mode: header.mode,
            uid: header.uid,
            gid: header.gid,
            size: kind === "file" ? header.size : 0,
            target: kind === "symlink" ? header.target : undefined,
            xattrs: header.xattrs,
          };
        } finally {
          closeSync(fd);
        }
      };
    case "bare-user":
      return (checksum, path) => {
        const file = objectPath(checksum);
        const info = Deno.lstatSync(file);
        if (!info.isFile) throw new GVariantError("a bare-user object is not a regular file");
        const raw = getXattr(file, "user.ostreemeta");
        if (!raw) throw new GVariantError("it has no user.ostreemeta xattr");
        const meta = parseDirMeta(raw);
        const kind = kindOf(meta.mode, path);
        meta.xattrs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        return {
          kind,
          mode: meta.mode,
          uid: meta.uid,
          gid: meta.gid,
          size: kind === "file" ? info.size : 0,
          target: kind === "symlink" ? readTarget(readFileSync(file), path) : undefined,
          xattrs: meta.xattrs,
        };
      };
    case "bare":
    case "bare-user-only":
      return (checksum, path) => {
        const file = objectPath(checksum);
        const info = Deno.lstatSync(file);
        const mode = info.mode ?? 0;
        const kind = kindOf(mode, path);
        const owned = repo.mode === "bare";
        return {
          kind,
          mode,
          uid: owned ? info.uid ?? 0 : 0,
          gid: owned ? info.gid ?? 0 : 0,
          size: kind === "file" ? info.size : 0,
          target: kind === "symlink" ? Deno.readLinkSync(file) : undefined,
          xattrs: owned ? listXattrs(file) : [],
        };
      };
    case "bare-split-xattrs":
      throw new AptOstreeError(`Cannot read ${repo.path}: repositories in bare-split-xattrs mode are not supported`, {
        solution:
          `Copy the commit into a bare or archive repository (ostree init --mode=bare --repo=NEW && ostree pull-local --repo=NEW ${repo.path} REF) and build from that one`,
      });
  }
}

/**
 * Reads a commit's tree from its objects, memoising what it decodes: each
 * dirtree and dirmeta object is read once, and each content object once
 * however many paths share it (hardlinks, identical files, identical
 * subtrees).
 */
class TreeReader {
  private readonly dirtrees = new Map<string, DirTree>();
  private readonly dirmetas = new Map<string, ObjectMeta>();
  private readonly files = new Map<string, FileMeta>();
  private readonly readFileMeta: (checksum: string, path: string) => FileMeta;

  constructor(private readonly repo: OstreeRepo, private readonly signal?: AbortSignal) {
    this.readFileMeta = fileMetaReader(repo);
  }

  private dirtree(checksum: string, path: string): DirTree {
    let tree = this.dirtrees.get(checksum);
    if (!tree) {
      try {
        tree = parseDirTree(readFileSync(this.repo.objectPath(checksum, "dirtree")));
      } catch (error) {
        throw objectFailure(this.repo, checksum, "dirtree", path, toDenoError(error));
      }
      this.dirtrees.set(checksum, tree);
    }
    return tree;
  }

  dirmeta(checksum: string, path: string): ObjectMeta {
    let meta = this.dirmetas.get(checksum);
    if (!meta) {
      try {
        meta = parseDirMeta(readFileSync(this.repo.objectPath(checksum, "dirmeta")));
        if ((meta.mode & S_IFMT) !== S_IFDIR) {
          throw new GVariantError(`mode ${meta.mode.toString(8)} is not a directory's`);
        }
      } catch (error) {
        throw objectFailure(this.repo, checksum, "dirmeta", path, toDenoError(error));
      }
      this.dirmetas.set(checksum, meta);
    }
    return meta;
  }

  private file(checksum: string, path: string): FileMeta {
    let meta = this.files.get(checksum);
    if (!meta) {
      try {
        meta = this.readFileMeta(checksum, path);
      } catch (error) {
        throw objectFailure(this.repo, checksum, "file", path, toDenoError(error));
      }
      this.files.set(checksum, meta);
    }
    return meta;
  }

  /** Appends the entries below a directory, in path order (a directory's entries right after it). */
  walk(tree: string, prefix: string, out: TreeEntry[]): void {
    this.signal?.throwIfAborted();
    const { files, dirs } = this.dirtree(tree, prefix);
    let f = 0;
    let d = 0;
    while (f < files.length || d < dirs.length) {
      if (d >= dirs.length || (f < files.length && files[f].name < dirs[d].name)) {
        const { name, checksum } = files[f++];
        const path = prefix + name;
        const meta = this.file(checksum, path);
        const entry: TreeEntry = {
          path,
          sourcePath: path,
          kind: meta.kind,
          mode: meta.mode & 0o7777,
          uid: meta.uid,
          gid: meta.gid,
          size: meta.size,
          checksum,
          xattrs: meta.xattrs.length > 0 ? meta.xattrs.slice() : [],
        };
        if (meta.target !== undefined) entry.target = meta.target;
        out.push(entry);
      } else {
        const dir = dirs[d++];
        const path = prefix + dir.name;
        const meta = this.dirmeta(dir.meta, path);
        out.push({
          path,
          sourcePath: path,
          kind: "directory",
          mode: meta.mode & 0o7777,
          uid: meta.uid,
          gid: meta.gid,
          size: 0,
          checksum: dir.tree,
          metaChecksum: dir.meta,
          xattrs: meta.xattrs.length > 0 ? meta.xattrs.slice() : [],
        });
        this.walk(dir.tree, path + "/", out);
      }
    }
  }
}

/** `node:fs` errors carry a code; map the ones we explain to Deno's classes. */
function toDenoError(error: unknown): unknown {
  const code = (error as { code?: string })?.code;
  if (code === "ENOENT") return new Deno.errors.NotFound((error as Error).message);
  if (code === "EACCES" || code === "EPERM") return new Deno.errors.PermissionDenied((error as Error).message);
  if (error instanceof XattrError && (error.errno === XATTR_EACCES || error.errno === XATTR_EPERM)) {
    return new Deno.errors.PermissionDenied(error.message);
  }
  return error;
}

/**
 * Reads every entry of a commit's tree (root excluded) straight from the
 * repository's objects: the commit, its dirtree and dirmeta objects, and
 * each content object's metadata as the repository's mode stores it
 * (archive: the `.filez` header; bare-user: the `user.ostreemeta` xattr;
 * bare: the object's own owner, mode and xattrs; bare-user-only: mode only,
 * owned by root; bare-split-xattrs is refused). Entries come in path order
 * (component by component: a directory's entries right after it).
 *
 * @example
 * ```ts
 * import { OstreeRepo } from "./repo.ts";
 * import { readCommitTree } from "./tree.ts";
 * const repo = await OstreeRepo.open("repo");
 * for (const entry of await readCommitTree(repo, await repo.resolveCommit("main"))) console.log(entry.path, entry.mode);
 * ```
 */
export async function readCommitTree(
  repo: OstreeRepo,
  commit: string,
  options: ReadTreeOptions = {},
): Promise<TreeEntry[]> {
  const checksum = /^[0-9a-f]{64}$/.test(commit) ? commit : await repo.resolveCommit(commit, options);
  const info = await repo.readCommit(checksum, options);
  const reader = new TreeReader(repo, options.signal);
  reader.dirmeta(info.rootMetadata, "");
  const out: TreeEntry[] = [];
  reader.walk(info.rootContents, "", out);
  return out;
}
