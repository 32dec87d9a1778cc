/**
 * CPU architecture names, in one table: Debian's (amd64, arm64, armhf, …),
 * the kernel's (`uname -m`: x86_64, aarch64, …, also OSTree branch names),
 * OCI's (Go's: amd64, arm64, arm + variant) and qemu-user's (the binfmt
 * handler `qemu-<name>` that runs the architecture's programs on another
 * host). Every conversion between them goes through here.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import type { Platform } from "./types.ts";

/** One architecture under all its names. */
export interface Architecture {
  /** Debian's name (`dpkg --print-architecture`): `arm64`. */
  debian: string;
  /** The kernel's name (`uname -m`): `aarch64`. */
  kernel: string;
  /** The name in OSTree branch names (`debian/12/aarch64`): the kernel's, but Debian's for the 32-bit ARMs and others. */
  branch: string;
  /** OCI (Go) architecture: `arm64`. */
  oci: string;
  /** OCI variant, when the architecture has one: `v7` for armhf. */
  variant?: string;
  /** qemu-user's name: the binfmt handler is `qemu-<qemu>`. */
  qemu: string;
}

/**
 * Every Debian architecture that qemu-user can run, with its names. armel
 * is ARMv5TE (Debian's baseline), so OCI `arm/v5`; armhf is ARMv7 with VFP
 * (`arm/v7`).
 *
 * @example
 * ```ts
 * import { ARCHITECTURES } from "./platform.ts";
 * ARCHITECTURES.map((a) => a.debian); // ["amd64", "arm64", "armhf", …]
 * ```
 */
export const ARCHITECTURES: readonly Architecture[] = [
  { debian: "amd64", kernel: "x86_64", branch: "x86_64", oci: "amd64", qemu: "x86_64" },
  { debian: "arm64", kernel: "aarch64", branch: "aarch64", oci: "arm64", qemu: "aarch64" },
  { debian: "armhf", kernel: "armv7l", branch: "armhf", oci: "arm", variant: "v7", qemu: "arm" },
  { debian: "armel", kernel: "armv5tel", branch: "armel", oci: "arm", variant: "v5", qemu: "arm" },
  { debian: "i386", kernel: "i686", branch: "i386", oci: "386", qemu: "i386" },
  { debian: "ppc64el", kernel: "ppc64le", branch: "ppc64le", oci: "ppc64le", qemu: "ppc64le" },
  { debian: "s390x", kernel: "s390x", branch: "s390x", oci: "s390x", qemu: "s390x" },
  { debian: "riscv64", kernel: "riscv64", branch: "riscv64", oci: "riscv64", qemu: "riscv64" },
  { debian: "mips64el", kernel: "mips64", branch: "mips64el", oci: "mips64le", qemu: "mips64el" },
  { debian: "loong64", kernel: "loongarch64", branch: "loong64", oci: "loong64", qemu: "loongarch64" },
];

/** Other names people write: kernel variants, branch forms, OCI `arch/variant` pairs. */
const ALIASES: Record<string, string> = {
  "arm64/v8": "arm64",
  "arm/v7": "armhf",
  "arm/v5": "armel",
  armv7: "armhf",
  arm: "armhf",
  i686: "i386",
  "386": "i386",
  x86: "i386",
  mips64le: "mips64el",
  loongarch64: "loong64",
};

const BY_NAME = new Map<string, Architecture>();
for (const arch of [...ARCHITECTURES].reverse()) {
  for (
    const name of [
      arch.kernel,
      arch.oci,
      arch.variant ? `${arch.oci}/${arch.variant}` : arch.oci,
      arch.branch,
      arch.debian,
    ]
  ) {
    BY_NAME.set(name, arch);
  }
}
for (const [alias, debian] of Object.entries(ALIASES)) BY_NAME.set(alias, BY_NAME.get(debian)!);

/**
 * The architecture of any known name (Debian, kernel, OCI, `arm/v7`), or
 * undefined for an unknown one.
 *
 * @example
 * ```ts
 * import { findArchitecture } from "./platform.ts";
 * findArchitecture("aarch64")?.debian; // "arm64"
 * findArchitecture("arm/v7")?.debian; // "armhf"
 * findArchitecture("sparc"); // undefined
 * ```
 */
export function findArchitecture(name: string): Architecture | undefined {
  const lower = name.toLowerCase().replace(/^linux\//, "");
  return BY_NAME.get(lower);
}

function unknownArch(name: string, option = "arch"): UsageError {
  return new UsageError(`Unknown architecture: ${name}`, {
    solution: `Use {${option}} with one of: ${ARCHITECTURES.map((a) => a.debian).join(", ")} ` +
      "(Debian names; kernel and OCI names such as x86_64, aarch64 or arm/v7 work too)",
  });
}

/**
 * The architecture of any known name; a usage error naming `{option}` for
 * an unknown one.
 *
 * @example
 * ```ts
 * import { architecture } from "./platform.ts";
 * architecture("ppc64le").debian; // "ppc64el"
 * ```
 */
export function architecture(name: string, option = "arch"): Architecture {
  const found = findArchitecture(name);
  if (!found) throw unknownArch(name, option);
  return found;
}

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
  const known = architecture(arch);
  return known.variant
    ? { architecture: known.oci, os: "linux", variant: known.variant }
    : { architecture: known.oci, os: "linux" };
}

/**
 * Parses a platform as `podman`, `buildah --platform` and crane write it:
 * `linux/arm64`, `linux/arm/v7`, `arm64` (Linux implied). `arm64/v8` is
 * `arm64` (the only arm64 variant, left out as Go tools do).
 *
 * @example
 * ```ts
 * import { parsePlatform } from "./platform.ts";
 * parsePlatform("linux/arm/v7"); // { architecture: "arm", os: "linux", variant: "v7" }
 * parsePlatform("linux/arm64/v8"); // { architecture: "arm64", os: "linux" }
 * ```
 */
export function parsePlatform(text: string, option = "platform"): Platform {
  const parts = text.trim().toLowerCase().split("/");
  if (parts.length > 1 && parts[0] !== "linux" && !findArchitecture(parts.join("/"))) {
    throw new UsageError(`Unsupported platform: ${text} (only linux images are built and pulled)`, {
      solution: `Use {${option}} linux/ARCH[/VARIANT], e.g. linux/arm64`,
    });
  }
  const rest = parts[0] === "linux" ? parts.slice(1) : parts;
  if (rest.length < 1 || rest.length > 2 || rest.some((p) => p === "")) {
    throw new UsageError(`Invalid platform: ${text}`, {
      solution: `Use {${option}} linux/ARCH[/VARIANT], e.g. linux/arm64 or linux/arm/v7`,
    });
  }
  const found = findArchitecture(rest.join("/"));
  if (!found) throw unknownArch(text, option);
  return ociPlatform(found.debian);
}

/**
 * A platform as text: `linux/arm64`, `linux/arm/v7`.
 *
 * @example
 * ```ts
 * import { formatPlatform } from "./platform.ts";
 * formatPlatform({ architecture: "arm", os: "linux", variant: "v7" }); // "linux/arm/v7"
 * ```
 */
export function formatPlatform(platform: Platform): string {
  return `${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ""}`;
}

/**
 * Whether two platforms are the same (an absent variant equals the
 * architecture's only one: `arm64` is `arm64/v8`).
 *
 * @example
 * ```ts
 * import { samePlatform } from "./platform.ts";
 * samePlatform({ architecture: "arm64", os: "linux" }, { architecture: "arm64", os: "linux", variant: "v8" }); // true
 * ```
 */
export function samePlatform(a: Platform, b: Platform): boolean {
  const norm = (p: Platform) => `${p.os}/${findArchitecture(platformArchName(p))?.debian ?? p.architecture}`;
  return norm(a) === norm(b);
}

/** A platform's architecture as one name the table knows (`arm/v7`, `arm64`). */
function platformArchName(p: Platform): string {
  return p.variant ? `${p.architecture}/${p.variant}` : p.architecture;
}

/**
 * The architecture of an OCI platform (its variant counted); a usage error
 * naming `{option}` for an unknown one.
 *
 * @example
 * ```ts
 * import { platformArchitecture } from "./platform.ts";
 * platformArchitecture({ architecture: "arm", os: "linux", variant: "v7" }).debian; // "armhf"
 * ```
 */
export function platformArchitecture(p: Platform, option = "arch"): Architecture {
  return architecture(platformArchName(p), option);
}

/**
 * The architecture part of an OSTree branch for an image of platform `p`
 * (`debian/12/<this>`): the table's branch name (`i386` for `386`, `armel`
 * for `arm/v5`), or the OCI name itself for an architecture the table does
 * not know (an image may be of any).
 *
 * @example
 * ```ts
 * import { platformBranchArch } from "./platform.ts";
 * platformBranchArch({ architecture: "386", os: "linux" }); // "i386"
 * platformBranchArch({ architecture: "sparc64", os: "linux" }); // "sparc64"
 * ```
 */
export function platformBranchArch(p: Platform): string {
  return findArchitecture(platformArchName(p))?.branch ?? p.architecture;
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
