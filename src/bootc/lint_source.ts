/**
 * Where lint trees come from ({@linkcode LintTree}): an OSTree commit, read
 * straight from the repository's objects ({@linkcode commitLintTree}), or
 * an image at any location, its layers flattened in order with whiteouts
 * ({@linkcode imageLintTree}). Both keep metadata for every path and
 * content only for the few small files the rules read
 * ({@linkcode lintNeedsContent}), so memory stays bounded by the number of
 * paths. Image blobs are checked against their digests as they stream, and
 * each layer's content against the config's `diff_ids`.
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";
import { DigestStream } from "../digest/digest.ts";
import { openImageSource } from "../image/open.ts";
import { type ImageSource, resolveImage, verifyingStream } from "../oci/image.ts";
import { parseImageConfig } from "../oci/manifest.ts";
import { hostArch, ociPlatform } from "../oci/platform.ts";
import type { Descriptor } from "../oci/types.ts";
import { BlobMismatchError } from "../oci/verify.ts";
import { type ContentSource, contentSourceFor, readEntryBytes } from "../ostree/content.ts";
import { OstreeRepo } from "../ostree/repo.ts";
import type { TreeEntries, TreeEntry } from "../ostree/tree.ts";
import type { RegistryOptions } from "../registry/client.ts";
import { formatImageLocation, type ImageLocation, parseImageLocation } from "../reference/transport.ts";
import { TarReader } from "../tar/reader.ts";
import { openLayerTar } from "../oci/layer_stream.ts";
import {
  checkLintRuleNames,
  type LintEntry,
  LintError,
  type LintFinding,
  lintNeedsContent,
  type LintOptions,
  type LintTree,
  lintTree,
  MAX_LINT_CONTENT,
} from "./lint.ts";

/** Options for the tree sources. */
export interface LintSourceOptions {
  /** Aborts the reading. */
  signal?: AbortSignal;
}

/** A name or symlink target that is not UTF-8 stops any reader: that is the `utf8` rule failing. */
function utf8Failure(error: unknown, path?: string): LintError | undefined {
  if (!(error instanceof AptOstreeError) || !/not valid UTF-8/.test(error.message)) return undefined;
  const where = path ?? /UTF-8: (\/.*)$/.exec(error.message)?.[1];
  return new LintError([{
    rule: "utf8",
    severity: "fatal",
    message: error.message,
    paths: where ? [where] : [],
    morePaths: 0,
  }]);
}

/**
 * The lint tree of a commit: its paths as the commit stores them
 * (configuration in `usr/etc`), read from the objects; content is read
 * only when a rule asks for it.
 *
 * @example
 * ```ts
 * import { OstreeRepo } from "../ostree/repo.ts";
 * import { commitLintTree } from "./lint_source.ts";
 * import { lintTree } from "./lint.ts";
 * const repo = await OstreeRepo.open("repo");
 * const findings = await lintTree(await commitLintTree(repo, await repo.resolveCommit("debian/12/x86_64")));
 * ```
 */
export async function commitLintTree(
  repo: OstreeRepo,
  commit: string,
  options: LintSourceOptions = {},
): Promise<LintTree> {
  let entries: TreeEntries;
  try {
    entries = await repo.readTree(commit, { signal: options.signal });
  } catch (error) {
    throw utf8Failure(error) ?? error;
  }
  return treeLintTree(entries, contentSourceFor(repo));
}

/**
 * The lint view of a commit's tree already read (paths as a commit or as
 * an image shows them: `usr/etc` or `etc`); file content comes from
 * `content` when a rule asks for it.
 *
 * @example
 * ```ts
 * import { treeLintTree } from "./lint_source.ts";
 * import { assertLintClean } from "./lint.ts";
 * import { type ContentSource, contentSourceFor } from "../ostree/content.ts";
 * import { OstreeRepo } from "../ostree/repo.ts";
 * const repo = await OstreeRepo.open("repo");
 * const entries = await repo.readTree(await repo.resolveCommit("main"));
 * await assertLintClean(treeLintTree(entries, contentSourceFor(repo)));
 * ```
 */
export function treeLintTree(entries: TreeEntries, content: ContentSource): LintTree {
  // Only the few files a rule reads are indexed (a million-entry tree needs no second map).
  const byPath = new Map<string, TreeEntry>();
  for (let i = 0; i < entries.length; i++) {
    const path = entries.path(i);
    if (lintNeedsContent(path) && entries.kind(i) === "file") byPath.set(path, entries.at(i));
  }
  return {
    // A TreeEntry carries every field a LintEntry has.
    entries,
    async read(path) {
      const entry = byPath.get(path);
      if (entry?.kind !== "file" || entry.size > MAX_LINT_CONTENT || !lintNeedsContent(path)) return undefined;
      return await readEntryBytes(content, entry);
    },
  };
}

/** A path of the flattened image. */
interface Node {
  entry: LintEntry;
  /** The layer that last put it (or its parents' implicit creation) there. */
  layer: number;
  children?: Map<string, Node>;
  content?: Uint8Array;
}

const WHITEOUT_PREFIX = ".wh.";
const OPAQUE = ".wh..wh..opq";

function refused(where: string, path: string, why: string): AptOstreeError {
  return new AptOstreeError(`Refusing ${where}: entry '${path}': ${why}`, {
    solution: "The image is malformed; `apt-ostree image pull` would refuse it too",
  });
}

/** Normalises a layer path (as `apply_layer.ts` does); returns its components. */
function components(raw: string, where: string): string[] {
  if (raw.includes("\0")) throw refused(where, raw, "the path holds a NUL byte");
  if (raw.startsWith("/")) throw refused(where, raw, "absolute path");
  const parts = raw.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw refused(where, raw, "the path leads outside the image with '..'");
  return parts;
}

/** The image's tree, built layer by layer. */
class FlatTree {
  private readonly root: Node = {
    entry: { path: "", kind: "directory", mode: 0o755, uid: 0, gid: 0, size: 0 },
    layer: -1,
    children: new Map(),
  };
  private layer = 0;
  private where = "";

  async applyLayer(reader: TarReader, layer: number, where: string, signal?: AbortSignal): Promise<void> {
    this.layer = layer;
    this.where = where;
    for (;;) {
      signal?.throwIfAborted();
      const entry = await reader.next();
      if (entry === undefined) return;
      const parts = components(entry.path, where);
      if (parts.length === 0) continue; // the root's own entry
      const name = parts[parts.length - 1];
      const parent = this.parentOf(parts, entry.path, name.startsWith(WHITEOUT_PREFIX));
      if (name.startsWith(WHITEOUT_PREFIX)) {
        if (parent === undefined) continue;
        if (name === OPAQUE) {
          this.hideLower(parent);
          continue;
        }
        if (name.startsWith(WHITEOUT_PREFIX + WHITEOUT_PREFIX)) continue; // aufs metadata
        const target = name.slice(WHITEOUT_PREFIX.length);
        if (target === "" || target === "." || target === "..") {
          throw refused(where, entry.path, "whiteout that reaches outside its directory");
        }
        parent.children!.delete(target);
        continue;
      }
      const path = parts.join("/");
      const existing = parent!.children!.get(name);
      const base = { path, mode: entry.mode, uid: entry.uid, gid: entry.gid };
      switch (entry.type) {
        case "directory":
          if (existing?.children) {
            existing.entry = { ...base, kind: "directory", size: 0 };
            existing.layer = layer;
          } else {
            parent!.children!.set(name, {
              entry: { ...base, kind: "directory", size: 0 },
              layer,
              children: new Map(),
            });
          }
          break;
        case "file": {
          const node: Node = { entry: { ...base, kind: "file", size: entry.size }, layer };
          if (entry.size <= MAX_LINT_CONTENT && lintNeedsContent(path)) {
            const content = new Uint8Array(entry.size);
            let filled = 0;
            for await (const chunk of reader.body()) {
              content.set(chunk, filled);
              filled += chunk.length;
            }
            node.content = content;
          }
          parent!.children!.set(name, node);
          break;
        }
        case "symlink":
          parent!.children!.set(name, {
            entry: { ...base, kind: "symlink", size: 0, target: entry.linkTarget ?? "" },
            layer,
          });
          break;
        case "hardlink": {
          const targetParts = components(entry.linkTarget ?? "", where);
          const target = this.lookup(targetParts);
          if (target === undefined) {
            throw refused(where, entry.path, `hardlink to '${entry.linkTarget}', which is not in the image`);
          }
          if (target.children) throw refused(where, entry.path, "hardlink to a directory");
          const content = lintNeedsContent(path) ? target.content : undefined;
          parent!.children!.set(name, {
            entry: { ...target.entry, path },
            layer,
            ...(content ? { content } : {}),
          });
          break;
        }
        default:
          // Device nodes and FIFOs: no OSTree commit can hold them; the import skips them too.
          parent!.children!.delete(name);
      }
    }
  }

  /**
   * The directory node holding `parts`' last component; missing parents
   * are made (0755 root, as Docker does), unless `lookupOnly` (whiteouts).
   */
  private parentOf(parts: string[], raw: string, lookupOnly: boolean): Node | undefined {
    let node = this.root;
    for (let i = 0; i < parts.length - 1; i++) {
      let child = node.children!.get(parts[i]);
      if (child === undefined) {
        if (lookupOnly) return undefined;
        const path = parts.slice(0, i + 1).join("/");
        child = {
          entry: { path, kind: "directory", mode: 0o755, uid: 0, gid: 0, size: 0 },
          layer: this.layer,
          children: new Map(),
        };
        node.children!.set(parts[i], child);
      } else if (!child.children) {
        if (lookupOnly) return undefined;
        const what = child.entry.kind === "symlink"
          ? "a symlink (writing through it is not allowed)"
          : "not a directory";
        throw refused(this.where, raw, `its parent '${child.entry.path}' is ${what}`);
      }
      if (!lookupOnly) child.layer = this.layer;
      node = child;
    }
    return node;
  }

  private lookup(parts: string[]): Node | undefined {
    let node: Node | undefined = this.root;
    for (const part of parts) {
      node = node?.children?.get(part);
      if (node === undefined) return undefined;
    }
    return node;
  }

  /** An opaque directory: drops what lower layers put below it. */
  private hideLower(dir: Node): void {
    for (const [name, child] of dir.children!) {
      if (child.layer !== this.layer) dir.children!.delete(name);
      else if (child.children) this.hideLower(child);
    }
  }

  /** Every path, and the content kept. */
  toTree(): LintTree {
    const entries: LintEntry[] = [];
    const contents = new Map<string, Uint8Array>();
    const walk = (node: Node) => {
      for (const child of node.children!.values()) {
        entries.push(child.entry);
        if (child.content) contents.set(child.entry.path, child.content);
        if (child.children) walk(child);
      }
    };
    walk(this.root);
    return { entries, read: (path) => Promise.resolve(contents.get(path)) };
  }
}

/** Options for {@linkcode imageLintTree}. */
export interface ImageLintTreeOptions extends LintSourceOptions {
  /** Architecture to pick from a multi-platform image (default: the host's). */
  arch?: string;
}

/** What {@linkcode imageLintTree} read. */
export interface ImageLintTree {
  /** The tree. */
  tree: LintTree;
  /** Digest of the manifest that was read. */
  digest: string;
}

/**
 * The lint tree of an image: its layers applied in order (whiteouts and
 * opaque directories honoured), every blob checked against its digest as
 * it streams and every layer against the config's `diff_ids`.
 *
 * @example
 * ```ts
 * import { openImageSource } from "../image/open.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * import { imageLintTree } from "./lint_source.ts";
 * import { lintTree } from "./lint.ts";
 * const source = await openImageSource(parseImageLocation("oci:out.oci:latest"));
 * const { tree } = await imageLintTree(source);
 * const findings = await lintTree(tree);
 * source.close();
 * ```
 */
export async function imageLintTree(source: ImageSource, options: ImageLintTreeOptions = {}): Promise<ImageLintTree> {
  const { signal } = options;
  const { manifest, raw } = await resolveImage(source, ociPlatform(options.arch ?? hostArch()), signal);
  const config = parseImageConfig(await source.blobBytes(manifest.config, signal), source.description);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw new AptOstreeError(
      `${source.description} has ${manifest.layers.length} layers but its config lists ${diffIds.length} diff_ids`,
      { solution: "The image is damaged; build or push it again" },
    );
  }
  const flat = new FlatTree();
  for (const [i, layer] of manifest.layers.entries()) {
    await applyBlob(flat, source, layer, i, diffIds[i], signal);
  }
  return { tree: flat.toTree(), digest: raw.digest };
}

async function applyBlob(
  flat: FlatTree,
  source: ImageSource,
  layer: Descriptor,
  index: number,
  diffId: string,
  signal?: AbortSignal,
): Promise<void> {
  const what = `layer ${layer.digest} of ${source.description}`;
  const blob = (await source.openBlob(layer, 0, signal)).pipeThrough(verifyingStream(layer, source.description));
  const { kind, tar } = await openLayerTar(layer.mediaType, blob);
  const diff = new DigestStream();
  const reader = new TarReader(tar.pipeThrough(diff), `layer ${layer.digest}`);
  try {
    await flat.applyLayer(reader, index, what, signal);
  } catch (error) {
    await reader.cancel(error).catch(() => {});
    if (signal?.aborted) throw error;
    // Bad bytes usually break the gzip or tar stream before the digest is known: check the blob whole.
    if (!(error instanceof BlobMismatchError)) await verifyBlob(source, layer, signal);
    const utf8 = utf8Failure(error);
    if (utf8) throw utf8;
    if (error instanceof AptOstreeError) throw error;
    throw new AptOstreeError(`${what} is not a valid ${kind === "none" ? "tar" : kind} stream: ${String(error)}`, {
      solution: "The image is damaged; check it with: apt-ostree image verify",
      cause: error,
    });
  }
  const actual = (await diff.result).digest;
  if (actual !== diffId) {
    throw new AptOstreeError(
      `${what} does not match the image config: its content hashes to ${actual}, not ${diffId}`,
      {
        solution: "The image is damaged or was tampered with; check it with: apt-ostree image verify",
      },
    );
  }
}

/** Reads a blob to its end through the verifying stream: throws a `BlobMismatchError` when it does not match. */
async function verifyBlob(source: ImageSource, layer: Descriptor, signal?: AbortSignal): Promise<void> {
  await (await source.openBlob(layer, 0, signal))
    .pipeThrough(verifyingStream(layer, source.description))
    .pipeTo(new WritableStream());
}

/** What {@linkcode lintCommit} found. */
export interface CommitLintResult {
  /** The repository. */
  repo: string;
  /** The ref as given. */
  ref: string;
  /** The commit checksum it resolved to. */
  commit: string;
  /** Every finding (fatal first in rule order; see `lintTree`). */
  findings: LintFinding[];
}

/**
 * Lints the commit a ref (branch or checksum) names. Returns every finding;
 * throws only when the commit cannot be read.
 *
 * @example
 * ```ts
 * import { lintCommit } from "./lint_source.ts";
 * const { findings } = await lintCommit("repo", "debian/12/x86_64", { skip: ["sysusers"] });
 * ```
 */
export async function lintCommit(
  repo: OstreeRepo | string,
  ref: string,
  options: LintOptions & LintSourceOptions = {},
): Promise<CommitLintResult> {
  checkLintRuleNames(options.skip ?? []);
  const ostreeRepo = typeof repo === "string" ? await OstreeRepo.open(repo) : repo;
  const commit = await ostreeRepo.resolveCommit(ref, { signal: options.signal });
  const tree = await commitLintTree(ostreeRepo, commit, options);
  return { repo: ostreeRepo.path, ref, commit, findings: await lintTree(tree, options) };
}

/** Options for {@linkcode lintImage}. */
export interface ImageLintOptions extends LintOptions, ImageLintTreeOptions, RegistryOptions {}

/** What {@linkcode lintImage} found. */
export interface ImageLintResult {
  /** The image location. */
  image: string;
  /** Digest of the manifest that was linted. */
  digest: string;
  /** Every finding. */
  findings: LintFinding[];
}

/**
 * Lints an image at any location (`oci:`, `oci-archive:`,
 * `docker-archive:`, `docker://`). Returns every finding; throws when the
 * image cannot be read or does not match its digests.
 *
 * @example
 * ```ts
 * import { lintImage } from "./lint_source.ts";
 * const { findings } = await lintImage("oci:out.oci:latest");
 * ```
 */
export async function lintImage(
  image: ImageLocation | string,
  options: ImageLintOptions = {},
): Promise<ImageLintResult> {
  checkLintRuleNames(options.skip ?? []);
  const location = typeof image === "string" ? parseImageLocation(image) : image;
  const source = await openImageSource(location, options);
  try {
    const { tree, digest } = await imageLintTree(source, options);
    return { image: formatImageLocation(location), digest, findings: await lintTree(tree, options) };
  } finally {
    source.close();
  }
}
