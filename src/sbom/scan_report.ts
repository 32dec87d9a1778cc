/**
 * The findings of `image scan` in the formats other tools read: SARIF 2.1.0
 * (GitHub code scanning and other SARIF consumers) and OpenVEX 0.2.0 (VEX
 * tooling). Both are plain functions of the findings: the same scan gives
 * the same bytes (OpenVEX's timestamp is a parameter).
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Finding, Severity } from "./scan.ts";

/** What a report says besides the findings. */
export interface ScanReportInput {
  /** What was scanned (an image location or a ref). */
  target: string;
  /** The Debian release matched (e.g. `bookworm`). */
  release: string;
  /** The findings, in the order `scanPackages` gives them. */
  findings: readonly Finding[];
  /** apt-ostree's version. */
  toolVersion: string;
  /** The purl of a finding's package (`pkg:deb/…`). */
  purl: (finding: Finding) => string;
  /** Where the package list lives in the tree (a SARIF location needs an artifact). */
  statusPath: string;
}

/** SARIF levels by severity; GitHub's numeric `security-severity` by severity. */
const SARIF_LEVEL: Record<Severity, "error" | "warning" | "note"> = {
  high: "error",
  unknown: "warning",
  medium: "warning",
  low: "note",
  negligible: "note",
};
const SECURITY_SEVERITY: Record<Severity, string> = {
  high: "8.0",
  unknown: "5.0",
  medium: "5.5",
  low: "3.0",
  negligible: "1.0",
};

const TRACKER = "https://security-tracker.debian.org/tracker/";

function fixText(f: Finding): string {
  return f.status === "open" ? `no fixed version of ${f.source} yet` : `fixed in ${f.source} ${f.fixedVersion}`;
}

/**
 * A SARIF 2.1.0 log of the findings: one rule per CVE, one result per
 * affected package, located at the dpkg status file.
 *
 * @example
 * ```ts
 * import { sarifReport } from "./scan_report.ts";
 * const log = sarifReport({
 *   target: "oci:web.oci:1",
 *   release: "bookworm",
 *   findings: [],
 *   toolVersion: "0.1.0",
 *   purl: () => "pkg:deb/debian/x@1",
 *   statusPath: "usr/lib/sysimage/dpkg/status",
 * });
 * log.version; // "2.1.0"
 * ```
 */
export function sarifReport(input: ScanReportInput): { version: "2.1.0"; [key: string]: unknown } {
  const rules: Record<string, unknown>[] = [];
  const ruleIndex = new Map<string, number>();
  for (const f of input.findings) {
    if (ruleIndex.has(f.cve)) continue;
    ruleIndex.set(f.cve, rules.length);
    rules.push({
      id: f.cve,
      name: f.cve.replace(/[^A-Za-z0-9]/g, ""),
      shortDescription: { text: `${f.cve} in Debian's ${f.source}` },
      fullDescription: { text: f.description ?? `${f.cve}: see the Debian Security Tracker.` },
      helpUri: `${TRACKER}${encodeURIComponent(f.cve)}`,
      help: { text: `See ${TRACKER}${f.cve} for the affected and fixed versions of ${f.source}.` },
      defaultConfiguration: { level: SARIF_LEVEL[f.severity] },
      properties: { "security-severity": SECURITY_SEVERITY[f.severity], tags: ["security", "vulnerability"] },
    });
  }
  const results = input.findings.map((f) => ({
    ruleId: f.cve,
    ruleIndex: ruleIndex.get(f.cve)!,
    level: SARIF_LEVEL[f.severity],
    message: {
      text: `${f.package} ${f.version} (${f.arch}, source ${f.source} ${f.sourceVersion}) is affected by ${f.cve} ` +
        `(${f.urgency || "unknown urgency"}): ${fixText(f)}.`,
    },
    locations: [{
      physicalLocation: {
        artifactLocation: { uri: input.statusPath },
        region: { startLine: 1 },
      },
      logicalLocations: [{ name: f.package, fullyQualifiedName: input.purl(f), kind: "package" }],
    }],
    partialFingerprints: { "debianPackageCve/v1": `${f.package}:${f.arch}/${f.cve}` },
    properties: {
      package: f.package,
      version: f.version,
      source: f.source,
      sourceVersion: f.sourceVersion,
      ...(f.fixedVersion ? { fixedVersion: f.fixedVersion } : {}),
      purl: input.purl(f),
    },
  }));
  return {
    version: "2.1.0",
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    runs: [{
      tool: { driver: { name: "apt-ostree", version: input.toolVersion, rules } },
      automationDetails: { id: `apt-ostree image scan/${input.target}/${input.release}/` },
      results,
      properties: { target: input.target, release: input.release },
    }],
  };
}

/**
 * An OpenVEX 0.2.0 document: one `affected` statement per CVE and
 * package, with what to do about it. `timestamp` is given (RFC 3339) so
 * that the same scan gives the same document.
 *
 * @example
 * ```ts
 * import { openVexReport } from "./scan_report.ts";
 * const vex = openVexReport({
 *   target: "oci:web.oci:1",
 *   release: "bookworm",
 *   findings: [],
 *   toolVersion: "0.1.0",
 *   purl: () => "pkg:deb/debian/x@1",
 *   statusPath: "usr/lib/sysimage/dpkg/status",
 * }, "2026-01-01T00:00:00Z");
 * vex["@context"]; // "https://openvex.dev/ns/v0.2.0"
 * ```
 */
export function openVexReport(input: ScanReportInput, timestamp: string): Record<string, unknown> {
  const statements = input.findings.map((f) => ({
    vulnerability: {
      "@id": `${TRACKER}${f.cve}`,
      name: f.cve,
      ...(f.description ? { description: f.description } : {}),
    },
    products: [{ "@id": input.purl(f) }],
    status: "affected",
    action_statement: f.status === "open"
      ? `No fixed version of ${f.source} for ${input.release} yet: watch ${TRACKER}${f.cve}`
      : `Update ${f.package} (source ${f.source}) to ${f.fixedVersion} or later`,
    timestamp,
  }));
  const body = JSON.stringify({ target: input.target, release: input.release, statements });
  return {
    "@context": "https://openvex.dev/ns/v0.2.0",
    "@id": `urn:apt-ostree:vex:${createHash("sha256").update(body).digest("hex")}`,
    author: "apt-ostree",
    timestamp,
    version: 1,
    tooling: `apt-ostree ${input.toolVersion} image scan`,
    statements,
  };
}
