/**
 * Matching installed Debian packages against the Debian Security Tracker's
 * JSON (`https://security-tracker.debian.org/tracker/data/json`: source
 * package → CVE → release → status, fixed version, urgency), offline. A
 * package is affected by a CVE when the tracker's entry for its source
 * package and the image's release is `open` (no fix yet), or `resolved`
 * with a fixed version later than the installed source version (dpkg's
 * comparison: epochs, `~`, revisions).
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";
import { compareDebianVersions } from "../layers/dpkg_version.ts";

/** A package to scan: binary name and version, and its source package and version. */
export interface ScanPackage {
  /** Binary package name. */
  name: string;
  /** Binary version. */
  version: string;
  /** Architecture. */
  arch: string;
  /** Source package. */
  source: string;
  /** Source version (what the tracker's fixed versions are compared with). */
  sourceVersion: string;
}

/** Severities, lowest first (the tracker's urgencies mapped). */
export const SEVERITIES = ["unknown", "negligible", "low", "medium", "high"] as const;

/** A severity. */
export type Severity = typeof SEVERITIES[number];

/** One CVE affecting one installed package. */
export interface Finding {
  /** Binary package. */
  package: string;
  /** Its version. */
  version: string;
  /** Architecture. */
  arch: string;
  /** Source package (the tracker's key). */
  source: string;
  /** Installed source version. */
  sourceVersion: string;
  /** CVE (or TEMP-) identifier. */
  cve: string;
  /** `open` (no fix in the release) or `resolved` (fixed in a later version). */
  status: "open" | "resolved";
  /** The version that fixes it, when there is one. */
  fixedVersion?: string;
  /** The tracker's urgency, as given. */
  urgency: string;
  /** The urgency as a severity. */
  severity: Severity;
  /** The tracker's description, when any. */
  description?: string;
}

/** The tracker's JSON, as far as it is read. */
export type Advisories = Record<
  string,
  Record<
    string,
    {
      description?: string;
      releases?: Record<string, { status?: string; fixed_version?: string; urgency?: string }>;
    }
  >
>;

/**
 * Parses the tracker's JSON, refusing anything else.
 *
 * @example
 * ```ts
 * import { parseAdvisories } from "./scan.ts";
 * parseAdvisories('{"bash":{"CVE-2024-1":{"releases":{"bookworm":{"status":"open","urgency":"low"}}}}}');
 * ```
 */
export function parseAdvisories(text: string, where = "the advisories"): Advisories {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new AptOstreeError(`${where} is not JSON: ${error instanceof Error ? error.message : error}`, {
      solution: "Give the Debian Security Tracker's JSON (https://security-tracker.debian.org/tracker/data/json)",
    });
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new AptOstreeError(`${where} is not the Debian Security Tracker's JSON (an object of source packages)`, {
      solution: "Give the Debian Security Tracker's JSON (https://security-tracker.debian.org/tracker/data/json)",
    });
  }
  return json as Advisories;
}

/**
 * The tracker's urgency as a severity (`unimportant` is `negligible`; `not
 * yet assigned` and anything unknown are `unknown`; a trailing `*` or `**`
 * is dropped).
 *
 * @example
 * ```ts
 * import { severityOf } from "./scan.ts";
 * severityOf("high**"); // "high"
 * ```
 */
export function severityOf(urgency: string | undefined): Severity {
  const u = (urgency ?? "").replace(/\*+$/, "").trim().toLowerCase();
  if (u === "unimportant") return "negligible";
  return (SEVERITIES as readonly string[]).includes(u) ? u as Severity : "unknown";
}

/** Debian's release names by major version (`VERSION_ID`). */
const CODENAMES: Record<string, string> = {
  "9": "stretch",
  "10": "buster",
  "11": "bullseye",
  "12": "bookworm",
  "13": "trixie",
  "14": "forky",
};

/**
 * The tracker's release name for a `distro` qualifier or os-release
 * version (`debian-12`, `12`, `bookworm`).
 *
 * @example
 * ```ts
 * import { releaseName } from "./scan.ts";
 * releaseName("debian-12"); // "bookworm"
 * ```
 */
export function releaseName(distro: string): string {
  const version = distro.replace(/^[a-z]+-/, "").split(".")[0];
  return CODENAMES[version] ?? version;
}

/**
 * The findings for `packages` in `release`, sorted by package, then CVE.
 *
 * @example
 * ```ts
 * import { scanPackages } from "./scan.ts";
 * const advisories = { bash: { "CVE-2024-1": { releases: { bookworm: { status: "resolved", fixed_version: "5.2.15-2+deb12u1", urgency: "medium" } } } } };
 * scanPackages([{ name: "bash", version: "5.2.15-2+b2", arch: "amd64", source: "bash", sourceVersion: "5.2.15-2" }],
 *   advisories, "bookworm").length; // 1
 * ```
 */
export function scanPackages(packages: readonly ScanPackage[], advisories: Advisories, release: string): Finding[] {
  const findings: Finding[] = [];
  for (const p of packages) {
    const cves = advisories[p.source];
    if (!cves || typeof cves !== "object") continue;
    for (const [cve, entry] of Object.entries(cves)) {
      const r = entry?.releases?.[release];
      if (!r) continue;
      const base = {
        package: p.name,
        version: p.version,
        arch: p.arch,
        source: p.source,
        sourceVersion: p.sourceVersion,
        cve,
        urgency: r.urgency ?? "",
        severity: severityOf(r.urgency),
        ...(entry.description ? { description: entry.description } : {}),
      };
      if (r.status === "open") {
        findings.push({ ...base, status: "open" });
      } else if (r.status === "resolved" && r.fixed_version && r.fixed_version !== "0") {
        if (compareDebianVersions(p.sourceVersion, r.fixed_version) < 0) {
          findings.push({ ...base, status: "resolved", fixedVersion: r.fixed_version });
        }
      }
    }
  }
  return findings.sort((a, b) =>
    a.package < b.package
      ? -1
      : a.package > b.package
      ? 1
      : a.arch < b.arch
      ? -1
      : a.arch > b.arch
      ? 1
      : a.cve < b.cve
      ? -1
      : a.cve > b.cve
      ? 1
      : 0
  );
}

/**
 * The packages an SBOM lists (SPDX 2.3 or CycloneDX JSON, as apt-ostree
 * writes them: `pkg:deb` purls, the source package in SPDX `sourceInfo` or
 * CycloneDX properties), and its `distro` qualifier.
 *
 * @example
 * ```ts
 * import { sbomPackages } from "./scan.ts";
 * const { packages } = sbomPackages({ spdxVersion: "SPDX-2.3", packages: [] });
 * ```
 */
// deno-lint-ignore no-explicit-any
export function sbomPackages(doc: any): { packages: ScanPackage[]; distro?: string } {
  const packages: ScanPackage[] = [];
  let distro: string | undefined;
  const fromPurl = (purl: string) => {
    const m = /^pkg:deb\/[^/]+\/([^@?]+)@([^?#]+)(?:\?([^#]*))?/.exec(purl);
    if (!m) return undefined;
    const q = new URLSearchParams((m[3] ?? "").replace(/\+/g, "%2B"));
    distro ??= q.get("distro") ?? undefined;
    return { name: decodeURIComponent(m[1]), version: decodeURIComponent(m[2]), arch: q.get("arch") ?? "" };
  };
  if (Array.isArray(doc?.packages)) {
    for (const p of doc.packages) {
      // deno-lint-ignore no-explicit-any
      const purl = p.externalRefs?.find((r: any) => r.referenceType === "purl")?.referenceLocator;
      const parsed = typeof purl === "string" ? fromPurl(purl) : undefined;
      if (!parsed) continue;
      const source = /^built package from: (\S+) (\S+)$/.exec(p.sourceInfo ?? "");
      packages.push({ ...parsed, source: source?.[1] ?? parsed.name, sourceVersion: source?.[2] ?? parsed.version });
    }
  } else if (Array.isArray(doc?.components)) {
    for (const c of doc.components) {
      const parsed = typeof c.purl === "string" ? fromPurl(c.purl) : undefined;
      if (!parsed) continue;
      // deno-lint-ignore no-explicit-any
      const prop = (name: string) => c.properties?.find((p: any) => p.name === name)?.value;
      packages.push({
        ...parsed,
        source: prop("apt-ostree:deb:source") ?? parsed.name,
        sourceVersion: prop("apt-ostree:deb:source-version") ?? parsed.version,
      });
    }
  } else {
    throw new AptOstreeError("The attached SBOM is neither SPDX nor CycloneDX JSON", {
      solution: "Attach one with: apt-ostree compose build-image --sbom spdx",
    });
  }
  return { packages, ...(distro ? { distro } : {}) };
}
