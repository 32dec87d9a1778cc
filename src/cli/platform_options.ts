/**
 * `--platform` beside `--arch` on the verbs that pick one image of a
 * multi-platform index (`image pull`, `image inspect`, `image copy`): the
 * podman/buildah spelling (`linux/arm64`, `linux/arm/v7`) of the same
 * choice.
 *
 * @module
 */

import type { Command } from "commander";
import { UsageError } from "../errors.ts";
import { architecture, parsePlatform, platformArchitecture } from "../oci/platform.ts";

/**
 * Adds `--platform` to a command that has `--arch`.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addPlatformOption } from "./platform_options.ts";
 * addPlatformOption(new Command("pull").option("--arch <arch>", "architecture"));
 * ```
 */
export function addPlatformOption(command: Command): Command {
  return command.option(
    "--platform <platform>",
    "platform to pick from a multi-platform image, as podman writes it: linux/arm64, linux/arm/v7 (same as --arch)",
  );
}

/**
 * The architecture `--arch` or `--platform` asks for (as a name
 * {@linkcode architecture} knows), or undefined for the host's.
 *
 * @example
 * ```ts
 * import { requestedArch } from "./platform_options.ts";
 * requestedArch({ platform: "linux/arm64" }); // "arm64"
 * requestedArch({}); // undefined
 * ```
 */
export function requestedArch(opts: { arch?: unknown; platform?: unknown }): string | undefined {
  const arch = opts.arch as string | undefined;
  const platform = opts.platform as string | undefined;
  if (arch !== undefined && platform !== undefined) {
    throw new UsageError("--arch and --platform both choose the platform", { solution: "Give one of them" });
  }
  if (platform !== undefined) {
    const p = parsePlatform(platform, "platform");
    return platformArchitecture(p).debian;
  }
  if (arch !== undefined) architecture(arch); // an unknown name is a usage error before any work
  return arch;
}
