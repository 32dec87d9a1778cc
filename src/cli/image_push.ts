/**
 * `apt-ostree image push SOURCE docker://HOST/NAME[:TAG]`: the familiar
 * spelling of `image copy` to a registry (every platform of an index).
 *
 * @module
 */

import type { Command } from "commander";
import { UsageError } from "../errors.ts";
import type { RegistryOptions } from "../registry/client.ts";
import type { CopyResult } from "../image/copy.ts";
import type { OpenSinkOptions } from "../image/open.ts";
import { type DockerLocation, type ImageLocation, parseImageLocation } from "../reference/transport.ts";
import { copySummary, runCopy } from "./image_copy.ts";
import type { CommandContext, GlobalOptions } from "./context.ts";
import type { Reporter } from "./progress.ts";
import { addRegistryOptions, addRetryOptions, registryOptionsFrom, uploadOptionsFrom } from "./registry_options.ts";
import { addSignOptions, precheckSigning, signatureLines, signOptionsFrom, signWritten } from "./sign_options.ts";

/**
 * Parses a push destination: it must be `docker://…`.
 *
 * @example
 * ```ts
 * import { parseDestination } from "./image_push.ts";
 * parseDestination("docker://localhost:5000/app:1").repository; // "app"
 * ```
 */
export function parseDestination(text: string): DockerLocation {
  const location = text.startsWith("docker://") ? parseImageLocation(text) : undefined;
  if (location?.transport !== "docker") {
    throw new UsageError(`The destination must be a registry: ${text}`, {
      solution: `Name it docker://HOST[:PORT]/NAME[:TAG], e.g. docker://registry.example.com/team/app:1.0`,
    });
  }
  return location;
}

/**
 * Human lines for a push result.
 *
 * @example
 * ```ts
 * import { pushSummary } from "./image_push.ts";
 * // pushSummary(result) → ["Pushed … to …", "  digest: …", …]
 * ```
 */
export function pushSummary(result: CopyResult): string[] {
  return copySummary(result, "Pushed");
}

/**
 * Runs a push (a copy to a registry) with a status line and Ctrl-C
 * handling (shared with `compose build-image --push`).
 *
 * @example
 * ```ts
 * import { parseDestination, runPush } from "./image_push.ts";
 * await runPush("oci:web.oci:1", parseDestination("docker://localhost:5000/web:1"), { tlsVerify: false }, {});
 * ```
 */
export function runPush(
  source: string | ImageLocation,
  destination: DockerLocation,
  options: OpenSinkOptions,
  globals: GlobalOptions,
  sourceOptions: RegistryOptions = options,
  reporter?: Reporter,
  referrers = true,
): Promise<CopyResult> {
  return runCopy(
    source,
    destination,
    { source: sourceOptions, sink: options, all: true, referrers, verb: "Pushing" },
    globals,
    reporter,
  );
}

/**
 * Adds `push` to the `image` command.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { registerImagePush } from "./image_push.ts";
 * import { createContext } from "./context.ts";
 * registerImagePush(new Command("image"), createContext);
 * ```
 */
export function registerImagePush(image: Command, contextFor: (globals: GlobalOptions) => CommandContext): void {
  const push = image
    .command("push")
    .description("Push an image from a layout, an archive or a registry to a registry")
    .argument("<source>", "oci:PATH[:TAG], oci-archive:PATH[:TAG], docker-archive:PATH or docker://…")
    .argument("<destination>", "docker://HOST[:PORT]/NAME[:TAG]")
    .option("--no-referrers", "leave out what is attached to the image (OCI referrers: SBOMs, signatures)");
  addRegistryOptions(push, "", "the destination");
  addRegistryOptions(push, "src-", "a source registry");
  addRetryOptions(push)
    .option("--chunk-size <size>", "upload blobs larger than this in chunks of this size (default 16MiB; 0: never)");
  addSignOptions(push)
    .addHelpText(
      "after",
      `
Blobs the registry already has are skipped (HEAD first); a blob another repository of the same registry
has is mounted; the others are uploaded, three at a time. Manifests are written by digest, the tag last:
a push that fails leaves no tag pointing at missing blobs, and running it again sends only what is missing.

Examples:
  apt-ostree image push oci:./web.oci:1.0 docker://registry.example.com/team/web:1.0
  apt-ostree image push docker-archive:web.tar docker://localhost:5000/web:1 --tls-verify=false
  apt-ostree image push oci:web.oci docker://registry.example.com/web:1 --authfile auth.json --json
  apt-ostree image push oci:web.oci:1 docker://registry.example.com/web:1 --sign-by-sigstore-private-key cosign.key`,
    )
    .action(async (source: string, destination: string, opts: Record<string, unknown>, command: Command) => {
      const globals = command.optsWithGlobals() as GlobalOptions;
      const ctx = contextFor(globals);
      const dest = parseDestination(destination);
      const options: OpenSinkOptions = uploadOptionsFrom(opts, globals);
      const sourceOptions = { ...registryOptionsFrom(opts, globals, "src"), retry: options.retry };
      const sign = signOptionsFrom(opts);
      await precheckSigning(dest, sign);
      const pushed = await runPush(source, dest, options, globals, sourceOptions, undefined, opts.referrers !== false);
      const signatures = await signWritten(dest, pushed.digest, sign, options);
      const result = signatures.length > 0 ? { ...pushed, signatures } : pushed;
      ctx.result(result, () => [...pushSummary(pushed), ...signatureLines(signatures)]);
    });
}
