/**
 * Package names as users give them (`hello`, `nginx=1.22.1-9`,
 * `libc6:arm64`, `vim/bookworm-backports`), their validation, and the
 * output branch derived from a base and a package list.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { isBranchName } from "../ostree/repo.ts";
import { UsageError } from "../errors.ts";
import { type BaseImageRef, parseBaseBranch } from "../reference/base_ref.ts";

/** A Debian package name, optionally with `:arch`, and `=version` or `/release`. */
const PACKAGE_RE = /^[a-z0-9][a-z0-9+.-]*[a-z0-9+.](:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+|\/[A-Za-z0-9.+~-]+)?$/;

/**
 * Checks package names (an apt option or a removal such as `vim-` is not a
 * package name) and returns them without duplicates, in the given order.
 *
 * @example
 * ```ts
 * import { validatePackageNames } from "./packages.ts";
 * validatePackageNames(["hello", "nginx=1.22.1-9", "hello"]); // ["hello", "nginx=1.22.1-9"]
 * ```
 */
export function validatePackageNames(names: readonly string[]): string[] {
  const out = new Set<string>(); // keeps the first order, and de-duplicates in linear time
  for (const name of names) {
    if (!PACKAGE_RE.test(name)) {
      throw new UsageError(`Invalid package name: ${name}`, {
        solution: "Use Debian package names like hello, nginx=1.22.1-9, libc6:arm64 or vim/bookworm-backports",
      });
    }
    out.add(name);
  }
  return [...out];
}

/**
 * The package name alone: without `:arch`, `=version` or `/release`.
 *
 * @example
 * ```ts
 * import { packageBaseName } from "./packages.ts";
 * packageBaseName("nginx=1.22.1-9"); // "nginx"
 * ```
 */
export function packageBaseName(spec: string): string {
  return spec.replace(/[:=/].*$/, "");
}

/**
 * Checks an output branch name: OSTree's ref grammar, and not a base image
 * branch (a deployment must not replace its base).
 *
 * @example
 * ```ts
 * import { validateOutputBranch } from "./packages.ts";
 * validateOutputBranch("my-deployment"); // ok
 * validateOutputBranch("debian/12/x86_64"); // throws: that is a base image branch
 * ```
 */
export function validateOutputBranch(branch: string): void {
  if (!isBranchName(branch)) {
    throw new UsageError(`Invalid output branch name: ${branch}`, {
      solution: "Use letters, digits, '-', '.', '_' and '/' (e.g. my-deployment or team/web/prod)",
    });
  }
  if (parseBaseBranch(branch)) {
    throw new UsageError(`The output branch ${branch} is a base image branch`, {
      solution: "Write deployments to another branch, e.g. {output} my-deployment",
    });
  }
}

/** The longest package part of a derived branch name before it is shortened to a hash. */
export const MAX_DERIVED_PACKAGES_LENGTH = 64;

/**
 * The output branch used when none is given:
 * `deploy/<distribution>/<version>/<arch>/<packages>`, where `<packages>` is
 * the sorted package names (no versions or architectures) joined with `_`,
 * with `+` written as `plus` (OSTree refs cannot hold `+`); `base` when no
 * packages are given; and `<count>-packages-<12 hex digits of the SHA-256
 * of the joined names>` when the joined names are longer than 64
 * characters.
 *
 * @example
 * ```ts
 * import { deriveOutputBranch } from "./packages.ts";
 * import { parseBaseImageRef } from "../reference/base_ref.ts";
 * deriveOutputBranch(parseBaseImageRef("debian:12", { arch: "x86_64" }), ["vim", "hello"]);
 * // "deploy/debian/12/x86_64/hello_vim"
 * ```
 */
export function deriveOutputBranch(base: BaseImageRef, packages: readonly string[]): string {
  const names = [...new Set(packages.map(packageBaseName))].sort();
  const prefix = `deploy/${base.distribution}/${base.version}/${base.arch}`;
  if (names.length === 0) return `${prefix}/base`;
  const joined = names.map((n) => n.replaceAll("+", "plus")).join("_");
  if (joined.length <= MAX_DERIVED_PACKAGES_LENGTH) return `${prefix}/${joined}`;
  const hash = createHash("sha256").update(names.join("\n")).digest("hex").slice(0, 12);
  return `${prefix}/${names.length}-packages-${hash}`;
}
