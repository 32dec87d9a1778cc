/**
 * Importing an image into the OSTree repository as a commit
 * ({@linkcode pullImageToBranch}): the image is resolved (an index picks
 * the platform), its config read, its layers downloaded in parallel to
 * temp files (digest and size checked while streaming; a broken download
 * resumes where it stopped), then applied in order to a temp tree inside
 * the repository (`apply_layer.ts`: whiteouts honoured, hostile entries
 * refused), each layer's uncompressed digest checked against the config's
 * `diff_ids`. `/etc` becomes `/usr/etc`, and the tree is committed with
 * `ostree commit --tree=dir=` (ostree's transaction moves the branch only
 * once the commit is complete). Any failure removes the temp tree: nothing
 * half-imported is ever committed.
 *
 * Ownership, setuid bits and `security.*` xattrs need root: without it,
 * only images whose files all belong to root (and have no such xattrs) can
 * be imported (committed as owned by root).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { AptOstreeError, UsageError } from "../errors.ts";
import { digestHex, DigestStream } from "../digest/digest.ts";
import { ImportTree, type SkippedEntry } from "./apply_layer.ts";
import { ObjectImporter } from "./ostree_objects.ts";
import { availableBytes } from "../util/libc.ts";
import { BOOTC_LABELS } from "../bootc/layers.ts";
import { TarReader } from "../tar/reader.ts";
import { openLayerTar } from "../oci/layer_stream.ts";
import { parseImageConfig } from "../oci/manifest.ts";
import { hostArch, ociPlatform, platformBranchArch } from "../oci/platform.ts";
import type { Descriptor, ImageConfig, Platform } from "../oci/types.ts";
import { commitDirectory } from "../ostree/commit.ts";
import type { GVariantInput } from "../ostree/gvariant_text.ts";
import { isBranchName, OstreeRepo } from "../ostree/repo.ts";
import { formatImageLocation, type ImageLocation, parseImageLocation } from "../reference/transport.ts";
import { type ImageSource, resolveImage } from "../oci/image.ts";
import { openImageSource } from "../image/open.ts";
import { createLimiter } from "../util/concurrency.ts";
import { collectLeftovers, makeOwnedDir } from "../util/leftovers.ts";
import { type Progress, type ProgressTicker, progressTicker } from "../util/progress.ts";
import { fsError, randomSuffix, removeQuietly } from "../util/fs.ts";
import { recordBlobLocations } from "../registry/blob_locations.ts";
import { RegistryConnectionError, type RegistryOptions } from "../registry/client.ts";
import { connectionProblem } from "../registry/http.ts";
import { DEFAULT_RETRY_POLICY, retryDelay, sleep } from "../registry/retry.ts";
import { COMMIT_METADATA } from "../ostree/metadata.ts";

/** Options for {@linkcode pullImageToBranch}. */
export interface PullOptions extends RegistryOptions {
  /** Branch to commit to (default: from the image name, e.g. `debian/12/x86_64`). */
  branch?: string;
  /** Architecture to pick from a multi-platform image (default: the host's). */
  arch?: string;
  /** Import even when the branch already holds this image. */
  force?: boolean;
  /** Parallel layer downloads (default 3). */
  concurrency?: number;
  /** Most bytes a layer may unpack to (default {@linkcode DEFAULT_MAX_LAYER_SIZE}). */
  maxLayerSize?: number;
  /** Most bytes all layers together may unpack to (default {@linkcode DEFAULT_MAX_IMAGE_SIZE}). */
  maxImageSize?: number;
  /** Aborts the pull; nothing is committed. */
  signal?: AbortSignal;
  /** Progress, a few times a second. */
  onProgress?: (progress: PullProgress) => void;
}

/** Default cap on a layer's uncompressed size: 16 GiB (an OS layer is a few GiB at most). */
export const DEFAULT_MAX_LAYER_SIZE = 16 * 2 ** 30;
/** Default cap on an image's uncompressed size: 64 GiB. */
export const DEFAULT_MAX_IMAGE_SIZE = 64 * 2 ** 30;

/**
 * Counts the uncompressed bytes of a layer as they stream, and fails the
 * stream as soon as the layer or the image would be larger than allowed
 * (so a gzip bomb is stopped while it inflates, not after).
 */
function sizeCap(
  what: string,
  caps: { layer: number; image: number },
  image: { bytes: number },
): TransformStream<Uint8Array, Uint8Array> {
  let layer = 0;
  return new TransformStream({
    transform(chunk, controller) {
      layer += chunk.length;
      image.bytes += chunk.length;
      if (layer > caps.layer) {
        throw new AptOstreeError(`${what} unpacks to more than ${caps.layer} bytes`, {
          solution: "The image is not what it claims (a decompression bomb?), or allow it with {maxLayerSize}",
        });
      }
      if (image.bytes > caps.image) {
        throw new AptOstreeError(`The layers of the image unpack to more than ${caps.image} bytes`, {
          solution: "The image is not what it claims, or allow it with {maxImageSize}",
        });
      }
      controller.enqueue(chunk);
    },
  });
}

/** Progress of a pull: phase `layers` or `committing`; bytes downloaded (or read) of all; layers applied of all. */
export type PullProgress = Progress;

/** What {@linkcode pullImageToBranch} did. */
export interface PullResult {
  /** The image name with its transport. */
  source: string;
  /** The branch written. */
  branch: string;
  /** The commit checksum. */
  commit: string;
  /** Manifest digest. */
  digest: string;
  /** Index digest, when the image came from an index. */
  indexDigest?: string;
  /** Platform of the image. */
  platform: Platform;
  /** Layers. */
  layers: { digest: string; size: number; diffId: string }[];
  /** Entries applied. */
  entries: number;
  /** Bytes of file content written. */
  contentBytes: number;
  /** Bytes downloaded. */
  bytesDownloaded: number;
  /** Entries not imported (device nodes, FIFOs). */
  skipped: SkippedEntry[];
  /**
   * For an ostree-native image, the commit it carries: the branch points at
   * it, or (when other tools added layers on top) at a new commit whose
   * parent it is.
   */
  ostreeCommit?: string;
  /** The branch already held this image: nothing was downloaded or committed. */
  upToDate: boolean;
  /** Whether file ownership was kept (running as root). */
  ownershipKept: boolean;
  /** Duration in milliseconds. */
  elapsedMs: number;
}

/**
 * The branch an image goes to by default: `<name>/<tag>/<arch>`, as a base
 * image `ubuntu:24.04` maps to `ubuntu/24.04/x86_64` (Docker Hub's
 * `library/` and the registry host left out; a digest reference uses
 * `sha256-<hex>` for the tag). Undefined when the location names no image
 * (a layout without an image name).
 *
 * @example
 * ```ts
 * import { defaultBranchFor } from "./pull.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * defaultBranchFor(parseImageLocation("docker://ubuntu:24.04"), "x86_64"); // "ubuntu/24.04/x86_64"
 * defaultBranchFor(parseImageLocation("docker://localhost:5000/team/app:1"), "aarch64"); // "team/app/1/aarch64"
 * ```
 */
export function defaultBranchFor(location: ImageLocation, arch: string, imageName?: string): string | undefined {
  let path: string | undefined;
  let tag: string | undefined;
  if (location.transport === "docker") {
    path = location.ref.path.replace(/^library\//, "");
    tag = location.ref.tag ?? (location.ref.digest ? location.ref.digest.replace(":", "-") : undefined);
  } else if (imageName) {
    const m = /^(?:[^/]+\.[^/]+\/|[^/]+:\d+\/|localhost\/)?(.+?)(?::([\w][\w.-]*))?(?:@.*)?$/.exec(imageName);
    if (m) {
      path = m[1].replace(/^library\//, "");
      tag = m[2];
    }
  }
  if (path === undefined) return undefined;
  const branch = `${path}/${tag ?? "latest"}/${arch}`;
  return isBranchName(branch) ? branch : undefined;
}

/** A pass-through that fails as soon as more than `size` bytes arrive, and at the end unless exactly `size` did. */
function exactSize(size: number, what: string, onBytes: (n: number) => void): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  return new TransformStream({
    transform(chunk, controller) {
      seen += chunk.length;
      if (seen > size) {
        controller.error(sizeMismatch(what, size, `more than ${size}`));
        return;
      }
      onBytes(chunk.length);
      controller.enqueue(chunk);
    },
    flush(controller) {
      if (seen !== size) controller.error(sizeMismatch(what, size, String(seen)));
    },
  });
}

function sizeMismatch(what: string, expected: number, actual: string): AptOstreeError {
  return new AptOstreeError(`${what} has ${actual} bytes, but its descriptor says ${expected}: refusing it`, {
    solution: "The image is damaged or was tampered with; nothing was imported",
  });
}

function digestMismatch(what: string, expected: string, actual: string): AptOstreeError {
  return new AptOstreeError(`${what} does not match its digest (it hashes to ${actual}, expected ${expected})`, {
    solution: "The image is damaged or was tampered with; nothing was imported",
  });
}

/**
 * Downloads a blob to a file, checking size as it streams and the digest
 * at the end; a connection that breaks is resumed at the current offset.
 */
async function downloadBlob(
  source: ImageSource,
  descriptor: Descriptor,
  path: string,
  options: { signal?: AbortSignal; retries: number; onBytes: (n: number) => void; policy: typeof DEFAULT_RETRY_POLICY },
): Promise<void> {
  const what = `Layer ${descriptor.digest} of ${source.description}`;
  const hash = createHash("sha256");
  const file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 }).catch((error) => {
    throw fsError("write", path, error);
  });
  let offset = 0;
  let failures = 0;
  try {
    for (;;) {
      try {
        const stream = await source.openBlob(descriptor, offset, options.signal);
        for await (const chunk of stream) {
          if (offset + chunk.length > descriptor.size) {
            throw sizeMismatch(what, descriptor.size, `more than ${descriptor.size}`);
          }
          hash.update(chunk);
          let written = 0;
          while (written < chunk.length) written += await file.write(chunk.subarray(written));
          offset += chunk.length;
          options.onBytes(chunk.length);
        }
        if (offset === descriptor.size) break;
        throw new RegistryConnectionError(`${what} ended after ${offset} bytes`, "connection", {
          solution: "",
          cause: undefined,
        });
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason;
        const retryable = (error instanceof RegistryConnectionError && error.problem === "connection") ||
          (!(error instanceof AptOstreeError) && connectionProblem(error) === "connection");
        if (!retryable || ++failures > options.retries) {
          if (retryable) {
            throw new AptOstreeError(`Downloading ${descriptor.digest} kept failing: ${(error as Error).message}`, {
              solution: "Check the network and the registry, then run the pull again",
              cause: error,
            });
          }
          throw error;
        }
        await sleep(retryDelay(options.policy, failures), options.signal);
      }
    }
  } finally {
    file.close();
  }
  const actual = `sha256:${hash.digest("hex")}`;
  if (actual !== descriptor.digest) throw digestMismatch(what, descriptor.digest, actual);
}

/** Refuses a branch that a ref in the repository makes impossible (`a` exists, so `a/b` cannot, and the reverse). */
async function checkBranchFree(repo: OstreeRepo, branch: string): Promise<void> {
  const heads = join(repo.path, "refs", "heads");
  const parts = branch.split("/");
  for (let i = 1; i <= parts.length; i++) {
    const path = join(heads, ...parts.slice(0, i));
    const info = await Deno.lstat(path).catch(() => undefined);
    if (!info) return;
    const conflict = i < parts.length ? !info.isDirectory : info.isDirectory;
    if (conflict) {
      const other = parts.slice(0, i).join("/");
      throw new UsageError(
        i < parts.length
          ? `Cannot create the branch ${branch}: the branch ${other} exists, and a branch cannot also be a directory of branches`
          : `Cannot create the branch ${branch}: branches named ${branch}/… exist`,
        { solution: "Choose another branch with {branch}" },
      );
    }
  }
}

async function branchHolds(repo: OstreeRepo, branch: string, digest: string): Promise<string | undefined> {
  const commit = await repo.refHead(branch).catch(() => undefined);
  if (commit === undefined) return undefined;
  const info = await repo.readCommit(commit).catch(() => undefined);
  return info?.metadata.get(COMMIT_METADATA.imageDigest) === digest ? commit : undefined;
}

/**
 * Where an ostree-native image's own layers end (`ostree.final-diffid`) and
 * which commit they carry (`ostree.commit`); undefined for any other image.
 */
function ostreeNativeLayers(config: ImageConfig, where: string): { commit: string; layers: number } | undefined {
  const labels = config.config?.Labels ?? {};
  const commit = labels[BOOTC_LABELS.commit];
  const finalDiffId = labels[BOOTC_LABELS.finalDiffId];
  if (commit === undefined || finalDiffId === undefined) return undefined;
  if (!/^[0-9a-f]{64}$/.test(commit)) {
    throw new AptOstreeError(`${where} has an invalid ${BOOTC_LABELS.commit} label: ${commit}`, {
      solution: "The image is damaged; nothing was imported",
    });
  }
  // The last occurrence: two equal layers (two empty chunks) may end the commit's part; an equal layer added on top
  // would change nothing either.
  const index = config.rootfs.diff_ids.lastIndexOf(finalDiffId);
  if (index < 0) {
    throw new AptOstreeError(`${where}: its ${BOOTC_LABELS.finalDiffId} label names no layer (${finalDiffId})`, {
      solution: "The image is damaged; nothing was imported",
    });
  }
  return { commit, layers: index + 1 };
}

async function branchIsCommit(repo: OstreeRepo, branch: string, commit: string): Promise<string | undefined> {
  return (await repo.refHead(branch).catch(() => undefined)) === commit ? commit : undefined;
}

/** Moves a checkout's `/usr/etc` to `/etc`, as layers added on top of it see it. */
async function usrEtcToEtc(root: string): Promise<void> {
  const usrEtc = await Deno.lstat(join(root, "usr", "etc")).catch(() => undefined);
  const etc = await Deno.lstat(join(root, "etc")).catch(() => undefined);
  if (usrEtc?.isDirectory && !etc) await Deno.rename(join(root, "usr", "etc"), join(root, "etc"));
}

/** Moves `/etc` to `/usr/etc`, as deployments keep it. */
async function etcToUsrEtc(root: string): Promise<void> {
  const lstat = (p: string) => Deno.lstat(p).catch(() => undefined);
  const etc = await lstat(join(root, "etc"));
  const usrEtc = await lstat(join(root, "usr", "etc"));
  if (!etc?.isDirectory) return;
  if (usrEtc) {
    throw new AptOstreeError("The image has both /etc and /usr/etc", {
      solution: "A deployment keeps its configuration in /usr/etc only; rebuild the image with one of them",
    });
  }
  const usr = await lstat(join(root, "usr"));
  if (!usr) await Deno.mkdir(join(root, "usr"), { mode: 0o755 });
  else if (!usr.isDirectory) {
    throw new AptOstreeError("The image's /usr is not a directory", { solution: "Rebuild the image" });
  }
  await Deno.rename(join(root, "etc"), join(root, "usr", "etc"));
}

function commitTimestamp(config: ImageConfig): number | undefined {
  const ms = config.created ? Date.parse(config.created) : NaN;
  return Number.isFinite(ms) && ms > 0 ? Math.floor(ms / 1000) : undefined;
}

/**
 * Pulls an image (from a registry, a layout or an archive) into an OSTree
 * repository as a commit on a branch. This is what `apt-ostree image pull`
 * runs, and what `compose create --base docker://…` calls to use an image
 * as a base.
 *
 * @example
 * ```ts
 * import { pullImageToBranch } from "./pull.ts";
 * const { branch, commit } = await pullImageToBranch("/var/lib/apt-ostree/repo", "docker://localhost:5000/debian:12", {
 *   tlsVerify: false,
 * });
 * console.log(`${branch} is now ${commit}`);
 * ```
 */
export async function pullImageToBranch(
  repo: string | OstreeRepo,
  image: string | ImageLocation,
  options: PullOptions = {},
): Promise<PullResult> {
  const started = performance.now();
  const { signal } = options;
  const location = typeof image === "string" ? parseImageLocation(image) : image;
  const ostreeRepo = typeof repo === "string" ? await OstreeRepo.open(repo) : repo;
  const platform = ociPlatform(options.arch ?? hostArch());
  if (options.branch !== undefined && !isBranchName(options.branch)) {
    throw new UsageError(`Invalid branch name: ${options.branch}`, {
      solution: "Use letters, digits, '.', '_', '-' and '/' (e.g. debian/12/x86_64)",
    });
  }
  const source = await openImageSource(location, options);
  let ticker: ProgressTicker | undefined;
  let tempDir: string | undefined;
  try {
    const { manifest, raw, indexDigest } = await resolveImage(source, platform, signal);
    const configBytes = await source.blobBytes(manifest.config, signal);
    const config = parseImageConfig(configBytes, source.description);
    const imagePlatform: Platform = {
      architecture: config.architecture || platform.architecture,
      os: config.os || "linux",
      ...(config.variant ? { variant: config.variant } : {}),
    };
    if (config.os && config.os !== "linux") {
      throw new AptOstreeError(`${source.description} is an image for ${config.os}, not Linux`, {
        solution: "Choose a Linux image",
      });
    }
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== manifest.layers.length) {
      throw new AptOstreeError(
        `${source.description} has ${manifest.layers.length} layers but its config lists ${diffIds.length} diff_ids`,
        { solution: "The image is damaged; push it again" },
      );
    }
    const native = ostreeNativeLayers(config, source.description);
    // The branch names the architecture as bootstrap and compose do (`i386`, `armel`), whatever the image calls it.
    const arch = platformBranchArch(imagePlatform);
    const branch = options.branch ?? defaultBranchFor(location, arch, source.imageName);
    if (branch === undefined) {
      throw new UsageError(`Cannot name a branch for ${source.description}`, {
        solution: "Pass {branch} NAME (e.g. {branch} my-base/1/x86_64)",
      });
    }
    await checkBranchFree(ostreeRepo, branch);
    const layersOut = manifest.layers.map((l, i) => ({ digest: l.digest, size: l.size, diffId: diffIds[i] }));
    const base = {
      source: formatImageLocation(location),
      branch,
      digest: raw.digest,
      ...(indexDigest ? { indexDigest } : {}),
      platform: imagePlatform,
      layers: layersOut,
    };
    if (!options.force) {
      const existing = native && native.layers === diffIds.length
        ? await branchIsCommit(ostreeRepo, branch, native.commit)
        : await branchHolds(ostreeRepo, branch, raw.digest);
      if (existing) {
        return {
          ...base,
          commit: existing,
          entries: 0,
          contentBytes: 0,
          bytesDownloaded: 0,
          skipped: [],
          upToDate: true,
          ownershipKept: Deno.uid() === 0,
          elapsedMs: Math.round(performance.now() - started),
        };
      }
    }

    // The temp tree lives in the repository's tmp/: same file system, room as the repository has.
    const repoTmp = join(ostreeRepo.path, "tmp");
    await Deno.mkdir(repoTmp, { recursive: true }).catch((error) => {
      throw fsError("create", repoTmp, error);
    });
    await collectLeftovers(repoTmp, /^apt-ostree-import-/); // import trees of killed runs
    tempDir = join(repoTmp, `apt-ostree-import-${randomSuffix()}`);
    await makeOwnedDir(tempDir).catch((error) => {
      throw fsError("create", tempDir!, error);
    });
    const rootfs = join(tempDir, "rootfs");
    const blobDir = join(tempDir, "layers");
    await Deno.mkdir(rootfs, { recursive: true, mode: 0o755 }).catch((error) => {
      throw fsError("create", rootfs, error);
    });
    await Deno.mkdir(blobDir, { mode: 0o700 });

    // Where the size is known, checked before anything is written: the compressed layers are a lower bound of what
    // the import writes (a download keeps them in tmp/ as well).
    const needed = manifest.layers.reduce((n, l) => n + l.size, 0);
    const free = availableBytes(repoTmp);
    if (free !== undefined && free < needed) {
      throw new AptOstreeError(
        `Not enough space to pull ${source.description} into ${ostreeRepo.path}: its layers alone are ${needed} bytes ` +
          `compressed, and ${free} bytes are free`,
        { solution: "Free space on that file system, or pull into a repository on another one with {repo}" },
      );
    }
    const privileged = Deno.uid() === 0;
    if (native && !privileged) {
      throw new AptOstreeError(`Importing the ostree-native image ${source.description} needs root`, {
        solution: "Run the pull as root (sudo): the commit's objects keep their owners, and its checksum covers them",
      });
    }
    // The ostree layers of an ostree-native image: their objects go into a scratch repository.
    const ostreeLayers = native &&
      { ...native, objects: await ObjectImporter.create(join(tempDir, "objects-repo"), native.commit) };
    /** Checks every object in the scratch repository, before anything reaches the real one; then copies the commit. */
    const pullBase = async ({ objects, commit }: NonNullable<typeof ostreeLayers>) => {
      phase = "verifying";
      ticker?.tick();
      await (await OstreeRepo.open(objects.path)).fsck(`the ostree commit ${commit} in ${source.description}`, {
        signal,
      });
      await ostreeRepo.pullLocal(objects.path, commit, { signal });
    };
    let tree = new ImportTree(rootfs, privileged);
    const bytesTotal = manifest.layers.reduce((n, l) => n + l.size, 0);
    let bytesDone = 0;
    let layersDone = 0;
    let phase = "layers";
    ticker = progressTicker(() => ({
      phase,
      done: bytesDone,
      total: bytesTotal,
      count: { done: layersDone, total: manifest.layers.length, of: "layers" },
      elapsedMs: performance.now() - started,
    }), options.onProgress);

    // Remote layers download in parallel (bounded) while earlier ones are applied.
    const policy = options.retry ?? DEFAULT_RETRY_POLICY;
    const downloads: Promise<void>[] = [];
    const downloadAbort = new AbortController();
    const downloadSignal = signal ? AbortSignal.any([signal, downloadAbort.signal]) : downloadAbort.signal;
    if (!source.local) {
      const limit = createLimiter(options.concurrency ?? 3);
      for (const [i, layer] of manifest.layers.entries()) {
        const download = limit(async () => {
          downloadSignal.throwIfAborted();
          await downloadBlob(source, layer, join(blobDir, `${i}-${digestHex(layer.digest)}`), {
            signal: downloadSignal,
            retries: policy.retries,
            policy,
            onBytes: (n) => bytesDone += n,
          });
        });
        download.catch((error) => downloadAbort.abort(error)); // one failure stops the others
        downloads.push(download);
      }
    }

    const caps = {
      layer: options.maxLayerSize ?? DEFAULT_MAX_LAYER_SIZE,
      image: options.maxImageSize ?? DEFAULT_MAX_IMAGE_SIZE,
    };
    const unpacked = { bytes: 0 };
    try {
      for (let i = 0; i < manifest.layers.length; i++) {
        const layer = manifest.layers[i];
        const what = `Layer ${layer.digest} of ${source.description}`;
        let compressed: ReadableStream<Uint8Array>;
        if (source.local) {
          // Checked whole before anything is applied: a damaged blob is named as such.
          const check = new DigestStream();
          await (await source.openBlob(layer, 0, signal))
            .pipeThrough(exactSize(layer.size, what, (n) => bytesDone += n))
            .pipeThrough(check)
            .pipeTo(new WritableStream());
          const { digest } = await check.result;
          if (digest !== layer.digest) throw digestMismatch(what, layer.digest, digest);
          compressed = await source.openBlob(layer, 0, signal);
        } else {
          await downloads[i];
          const path = join(blobDir, `${i}-${digestHex(layer.digest)}`);
          compressed = (await Deno.open(path)).readable;
        }
        const { kind, tar: layerTar } = await openLayerTar(layer.mediaType, compressed);

        const diff = new DigestStream();
        const tar = layerTar.pipeThrough(sizeCap(what, caps, unpacked)).pipeThrough(diff);
        const reader = new TarReader(tar, `layer ${layer.digest}`);
        if (ostreeLayers && i === ostreeLayers.layers) {
          // The first layer another tool added on top: start from the base commit's tree.
          await pullBase(ostreeLayers);
          phase = "layers";
          await Deno.remove(rootfs);
          await ostreeRepo.checkoutCopy(ostreeLayers.commit, rootfs, { signal });
          await usrEtcToEtc(rootfs);
          tree = new ImportTree(rootfs, privileged);
        }
        try {
          if (ostreeLayers && i < ostreeLayers.layers) {
            await ostreeLayers.objects.applyLayer(reader, `layer ${layer.digest}`, i === 0, signal);
          } else {
            await tree.applyLayer(reader, layer.digest, signal);
          }
        } catch (error) {
          await reader.cancel(error);
          if (error instanceof AptOstreeError || signal?.aborted) throw error;
          // The blob matched its digest, so bad data inside is the image's own fault.
          throw new AptOstreeError(
            `${what} is not a valid ${kind === "none" ? "tar" : kind} stream: ${(error as Error).message}`,
            {
              solution: "The image is damaged; nothing was imported",
              cause: error,
            },
          );
        }
        const diffId = (await diff.result).digest;
        if (diffId !== diffIds[i]) {
          throw new AptOstreeError(
            `${what} does not match the image config: its content hashes to ${diffId}, the config says ${diffIds[i]}`,
            { solution: "The image is damaged or was tampered with; nothing was imported" },
          );
        }
        layersDone++;
        if (!source.local) await removeQuietly(join(blobDir, `${i}-${digestHex(layer.digest)}`));
      }
    } catch (error) {
      downloadAbort.abort(error);
      await Promise.allSettled(downloads);
      throw error;
    }
    if (ostreeLayers && ostreeLayers.layers === manifest.layers.length) {
      // Nothing added on top: the branch points at the exported commit itself.
      await pullBase(ostreeLayers);
      phase = "committing";
      ticker.tick();
      await ostreeRepo.setRef(branch, ostreeLayers.commit, { signal });
      return {
        ...base,
        commit: ostreeLayers.commit,
        ostreeCommit: ostreeLayers.commit,
        entries: ostreeLayers.objects.objects,
        contentBytes: ostreeLayers.objects.bytes,
        bytesDownloaded: source.local ? 0 : bytesTotal,
        skipped: [],
        upToDate: false,
        ownershipKept: true,
        elapsedMs: Math.round(performance.now() - started),
      };
    }
    tree.finish();
    await etcToUsrEtc(rootfs);

    phase = "committing";
    ticker.tick();
    const metadata: Record<string, GVariantInput> = {
      [COMMIT_METADATA.imageSource]: base.source,
      [COMMIT_METADATA.imageDigest]: raw.digest,
      [COMMIT_METADATA.imageConfigDigest]: manifest.config.digest,
      [COMMIT_METADATA.arch]: arch,
    };
    if (location.transport === "docker") metadata[COMMIT_METADATA.imageName] = location.ref.fullName;
    else if (source.imageName) metadata[COMMIT_METADATA.imageName] = source.imageName;
    if (indexDigest) metadata[COMMIT_METADATA.imageIndexDigest] = indexDigest;
    if (configBytes.length < 64 << 10) metadata[COMMIT_METADATA.imageConfig] = new TextDecoder().decode(configBytes);
    const version = config.config?.Labels?.["org.opencontainers.image.version"] ??
      manifest.annotations?.["org.opencontainers.image.version"];
    if (version) metadata.version = version;
    const commit = await commitDirectory(ostreeRepo, {
      tree: rootfs,
      branch,
      subject: `Import ${base.source}`,
      body: `Image ${raw.digest}${indexDigest ? ` (from index ${indexDigest})` : ""}`,
      metadata,
      parent: native?.commit ?? "none",
      timestamp: commitTimestamp(config),
      ownerRoot: !privileged,
      signal,
    });
    if (source.registry) {
      await recordBlobLocations(
        { registry: source.registry.host, repository: source.registry.repository },
        manifest.layers.map((l) => l.digest),
      );
    }
    return {
      ...base,
      commit,
      ...(native ? { ostreeCommit: native.commit } : {}),
      entries: tree.stats.entries,
      contentBytes: tree.stats.bytes,
      bytesDownloaded: source.local ? 0 : bytesTotal,
      skipped: tree.skipped,
      upToDate: false,
      ownershipKept: privileged,
      elapsedMs: Math.round(performance.now() - started),
    };
  } catch (error) {
    throw signal?.aborted ? signal.reason : error;
  } finally {
    ticker?.stop();
    if (tempDir !== undefined) await removeQuietly(tempDir);
    source.close();
  }
}
