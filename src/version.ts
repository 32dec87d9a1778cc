/**
 * The tool's version and the git commit it was built from. A compiled
 * binary reads `dist/build-info.json`, which `deno task compile` writes and
 * embeds; a checkout reads its own `.git`.
 *
 * @module
 */

import denoConfig from "../deno.json" with { type: "json" };

/** The release version, from `deno.json`. */
export const VERSION: string = denoConfig.version;

/** Build information printed by `--version`. */
export interface BuildInfo {
  /** Release version. */
  version: string;
  /** Git commit (full hash), or "unknown". */
  commit: string;
}

function readText(url: URL): string | undefined {
  try {
    return Deno.readTextFileSync(url).trim();
  } catch {
    return undefined;
  }
}

function commitFromGit(): string | undefined {
  const gitDir = new URL("../.git/", import.meta.url);
  const head = readText(new URL("HEAD", gitDir));
  if (!head) return undefined;
  if (!head.startsWith("ref: ")) return head;
  const ref = head.slice(5);
  const loose = readText(new URL(ref, gitDir));
  if (loose) return loose;
  const packed = readText(new URL("packed-refs", gitDir));
  return packed?.split("\n").find((l) => l.endsWith(` ${ref}`))?.split(" ")[0];
}

/**
 * Returns the version and commit of this build.
 *
 * @example
 * ```ts
 * import { buildInfo } from "./version.ts";
 * const { version, commit } = buildInfo();
 * console.log(`apt-ostree ${version} (${commit})`);
 * ```
 */
export function buildInfo(): BuildInfo {
  if (Deno.build.standalone) {
    const text = readText(new URL("../dist/build-info.json", import.meta.url));
    if (text) {
      const info = JSON.parse(text) as Partial<BuildInfo>;
      return { version: info.version ?? VERSION, commit: info.commit ?? "unknown" };
    }
  }
  return { version: VERSION, commit: commitFromGit() ?? "unknown" };
}

/**
 * The line `apt-ostree --version` prints.
 *
 * @example
 * ```ts
 * import { versionLine } from "./version.ts";
 * versionLine(); // "apt-ostree 0.1.0 (commit 3f9a…)"
 * ```
 */
export function versionLine(): string {
  const { version, commit } = buildInfo();
  return `apt-ostree ${version} (commit ${commit})`;
}
