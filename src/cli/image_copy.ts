/**
 * `apt-ostree image copy SOURCE DESTINATION`: any image location to any
 * other, as `skopeo copy` does, over {@linkcode copyImage}. `image push`
 * and `compose build-image --push` run the same copy.
 *
 * @module
 */

import type { Command } from "commander";
import { UsageError } from "../errors.ts";
import type { CopyResult } from "../image/copy.ts";
import type { OpenSinkOptions } from "../image/open.ts";
import { ociPlatform } from "../oci/platform.ts";
import type { RegistryOptions } from "../registry/client.ts";
import { type ImageLocation, parseImageLocation } from "../reference/transport.ts";
import type { CommandContext, GlobalOptions } from "./context.ts";
import { createReporter, formatBytes, type Reporter } from "./progress.ts";
import { addRegistryOptions, addRetryOptions, registryOptionsFrom, uploadOptionsFrom } from "./registry_options.ts";
import { withInterruptSignal } from "./signals.ts";
import { addSignOptions, precheckSigning, signatureLines, signOptionsFrom, signWritten } from "./sign_options.ts";

/** What a copy needs besides its two ends. */
export interface RunCopyOptions {
  /** How to reach a source registry. */
  source?: RegistryOptions;
  /** How to open the destination (registry options, tag, force). */
  sink?: OpenSinkOptions;
  /** Every platform of an index. */
  all?: boolean;
  /** The platform to copy from an index (any common architecture name). */
  arch?: string;
  /** Carry the image's referrers (SBOMs, signatures) along (default true). */
  referrers?: boolean;
  /** The verb for progress and summary lines. */
  verb?: "Copying" | "Pushing";
}

/**
 * Human lines for a copy result.
 *
 * @example
 * ```ts
 * import { copySummary } from "./image_copy.ts";
 * // copySummary(result) → ["Copied … to …", "  digest: …", …]
 * ```
 */
export function copySummary(result: CopyResult, verb = "Copied"): string[] {
  const { blobs, bytes } = result;
  const registry = result.destination.startsWith("docker://");
  return [
    `${verb} ${result.source} to ${result.destination}`,
    `  digest:  ${result.digest}`,
    `  blobs:   ${blobs.uploaded} ${registry ? "uploaded" : "written"} (${formatBytes(bytes.uploaded)}), ${
      registry ? `${blobs.mounted} mounted from other repositories, ` : ""
    }${blobs.skipped} already there (${formatBytes(bytes.skipped)})`,
    ...(result.referrers ? [`  attached: ${result.referrers} referrer(s) carried along (SBOMs, signatures)`] : []),
    `  time:    ${(result.elapsedMs / 1000).toFixed(1)} s`,
  ];
}

/**
 * Runs a copy with a status line and Ctrl-C handling.
 *
 * @example
 * ```ts
 * import { runCopy } from "./image_copy.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * await runCopy("oci:web.oci:1", parseImageLocation("docker://localhost:5000/web:1"), {
 *   sink: { tlsVerify: false },
 * }, {});
 * ```
 */
export async function runCopy(
  source: string | ImageLocation,
  destination: ImageLocation,
  options: RunCopyOptions,
  globals: GlobalOptions,
  reporter: Reporter = createReporter(globals, { words: { blobs: options.verb ?? "Copying" } }),
): Promise<CopyResult> {
  const [{ copyImage }, { openImageSink, openImageSource }] = await Promise.all([
    import("../image/copy.ts"),
    import("../image/open.ts"),
  ]);
  try {
    return await withInterruptSignal(async (signal) => {
      const from = await openImageSource(
        typeof source === "string" ? parseImageLocation(source) : source,
        options.source ?? {},
      );
      try {
        const sink = await openImageSink(destination, { ...options.sink, signal });
        try {
          return await copyImage(from, sink, {
            all: options.all,
            platform: options.arch !== undefined ? ociPlatform(options.arch) : undefined,
            referrers: options.referrers !== false,
            signal,
            onProgress: reporter.onProgress,
          });
        } finally {
          sink.close();
        }
      } finally {
        from.close();
      }
    });
  } finally {
    reporter.done();
  }
}

/**
 * Adds `copy` to the `image` command.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { registerImageCopy } from "./image_copy.ts";
 * import { createContext } from "./context.ts";
 * registerImageCopy(new Command("image"), createContext);
 * ```
 */
export function registerImageCopy(image: Command, contextFor: (globals: GlobalOptions) => CommandContext): void {
  const copy = image
    .command("copy")
    .description("Copy an image between layouts, archives and registries, as skopeo copy does")
    .argument("<source>", "oci:PATH[:TAG], oci-archive:PATH[:TAG], docker-archive:PATH or docker://…")
    .argument("<destination>", "oci:PATH[:TAG], oci-archive:PATH[:TAG], docker-archive:PATH[:NAME:TAG] or docker://…")
    .option("--all", "copy every platform of an index (default: only the host's, or --arch's)")
    .option("--arch <arch>", "the platform to copy from an index (default: the host's)")
    .option("--force", "replace a file, an empty directory or a broken layout at a local destination")
    .option("--no-referrers", "leave out what is attached to the image (OCI referrers: SBOMs, signatures)");
  addRegistryOptions(copy, "dest-", "the destination registry");
  addRegistryOptions(copy, "src-", "the source registry");
  addRetryOptions(copy)
    .option("--chunk-size <size>", "upload blobs larger than this in chunks of this size (default 16MiB; 0: never)");
  addSignOptions(copy)
    .addHelpText(
      "after",
      `
Manifests are copied byte for byte, so the image keeps its digest, except where the destination format
cannot hold it as it is: a docker-archive holds one image (no index), and a classic docker-archive
(manifest.json only) has no manifest to keep (one is made). Blobs the destination has are skipped;
a registry mounts blobs from another repository of the same registry; manifests are written by digest
and the tag last, so a copy that fails leaves no tag pointing at missing blobs.

What is attached to the image (OCI referrers: an SBOM, signatures) comes along, as oras cp -r and
regctl --referrers copy it (skopeo copies none): through the registry's referrers API, else the
sha256-<hex> fallback tag, appended to; in layouts as index.json entries. --no-referrers leaves them.
Archives hold no referrers.

Examples:
  apt-ostree image copy oci:./web.oci:1.0 docker://registry.example.com/team/web:1.0
  apt-ostree image copy docker://localhost:5000/web:1 oci-archive:web.tar --src-tls-verify=false
  apt-ostree image copy --all docker://registry.example.com/base:12 oci:./base.oci:12
  apt-ostree image copy oci:./web.oci:1 docker://registry.example.com/web:1 --sign-by FINGERPRINT`,
    )
    .action(async (source: string, destination: string, opts: Record<string, unknown>, command: Command) => {
      const globals = command.optsWithGlobals() as GlobalOptions;
      const ctx = contextFor(globals);
      const dest = parseImageLocation(destination);
      const sourceLocation = parseImageLocation(source);
      if (opts.all && opts.arch !== undefined) {
        throw new UsageError("--all copies every platform; --arch picks one", { solution: "Give one of them" });
      }
      const sinkOptions: OpenSinkOptions = { ...uploadOptionsFrom(opts, globals, "dest"), force: opts.force === true };
      const sourceOptions = { ...registryOptionsFrom(opts, globals, "src"), retry: sinkOptions.retry };
      const sign = signOptionsFrom(opts);
      await precheckSigning(dest, sign);
      const copied = await runCopy(sourceLocation, dest, {
        source: sourceOptions,
        sink: sinkOptions,
        all: opts.all === true,
        arch: opts.arch as string | undefined,
        referrers: opts.referrers !== false,
      }, globals);
      const identity = dest.transport === "docker-archive" ? dest.ref?.fullName : undefined;
      const signatures = await signWritten(dest, copied.digest, sign, sinkOptions, identity);
      const result = signatures.length > 0 ? { ...copied, signatures } : copied;
      ctx.result(result, () => [...copySummary(copied), ...signatureLines(signatures)]);
    });
}
