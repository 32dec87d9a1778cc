/**
 * Hand-made layers and OCI layouts for tests: any tar entry (including the
 * malicious ones a real tool would never write: absolute paths, `..`,
 * links out of the tree, device nodes, bad whiteouts), and layouts whose
 * descriptors can lie about sizes, digests and diff ids.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { encodeTarHeader, END_OF_ARCHIVE, paddingFor } from "../../src/tar/tar_header.ts";

/** One entry of a crafted layer. */
export interface CraftEntry {
  /** Path exactly as written into the tar. */
  path: string;
  /** Entry type (default file). */
  type?: "file" | "directory" | "symlink" | "hardlink" | "char" | "block" | "fifo";
  /** File content. */
  content?: string | Uint8Array;
  /** Mode (default 0644 files, 0755 directories, 0777 symlinks). */
  mode?: number;
  /** Owner (default 0). */
  uid?: number;
  /** Group (default 0). */
  gid?: number;
  /** Symlink or hardlink target. */
  target?: string;
  /** Extended attributes. */
  xattrs?: Record<string, Uint8Array | string>;
}

const encoder = new TextEncoder();

function deviceHeader(entry: CraftEntry): Uint8Array {
  const block = new Uint8Array(512);
  const put = (offset: number, text: string) => block.set(encoder.encode(text), offset);
  const octal = (offset: number, width: number, value: number) =>
    put(offset, value.toString(8).padStart(width - 1, "0") + "\0");
  put(0, entry.path);
  octal(100, 8, entry.mode ?? 0o666);
  octal(108, 8, entry.uid ?? 0);
  octal(116, 8, entry.gid ?? 0);
  octal(124, 12, 0);
  octal(136, 12, 0);
  block[156] = entry.type === "char" ? 0x33 : entry.type === "block" ? 0x34 : 0x36;
  put(257, "ustar\x0000");
  octal(329, 8, entry.type === "fifo" ? 0 : 1);
  octal(337, 8, entry.type === "fifo" ? 0 : 3);
  let sum = 8 * 0x20;
  for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) sum += block[i];
  put(148, sum.toString(8).padStart(6, "0") + "\0 ");
  return block;
}

/** Writes entries as an uncompressed tar. */
export function craftTar(entries: CraftEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const entry of entries) {
    const type = entry.type ?? "file";
    if (type === "char" || type === "block" || type === "fifo") {
      parts.push(deviceHeader(entry));
      continue;
    }
    const content = typeof entry.content === "string"
      ? encoder.encode(entry.content)
      : entry.content ?? new Uint8Array();
    const size = type === "file" ? content.length : 0;
    parts.push(encodeTarHeader({
      path: entry.path,
      type,
      mode: entry.mode ?? (type === "directory" ? 0o755 : type === "symlink" ? 0o777 : 0o644),
      uid: entry.uid ?? 0,
      gid: entry.gid ?? 0,
      size,
      linkTarget: entry.target,
      xattrs: Object.entries(entry.xattrs ?? {}).map(([name, value]) => ({
        name,
        value: typeof value === "string" ? encoder.encode(value) : value,
      })),
    }));
    if (size > 0) {
      parts.push(content);
      parts.push(new Uint8Array(paddingFor(size)));
    }
  }
  parts.push(END_OF_ARCHIVE);
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** `sha256:<hex>`. */
export function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Ways a crafted layout may lie. */
export interface Tamper {
  /** Which layer (index). */
  layer: number;
  /** Added to the layer descriptor's size. */
  sizeDelta?: number;
  /** Flip a byte of the stored blob (its name stays the original digest). */
  corrupt?: boolean;
  /** Put a wrong diff id into the config. */
  wrongDiffId?: boolean;
}

/** Options for {@linkcode craftLayout}. */
export interface CraftLayoutOptions {
  /** gzip the layers (default true). */
  gzip?: boolean;
  /** Tag (default `latest`). */
  tag?: string;
  /** `io.containerd.image.name`. */
  name?: string;
  /** Lies to tell. */
  tamper?: Tamper;
  /** Config `created`. */
  created?: string;
  /** Architecture (default amd64 or arm64 as the host). */
  architecture?: string;
}

/** What {@linkcode craftLayout} wrote. */
export interface CraftedLayout {
  /** Manifest digest. */
  digest: string;
  /** Layer descriptors. */
  layers: { mediaType: string; digest: string; size: number }[];
  /** Config digest. */
  config: string;
}

/** Writes an OCI layout with one image made of the given layers. */
export async function craftLayout(
  dir: string,
  layers: (CraftEntry[] | Uint8Array)[],
  options: CraftLayoutOptions = {},
): Promise<CraftedLayout> {
  const blobs = join(dir, "blobs", "sha256");
  await Deno.mkdir(blobs, { recursive: true });
  const write = async (bytes: Uint8Array) => {
    const digest = digestOf(bytes);
    await Deno.writeFile(join(blobs, digest.slice(7)), bytes);
    return digest;
  };
  const gzip = options.gzip ?? true;
  const descriptors = [];
  const diffIds = [];
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i];
    const tar = layer instanceof Uint8Array ? layer : craftTar(layer);
    const blob = gzip ? new Uint8Array(gzipSync(tar)) : tar;
    const digest = await write(blob);
    const t = options.tamper?.layer === i ? options.tamper : undefined;
    if (t?.corrupt) {
      const corrupted = blob.slice();
      corrupted[Math.floor(corrupted.length / 2)] ^= 0xff;
      await Deno.writeFile(join(blobs, digest.slice(7)), corrupted);
    }
    descriptors.push({
      mediaType: gzip ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.oci.image.layer.v1.tar",
      digest,
      size: blob.length + (t?.sizeDelta ?? 0),
    });
    diffIds.push(t?.wrongDiffId ? digestOf(encoder.encode("something else")) : digestOf(tar));
  }
  const config = encoder.encode(JSON.stringify({
    created: options.created ?? "2024-05-06T07:08:09Z",
    architecture: options.architecture ?? (Deno.build.arch === "aarch64" ? "arm64" : "amd64"),
    os: "linux",
    config: { Env: ["PATH=/usr/bin:/bin"], Labels: { "org.opencontainers.image.version": "1.2.3" } },
    rootfs: { type: "layers", diff_ids: diffIds },
    history: [{ created_by: "crafted by a test" }],
  }));
  const configDigest = await write(config);
  const manifest = encoder.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length },
    layers: descriptors,
  }));
  const digest = await write(manifest);
  const annotations: Record<string, string> = { "org.opencontainers.image.ref.name": options.tag ?? "latest" };
  if (options.name) annotations["io.containerd.image.name"] = options.name;
  await Deno.writeTextFile(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  await Deno.writeTextFile(
    join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest,
        size: manifest.length,
        annotations,
      }],
    }),
  );
  return { digest, layers: descriptors, config: configDigest };
}
