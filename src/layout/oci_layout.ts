/**
 * OCI image layout directories: reading `index.json`, tagging manifests in
 * it, and {@linkcode OciLayoutTarget}, which builds into a new layout (a
 * staging directory renamed into place) or adds a tag to an existing one
 * (new blobs beside the old, `index.json` replaced atomically at the end).
 *
 * @module
 */

import { basename, dirname, join, resolve } from "node:path";
import { AptOstreeError, UsageError } from "../errors.ts";
import { checkBlobBytes, type ImageSink, MAX_SMALL_BLOB, type StoredImage } from "../oci/image.ts";
import { digestHex, SHA256_DIGEST_RE } from "../digest/digest.ts";
import { rawDescriptor, type RawManifest, rawManifest } from "../oci/manifest.ts";
import {
  appendReferrer,
  indexManifest,
  parseReferrersIndex,
  referrerDescriptor,
  referrersTag,
} from "../oci/referrers.ts";
import { jsonBytes } from "../oci/image_config.ts";
import {
  ANNOTATION_CONTAINERD_NAME,
  ANNOTATION_REF_NAME,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  MEDIA_TYPE_INDEX,
  MEDIA_TYPE_MANIFEST,
} from "../oci/types.ts";
import {
  fsError,
  isEmptyDir,
  randomSuffix,
  removeQuietly,
  siblingTempPath,
  statOrUndefined,
  writeFileAtomic,
} from "../util/fs.ts";
import { assertReplaceable, type ReplaceGuardOptions } from "../util/replace_guard.ts";
import { DirBlobStore } from "./blob_store.ts";
import { collectLeftovers, makeOwnedDir, releaseOwnedDir } from "../util/leftovers.ts";

/** Temp names of ours beside an output (`.NAME.apt-ostree-…`). */
export const LEFTOVER_BESIDE: RegExp = /^\..+\.apt-ostree-/;
/** Temp names of ours inside a layout (`.apt-ostree-…`, `.index.json.apt-ostree-…`). */
export const LEFTOVER_INSIDE: RegExp = /^\.(?:index\.json\.)?apt-ostree-/;

/** Content of the `oci-layout` file. */
export const OCI_LAYOUT_FILE_CONTENT = '{"imageLayoutVersion":"1.0.0"}';

/**
 * An empty image index.
 *
 * @example
 * ```ts
 * import { emptyIndex } from "./oci_layout.ts";
 * emptyIndex().manifests.length; // 0
 * ```
 */
export function emptyIndex(): ImageIndex {
  return { schemaVersion: 2, mediaType: MEDIA_TYPE_INDEX, manifests: [] };
}

/**
 * Whether `dir` holds an OCI image layout (an `oci-layout` file and an
 * `index.json`).
 *
 * @example
 * ```ts
 * import { isOciLayout } from "./oci_layout.ts";
 * await isOciLayout("/tmp/not-a-layout"); // false
 * ```
 */
export async function isOciLayout(dir: string): Promise<boolean> {
  const marker = await statOrUndefined(join(dir, "oci-layout"));
  const index = await statOrUndefined(join(dir, "index.json"));
  return marker?.isFile === true && index?.isFile === true;
}

/**
 * Reads and checks a layout's `index.json`.
 *
 * @example
 * ```ts
 * import { readLayoutIndex } from "./oci_layout.ts";
 * const index = await readLayoutIndex("image.oci");
 * for (const m of index.manifests) console.log(m.annotations?.["org.opencontainers.image.ref.name"], m.digest);
 * ```
 */
export async function readLayoutIndex(dir: string): Promise<ImageIndex> {
  let layoutText: string;
  let indexText: string;
  try {
    for (const name of ["oci-layout", "index.json"]) {
      const info = await Deno.lstat(join(dir, name));
      if (!info.isFile) throw new AptOstreeError(`Broken OCI layout at ${dir}: ${name} is not a regular file`);
      if (info.size > MAX_SMALL_BLOB) {
        throw new AptOstreeError(
          `Broken OCI layout at ${dir}: ${name} is ${info.size} bytes (at most ${MAX_SMALL_BLOB})`,
          {
            solution: "This is not a layout written by an image tool; check the path",
          },
        );
      }
    }
    layoutText = await Deno.readTextFile(join(dir, "oci-layout"));
    indexText = await Deno.readTextFile(join(dir, "index.json"));
  } catch (error) {
    throw fsError("read the OCI layout", dir, error);
  }
  const broken = (why: string) =>
    new AptOstreeError(`Broken OCI layout at ${dir}: ${why}`, {
      solution: "Choose another {output}, or pass {force} to replace it",
    });
  try {
    const layout = JSON.parse(layoutText);
    if (layout?.imageLayoutVersion !== "1.0.0") throw broken("unsupported imageLayoutVersion");
  } catch (error) {
    if (error instanceof AptOstreeError) throw error;
    throw broken("oci-layout is not JSON");
  }
  let index: ImageIndex;
  try {
    index = JSON.parse(indexText);
  } catch {
    throw broken("index.json is not JSON");
  }
  if (index?.schemaVersion !== 2 || !Array.isArray(index.manifests)) {
    throw broken("index.json is not an image index");
  }
  return index;
}

/**
 * Returns a copy of `index` in which `manifest` is tagged `tag` (any
 * manifest previously tagged with the same tag loses that entry). `name`,
 * the full image name, is recorded as `io.containerd.image.name`.
 *
 * @example
 * ```ts
 * import { emptyIndex, tagInIndex } from "./oci_layout.ts";
 * const index = tagInIndex(emptyIndex(), {
 *   mediaType: "application/vnd.oci.image.manifest.v1+json", digest: "sha256:" + "a".repeat(64), size: 1,
 * }, "1", "docker.io/library/app:1");
 * index.manifests[0].annotations?.["org.opencontainers.image.ref.name"]; // "1"
 * ```
 */
export function tagInIndex(index: ImageIndex, manifest: Descriptor, tag: string, name?: string): ImageIndex {
  const kept = index.manifests.filter((m) => m.annotations?.[ANNOTATION_REF_NAME] !== tag);
  const entry: Descriptor = {
    mediaType: manifest.mediaType,
    digest: manifest.digest,
    size: manifest.size,
    annotations: {
      ...(name !== undefined ? { [ANNOTATION_CONTAINERD_NAME]: name } : {}),
      [ANNOTATION_REF_NAME]: tag,
    },
  };
  if (manifest.platform) entry.platform = manifest.platform;
  return { ...index, schemaVersion: 2, mediaType: MEDIA_TYPE_INDEX, manifests: [...kept, entry] };
}

/** Options for {@linkcode LayoutSink.open}. */
export interface OpenLayoutOptions {
  /** The tag to record (`org.opencontainers.image.ref.name`; default `latest`). */
  tag?: string;
  /** The full image name to record (`io.containerd.image.name`), when there is one. */
  name?: string;
  /** Replace a path that exists and is not a layout (only what {@linkcode assertReplaceable} allows). */
  force?: boolean;
  /** Paths that replacing must never remove, nor anything above them (the OSTree repository). */
  protect?: ReplaceGuardOptions["protect"];
}

/**
 * Writes an image into an OCI layout directory: a new layout is made in a
 * staging directory and renamed into place; an existing one gets new blobs
 * beside the old and its `index.json` replaced atomically, under a lock.
 *
 * @example
 * ```ts
 * import { LayoutSink } from "./oci_layout.ts";
 * const sink = await LayoutSink.open("my-image.oci", { tag: "1.0" });
 * // stream blobs into sink.blobs, then: await sink.commit(rawManifest);
 * ```
 */
export class LayoutSink implements ImageSink {
  private constructor(
    /** The layout path. */
    readonly path: string,
    /** The directory being written: the layout itself, or a staging copy. */
    private workDir: string,
    /** Whether we write into an existing layout (else a staging dir). */
    private inPlace: boolean,
    /** Whether an existing non-layout path is to be replaced on commit. */
    private readonly replace: boolean,
    private readonly tag: string,
    private readonly name: string | undefined,
    private store: DirBlobStore,
  ) {}

  /** Where blobs go: the staging layout, or (once a new layout is in place) the layout itself. */
  get blobs(): DirBlobStore {
    return this.store;
  }

  /** After a new layout is in place, later writes (referrers) go into it as into an existing one. */
  private nowInPlace(): void {
    this.workDir = this.path;
    this.inPlace = true;
    this.store = new DirBlobStore(this.path, join(this.path, `.apt-ostree-${randomSuffix()}`));
  }

  /**
   * Lists a referrer in `index.json`: an entry for its manifest (with its
   * `artifactType`), and the fallback tag `sha256-<hex>` naming an index of
   * the subject's referrers, appended to (other tools' entries stay).
   */
  async putReferrer(referrer: RawManifest, subject: Descriptor): Promise<boolean> {
    await this.blobs.putBytes(referrer.bytes);
    const dir = this.workDir;
    const changed = await withLayoutLock(dir, async () => {
      const index = await readLayoutIndex(dir);
      const descriptor = referrerDescriptor(referrer);
      const tag = referrersTag(subject.digest);
      const tagged = index.manifests.find((m) => m.annotations?.[ANNOTATION_REF_NAME] === tag);
      const bytes = tagged && await readCheckedBlob(dir, tagged);
      if (tagged && !bytes) {
        throw new AptOstreeError(`The referrers index ${tag} of ${dir} is missing or damaged`, {
          solution: `Remove the tag ${tag} from index.json, then attach again`,
        });
      }
      const appended = appendReferrer(
        bytes ? parseReferrersIndex(rawManifest(bytes), `${dir}:${tag}`) : undefined,
        descriptor,
      );
      const listed = index.manifests.some((m) =>
        m.digest === descriptor.digest && m.annotations?.[ANNOTATION_REF_NAME] === undefined
      );
      if (!appended && listed) return false;
      let next: ImageIndex = listed ? index : { ...index, manifests: [...index.manifests, descriptor] };
      if (appended) {
        const raw = indexManifest(appended);
        await this.blobs.putBytes(raw.bytes);
        next = tagInIndex(next, rawDescriptor(raw), tag);
      }
      await writeFileAtomic(join(dir, "index.json"), jsonBytes(next));
      return true;
    });
    await this.blobs.finish();
    return changed;
  }

  /** `oci:PATH:TAG`. */
  get description(): string {
    return `oci:${this.path}:${this.tag}`;
  }

  /** The images already in the layout (none when a new layout is being made). */
  previousImages(): Promise<StoredImage[]> {
    return this.inPlace ? readLayoutImages(this.workDir) : Promise.resolve([]);
  }

  /**
   * Prepares to write `path`: an existing layout is extended; a missing path
   * (or an empty directory) becomes a new layout; anything else is refused
   * unless `force`.
   */
  static async open(path: string, options: OpenLayoutOptions = {}): Promise<LayoutSink> {
    const location = resolve(path);
    const tag = options.tag ?? "latest";
    // What killed runs left beside the output: their staging directories.
    await collectLeftovers(dirname(location), LEFTOVER_BESIDE);
    const info = await statOrUndefined(location);
    let broken: string | undefined;
    if (info?.isDirectory && (await isOciLayout(location))) {
      try {
        await readLayoutIndex(location); // refuse a broken layout before writing anything
        await collectLeftovers(location, LEFTOVER_INSIDE); // and inside it: their blob temp directories
        const tempDir = join(location, `.apt-ostree-${randomSuffix()}`);
        return new LayoutSink(location, location, true, false, tag, options.name, new DirBlobStore(location, tempDir));
      } catch (error) {
        if (!(error instanceof AptOstreeError)) throw error;
        broken = error.message;
      }
    }
    let replace = false;
    if (info) {
      const empty = info.isDirectory && (await isEmptyDir(location));
      if (!empty && !options.force) {
        throw new UsageError(broken ?? `Output path exists and is not an OCI layout: ${location}`, {
          solution: "Choose another {output}, or pass {force} to replace it",
        });
      }
      await assertReplaceable(location, { protect: options.protect });
      replace = true;
    }
    const parent = dirname(location);
    const parentInfo = await statOrUndefined(parent);
    if (parentInfo && !parentInfo.isDirectory) {
      throw new UsageError(`The output's parent is not a directory: ${parent}`, {
        solution: "Choose another {output}",
      });
    }
    if (!parentInfo) {
      throw new UsageError(`Output directory does not exist: ${parent}`, {
        solution: `Create it first (mkdir -p ${parent}) or choose another {output}`,
      });
    }
    const staging = siblingTempPath(location);
    try {
      await makeOwnedDir(staging, 0o755);
    } catch (error) {
      throw fsError("create the output", location, error, "output");
    }
    const tempDir = join(staging, ".apt-ostree-tmp");
    return new LayoutSink(location, staging, false, replace, tag, options.name, new DirBlobStore(staging, tempDir));
  }

  async putManifest(raw: RawManifest): Promise<boolean> {
    if (await this.blobs.has(raw.digest)) return false;
    await this.blobs.putBytes(raw.bytes);
    return true;
  }

  async commit(root: RawManifest): Promise<boolean> {
    await this.blobs.putBytes(root.bytes);
    const descriptor = rawDescriptor(root);
    if (this.inPlace) {
      const moved = await addTagToLayout(this.workDir, descriptor, this.tag, this.name);
      await this.blobs.finish();
      return moved;
    }
    try {
      await Deno.writeTextFile(join(this.workDir, "oci-layout"), OCI_LAYOUT_FILE_CONTENT);
      await Deno.writeFile(
        join(this.workDir, "index.json"),
        jsonBytes(tagInIndex(emptyIndex(), descriptor, this.tag, this.name)),
      );
      await this.blobs.finish();
      await Deno.chmod(this.workDir, 0o755);
    } catch (error) {
      throw fsError("write", this.workDir, error, "output");
    }
    await releaseOwnedDir(this.workDir); // the owner mark must not end up in the output
    try {
      await swapIntoPlace(this.workDir, this.path, this.replace);
    } catch (error) {
      // Another build made the layout meanwhile: add to it instead.
      if (this.replace || !(await isOciLayout(this.path))) throw error;
      const moved = await mergeIntoLayout(this.workDir, this.path, descriptor, this.tag, this.name);
      this.nowInPlace();
      return moved;
    }
    this.nowInPlace();
    return true;
  }

  async abort(): Promise<void> {
    if (this.inPlace) await this.blobs.rollback();
    else await removeQuietly(this.workDir);
  }

  close(): void {}
}

/**
 * Runs `fn` holding an exclusive lock on the layout directory, so that
 * concurrent builds into one layout do not lose each other's tags (the
 * read-modify-write of `index.json` is serialised).
 *
 * @example
 * ```ts
 * import { withLayoutLock } from "./oci_layout.ts";
 * await withLayoutLock("image.oci", async () => {
 *   // read and replace index.json
 * });
 * ```
 */
export async function withLayoutLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  let handle: Deno.FsFile;
  try {
    handle = await Deno.open(dir, { read: true });
    await handle.lock(true);
  } catch (error) {
    throw fsError("lock the layout", dir, error, "output");
  }
  try {
    return await fn();
  } finally {
    handle.close(); // closing releases the lock
  }
}

/** Tags an image in an existing layout: read, modify and replace `index.json` under the lock; true when the tag moved. */
async function addTagToLayout(dir: string, descriptor: Descriptor, tag: string, name?: string): Promise<boolean> {
  return await withLayoutLock(dir, async () => {
    const index = await readLayoutIndex(dir);
    const before = index.manifests.find((m) => m.annotations?.[ANNOTATION_REF_NAME] === tag);
    const next = tagInIndex(index, descriptor, tag, name);
    // The same entry already there: index.json stays as it is (entries after it, such as referrers, keep their place).
    if (before && JSON.stringify(before) === JSON.stringify(next.manifests[next.manifests.length - 1])) return false;
    await writeFileAtomic(join(dir, "index.json"), jsonBytes(next));
    return before?.digest !== descriptor.digest;
  });
}

/** Moves the blobs of a finished staging layout into an existing layout, then tags the image there. */
async function mergeIntoLayout(
  staging: string,
  dir: string,
  descriptor: Descriptor,
  tag: string,
  name?: string,
): Promise<boolean> {
  try {
    const from = join(staging, "blobs", "sha256");
    const to = join(dir, "blobs", "sha256");
    await Deno.mkdir(to, { recursive: true });
    for await (const blob of Deno.readDir(from)) {
      if (!(await statOrUndefined(join(to, blob.name)))) await Deno.rename(join(from, blob.name), join(to, blob.name));
    }
  } catch (error) {
    throw fsError("add blobs to", dir, error, "output");
  }
  const moved = await addTagToLayout(dir, descriptor, tag, name);
  await removeQuietly(staging);
  return moved;
}

/**
 * Renames a finished staging path onto `target`. When `target` exists (and
 * was accepted for replacement), it is moved aside first and removed after.
 *
 * @example
 * ```ts
 * import { swapIntoPlace } from "./oci_layout.ts";
 * await swapIntoPlace("/out/.img.oci.apt-ostree-1234", "/out/img.oci", false);
 * ```
 */
export async function swapIntoPlace(staging: string, target: string, replace: boolean): Promise<void> {
  const aside = replace ? join(dirname(target), `.${basename(target)}.old-${randomSuffix()}`) : undefined;
  try {
    if (aside && (await statOrUndefined(target))) await Deno.rename(target, aside);
    await Deno.rename(staging, target);
  } catch (error) {
    if (aside && (await statOrUndefined(aside)) && !(await statOrUndefined(target))) {
      await Deno.rename(aside, target).catch(() => {});
    }
    throw fsError("move the output into place at", target, error, "output");
  }
  if (aside) await removeQuietly(aside);
}

/** A blob's bytes if it is there and matches its descriptor, else undefined. */
async function readCheckedBlob(dir: string, descriptor: Descriptor): Promise<Uint8Array | undefined> {
  if (!SHA256_DIGEST_RE.test(descriptor.digest) || descriptor.size > MAX_SMALL_BLOB) return undefined;
  try {
    const bytes = await Deno.readFile(join(dir, "blobs", "sha256", digestHex(descriptor.digest)));
    return checkBlobBytes(bytes, descriptor, dir);
  } catch {
    return undefined;
  }
}

function parseJson<T>(bytes: Uint8Array): T | undefined {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch {
    return undefined;
  }
}

/** The most manifests of one index that a build looks at for reuse. */
const MAX_INDEX_CHILDREN = 64;

/**
 * Reads the images of a layout (the manifests `index.json` lists, and
 * those of the multi-platform indexes it lists, under the index's name,
 * whose manifest and config blobs can be read and match their digests;
 * others are skipped).
 *
 * @example
 * ```ts
 * import { readLayoutImages } from "./oci_layout.ts";
 * for (const image of await readLayoutImages("image.oci")) console.log(image.descriptor.digest, image.manifest.layers.length);
 * ```
 */
export async function readLayoutImages(dir: string): Promise<StoredImage[]> {
  const index = await readLayoutIndex(dir);
  // A multi-platform image's manifests stand in its place, under its name.
  const descriptors: Descriptor[] = [];
  for (const descriptor of index.manifests) {
    if (descriptor.mediaType === MEDIA_TYPE_MANIFEST) descriptors.push(descriptor);
    if (descriptor.mediaType !== MEDIA_TYPE_INDEX) continue;
    const bytes = await readCheckedBlob(dir, descriptor);
    const children = bytes && parseJson<ImageIndex>(bytes)?.manifests;
    if (!Array.isArray(children)) continue;
    const name = descriptor.annotations?.[ANNOTATION_CONTAINERD_NAME];
    for (const child of children.slice(0, MAX_INDEX_CHILDREN)) {
      if (child?.mediaType !== MEDIA_TYPE_MANIFEST) continue;
      descriptors.push(
        name === undefined
          ? child
          : { ...child, annotations: { ...child.annotations, [ANNOTATION_CONTAINERD_NAME]: name } },
      );
    }
  }
  const images: StoredImage[] = [];
  for (const descriptor of descriptors) {
    const bytes = await readCheckedBlob(dir, descriptor);
    const manifest = bytes && parseJson<ImageManifest>(bytes);
    if (!bytes || !manifest?.config?.digest || !Array.isArray(manifest.layers)) continue;
    const configBytes = await readCheckedBlob(dir, manifest.config);
    const config = configBytes && parseJson<ImageConfig>(configBytes);
    if (!config?.rootfs || !Array.isArray(config.rootfs.diff_ids)) continue;
    images.push({
      raw: { bytes, mediaType: descriptor.mediaType, digest: descriptor.digest },
      descriptor,
      manifest,
      config,
    });
  }
  return images;
}
