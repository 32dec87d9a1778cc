/**
 * What an SBOM needs from a Debian tree, parsed from the files themselves:
 * dpkg's status file with every field an SBOM records (maintainer, source
 * package, dependencies, provides), `os-release`, and the licences of a
 * machine-readable (DEP-5) `copyright` file, mapped to SPDX identifiers.
 *
 * @module
 */

/** An installed package with the fields an SBOM records. */
export interface DpkgPackage {
  /** Package name. */
  name: string;
  /** Version as dpkg has it (`[epoch:]upstream[-revision]`). */
  version: string;
  /** Debian architecture (`amd64`, `all`, …). */
  arch: string;
  /** The `Maintainer` field (`Name <email>`), when there is one. */
  maintainer?: string;
  /** Source package name (the package's own name when `Source` is absent). */
  source: string;
  /** Source version (the package's version when `Source` names none). */
  sourceVersion: string;
  /** `Pre-Depends` and `Depends`: each a list of alternatives (package names, no version or arch). */
  depends: string[][];
  /** Virtual packages this one provides. */
  provides: string[];
  /** The `Homepage` field, when any. */
  homepage?: string;
}

function fieldsOf(stanza: string): Map<string, string> {
  const fields = new Map<string, string>();
  let last: string | undefined;
  for (const line of stanza.split("\n")) {
    if (/^[ \t]/.test(line)) {
      if (last !== undefined) fields.set(last, `${fields.get(last)}\n${line.trim()}`);
      continue;
    }
    const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
    if (m) {
      last = m[1].toLowerCase();
      fields.set(last, m[2].trim());
    } else last = undefined;
  }
  return fields;
}

/** Package names of a relationship field (`a (>= 1) | b:any, c`): alternatives per clause. */
function relationNames(value: string | undefined): string[][] {
  if (!value) return [];
  return value.split(",").map((clause) =>
    clause.split("|").map((alt) => alt.trim().replace(/\s*[([<].*$/s, "").replace(/:.*$/, "").trim())
      .filter((n) => n.length > 0)
  ).filter((alts) => alts.length > 0);
}

/**
 * Parses dpkg's status file into the installed packages (state
 * `installed`) with their SBOM fields, sorted by name then architecture.
 *
 * @example
 * ```ts
 * import { parseDpkgPackages } from "./dpkg.ts";
 * const [hello] = parseDpkgPackages(
 *   "Package: hello\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.10-3\nDepends: libc6 (>= 2.34)\n",
 * );
 * hello.depends; // [["libc6"]]
 * ```
 */
export function parseDpkgPackages(text: string): DpkgPackage[] {
  const packages: DpkgPackage[] = [];
  for (const stanza of text.split(/\n[ \t]*\n/)) {
    const fields = fieldsOf(stanza);
    const name = fields.get("package");
    const status = fields.get("status")?.split(/\s+/);
    if (!name || !status || status[2] !== "installed") continue;
    const version = fields.get("version") ?? "";
    const source = /^(\S+)(?:\s+\((\S+)\))?/.exec(fields.get("source") ?? "");
    const maintainer = fields.get("maintainer");
    const homepage = fields.get("homepage");
    packages.push({
      name,
      version,
      arch: fields.get("architecture") ?? "",
      ...(maintainer ? { maintainer } : {}),
      source: source?.[1] ?? name,
      sourceVersion: source?.[2] ?? version,
      depends: [...relationNames(fields.get("pre-depends")), ...relationNames(fields.get("depends"))],
      provides: relationNames(fields.get("provides")).flat(),
      ...(homepage ? { homepage } : {}),
    });
  }
  return packages.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : a.arch < b.arch ? -1 : 1);
}

/**
 * Parses an `os-release` file into its `KEY=value` pairs (quotes removed).
 *
 * @example
 * ```ts
 * import { parseOsRelease } from "./dpkg.ts";
 * parseOsRelease('ID=debian\nVERSION_ID="12"\n').get("VERSION_ID"); // "12"
 * ```
 */
export function parseOsRelease(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1], m[2].replace(/^"(.*)"$/, "$1").replace(/^'(.*)'$/, "$1").replace(/\\(.)/g, "$1"));
  }
  return out;
}

/** Debian's short licence names (lower case) and their SPDX identifiers. */
const DEBIAN_TO_SPDX: Record<string, string> = {
  "apache-2.0": "Apache-2.0",
  "apache-2": "Apache-2.0",
  "artistic": "Artistic-1.0-Perl",
  "artistic-1.0": "Artistic-1.0",
  "artistic-2.0": "Artistic-2.0",
  "bsd-2-clause": "BSD-2-Clause",
  "bsd-3-clause": "BSD-3-Clause",
  "bsd-4-clause": "BSD-4-Clause",
  "bsl-1.0": "BSL-1.0",
  "cc0-1.0": "CC0-1.0",
  "cc0": "CC0-1.0",
  "cc-by-sa-3.0": "CC-BY-SA-3.0",
  "cc-by-sa-4.0": "CC-BY-SA-4.0",
  "cc-by-4.0": "CC-BY-4.0",
  "curl": "curl",
  "expat": "MIT",
  "mit": "MIT",
  "isc": "ISC",
  "ftl": "FTL",
  "mpl-1.1": "MPL-1.1",
  "mpl-2.0": "MPL-2.0",
  "openssl": "OpenSSL",
  "psf-2": "PSF-2.0",
  "python": "Python-2.0",
  "python-2.0": "Python-2.0",
  "x11": "X11",
  "zlib": "Zlib",
  "unicode-dfs-2016": "Unicode-DFS-2016",
  "ofl-1.1": "OFL-1.1",
  "sleepycat": "Sleepycat",
  "libpng": "Libpng",
  "ijg": "IJG",
  "0bsd": "0BSD",
  "wtfpl": "WTFPL",
  "unlicense": "Unlicense",
  "lppl-1.3c": "LPPL-1.3c",
  "epl-1.0": "EPL-1.0",
  "epl-2.0": "EPL-2.0",
  "cddl-1.0": "CDDL-1.0",
};

/** GNU licences: Debian's `GPL-2`/`GPL-2+` are SPDX's `GPL-2.0-only`/`GPL-2.0-or-later`. */
const GNU_RE = /^(a?gpl|lgpl|gfdl)-(\d(?:\.\d)?)(\+)?$/;

/**
 * The SPDX identifier of one of Debian's short licence names (`GPL-2+`,
 * `Expat`, `BSD-3-clause`), or undefined for a name SPDX does not list.
 *
 * @example
 * ```ts
 * import { spdxLicenseId } from "./dpkg.ts";
 * spdxLicenseId("GPL-2+"); // "GPL-2.0-or-later"
 * spdxLicenseId("Expat"); // "MIT"
 * ```
 */
export function spdxLicenseId(debianName: string): string | undefined {
  const key = debianName.trim().toLowerCase();
  const gnu = GNU_RE.exec(key);
  if (gnu) {
    const family = gnu[1].toUpperCase();
    const version = gnu[2].includes(".") ? gnu[2] : `${gnu[2]}.0`;
    return `${family}-${version}-${gnu[3] ? "or-later" : "only"}`;
  }
  return DEBIAN_TO_SPDX[key];
}

/**
 * A `LicenseRef-` identifier for a licence name SPDX does not list (the
 * characters SPDX allows; others become `-`).
 *
 * @example
 * ```ts
 * import { licenseRef } from "./dpkg.ts";
 * licenseRef("public-domain"); // "LicenseRef-public-domain"
 * ```
 */
export function licenseRef(name: string): string {
  return `LicenseRef-${name.trim().replace(/[^A-Za-z0-9.-]+/g, "-").replace(/^-+|-+$/g, "") || "unknown"}`;
}

/** The licences of a package, from its DEP-5 copyright file. */
export interface PackageLicense {
  /** An SPDX licence expression (`(GPL-2.0-or-later OR Artistic-1.0-Perl) AND MIT`). */
  expression: string;
  /** The `LicenseRef-` identifiers the expression uses, with the Debian name each stands for. */
  refs: Map<string, string>;
}

/**
 * Reads the licences of a machine-readable (DEP-5) copyright file: the
 * `License` of every `Files` paragraph (alternatives joined with `OR`, the
 * paragraphs with `AND`), Debian's names mapped to SPDX identifiers, others
 * as `LicenseRef-`. Undefined for a free-form file, or one that names no
 * licence: then nothing can be said cheaply (`NOASSERTION`).
 *
 * @example
 * ```ts
 * import { parseDep5License } from "./dpkg.ts";
 * const text = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n" +
 *   "Files: *\nCopyright: 2020 A\nLicense: GPL-2+\n\nFiles: debian/*\nCopyright: 2021 B\nLicense: Expat\n";
 * parseDep5License(text)?.expression; // "GPL-2.0-or-later AND MIT"
 * ```
 */
export function parseDep5License(text: string): PackageLicense | undefined {
  const paragraphs = text.replace(/\r\n/g, "\n").split(/\n[ \t]*\n/);
  const header = fieldsOf(paragraphs[0] ?? "");
  if (!/copyright-format|dep-?5/i.test(header.get("format") ?? header.get("format-specification") ?? "")) {
    return undefined;
  }
  const terms: string[] = [];
  const refs = new Map<string, string>();
  for (const paragraph of paragraphs) {
    const fields = fieldsOf(paragraph);
    if (!fields.has("files")) continue;
    const name = (fields.get("license") ?? "").split("\n")[0].trim();
    if (name === "") continue;
    // Debian writes "GPL-2+ or Artistic", "A and B", "A, or B"; an exception ("with X exception") stays one name.
    const alternatives = name.split(/\s*,?\s+or\s+|\s*\|\s*/i).map((alt) => {
      const parts = alt.split(/\s*,?\s+and\s+/i).map((part) => {
        const id = spdxLicenseId(part);
        if (id !== undefined) return id;
        const ref = licenseRef(part);
        refs.set(ref, part.trim());
        return ref;
      });
      return parts.length > 1 ? `(${parts.join(" AND ")})` : parts[0];
    });
    const term = alternatives.length > 1 ? `(${alternatives.join(" OR ")})` : alternatives[0];
    if (!terms.includes(term)) terms.push(term);
  }
  if (terms.length === 0) return undefined;
  const expression = terms.length === 1 ? terms[0].replace(/^\((.*)\)$/, "$1") : terms.join(" AND ");
  return { expression, refs };
}
