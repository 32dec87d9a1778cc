/**
 * CPU architecture names: ostree/kernel names (x86_64, aarch64), Debian's
 * (amd64, arm64, armhf, …) and OCI's (Go's: amd64, arm64, arm + variant).
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import type { Platform } from "./types.ts";

const TO_OCI: Record<string, { architecture: string; variant?: string }> = {
  x86_64: { architecture: "amd64" },
  amd64: { architecture: "amd64" },
  aarch64: { architecture: "arm64" },
  arm64: { architecture: "arm64" },
  armhf: { architecture: "arm", variant: "v7" },
  armv7l: { architecture: "arm", variant: "v7" },
  armel: { architecture: "arm", variant: "v5" },
  arm: { architecture: "arm" },
  i386: { architecture: "386" },
  i686: { architecture: "386" },
  "386": { architecture: "386" },
  ppc64el: { architecture: "ppc64le" },
  ppc64le: { architecture: "ppc64le" },
  s390x: { architecture: "s390x" },
  riscv64: { architecture: "riscv64" },
  loong64: { architecture: "loong64" },
  mips64el: { architecture: "mips64le" },
};

/**
 * Converts any known architecture name to the OCI platform fields.
 *
 * @example
 * ```ts
 * import { ociPlatform } from "./platform.ts";
 * ociPlatform("x86_64"); // { architecture: "amd64", os: "linux" }
 * ociPlatform("armhf"); // { architecture: "arm", os: "linux", variant: "v7" }
 * ```
 */
export function ociPlatform(arch: string): Platform {
  const known = TO_OCI[arch.toLowerCase()];
  if (!known) {
    throw new UsageError(`Unknown architecture: ${arch}`, {
      solution: `Use one of: ${Object.keys(TO_OCI).join(", ")}`,
    });
  }
  return known.variant
    ? { architecture: known.architecture, os: "linux", variant: known.variant }
    : { architecture: known.architecture, os: "linux" };
}

/**
 * The kernel-style name of the host's architecture (`x86_64`, `aarch64`),
 * as used in OSTree branch names.
 *
 * @example
 * ```ts
 * import { hostArch } from "./platform.ts";
 * hostArch(); // "x86_64" on a PC
 * ```
 */
export function hostArch(): string {
  return Deno.build.arch;
}
