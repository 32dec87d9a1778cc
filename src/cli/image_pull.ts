/**
 * `apt-ostree image pull IMAGE [--branch BRANCH]`: the CLI shell over
 * {@linkcode pullImageToBranch}.
 *
 * @module
 */

import type { Command } from "commander";
import type { PullResult } from "../import/pull.ts";
import { parseImageLocation } from "../reference/transport.ts";
import type { CommandContext, GlobalOptions } from "./context.ts";
import { formatBytes } from "./progress.ts";
import { addRegistryOptions, addRetryOptions, parseSize, registryOptionsFrom } from "./registry_options.ts";
import { withInterruptSignal } from "./signals.ts";
import { addPlatformOption, requestedArch } from "./platform_options.ts";
import { formatPlatform } from "../oci/platform.ts";

/** Which platform was imported, and from which index. */
function platformLine(result: PullResult): string {
  return `  platform: ${formatPlatform(result.platform)}${
    result.indexDigest ? ` (chosen from the index ${result.indexDigest})` : ""
  }`;
}

/**
 * Human lines for a pull result.
 *
 * @example
 * ```ts
 * import { pullSummary } from "./image_pull.ts";
 * // pullSummary(result) → ["Imported docker://… into branch …", …]
 * ```
 */
export function pullSummary(result: PullResult): string[] {
  if (result.upToDate) {
    return [
      `Branch ${result.branch} already holds ${result.source} (${result.digest}); nothing to do`,
      `  commit:  ${result.commit}`,
      platformLine(result),
    ];
  }
  const lines = [
    `Imported ${result.source} into branch ${result.branch}`,
    `  commit:  ${result.commit}`,
    `  digest:  ${result.digest}`,
    platformLine(result),
    `  layers:  ${result.layers.length} (${formatBytes(result.bytesDownloaded)} downloaded); ${
      result.entries.toLocaleString("en-US")
    } entries, ${formatBytes(result.contentBytes)} of content`,
  ];
  if (result.skipped.length > 0) {
    const shown = result.skipped.slice(0, 5).map((s) => `${s.path} (${s.type})`).join(", ");
    lines.push(
      `  skipped: ${result.skipped.length} device nodes or FIFOs, which OSTree cannot store: ${shown}${
        result.skipped.length > 5 ? ", …" : ""
      }`,
    );
  }
  lines.push(`Build an image from it with: apt-ostree compose build-image ${result.branch} NAME:TAG`);
  return lines;
}

/**
 * Adds `pull` to the `image` command.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { registerImagePull } from "./image_pull.ts";
 * import { createContext } from "./context.ts";
 * registerImagePull(new Command("image"), createContext);
 * ```
 */
export function registerImagePull(image: Command, contextFor: (globals: GlobalOptions) => CommandContext): void {
  const pull = image
    .command("pull")
    .description("Import an image into the OSTree repository as a commit")
    .argument(
      "<image>",
      "docker://HOST[:PORT]/NAME[:TAG|@DIGEST], oci:PATH[:TAG], oci-archive:PATH, docker-archive:PATH",
    )
    .option("--branch <branch>", "branch to commit to (default: NAME/TAG/ARCH, e.g. debian/12/x86_64)")
    .option("--arch <arch>", "architecture to pick from a multi-platform image (default: the host's)")
    .option("--force", "import again even when the branch already holds this image")
    .option("--max-layer-size <size>", "most bytes one layer may unpack to, e.g. 4GiB (default 16GiB)")
    .option("--max-image-size <size>", "most bytes all layers together may unpack to (default 64GiB)");
  addPlatformOption(pull);
  addRegistryOptions(pull);
  addRetryOptions(pull).addHelpText(
    "after",
    `
Layers are applied in order with whiteouts honoured; ownership, modes and xattrs are kept; /etc is stored
as /usr/etc; the commit's metadata records the image name and manifest digest (apt-ostree.image.*).
Every blob is checked against its digest and size; nothing half-imported is ever committed.
Keeping file ownership and security xattrs needs root.

Examples:
  apt-ostree image pull docker://registry.example.com/debian:12
  apt-ostree --repo ./repo image pull docker://localhost:5000/base:1 --branch base/1/x86_64 --tls-verify=false
  apt-ostree image pull oci:./web.oci:1.0 --branch web/1.0/x86_64`,
  )
    .action(async (imageName: string, opts: Record<string, unknown>, command: Command) => {
      const [{ pullImageToBranch }, { defaultRepoPath }] = await Promise.all([
        import("../import/pull.ts"),
        import("../ostree/repo.ts"),
      ]);
      const globals = command.optsWithGlobals() as GlobalOptions;
      const ctx = contextFor(globals);
      const location = parseImageLocation(imageName);
      const reporter = ctx.reporter({ words: { layers: "Pulling layers" } });
      try {
        const result = await withInterruptSignal((signal) =>
          pullImageToBranch(defaultRepoPath(globals.repo), location, {
            ...registryOptionsFrom(opts, globals),
            branch: opts.branch as string | undefined,
            arch: requestedArch(opts),
            force: opts.force === true,
            maxLayerSize: opts.maxLayerSize !== undefined
              ? parseSize(opts.maxLayerSize as string, "--max-layer-size")
              : undefined,
            maxImageSize: opts.maxImageSize !== undefined
              ? parseSize(opts.maxImageSize as string, "--max-image-size")
              : undefined,
            signal,
            onProgress: reporter.onProgress,
          })
        );
        reporter.done();
        ctx.result(result, () => pullSummary(result));
      } finally {
        reporter.done();
      }
    });
}
