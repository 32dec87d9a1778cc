/**
 * An OSTree repository on disk: opening and validating it, resolving refs
 * and checksums to commits, and reading commit metadata.
 *
 * @module
 */

import { resolve } from "node:path";
import { AptOstreeError, UsageError } from "../errors.ts";
import { runOstree, type RunOstreeOptions } from "./command.ts";
import type { GVariantValue } from "./gvariant.ts";
import { type CommitObject, parseCommitObject } from "./objects.ts";
import { readCommitTree, type ReadTreeOptions, type TreeEntries } from "./tree.ts";

/** Storage modes of an OSTree repository (`[core] mode=` in its config). */
export type RepoMode = "bare" | "bare-user" | "bare-user-only" | "bare-split-xattrs" | "archive";

/** The default repository path when neither `--repo` nor `$APT_OSTREE_REPO` is set. */
export const DEFAULT_REPO_PATH = "/var/lib/apt-ostree/repo";

/** OSTree's ref grammar: `/`-separated parts of `[-._\w]`, none starting with `-` or `.`. */
const BRANCH_RE = /^[\w][-._\w]*(\/[\w][-._\w]*)*$/;

/**
 * Whether `name` is a valid OSTree branch (ref) name.
 *
 * @example
 * ```ts
 * import { isBranchName } from "./repo.ts";
 * isBranchName("debian/12/x86_64"); // true
 * isBranchName("a/../b"); // false
 * ```
 */
export function isBranchName(name: string): boolean {
  return BRANCH_RE.test(name);
}

/** A commit as read from the repository. */
export interface CommitInfo {
  /** Full SHA-256 checksum of the commit object. */
  checksum: string;
  /** The commit's metadata dictionary (`a{sv}`), values as parsed JavaScript. */
  metadata: Map<string, GVariantValue>;
  /** Parent commit checksum, or undefined for a root commit. */
  parent: string | undefined;
  /** Subject line. */
  subject: string;
  /** Body text. */
  body: string;
  /** Commit time, seconds since the epoch (UTC). */
  timestamp: number;
  /** The `version` metadata string, when set. */
  version: string | undefined;
  /** Checksum of the root directory tree object. */
  rootContents: string;
  /** Checksum of the root directory metadata object. */
  rootMetadata: string;
}

/**
 * Returns the repository path to use: the explicit one, else
 * `$APT_OSTREE_REPO`, else {@linkcode DEFAULT_REPO_PATH}.
 *
 * @example
 * ```ts
 * import { defaultRepoPath } from "./repo.ts";
 * const path = defaultRepoPath(undefined); // "/var/lib/apt-ostree/repo" unless $APT_OSTREE_REPO is set
 * ```
 */
export function defaultRepoPath(explicit: string | undefined): string {
  if (explicit === "") {
    // Most often an unset shell variable (--repo "$REPO"): never fall back to another repository silently.
    throw new UsageError("The repository path is empty", {
      solution: "Give {repo} a path, or leave it out to use $APT_OSTREE_REPO (else /var/lib/apt-ostree/repo)",
    });
  }
  return explicit ?? (Deno.env.get("APT_OSTREE_REPO") || DEFAULT_REPO_PATH);
}

/**
 * A handle on an OSTree repository.
 *
 * @example
 * ```ts
 * import { OstreeRepo } from "./repo.ts";
 * const repo = await OstreeRepo.open("/var/lib/apt-ostree/repo");
 * const commit = await repo.readCommit(await repo.resolveCommit("debian/12/x86_64"));
 * console.log(commit.timestamp, commit.version);
 * ```
 */
export class OstreeRepo {
  private constructor(
    /** Absolute path of the repository. */
    readonly path: string,
    /** Storage mode. */
    readonly mode: RepoMode,
  ) {}

  /**
   * Opens the repository at `path`, checking that it exists and is an OSTree
   * repository.
   */
  static async open(path: string): Promise<OstreeRepo> {
    const abs = resolve(path);
    let config: string;
    try {
      const info = await Deno.stat(abs);
      if (!info.isDirectory) throw new Deno.errors.NotADirectory(abs);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new AptOstreeError(`OSTree repository not found: ${abs}`, {
          solution:
            "Pass {repo} PATH (or set APT_OSTREE_REPO) to an existing repository, or create one with: ostree init --repo=PATH --mode=bare-user",
        });
      }
      if (error instanceof Deno.errors.NotADirectory) {
        throw new AptOstreeError(`Not an OSTree repository: ${abs} is not a directory`, {
          solution: "Pass {repo} PATH pointing at an OSTree repository directory",
        });
      }
      throw repoAccessError(abs, error);
    }
    try {
      config = await Deno.readTextFile(`${abs}/config`);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new AptOstreeError(`Not an OSTree repository: ${abs} (it has no config file)`, {
          solution:
            "Pass {repo} PATH pointing at an OSTree repository, or create one with: ostree init --repo=PATH --mode=bare-user",
        });
      }
      throw repoAccessError(abs, error);
    }
    const mode = parseRepoMode(config);
    if (!mode) {
      throw new AptOstreeError(`Not an OSTree repository: ${abs} (its config has no [core] mode)`, {
        solution: "Check the repository with: ostree fsck --repo=" + abs,
      });
    }
    return new OstreeRepo(abs, mode);
  }

  /**
   * Creates a repository at `path` (an empty or missing directory) and
   * opens it.
   */
  static async init(path: string, mode: RepoMode = "bare-user"): Promise<OstreeRepo> {
    const out = await runOstree(["init", `--repo=${path}`, `--mode=${mode}`]);
    if (out.code !== 0) {
      throw new AptOstreeError(`Cannot create the OSTree repository ${path}: ${out.stderr}`, {
        solution: `Check the path and its permissions, or create it yourself: ostree init --repo=PATH --mode=${mode}`,
      });
    }
    return await OstreeRepo.open(path);
  }

  /** Every ref of the repository (`ostree refs`; remote refs as `remote:branch`), sorted. */
  async refs(options: RunOstreeOptions = {}): Promise<string[]> {
    const out = await runOstree(["refs", this.repoArg], options);
    if (out.code !== 0) throw this.unreadable("its refs", out.stderr);
    return new TextDecoder().decode(out.stdout).split("\n").map((l) => l.trim()).filter((l) => l !== "").sort();
  }

  /**
   * The commit a ref names exactly (no checksum prefixes, no guessing), or
   * undefined when there is no such ref. A ref that exists but cannot be
   * read is an error, never a reason to act as if it were absent.
   */
  async refHead(ref: string, options: RunOstreeOptions = {}): Promise<string | undefined> {
    if (!(await this.refs(options)).includes(ref)) return undefined;
    const out = await runOstree(["rev-parse", this.repoArg, ref], options);
    const checksum = new TextDecoder().decode(out.stdout).trim();
    if (out.code !== 0) throw this.unreadable(`the ref ${ref}`, out.stderr);
    if (!/^[0-9a-f]{64}$/.test(checksum)) throw this.unreadable(`the ref ${ref}`, `unexpected checksum '${checksum}'`);
    return checksum;
  }

  /** The remotes configured in the repository. */
  async remotes(options: RunOstreeOptions = {}): Promise<string[]> {
    const out = await runOstree(["remote", "list", this.repoArg], options);
    if (out.code !== 0) throw this.unreadable("its remotes", out.stderr);
    return new TextDecoder().decode(out.stdout).split("\n").map((l) => l.trim()).filter((l) => l !== "");
  }

  /** Checks `commit` out into `dest` as a private copy (never hardlinks into the repository's objects). */
  async checkoutCopy(commit: string, dest: string, options: RunOstreeOptions = {}): Promise<void> {
    const out = await runOstree(["checkout", this.repoArg, "--force-copy", commit, dest], options);
    if (options.signal?.aborted) throw options.signal.reason;
    if (out.code !== 0) {
      throw new AptOstreeError(`Failed to checkout commit: ${commit}`, {
        solution: `Verify the commit exists and is accessible (ostree: ${out.stderr.replace(/^error: /, "")})`,
      });
    }
  }

  /**
   * Checks every object of the repository (`ostree fsck`: each object's
   * checksum computed again from its content, mode, owner and xattrs;
   * missing objects found). Throws with ostree's own words on the first
   * damage.
   */
  async fsck(what: string, options: RunOstreeOptions = {}): Promise<void> {
    const out = await runOstree(["fsck", "--quiet", this.repoArg], options);
    if (options.signal?.aborted) throw options.signal.reason;
    if (out.code !== 0) {
      const detail = out.stderr.replace(/^error: /, "").trim() || "ostree fsck failed";
      throw new AptOstreeError(`The objects of ${what} do not verify: ${detail}`, {
        solution: "The image is damaged or was tampered with; nothing was imported",
      });
    }
  }

  /**
   * Copies a commit and every object it needs from another repository on
   * this machine (`ostree pull-local`). Sets no ref. Check the other
   * repository first ({@linkcode OstreeRepo.fsck}) when its objects are not
   * trusted.
   */
  async pullLocal(from: string, commit: string, options: RunOstreeOptions = {}): Promise<void> {
    const out = await runOstree(["pull-local", this.repoArg, from, commit], options);
    if (options.signal?.aborted) throw options.signal.reason;
    if (out.code !== 0) {
      throw new AptOstreeError(
        `Cannot copy commit ${commit} into ${this.path}: ${out.stderr.replace(/^error: /, "").trim()}`,
        {
          solution:
            `Check the space and permissions of the repository, and check it with: ostree fsck --repo=${this.path}`,
        },
      );
    }
  }

  /** Points `branch` at `commit` (created, or moved from wherever it was). */
  async setRef(branch: string, commit: string, options: RunOstreeOptions = {}): Promise<void> {
    const out = await runOstree(["refs", this.repoArg, "--force", `--create=${branch}`, commit], options);
    if (out.code !== 0) {
      throw new AptOstreeError(
        `Cannot point the branch ${branch} at ${commit}: ${out.stderr.replace(/^error: /, "").trim()}`,
        {
          solution: `Check the repository with: ostree fsck --repo=${this.path}`,
        },
      );
    }
  }

  private unreadable(what: string, detail: string): AptOstreeError {
    return new AptOstreeError(`Cannot read ${what} in ${this.path}: ${detail || "ostree failed"}`, {
      solution: `Check the repository with: ostree fsck --repo=${this.path}`,
    });
  }

  /** `--repo=PATH` for ostree command lines. */
  get repoArg(): string {
    return `--repo=${this.path}`;
  }

  /** Path of a content (file or symlink) object in a bare-mode repository. */
  objectPath(checksum: string, kind: "file" | "dirtree" | "dirmeta" | "commit" = "file"): string {
    const suffix = kind === "file" && this.mode === "archive" ? "filez" : kind;
    return `${this.path}/objects/${checksum.slice(0, 2)}/${checksum.slice(2)}.${suffix}`;
  }

  /**
   * Resolves a branch, ref, full checksum or unique checksum prefix to a
   * commit checksum that exists in the repository.
   */
  async resolveCommit(source: string, options: RunOstreeOptions = {}): Promise<string> {
    const notFound = (detail: string) =>
      new AptOstreeError(`Failed to checkout commit: ${source}`, {
        solution:
          `Verify the commit exists and is accessible (ostree: ${detail}); list branches with: ostree refs --repo=${this.path}`,
      });
    if (source === "" || source.startsWith("-")) throw notFound("not a ref or checksum");
    const out = await runOstree(["rev-parse", this.repoArg, source], options);
    if (out.code !== 0) throw notFound(out.stderr.replace(/^error: /, ""));
    const checksum = new TextDecoder().decode(out.stdout).trim();
    if (!/^[0-9a-f]{64}$/.test(checksum)) throw notFound(`unexpected rev-parse output '${checksum}'`);
    // rev-parse echoes any full checksum back; make sure the commit is here.
    try {
      await Deno.stat(this.objectPath(checksum, "commit"));
    } catch {
      throw notFound(`commit object ${checksum} is not in the repository`);
    }
    return checksum;
  }

  /**
   * Reads a commit object (metadata, parent, subject, timestamp, root)
   * straight from `objects/`.
   */
  readCommit(checksum: string, options: RunOstreeOptions = {}): Promise<CommitInfo> {
    options.signal?.throwIfAborted();
    const path = this.objectPath(checksum, "commit");
    let data: Uint8Array;
    try {
      if (!/^[0-9a-f]{64}$/.test(checksum)) throw new Deno.errors.NotFound(`not a checksum: ${checksum}`);
      data = Deno.readFileSync(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        return Promise.reject(
          new AptOstreeError(`Failed to checkout commit: ${checksum}`, {
            solution:
              `Verify the commit exists and is accessible (no commit object ${path}); list branches with: ostree refs --repo=${this.path}`,
            cause: error,
          }),
        );
      }
      return Promise.reject(repoAccessError(this.path, error));
    }
    let commit: CommitObject;
    try {
      commit = parseCommitObject(data);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      return Promise.reject(
        new AptOstreeError(`Corrupt commit object ${path}: ${detail}`, {
          solution: `Check the repository with: ostree fsck --repo=${this.path}`,
          cause: error,
        }),
      );
    }
    const version = commit.metadata.get("version");
    return Promise.resolve({
      checksum,
      metadata: commit.metadata,
      parent: commit.parent,
      subject: commit.subject,
      body: commit.body,
      timestamp: commit.timestamp,
      version: typeof version === "string" ? version : undefined,
      rootContents: commit.rootContents,
      rootMetadata: commit.rootMetadata,
    });
  }

  /**
   * Reads every entry of a commit's tree (root excluded) from the
   * repository's objects, in path order: see {@linkcode readCommitTree}.
   */
  readTree(commit: string, options: ReadTreeOptions = {}): Promise<TreeEntries> {
    return readCommitTree(this, commit, options);
  }
}

function repoAccessError(path: string, error: unknown): AptOstreeError {
  const reason = error instanceof Error ? error.message : String(error);
  return new AptOstreeError(`Cannot read OSTree repository ${path}: ${reason}`, {
    solution: "Check the path and its permissions (a bare repository needs root to read)",
    cause: error,
  });
}

/**
 * Extracts `mode` from the `[core]` group of a repository config file.
 *
 * @example
 * ```ts
 * import { parseRepoMode } from "./repo.ts";
 * parseRepoMode("[core]\nrepo_version=1\nmode=archive-z2\n"); // "archive"
 * ```
 */
export function parseRepoMode(config: string): RepoMode | undefined {
  let group = "";
  for (const raw of config.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("[")) {
      group = line;
      continue;
    }
    if (group !== "[core]") continue;
    const m = /^mode\s*=\s*(\S+)$/.exec(line);
    if (!m) continue;
    const mode = m[1] === "archive-z2" ? "archive" : m[1];
    if (["bare", "bare-user", "bare-user-only", "bare-split-xattrs", "archive"].includes(mode)) {
      return mode as RepoMode;
    }
    return undefined;
  }
  return undefined;
}
