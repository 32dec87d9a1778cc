/**
 * SBOM documents from a commit's Debian packages: SPDX 2.3 JSON and
 * CycloneDX 1.6 JSON. Both are pure functions of their input, so the same
 * commit gives the same bytes: the creation time is the commit's, the
 * document's namespace and serial number are derived from the commit
 * checksum, packages are sorted, and keys come in a fixed order.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { DpkgPackage, PackageLicense } from "./dpkg.ts";

/** SBOM formats. */
export type SbomFormat = "spdx" | "cyclonedx";

/** The OCI `artifactType` (and blob media type) of each format. */
export const SBOM_MEDIA_TYPES: Record<SbomFormat, string> = {
  spdx: "application/spdx+json",
  cyclonedx: "application/vnd.cyclonedx+json",
};

/** Everything a document is made from. */
export interface SbomInput {
  /** What the document describes: the image name, or the commit's ref. */
  name: string;
  /** `true` for an image, `false` for an OSTree commit. */
  image: boolean;
  /** The OSTree commit checksum. */
  commit: string;
  /** The commit's version, when it has one. */
  version?: string;
  /** The commit's time (seconds since 1970): the document's creation time. */
  timestamp: number;
  /** The tool and its version (`apt-ostree`, `0.1.0`). */
  tool: { name: string; version: string };
  /** `os-release` of the commit (`ID`, `VERSION_ID`, `VERSION_CODENAME`, `PRETTY_NAME`). */
  osRelease: Map<string, string>;
  /** The installed packages, sorted. */
  packages: DpkgPackage[];
  /** Licences by package name (from DEP-5 copyright files); absent: `NOASSERTION`. */
  licenses: Map<string, PackageLicense>;
}

/**
 * Encodes a purl component as the purl specification (and packageurl-js)
 * does: percent-encoding everything but unreserved characters and `:`.
 */
function purlEncode(value: string): string {
  return encodeURIComponent(value).replace(/%3A/gi, ":");
}

/**
 * The package URL of a Debian package:
 * `pkg:deb/<distro>/<name>@<version>?arch=<arch>&distro=<distro>-<version_id>`
 * (`+` in versions as `%2B`).
 *
 * @example
 * ```ts
 * import { debPurl } from "./documents.ts";
 * debPurl({ name: "libstdc++6", version: "12.2.0-14+deb12u1", arch: "amd64" }, "debian", "debian-12");
 * // "pkg:deb/debian/libstdc%2B%2B6@12.2.0-14%2Bdeb12u1?arch=amd64&distro=debian-12"
 * ```
 */
export function debPurl(
  pkg: Pick<DpkgPackage, "name" | "version" | "arch">,
  vendor: string,
  distro: string | undefined,
): string {
  const qualifiers = [`arch=${purlEncode(pkg.arch)}`, ...(distro ? [`distro=${purlEncode(distro)}`] : [])];
  return `pkg:deb/${purlEncode(vendor)}/${purlEncode(pkg.name)}@${purlEncode(pkg.version)}?${qualifiers.join("&")}`;
}

/** The vendor (`ID`, default `debian`) and `distro` qualifier (`ID-VERSION_ID`, else the codename) of a commit. */
export function distroOf(osRelease: Map<string, string>): { vendor: string; distro?: string } {
  const vendor = (osRelease.get("ID") || "debian").toLowerCase();
  const version = osRelease.get("VERSION_ID") || osRelease.get("VERSION_CODENAME");
  return { vendor, ...(version ? { distro: `${vendor}-${version}` } : {}) };
}

function hashHex(...parts: string[]): string {
  return createHash("sha256").update(parts.join("\0")).digest("hex");
}

/** A name-based UUID (RFC 9562 version 8 layout) from a hash: the same input, the same UUID. */
function derivedUuid(hex: string): string {
  const h = hex.slice(0, 32).split("");
  h[12] = "8";
  h[16] = ((parseInt(h[16], 16) & 0x3) | 0x8).toString(16);
  const s = h.join("");
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20, 32)}`;
}

function rfc3339(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.000Z$/, "Z");
}

/** Unique, stable element ids: `SPDXRef-deb-<name>-<arch>` with SPDX's allowed characters. */
function packageIds(packages: readonly DpkgPackage[]): string[] {
  const seen = new Set<string>();
  return packages.map((p) => {
    const base = `SPDXRef-deb-${p.name}-${p.arch}`.replace(/[^A-Za-z0-9.-]/g, "-");
    let id = base;
    for (let n = 2; seen.has(id); n++) id = `${base}-${n}`;
    seen.add(id);
    return id;
  });
}

/**
 * The dependency edges between installed packages (indexes into
 * `packages`): for each `Depends`/`Pre-Depends` clause, the first
 * alternative that is installed (by name, else through `Provides`),
 * preferring the same architecture or `all`. Sorted, without duplicates.
 *
 * @example
 * ```ts
 * import { dependencyEdges } from "./documents.ts";
 * const p = (name: string, depends: string[][] = []) =>
 *   ({ name, version: "1", arch: "amd64", source: name, sourceVersion: "1", depends, provides: [] });
 * dependencyEdges([p("a", [["b"], ["missing"]]), p("b")]); // [[0, 1]]
 * ```
 */
export function dependencyEdges(packages: readonly DpkgPackage[]): [number, number][] {
  const byName = new Map<string, number[]>();
  const add = (name: string, i: number) => byName.set(name, [...(byName.get(name) ?? []), i]);
  packages.forEach((p, i) => add(p.name, i));
  const provided = new Map<string, number[]>();
  packages.forEach((p, i) => {
    for (const v of p.provides) provided.set(v, [...(provided.get(v) ?? []), i]);
  });
  const edges = new Set<string>();
  const out: [number, number][] = [];
  packages.forEach((p, i) => {
    for (const clause of p.depends) {
      for (const alt of clause) {
        const candidates = byName.get(alt) ?? provided.get(alt);
        if (!candidates || candidates.length === 0) continue;
        const target = candidates.find((j) => packages[j].arch === p.arch || packages[j].arch === "all") ??
          candidates[0];
        const key = `${i}>${target}`;
        if (target !== i && !edges.has(key)) {
          edges.add(key);
          out.push([i, target]);
        }
        break;
      }
    }
  });
  return out.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

/** `Name <email>` as SPDX's `Person: Name (email)`. */
function spdxSupplier(maintainer: string | undefined): string {
  if (!maintainer) return "NOASSERTION";
  const m = /^(.*?)\s*<([^>]*)>\s*$/.exec(maintainer);
  const name = (m ? m[1] : maintainer).replace(/[()]/g, "").trim();
  return m ? `Person: ${name} (${m[2]})` : `Person: ${name}`;
}

function documentName(input: SbomInput): string {
  return input.name;
}

/**
 * An SPDX 2.3 JSON document: the image (or commit) as the described
 * package, which CONTAINS every Debian package; DEPENDS_ON between
 * installed packages; licences declared from DEP-5 copyright files (with
 * their `LicenseRef-` texts pointing at the file), else `NOASSERTION`.
 *
 * @example
 * ```ts
 * import { spdxDocument } from "./documents.ts";
 * const doc = spdxDocument({
 *   name: "app:1", image: true, commit: "a".repeat(64), timestamp: 0, tool: { name: "apt-ostree", version: "0.1.0" },
 *   osRelease: new Map([["ID", "debian"], ["VERSION_ID", "12"]]), packages: [], licenses: new Map(),
 * });
 * doc.spdxVersion; // "SPDX-2.3"
 * ```
 */
export function spdxDocument(input: SbomInput): Record<string, unknown> {
  const { vendor, distro } = distroOf(input.osRelease);
  const ids = packageIds(input.packages);
  const rootId = input.image ? "SPDXRef-image" : "SPDXRef-commit";
  const extracted = new Map<string, { name: string; packages: Set<string> }>();
  const packages = input.packages.map((p, i) => {
    const license = input.licenses.get(p.name);
    for (const [ref, name] of license?.refs ?? []) {
      const known = extracted.get(ref) ?? { name, packages: new Set<string>() };
      known.packages.add(p.name);
      extracted.set(ref, known);
    }
    return {
      SPDXID: ids[i],
      name: p.name,
      versionInfo: p.version,
      supplier: spdxSupplier(p.maintainer),
      downloadLocation: "NOASSERTION",
      filesAnalyzed: false,
      ...(p.homepage ? { homepage: p.homepage } : {}),
      sourceInfo: `built package from: ${p.source} ${p.sourceVersion}`,
      licenseConcluded: "NOASSERTION",
      licenseDeclared: license?.expression ?? "NOASSERTION",
      copyrightText: "NOASSERTION",
      externalRefs: [{
        referenceCategory: "PACKAGE-MANAGER",
        referenceType: "purl",
        referenceLocator: debPurl(p, vendor, distro),
      }],
      primaryPackagePurpose: "LIBRARY",
    };
  });
  const relationships = [
    { spdxElementId: "SPDXRef-DOCUMENT", relationshipType: "DESCRIBES", relatedSpdxElement: rootId },
    ...ids.map((id) => ({ spdxElementId: rootId, relationshipType: "CONTAINS", relatedSpdxElement: id })),
    ...dependencyEdges(input.packages).map(([from, to]) => ({
      spdxElementId: ids[from],
      relationshipType: "DEPENDS_ON",
      relatedSpdxElement: ids[to],
    })),
  ];
  const root = {
    SPDXID: rootId,
    name: input.name,
    versionInfo: input.version ?? input.commit,
    downloadLocation: "NOASSERTION",
    filesAnalyzed: false,
    checksums: [{ algorithm: "SHA256", checksumValue: input.commit }],
    licenseConcluded: "NOASSERTION",
    licenseDeclared: "NOASSERTION",
    copyrightText: "NOASSERTION",
    description: `OSTree commit ${input.commit}${
      input.osRelease.get("PRETTY_NAME") ? ` (${input.osRelease.get("PRETTY_NAME")})` : ""
    }`,
    primaryPackagePurpose: input.image ? "CONTAINER" : "OPERATING_SYSTEM",
  };
  const uuid = derivedUuid(hashHex("spdx", input.commit, input.name, input.image ? "image" : "commit"));
  return {
    spdxVersion: "SPDX-2.3",
    dataLicense: "CC0-1.0",
    SPDXID: "SPDXRef-DOCUMENT",
    name: documentName(input),
    documentNamespace: `urn:uuid:${uuid}`,
    creationInfo: {
      created: rfc3339(input.timestamp),
      creators: [`Tool: ${input.tool.name}-${input.tool.version}`],
    },
    documentDescribes: [rootId],
    packages: [root, ...packages],
    relationships,
    ...(extracted.size > 0
      ? {
        hasExtractedLicensingInfos: [...extracted].sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0).map((
          [ref, { name, packages }],
        ) => ({
          licenseId: ref,
          name,
          extractedText: `The licence Debian calls "${name}": see /usr/share/doc/${
            [...packages].sort()[0]
          }/copyright in the image`,
        })),
      }
      : {}),
  };
}

/** `Name <email>` as a CycloneDX organizational entity. */
function cdxSupplier(maintainer: string): Record<string, unknown> {
  const m = /^(.*?)\s*<([^>]*)>\s*$/.exec(maintainer);
  return m ? { name: m[1] || m[2], contact: [{ email: m[2] }] } : { name: maintainer };
}

/**
 * A CycloneDX 1.6 JSON document: the image (or commit) as the metadata's
 * component, one `library` component per Debian package (bom-ref = purl),
 * licences as SPDX expressions, and the dependency graph.
 *
 * @example
 * ```ts
 * import { cyclonedxDocument } from "./documents.ts";
 * const doc = cyclonedxDocument({
 *   name: "app:1", image: true, commit: "a".repeat(64), timestamp: 0, tool: { name: "apt-ostree", version: "0.1.0" },
 *   osRelease: new Map([["ID", "debian"]]), packages: [], licenses: new Map(),
 * });
 * doc.specVersion; // "1.6"
 * ```
 */
export function cyclonedxDocument(input: SbomInput): Record<string, unknown> {
  const { vendor, distro } = distroOf(input.osRelease);
  const purls = input.packages.map((p) => debPurl(p, vendor, distro));
  const rootRef = `${input.image ? "image" : "commit"}:${input.commit}`;
  const edges = dependencyEdges(input.packages);
  const dependsOn = new Map<number, string[]>();
  for (const [from, to] of edges) dependsOn.set(from, [...(dependsOn.get(from) ?? []), purls[to]]);
  const components = input.packages.map((p, i) => {
    const license = input.licenses.get(p.name);
    return {
      type: "library",
      "bom-ref": purls[i],
      ...(p.maintainer ? { supplier: cdxSupplier(p.maintainer), publisher: p.maintainer } : {}),
      name: p.name,
      version: p.version,
      ...(license ? { licenses: [{ expression: license.expression }] } : {}),
      purl: purls[i],
      ...(p.homepage ? { externalReferences: [{ type: "website", url: p.homepage }] } : {}),
      properties: [
        { name: "apt-ostree:deb:architecture", value: p.arch },
        { name: "apt-ostree:deb:source", value: p.source },
        { name: "apt-ostree:deb:source-version", value: p.sourceVersion },
      ],
    };
  });
  return {
    $schema: "http://cyclonedx.org/schema/bom-1.6.schema.json",
    bomFormat: "CycloneDX",
    specVersion: "1.6",
    serialNumber: `urn:uuid:${
      derivedUuid(hashHex("cyclonedx", input.commit, input.name, input.image ? "image" : "commit"))
    }`,
    version: 1,
    metadata: {
      timestamp: rfc3339(input.timestamp),
      tools: { components: [{ type: "application", name: input.tool.name, version: input.tool.version }] },
      component: {
        type: input.image ? "container" : "operating-system",
        "bom-ref": rootRef,
        name: input.name,
        version: input.version ?? input.commit,
        ...(input.osRelease.get("PRETTY_NAME") ? { description: input.osRelease.get("PRETTY_NAME") } : {}),
        hashes: [{ alg: "SHA-256", content: input.commit }],
      },
    },
    components,
    dependencies: [
      { ref: rootRef, dependsOn: [...purls] },
      ...purls.map((ref, i) => ({ ref, dependsOn: dependsOn.get(i) ?? [] })),
    ],
  };
}

/**
 * The document in `format`, serialised (two-space indented, newline at the
 * end).
 *
 * @example
 * ```ts
 * import { sbomBytes } from "./documents.ts";
 * const bytes = sbomBytes("spdx", {
 *   name: "app:1", image: true, commit: "a".repeat(64), timestamp: 0, tool: { name: "apt-ostree", version: "0.1.0" },
 *   osRelease: new Map(), packages: [], licenses: new Map(),
 * });
 * ```
 */
export function sbomBytes(format: SbomFormat, input: SbomInput): Uint8Array {
  const doc = format === "spdx" ? spdxDocument(input) : cyclonedxDocument(input);
  return new TextEncoder().encode(JSON.stringify(doc, null, 2) + "\n");
}
