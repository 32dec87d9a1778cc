/**
 * Base image references: `ubuntu:24.04`, `debian:12`, `debian:bookworm`,
 * `debian:12/aarch64` and `debian/12/x86_64` name a distribution release for
 * one architecture, and map to the OSTree branch `<distribution>/<version>/<arch>`.
 *
 * Codenames map to version numbers (`debian:bookworm` is `debian/12/<arch>`),
 * so one release has one branch whichever way it is written. Architectures
 * are written as the kernel names them (`x86_64`, `aarch64`); Debian's names
 * (`amd64`, `arm64`, …) are accepted and normalised.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { ARCHITECTURES, findArchitecture, hostArch } from "../oci/platform.ts";

/** A parsed base image reference. */
export interface BaseImageRef {
  /** Distribution, lowercase (`debian`, `ubuntu`, `devuan`, …). */
  distribution: string;
  /** Release version: `12`, `24.04`, `sid`, or the suite for unknown distributions. */
  version: string;
  /** Architecture in branch (kernel) form: `x86_64`, `aarch64`, `armhf`, … */
  arch: string;
  /** The OSTree branch: `<distribution>/<version>/<arch>`. */
  branch: string;
  /** The archive suite (codename) when known: `bookworm`, `noble`, `sid`. */
  suite: string | undefined;
  /** The short form users write: `<distribution>:<version>`. */
  name: string;
}

/** Options for {@linkcode parseBaseImageRef}. */
export interface ParseBaseImageRefOptions {
  /**
   * Architecture (`--arch`): used when the reference names none; an error
   * when it names a different one. Default: the host's.
   */
  arch?: string;
}

/** Releases of the distributions whose codenames are known: version → codename. */
export const KNOWN_RELEASES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  debian: {
    "10": "buster",
    "11": "bullseye",
    "12": "bookworm",
    "13": "trixie",
    "14": "forky",
    "15": "duke",
    sid: "sid",
    testing: "testing",
  },
  ubuntu: {
    "18.04": "bionic",
    "20.04": "focal",
    "22.04": "jammy",
    "24.04": "noble",
    "24.10": "oracular",
    "25.04": "plucky",
    "25.10": "questing",
  },
};

/** Version forms of the known distributions (numbers; codenames come from {@linkcode KNOWN_RELEASES}). */
const VERSION_FORMS: Readonly<Record<string, RegExp>> = {
  debian: /^\d{1,2}$/,
  ubuntu: /^\d{2}\.\d{2}$/,
};

/** Aliases of a version: `unstable` is `sid`. */
const VERSION_ALIASES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  debian: { unstable: "sid" },
};

/** Architecture names as branches write them, with the Debian name of each (from the one table, `oci/platform.ts`). */
export const BRANCH_ARCHES: Readonly<Record<string, string>> = Object.fromEntries(
  ARCHITECTURES.map((a) => [a.branch, a.debian]),
);

const DISTRIBUTION_RE = /^[a-z][a-z0-9-]{0,31}$/;
const VERSION_RE = /^[a-z0-9][a-z0-9.~+_-]{0,31}$/;

function invalid(ref: string, detail?: string): UsageError {
  return new UsageError(`Invalid base image reference format: ${ref}${detail ? ` (${detail})` : ""}`, {
    solution: 'Use format like "ubuntu:24.04" or "debian/12/x86_64"',
  });
}

/**
 * Normalises an architecture name to its branch form (`amd64` → `x86_64`),
 * or returns undefined for an unknown name.
 *
 * @example
 * ```ts
 * import { normalizeArch } from "./base_ref.ts";
 * normalizeArch("amd64"); // "x86_64"
 * normalizeArch("aarch64"); // "aarch64"
 * normalizeArch("sparc"); // undefined
 * ```
 */
export function normalizeArch(arch: string): string | undefined {
  return findArchitecture(arch)?.branch;
}

/**
 * The Debian architecture name (`amd64`, `arm64`, …) of a branch-form
 * architecture.
 *
 * @example
 * ```ts
 * import { debianArch } from "./base_ref.ts";
 * debianArch("x86_64"); // "amd64"
 * ```
 */
export function debianArch(arch: string): string {
  const normalized = normalizeArch(arch);
  if (!normalized) {
    throw new UsageError(`Unknown architecture: ${arch}`, {
      solution: `Use one of: ${Object.keys(BRANCH_ARCHES).join(", ")} (or amd64, arm64)`,
    });
  }
  return BRANCH_ARCHES[normalized];
}

/** Resolves a written version (number, codename or alias) of `distribution`, or undefined if invalid. */
function resolveVersion(distribution: string, written: string): { version: string; suite?: string } | undefined {
  const releases = KNOWN_RELEASES[distribution];
  const form = VERSION_FORMS[distribution];
  if (!releases || !form) {
    // An unknown distribution: the version is its suite, as written.
    return VERSION_RE.test(written) ? { version: written } : undefined;
  }
  const aliased = VERSION_ALIASES[distribution]?.[written] ?? written;
  if (aliased in releases) return { version: aliased, suite: releases[aliased] };
  for (const [version, codename] of Object.entries(releases)) {
    if (codename === aliased) return { version, suite: codename };
  }
  if (form.test(aliased)) return { version: aliased };
  return undefined;
}

/**
 * Parses a base image reference. The forms are `DIST:VERSION`,
 * `DIST:VERSION/ARCH` and `DIST/VERSION/ARCH`; VERSION may be a codename
 * (`bookworm`), which maps to its number. The architecture defaults to
 * `options.arch`, else the host's. Anything else throws a
 * {@linkcode UsageError} (exit code 2):
 * `Invalid base image reference format: <ref>`.
 *
 * @example
 * ```ts
 * import { parseBaseImageRef } from "./base_ref.ts";
 * parseBaseImageRef("ubuntu:24.04", { arch: "x86_64" }).branch; // "ubuntu/24.04/x86_64"
 * parseBaseImageRef("debian:bookworm", { arch: "amd64" }).branch; // "debian/12/x86_64"
 * parseBaseImageRef("debian/12/aarch64").suite; // "bookworm"
 * ```
 */
export function parseBaseImageRef(ref: string, options: ParseBaseImageRefOptions = {}): BaseImageRef {
  const text = ref.trim();
  let distribution: string;
  let written: string;
  let writtenArch: string | undefined;
  const colon = /^([^:/\s]+):([^:/\s]+)(?:\/([^:/\s]+))?$/.exec(text);
  const slash = /^([^:/\s]+)\/([^:/\s]+)\/([^:/\s]+)$/.exec(text);
  if (colon) [, distribution, written, writtenArch] = colon;
  else if (slash) [, distribution, written, writtenArch] = slash;
  else throw invalid(ref);

  if (!DISTRIBUTION_RE.test(distribution)) throw invalid(ref, `bad distribution name '${distribution}'`);
  const resolved = resolveVersion(distribution, written);
  if (!resolved) throw invalid(ref, `unknown ${distribution} version '${written}'`);

  let arch: string;
  if (writtenArch !== undefined) {
    const normalized = normalizeArch(writtenArch);
    if (!normalized) throw invalid(ref, `unknown architecture '${writtenArch}'`);
    arch = normalized;
    if (options.arch !== undefined && normalizeArch(options.arch) !== arch) {
      throw new UsageError(
        `The base image reference ${ref} names architecture ${arch}, but --arch is ${options.arch}`,
        {
          solution: "Give the architecture once: in the reference or with {arch}",
        },
      );
    }
  } else {
    const wanted = options.arch ?? hostArch();
    const normalized = normalizeArch(wanted);
    if (!normalized) {
      throw new UsageError(`Unknown architecture: ${wanted}`, {
        solution: `Use one of: ${Object.keys(BRANCH_ARCHES).join(", ")} (or amd64, arm64)`,
      });
    }
    arch = normalized;
  }
  // OSTree refs take letters, digits, '.', '_', '-': a version such as
  // "1.0+b1" or "2~rc" must fail here, not after a bootstrap at commit time.
  if (!/^[\w][\w.-]*$/.test(resolved.version)) {
    throw invalid(ref, `version '${resolved.version}' cannot be part of an OSTree branch name`);
  }
  return {
    distribution,
    version: resolved.version,
    arch,
    branch: `${distribution}/${resolved.version}/${arch}`,
    suite: resolved.suite,
    name: `${distribution}:${resolved.version}`,
  };
}

/**
 * Parses a branch name as a base image branch, strictly: exactly
 * `<distribution>/<version>/<arch>` with a known architecture in branch
 * form and a version in its canonical form (a number for Debian and
 * Ubuntu). Returns undefined for any other branch (a deployment).
 *
 * @example
 * ```ts
 * import { parseBaseBranch } from "./base_ref.ts";
 * parseBaseBranch("debian/12/x86_64")?.suite; // "bookworm"
 * parseBaseBranch("deploy/debian/12/x86_64/hello"); // undefined
 * parseBaseBranch("debian/bookworm/x86_64"); // undefined (not canonical)
 * ```
 */
export function parseBaseBranch(branch: string): BaseImageRef | undefined {
  const m = /^([^:/\s]+)\/([^:/\s]+)\/([^:/\s]+)$/.exec(branch);
  if (!m || !(m[3] in BRANCH_ARCHES)) return undefined;
  try {
    const parsed = parseBaseImageRef(branch);
    return parsed.branch === branch ? parsed : undefined;
  } catch {
    return undefined;
  }
}
