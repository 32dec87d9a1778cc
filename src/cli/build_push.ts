/**
 * `compose build-image … --push [--no-local]`: build the image locally
 * (into the output, or a temp output that is removed with `--no-local`),
 * then push it to the registry IMAGE names. Building first means the push
 * can skip every blob the registry already has: pushing an unchanged image
 * again sends no layer.
 *
 * @module
 */

import type { Command } from "commander";
import { resolve } from "node:path";
import type { ImageFormat } from "../build/build_image.ts";
import { UsageError } from "../errors.ts";
import type { PushResult } from "../registry/push.ts";
import { parseImageReference } from "../reference/image_ref.ts";
import { type DockerLocation, type ImageLocation, parseImageLocation } from "../reference/transport.ts";
import { removeQuietly, siblingTempPath } from "../util/fs.ts";
import type { GlobalOptions } from "./context.ts";
import { pushSummary, runPush } from "./image_push.ts";
import { addRegistryOptions, addRetryOptions, parseSize, registryOptionsFrom } from "./registry_options.ts";

/**
 * Adds `--push`, `--no-local` and the registry options to `build-image`.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addPushOptions } from "./build_push.ts";
 * addPushOptions(new Command("build-image"));
 * ```
 */
export function addPushOptions(command: Command): Command {
  command
    .optionsGroup("Push (with --push):")
    .option("--push", "push the image to the registry IMAGE names once built")
    .option("--no-local", "with --push: do not keep the local output (it is built in a temp path and removed)")
    .option("--chunk-size <size>", "with --push: upload blobs larger than this in chunks (default 16MiB; 0: never)");
  addRegistryOptions(command, "", "the registry (with --push)");
  return addRetryOptions(command);
}

/** A push planned after a build. */
export interface PlannedPush {
  /** The output path to build into (a temp path with `--no-local`). */
  output: string | undefined;
  /** Whether the local output is kept. */
  local: boolean;
  /** The destination. */
  destination: DockerLocation;
  /** Pushes the built output; removes it afterwards with `--no-local`. */
  push(result: { format: ImageFormat; output: string; image: string }): Promise<PushResult>;
  /** Removes a temp output after a failed build. */
  cleanup(): Promise<void>;
}

/**
 * Plans the push of `build-image` (undefined without `--push`).
 *
 * @example
 * ```ts
 * import { planPush } from "./build_push.ts";
 * const plan = await planPush("localhost:5000/app:1", { push: true, local: true, tlsVerify: "false" }, {});
 * ```
 */
export async function planPush(
  image: string,
  opts: Record<string, unknown>,
  globals: GlobalOptions,
): Promise<PlannedPush | undefined> {
  const local = opts.local !== false;
  if (!opts.push) {
    if (!local) throw new UsageError("--no-local needs --push", { solution: "Add --push, or drop --no-local" });
    return undefined;
  }
  const ref = parseImageReference(image);
  const destination = parseImageLocation(`docker://${ref.name}:${ref.tag ?? "latest"}`) as DockerLocation;
  const format = ((opts.format as string | undefined) ?? "oci") as ImageFormat;
  const { defaultOutputPath } = await import("../build/build_image.ts");
  const output = local
    ? (opts.output as string | undefined)
    : siblingTempPath(resolve((opts.output as string | undefined) ?? defaultOutputPath(ref, format)));
  const options = {
    ...registryOptionsFrom(opts, globals),
    chunkSize: opts.chunkSize !== undefined ? parseSize(opts.chunkSize as string, "--chunk-size") : undefined,
  };
  const cleanup = async () => {
    if (!local && output !== undefined) await removeQuietly(output);
  };
  return {
    output,
    local,
    destination,
    cleanup,
    async push(result) {
      // A location, not a string to parse again: the output path may hold ':'.
      const tag = result.image.replace(/^.*:/, "");
      const source: ImageLocation = result.format === "oci"
        ? { transport: "oci", path: result.output, tag }
        : result.format === "docker"
        ? { transport: "docker-archive", path: result.output, ref: undefined }
        : { transport: "oci-archive", path: result.output, tag: undefined };
      try {
        return await runPush(source, destination, options, globals);
      } finally {
        await cleanup();
      }
    },
  };
}

/**
 * Human lines for the push part of a build.
 *
 * @example
 * ```ts
 * import { pushLines } from "./build_push.ts";
 * // pushLines(pushResult, false) → ["Pushed … to …", …, "The local output was removed (--no-local)"]
 * ```
 */
export function pushLines(result: PushResult, local: boolean): string[] {
  return [...pushSummary(result), ...(local ? [] : ["The local output was not kept (--no-local)."])];
}
