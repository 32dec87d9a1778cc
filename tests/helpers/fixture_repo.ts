/**
 * Test fixtures: real OSTree repositories built with the `ostree` program in
 * temp directories, and trees that exercise every corner of the tar layer
 * (long and non-ASCII names, hardlinks, special modes, big ids, xattrs, a
 * big file, a deployment's `/usr/etc`).
 *
 * @module
 */

import { join } from "node:path";

/** Repository modes the fixtures create. */
export type FixtureRepoMode = "bare" | "bare-user" | "archive";

/** All fixture repository modes. */
export const REPO_MODES: readonly FixtureRepoMode[] = ["bare", "bare-user", "archive"];

/** The output of a finished command. */
export interface CommandOutput {
  /** Exit code. */
  code: number;
  /** Standard output, decoded. */
  stdout: string;
  /** Standard error, decoded. */
  stderr: string;
  /** Raw standard output. */
  stdoutBytes: Uint8Array;
}

/** Options for {@linkcode run}. */
export interface RunOptions {
  /** Working directory. */
  cwd?: string;
  /** Extra environment. */
  env?: Record<string, string>;
  /** Bytes to feed on stdin. */
  stdin?: Uint8Array;
}

/** Runs a program to completion and returns its output, whatever its exit code. */
export async function run(program: string, args: string[], options: RunOptions = {}): Promise<CommandOutput> {
  const child = new Deno.Command(program, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin) {
    const writer = child.stdin.getWriter();
    await writer.write(options.stdin);
    await writer.close();
  }
  const out = await child.output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
    stdoutBytes: out.stdout,
  };
}

/** Runs a program and throws (with its stderr) when it fails; returns stdout. */
export async function runOk(program: string, args: string[], options: RunOptions = {}): Promise<string> {
  const out = await run(program, args, options);
  if (out.code !== 0) {
    throw new Error(
      `${program} ${args.join(" ")} failed with exit code ${out.code}:\n${out.stderr.trim()}\n${out.stdout.trim()}`,
    );
  }
  return out.stdout;
}

/** Whether the tests run as root (needed for ownership, bare repos, mount). */
export function isRoot(): boolean {
  return Deno.uid() === 0;
}

/** Creates a fresh temp directory for one test (remove it with {@linkcode removeTree}). */
export function makeTempDir(prefix = "apt-ostree-test-"): Promise<string> {
  return Deno.makeTempDir({ prefix });
}

/** Removes a path recursively; a missing path is fine (`rm -rf` copes with names that are not UTF-8). */
export async function removeTree(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    await runOk("rm", ["-rf", "--", path]);
  }
}

/**
 * Creates an OSTree repository. With `parent`, it is `parent/repo-<mode>`;
 * otherwise a new temp directory. Returns its path.
 */
export async function createRepo(mode: FixtureRepoMode, parent?: string): Promise<string> {
  const path = parent ? join(parent, `repo-${mode}`) : await makeTempDir(`apt-ostree-repo-${mode}-`);
  await Deno.mkdir(path, { recursive: true });
  await runOk("ostree", ["init", `--repo=${path}`, `--mode=${mode}`]);
  return path;
}

/** The fixed commit time used unless a test gives one: 2024-05-06T07:08:09Z. */
export const FIXTURE_TIMESTAMP = 1714979289;

/** Options for {@linkcode commitTree}. */
export interface CommitOptions {
  /** `version` metadata. */
  version?: string;
  /** Commit time: seconds since the epoch, or a Date (default {@linkcode FIXTURE_TIMESTAMP}). */
  timestamp?: number | Date;
  /** Extra string metadata. */
  metadata?: Record<string, string>;
  /** Subject line (default "fixture commit"). */
  subject?: string;
}

function ostreeTimestamp(value: number | Date): string {
  const date = typeof value === "number" ? new Date(value * 1000) : value;
  const iso = date.toISOString(); // 2024-05-06T07:08:09.000Z
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} +0000`;
}

/** Commits `treeDir` to `branch` of `repo` and returns the commit checksum. */
export async function commitTree(
  repo: string,
  branch: string,
  treeDir: string,
  options: CommitOptions = {},
): Promise<string> {
  const args = [
    "commit",
    `--repo=${repo}`,
    `--branch=${branch}`,
    `--tree=dir=${treeDir}`,
    `--subject=${options.subject ?? "fixture commit"}`,
    `--timestamp=${ostreeTimestamp(options.timestamp ?? FIXTURE_TIMESTAMP)}`,
  ];
  if (options.version !== undefined) args.push(`--add-metadata-string=version=${options.version}`);
  for (const [key, value] of Object.entries(options.metadata ?? {})) {
    args.push(`--add-metadata-string=${key}=${value}`);
  }
  const checksum = (await runOk("ostree", args)).trim();
  if (!/^[0-9a-f]{64}$/.test(checksum)) throw new Error(`ostree commit printed '${checksum}'`);
  return checksum;
}

/**
 * Writes `size` bytes of deterministic pseudo-random content to `path`,
 * 1 MiB at a time (never held whole in memory).
 */
export async function writeBigFile(path: string, size: number, seed = 0x9e3779b9): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true, mode: 0o644 });
  try {
    const chunk = new Uint8Array(1 << 20);
    const words = new Uint32Array(chunk.buffer);
    let x = seed >>> 0 || 1;
    let left = size;
    while (left > 0) {
      for (let i = 0; i < words.length; i++) {
        // xorshift32; every 4th word is a run of text so the data is partly compressible.
        x ^= x << 13;
        x >>>= 0;
        x ^= x >>> 17;
        x ^= x << 5;
        x >>>= 0;
        words[i] = (i & 3) === 3 ? 0x61746164 : x;
      }
      const n = Math.min(left, chunk.length);
      let off = 0;
      while (off < n) off += await file.write(chunk.subarray(off, n));
      left -= n;
    }
  } finally {
    file.close();
  }
}

async function setXattr(path: string, name: string, value: string): Promise<void> {
  await runOk("setfattr", ["-h", "-n", name, "-v", value, path]);
}

/** What {@linkcode makeRichTree} created, for assertions. */
export interface RichTree {
  /** Paths (relative) of the hardlinked pair. */
  hardlinks: [string, string];
  /** Relative path longer than 100 bytes. */
  longPath: string;
  /** Relative path longer than 255 bytes. */
  veryLongPath: string;
  /** Relative path of the big file. */
  bigFile: string;
  /** Its size. */
  bigFileSize: number;
  /** File with `user.test` xattrs. */
  xattrFile: string;
  /** File with `security.capability`. */
  capFile: string;
  /** Setuid file. */
  setuidFile: string;
  /** File owned by 3000000:3000000. */
  bigIdFile: string;
}

/** Options for {@linkcode makeRichTree}. */
export interface RichTreeOptions {
  /** Size of the big file (default ~30 MB). */
  bigFileSize?: number;
}

/**
 * Fills `dir` (created if missing) with a tree that covers every kind of
 * entry a layer must carry. Needs root (ownership, security.capability).
 * There is a `usr/etc` and no top-level `etc` (a deployment's layout).
 */
export async function makeRichTree(dir: string, options: RichTreeOptions = {}): Promise<RichTree> {
  const p = (rel: string) => join(dir, rel);
  const mkdir = (rel: string, mode = 0o755) => Deno.mkdir(p(rel), { recursive: true, mode });
  const write = (rel: string, text: string, mode = 0o644) => Deno.writeTextFile(p(rel), text, { mode });
  await Deno.mkdir(dir, { recursive: true });
  await Deno.chmod(dir, 0o755);

  // Nested directories, an empty file, an empty directory.
  await mkdir("a/b/c/d");
  await write("a/b/c/d/deep.txt", "deep file\n");
  await write("a/top.txt", "top\n");
  await write("empty-file", "");
  await mkdir("empty-dir");
  await Deno.chmod(p("empty-dir"), 0o700);

  // Deployment layout: configuration in /usr/etc, no /etc.
  await mkdir("usr/etc/nested");
  await write("usr/etc/os-release", 'NAME="Fixture OS"\nVERSION_ID=1\n');
  await write("usr/etc/nested/conf", "key=value\n");
  await write("usr/etc/shadow", "root:*:19000:0:99999:7:::\n", 0o640);
  await Deno.chmod(p("usr/etc/shadow"), 0o640);
  await mkdir("usr/bin");
  await write("usr/bin/tool", "#!/bin/sh\necho tool\n", 0o755);
  await Deno.chmod(p("usr/bin/tool"), 0o755);

  // Symlinks: relative, absolute, dangling, to a directory.
  await Deno.symlink("a/b/c/d/deep.txt", p("link-relative"));
  await Deno.symlink("/usr/etc/os-release", p("link-absolute"));
  await Deno.symlink("does/not/exist", p("link-dangling"));
  await Deno.symlink("../usr/bin", p("a/link-to-dir"));

  // A hardlink pair.
  await mkdir("hardlinks");
  await write("hardlinks/one", "shared content of a hardlink pair\n");
  await Deno.link(p("hardlinks/one"), p("hardlinks/two"));

  // Long paths: > 100 bytes (ustar name field) and > 255 bytes (ustar prefix+name).
  const seg = (c: string, n: number) => c.repeat(n);
  const longDir = `long/${seg("x", 60)}`;
  await mkdir(longDir);
  const longPath = `${longDir}/${seg("y", 50)}.txt`;
  await write(longPath, "over 100 bytes\n");
  const veryLongDir = `long/${seg("d", 80)}/${seg("e", 80)}/${seg("f", 80)}`;
  await mkdir(veryLongDir);
  const veryLongPath = `${veryLongDir}/${seg("g", 40)}.txt`;
  await write(veryLongPath, "over 255 bytes\n");
  // One name of 200 bytes (longer than ustar's 100-byte name field on its own).
  await write(`long/${seg("n", 200)}`, "long name\n");

  // Non-ASCII names.
  await write("ü name", "umlaut and space\n");
  await write("日本語.txt", "japanese\n");
  await mkdir("dír-ñ");
  await write("dír-ñ/café", "accents\n");

  // Special modes.
  const setuidFile = "usr/bin/setuid-tool";
  await write(setuidFile, "#!/bin/sh\n", 0o755);
  await mkdir("srv/setgid-dir");
  await mkdir("tmp");
  await write("srv/setgid-dir/file", "in a setgid dir\n");
  await write("usr/bin/setgid-tool", "#!/bin/sh\n", 0o755);

  // Ownership.
  await mkdir("home/user/private");
  await write("home/user/file", "owned by 1234:5678\n");
  await write("home/user/private/secret", "mode 0600\n", 0o600);
  const bigIdFile = "home/big-ids";
  await write(bigIdFile, "owned by 3000000:3000000\n");
  await mkdir("home/big-id-dir");
  await Deno.chown(p("home/user"), 1234, 5678);
  await Deno.chown(p("home/user/file"), 1234, 5678);
  await Deno.chown(p("home/user/private"), 1234, 5678);
  await Deno.chown(p("home/user/private/secret"), 1234, 5678);
  await Deno.chown(p(bigIdFile), 3000000, 3000000);
  await Deno.chown(p("home/big-id-dir"), 3000000, 3000000);
  await Deno.chown(p("srv/setgid-dir"), 0, 5678);
  await runOk("chown", ["-h", "1234:5678", p("link-dangling")]);

  // Modes after chown (chown clears setuid/setgid).
  await Deno.chmod(p(setuidFile), 0o4755);
  await Deno.chmod(p("usr/bin/setgid-tool"), 0o2755);
  await Deno.chmod(p("srv/setgid-dir"), 0o2775);
  await Deno.chmod(p("tmp"), 0o1777);
  await Deno.chmod(p("home/user/private"), 0o700);
  await Deno.chmod(p("home/user/private/secret"), 0o600);

  // Extended attributes (after chown, which drops security.capability).
  const xattrFile = "xattrs/file";
  await mkdir("xattrs/dir");
  await write(xattrFile, "has xattrs\n");
  await setXattr(p(xattrFile), "user.test", "hello xattr");
  await setXattr(p(xattrFile), "user.binary", "0x00ff00017f8000");
  await write("xattrs/binary", "user.test holds bytes with NULs\n");
  await setXattr(p("xattrs/binary"), "user.test", "0x0000ff0a00c3");
  await setXattr(p("xattrs/dir"), "user.dir", "on a directory");
  const capFile = "usr/bin/cap-tool";
  await write(capFile, "#!/bin/sh\necho cap\n", 0o755);
  await Deno.chmod(p(capFile), 0o755);
  await setXattr(p(capFile), "security.capability", "0x0100000200200000000000000000000000000000");

  // Sizes on the edges of tar blocks (512), the writer's 1 MiB batches and
  // archive-mode objects inflated in one go (up to 4 MiB).
  await mkdir("sizes");
  for (
    const [name, size] of [["511", 511], ["512", 512], ["513", 513], ["1MiB", 1 << 20], ["4MiB", 4 << 20]] as const
  ) {
    await writeBigFile(p(`sizes/${name}`), size, size);
  }
  await writeBigFile(p("sizes/4MiB+1"), (4 << 20) + 1, 7);

  // A big file, streamed.
  const bigFileSize = options.bigFileSize ?? 30 * 1000 * 1000 + 12345;
  await mkdir("big");
  const bigFile = "big/blob.bin";
  await writeBigFile(p(bigFile), bigFileSize);

  return {
    hardlinks: ["hardlinks/one", "hardlinks/two"],
    longPath,
    veryLongPath,
    bigFile,
    bigFileSize,
    xattrFile,
    capFile,
    setuidFile,
    bigIdFile,
  };
}

/** Fills `dir` with a small tree that has both `/etc` and `/usr/etc` (which build-image must refuse). */
export async function makeTreeWithBothEtc(dir: string): Promise<void> {
  await Deno.mkdir(join(dir, "etc"), { recursive: true });
  await Deno.mkdir(join(dir, "usr/etc"), { recursive: true });
  await Deno.chmod(dir, 0o755);
  await Deno.writeTextFile(join(dir, "etc/hostname"), "host\n");
  await Deno.writeTextFile(join(dir, "usr/etc/os-release"), "NAME=both\n");
}

/**
 * Fills `dir` with names that make `ostree ls` text ambiguous: newlines in
 * file, directory and symlink-target names, and " -> " in names and targets.
 */
export async function makeOddNamesTree(dir: string): Promise<void> {
  await Deno.mkdir(join(dir, "dir\nwith newline"), { recursive: true });
  await Deno.chmod(dir, 0o755);
  await Deno.writeTextFile(join(dir, "file\nwith newline"), "newline\n");
  await Deno.writeTextFile(join(dir, "dir\nwith newline", "inner"), "inner\n");
  await Deno.writeTextFile(join(dir, "a -> b"), "arrow in a name\n");
  await Deno.symlink("target -> with arrow", join(dir, "link -> with arrow"));
  await Deno.symlink("target\nwith newline", join(dir, "link\nwith newline"));
  await Deno.symlink("plain-target", join(dir, "plain-link"));
  await Deno.writeTextFile(join(dir, "trailing space "), "space\n");
  await Deno.writeTextFile(join(dir, "tab\there"), "tab\n");
  await Deno.writeTextFile(join(dir, "back\\slash"), "backslash\n");
}

/** Fills `dir` with `dirs` directories of `perDir` empty files each (a tree whose listing takes a while). */
export async function makeManyFilesTree(dir: string, dirs: number, perDir: number): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
  await runOk("sh", [
    "-c",
    'cd "$1" && for d in $(seq 1 "$2"); do mkdir "d$d" && (cd "d$d" && touch $(seq -f "f%g" 1 "$3")) || exit 1; done',
    "sh",
    dir,
    String(dirs),
    String(perDir),
  ]);
}

/**
 * Fills `dir` with a small Debian-like deployment: merged /usr (`bin` is a
 * symlink to `usr/bin`), configuration in `usr/etc`, and a dpkg database in
 * `usr/lib/sysimage/dpkg` whose `.list` files name each package's paths
 * (as dpkg writes them: `/bin/…` through the merged-/usr alias, `/etc/…`).
 * `usr/share/doc` is listed by two packages (shared); `usr/local/unowned` by none.
 */
export async function makeDebianLikeTree(dir: string, version = "1"): Promise<void> {
  const files: Record<string, string> = {
    "usr/bin/ls": `ls ${version}\n`,
    "usr/bin/cat": "cat\n",
    "usr/lib/x86_64-linux-gnu/libc.so.6": "libc\n",
    "usr/lib/x86_64-linux-gnu/libm.so.6": "libm\n",
    "usr/etc/ld.so.conf": "include /etc/ld.so.conf.d/*.conf\n",
    "usr/share/doc/coreutils/copyright": "coreutils copyright\n",
    "usr/share/doc/libc6/copyright": "libc6 copyright\n",
    "usr/sbin/nginx": "nginx\n",
    "usr/share/nginx/index.html": "<h1>hi</h1>\n",
    "usr/local/unowned": "nobody's\n",
  };
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(join(dir, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(dir, path), text);
  }
  await Deno.chmod(dir, 0o755);
  await Deno.symlink("usr/bin", join(dir, "bin"));
  await Deno.mkdir(join(dir, "usr/lib/sysimage/dpkg/info"), { recursive: true });
  const lists: Record<string, string[]> = {
    coreutils: [
      "/.",
      "/bin",
      "/bin/ls",
      "/bin/cat",
      "/usr",
      "/usr/share",
      "/usr/share/doc",
      "/usr/share/doc/coreutils",
      "/usr/share/doc/coreutils/copyright",
    ],
    "libc6:amd64": [
      "/.",
      "/etc",
      "/etc/ld.so.conf",
      "/usr",
      "/usr/lib",
      "/usr/lib/x86_64-linux-gnu",
      "/usr/lib/x86_64-linux-gnu/libc.so.6",
      "/usr/lib/x86_64-linux-gnu/libm.so.6",
      "/usr/share",
      "/usr/share/doc",
      "/usr/share/doc/libc6",
      "/usr/share/doc/libc6/copyright",
    ],
    nginx: [
      "/.",
      "/usr",
      "/usr/sbin",
      "/usr/sbin/nginx",
      "/usr/share",
      "/usr/share/nginx",
      "/usr/share/nginx/index.html",
    ],
  };
  for (const [pkg, paths] of Object.entries(lists)) {
    await Deno.writeTextFile(join(dir, `usr/lib/sysimage/dpkg/info/${pkg}.list`), paths.join("\n") + "\n");
  }
  await Deno.writeTextFile(join(dir, "usr/lib/sysimage/dpkg/status"), "Package: coreutils\n\n");
}

/** Fills `dir` with a tiny deployment tree (a few small files). */
export async function makeSmallTree(dir: string, marker = "small"): Promise<void> {
  await Deno.mkdir(join(dir, "usr/etc"), { recursive: true });
  await Deno.mkdir(join(dir, "usr/bin"), { recursive: true });
  await Deno.chmod(dir, 0o755);
  await Deno.writeTextFile(join(dir, "usr/etc/os-release"), `NAME=${marker}\n`);
  await Deno.writeTextFile(join(dir, "usr/bin/hello"), "#!/bin/sh\necho hello\n", { mode: 0o755 });
  await Deno.chmod(join(dir, "usr/bin/hello"), 0o755);
}

// ---------------------------------------------------------------------------
// Inspecting trees and output directories.

/** What a test compares of one path. */
export interface ScannedEntry {
  /** Entry type. */
  type: "file" | "directory" | "symlink" | "other";
  /** Permission bits including setuid, setgid and sticky. */
  mode: number;
  /** Owner. */
  uid: number;
  /** Group. */
  gid: number;
  /** Size of a regular file. */
  size: number;
  /** SHA-256 (hex) of a regular file's content. */
  sha256?: string;
  /** Symlink target. */
  target?: string;
  /** Extended attributes as hex (`security.selinux` left out). */
  xattrs: Record<string, string>;
  /** Inode number. */
  ino: number;
  /** Link count. */
  nlink: number;
}

/** Hashes a file with SHA-256, 1 MiB at a time. */
export async function sha256File(path: string): Promise<string> {
  const { createHash } = await import("node:crypto");
  const hash = createHash("sha256");
  const file = await Deno.open(path);
  try {
    const buf = new Uint8Array(1 << 20);
    for (;;) {
      const n = await file.read(buf);
      if (n === null) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    file.close();
  }
  return hash.digest("hex");
}

/** Undoes getfattr's backslash-octal escapes in a path (each stands for one byte). */
function unescapeGetfattr(text: string): string {
  if (!text.includes("\\")) return text;
  const bytes: number[] = [];
  const encoded = new TextEncoder().encode(text);
  const isOctal = (b: number | undefined) => b !== undefined && b >= 0x30 && b <= 0x37;
  for (let i = 0; i < encoded.length; i++) {
    if (encoded[i] === 0x5c && isOctal(encoded[i + 1]) && isOctal(encoded[i + 2]) && isOctal(encoded[i + 3])) {
      bytes.push(((encoded[i + 1] - 0x30) << 6) | ((encoded[i + 2] - 0x30) << 3) | (encoded[i + 3] - 0x30));
      i += 3;
    } else {
      bytes.push(encoded[i]);
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

const toHex = (bytes: Iterable<number>) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

/** Xattrs that are never compared (the host's SELinux labels). */
export const IGNORED_XATTRS: ReadonlySet<string> = new Set(["security.selinux"]);

/**
 * Reads every xattr under `root` (symlinks not followed) with one
 * `getfattr -R` run. Keys are paths relative to `root`.
 */
export async function readXattrs(root: string): Promise<Map<string, Record<string, string>>> {
  const out = await run("getfattr", ["-R", "-h", "-P", "-d", "-m", "-", "-e", "hex", "--absolute-names", root]);
  if (out.code !== 0 && out.stdout.length === 0 && out.stderr.trim().length > 0) {
    throw new Error(`getfattr failed: ${out.stderr}`);
  }
  const result = new Map<string, Record<string, string>>();
  let current: Record<string, string> | undefined;
  for (const line of out.stdout.split("\n")) {
    if (line.startsWith("# file: ")) {
      const path = unescapeGetfattr(line.slice("# file: ".length));
      const rel = path === root ? "" : path.slice(root.length + 1);
      current = {};
      result.set(rel, current);
      continue;
    }
    const eq = line.indexOf("=");
    if (current && eq > 0) {
      const name = line.slice(0, eq);
      if (IGNORED_XATTRS.has(name)) continue;
      let value = line.slice(eq + 1);
      if (value.startsWith("0x")) value = value.slice(2);
      else if (value.startsWith("0s")) {
        value = toHex(Array.from(atob(value.slice(2)), (ch) => ch.charCodeAt(0)));
      } else if (value.startsWith('"')) {
        value = toHex(new TextEncoder().encode(JSON.parse(value)));
      }
      current[name] = value.toLowerCase();
    }
  }
  return result;
}

/**
 * Scans every path under `root` (root itself excluded): type, mode, owner,
 * content hash, symlink target, xattrs, inode. Keys are relative paths.
 */
export async function scanTree(root: string): Promise<Map<string, ScannedEntry>> {
  const xattrs = await readXattrs(root);
  const entries = new Map<string, ScannedEntry>();
  const walk = async (dir: string, rel: string) => {
    for await (const item of Deno.readDir(dir)) {
      const path = join(dir, item.name);
      const relPath = rel ? `${rel}/${item.name}` : item.name;
      const info = await Deno.lstat(path);
      const type = info.isFile ? "file" : info.isDirectory ? "directory" : info.isSymlink ? "symlink" : "other";
      const entry: ScannedEntry = {
        type,
        mode: (info.mode ?? 0) & 0o7777,
        uid: info.uid ?? -1,
        gid: info.gid ?? -1,
        size: type === "file" ? info.size : 0,
        xattrs: Object.fromEntries(Object.entries(xattrs.get(relPath) ?? {}).sort(([a], [b]) => a < b ? -1 : 1)),
        ino: info.ino ?? -1,
        nlink: info.nlink ?? -1,
      };
      if (type === "file") entry.sha256 = await sha256File(path);
      if (type === "symlink") entry.target = await Deno.readLink(path);
      entries.set(relPath, entry);
      if (type === "directory") await walk(path, relPath);
    }
  };
  await walk(root, "");
  return entries;
}

/**
 * Paths under `dir` (recursively, symlinks not followed) whose name
 * contains `.apt-ostree-`: the tool's temp files.
 */
export async function findTempNames(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (path: string) => {
    let items: Deno.DirEntry[];
    try {
      items = await Array.fromAsync(Deno.readDir(path));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) return;
      throw error;
    }
    for (const item of items) {
      const child = join(path, item.name);
      if (item.name.includes(".apt-ostree-")) found.push(child);
      if (item.isDirectory) await walk(child);
    }
  };
  await walk(dir);
  return found.sort();
}

/** Every path under `dir`, relative, sorted (directories marked with a trailing slash). */
export async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (path: string, rel: string) => {
    for await (const item of Deno.readDir(path)) {
      const childRel = rel ? `${rel}/${item.name}` : item.name;
      out.push(item.isDirectory ? `${childRel}/` : childRel);
      if (item.isDirectory) await walk(join(path, item.name), childRel);
    }
  };
  await walk(dir, "");
  return out.sort();
}

/** Bytes of `index.json` and the list of blobs of an OCI layout, to check it did not change. */
export interface LayoutSnapshot {
  /** `index.json` as text. */
  index: string;
  /** Every path in the layout. */
  paths: string[];
}

/** Takes a {@linkcode LayoutSnapshot} of `dir`. */
export async function snapshotLayout(dir: string): Promise<LayoutSnapshot> {
  return { index: await Deno.readTextFile(join(dir, "index.json")), paths: await listTree(dir) };
}
