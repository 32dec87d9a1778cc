/**
 * `apt-ostree image inspect IMAGE`: manifest, config and layers of an
 * image in any transport (`--json` for all of it, `--raw` for the manifest
 * bytes, `--config` for the config).
 *
 * @module
 */

import type { Command } from "commander";
import type { ImageSource } from "../oci/image.ts";
import { hostArch, ociPlatform } from "../oci/platform.ts";
import { addPlatformOption, requestedArch } from "./platform_options.ts";
import type { Descriptor, ImageConfig, ImageManifest, Platform } from "../oci/types.ts";
import type { RegistryOptions } from "../registry/client.ts";
import { parseImageLocation } from "../reference/transport.ts";
import type { CommandContext, GlobalOptions } from "./context.ts";
import { formatBytes } from "./progress.ts";
import { addRegistryOptions, addRetryOptions, registryOptionsFrom } from "./registry_options.ts";
import { withInterruptSignal } from "./signals.ts";

/** What `image inspect` shows. */
export interface InspectResult {
  /** The image name with its transport. */
  name: string;
  /** Digest of the manifest the name points at (an index's digest for a multi-platform image). */
  digest: string;
  /** Its media type. */
  mediaType: string;
  /** The index, for a multi-platform image. */
  index?: { digest: string; manifests: { digest: string; mediaType: string; platform?: Platform }[] };
  /** Digest of the platform's manifest. */
  manifestDigest: string;
  /** The manifest. */
  manifest: ImageManifest;
  /** The config. */
  config: ImageConfig;
  /** Platform. */
  platform: Platform;
  /** Creation time. */
  created?: string;
  /** Layers with their diff ids. */
  layers: (Descriptor & { diffId?: string })[];
  /** Bytes of all layers (compressed). */
  size: number;
}

/**
 * Reads everything `inspect` shows from a source.
 *
 * @example
 * ```ts
 * import { inspectImage } from "./image_inspect.ts";
 * import { openImageSource } from "../image/open.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * const source = await openImageSource(parseImageLocation("oci:out.oci:latest"));
 * const info = await inspectImage(source, "x86_64");
 * ```
 */
export async function inspectImage(
  source: ImageSource,
  arch: string | Platform,
  signal?: AbortSignal,
): Promise<InspectResult> {
  const [{ parseImageConfig, parseManifest }, { resolveImage }] = await Promise.all([
    import("../oci/manifest.ts"),
    import("../oci/image.ts"),
  ]);
  const root = await source.root(signal);
  const top = parseManifest(root, source.description);
  const index: InspectResult["index"] = top.kind === "index"
    ? {
      digest: root.digest,
      manifests: top.index.manifests.map((m) => ({
        digest: m.digest,
        mediaType: m.mediaType,
        ...(m.platform ? { platform: m.platform } : {}),
      })),
    }
    : undefined;
  const { raw, manifest } = await resolveImage(
    source,
    typeof arch === "string" ? ociPlatform(arch) : arch,
    signal,
    root,
  );
  const config = parseImageConfig(await source.blobBytes(manifest.config, signal), source.description);
  const diffIds = config.rootfs.diff_ids;
  return {
    name: source.description,
    digest: root.digest,
    mediaType: root.mediaType,
    ...(index ? { index } : {}),
    manifestDigest: raw.digest,
    manifest,
    config,
    platform: {
      architecture: config.architecture,
      os: config.os,
      ...(config.variant ? { variant: config.variant } : {}),
    },
    ...(config.created ? { created: config.created } : {}),
    layers: manifest.layers.map((l, i) => ({ ...l, ...(diffIds[i] ? { diffId: diffIds[i] } : {}) })),
    size: manifest.layers.reduce((n, l) => n + l.size, 0),
  };
}

function humanLines(info: InspectResult): string[] {
  const p = info.platform;
  const lines = [
    `Name:       ${info.name}`,
    `Digest:     ${info.digest}`,
    `MediaType:  ${info.mediaType}`,
  ];
  if (info.index) {
    lines.push(
      `Platforms:  ${
        info.index.manifests.map((m) =>
          m.platform
            ? `${m.platform.os}/${m.platform.architecture}${m.platform.variant ? `/${m.platform.variant}` : ""}`
            : "?"
        ).join(", ")
      }`,
    );
    lines.push(`Manifest:   ${info.manifestDigest} (for ${p.os}/${p.architecture})`);
  }
  lines.push(`Platform:   ${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`);
  if (info.created) lines.push(`Created:    ${info.created}`);
  const c = info.config.config;
  if (c?.Entrypoint) lines.push(`Entrypoint: ${JSON.stringify(c.Entrypoint)}`);
  if (c?.Cmd) lines.push(`Cmd:        ${JSON.stringify(c.Cmd)}`);
  for (const [k, v] of Object.entries(c?.Labels ?? {})) lines.push(`Label:      ${k}=${v}`);
  lines.push(`Layers:     ${info.layers.length} (${formatBytes(info.size)})`);
  for (const layer of info.layers) lines.push(`  ${layer.digest}  ${formatBytes(layer.size)}  ${layer.mediaType}`);
  return lines;
}

/**
 * Adds `inspect` to the `image` command.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { registerImageInspect } from "./image_inspect.ts";
 * import { createContext } from "./context.ts";
 * registerImageInspect(new Command("image"), createContext);
 * ```
 */
export function registerImageInspect(image: Command, contextFor: (globals: GlobalOptions) => CommandContext): void {
  const inspect = image
    .command("inspect")
    .description("Show an image's manifest, config and layers")
    .argument("<image>", "oci:PATH[:TAG], oci-archive:PATH[:TAG], docker-archive:PATH or docker://HOST/NAME[:TAG]")
    .option("--raw", "print the manifest (or index) exactly as stored")
    .option("--config", "print the image config")
    .option("--arch <arch>", "platform to show from a multi-platform image (default: the host's)");
  addPlatformOption(inspect);
  addRegistryOptions(inspect);
  addRetryOptions(inspect).addHelpText(
    "after",
    `
Examples:
  apt-ostree image inspect oci:./web.oci:1.0
  apt-ostree image inspect docker://localhost:5000/web:1 --tls-verify=false --json
  apt-ostree image inspect docker-archive:web.tar --config
  apt-ostree image inspect oci:./app.oci:1 --platform linux/arm64`,
  )
    .action(async (imageName: string, opts: Record<string, unknown>, command: Command) => {
      const globals = command.optsWithGlobals() as GlobalOptions;
      const ctx = contextFor(globals);
      const options: RegistryOptions = registryOptionsFrom(opts, globals);
      const { openImageSource } = await import("../image/open.ts");
      await withInterruptSignal(async (signal) => {
        const source = await openImageSource(parseImageLocation(imageName), options);
        try {
          if (opts.raw) {
            const root = await source.root(signal);
            await Deno.stdout.write(root.bytes);
            return;
          }
          const info = await inspectImage(source, requestedArch(opts) ?? hostArch(), signal);
          if (opts.config) {
            console.log(JSON.stringify(info.config, null, 2));
            return;
          }
          ctx.result(info, () => humanLines(info));
        } finally {
          source.close();
        }
      });
    });
}
