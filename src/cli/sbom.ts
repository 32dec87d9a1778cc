/**
 * `apt-ostree compose sbom REF` (an SBOM made from a commit's dpkg
 * database) and `apt-ostree image sbom IMAGE` (the SBOM attached to an
 * image, read back and checked against its digest).
 *
 * @module
 */

import { type Command, Option } from "commander";
import { AptOstreeError, UsageError } from "../errors.ts";
import type { SbomFormat } from "../sbom/documents.ts";
import type { CommandContext, GlobalOptions } from "./context.ts";
import { shownChoices } from "./option_values.ts";
import { addRegistryOptions, addRetryOptions, registryOptionsFrom } from "./registry_options.ts";
import { withInterruptSignal } from "./signals.ts";
import { parseImageLocation } from "../reference/transport.ts";
import type { Finding } from "../sbom/scan.ts";
import { sourceDateEpoch } from "./parse.ts";

/** The SBOM formats (kept here so that `--help` loads no library code). */
const FORMATS: readonly SbomFormat[] = ["spdx", "cyclonedx"];

/** Artifact types by format (as `sbom/documents.ts` has them). */
const ARTIFACT_TYPES: Record<SbomFormat, string> = {
  spdx: "application/spdx+json",
  cyclonedx: "application/vnd.cyclonedx+json",
};

/**
 * Parses `--sbom` values: formats, repeatable or comma-separated, without
 * duplicates (`spdx`, `cyclonedx`; `cdx` for short).
 *
 * @example
 * ```ts
 * import { parseSbomFormats } from "./sbom.ts";
 * parseSbomFormats(["spdx,cyclonedx", "spdx"]); // ["spdx", "cyclonedx"]
 * ```
 */
export function parseSbomFormats(values: readonly string[]): SbomFormat[] {
  const out: SbomFormat[] = [];
  for (const value of values.flatMap((v) => v.split(","))) {
    const name = value.trim().toLowerCase();
    const format = name === "cdx" ? "cyclonedx" : name;
    if (!FORMATS.includes(format as SbomFormat)) {
      throw new UsageError(`Unknown SBOM format: ${value}`, { solution: `Use --sbom ${FORMATS.join(" or ")}` });
    }
    if (!out.includes(format as SbomFormat)) out.push(format as SbomFormat);
  }
  return out;
}

async function writeOutput(bytes: Uint8Array, output: string | undefined): Promise<void> {
  if (output === undefined || output === "-") {
    await Deno.stdout.write(bytes);
    return;
  }
  const { writeFileAtomic } = await import("../util/fs.ts");
  await writeFileAtomic(output, bytes, "output");
}

/**
 * Adds `sbom` to the `compose` command.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { registerComposeSbom } from "./sbom.ts";
 * import { createContext } from "./context.ts";
 * registerComposeSbom(new Command("compose"), createContext);
 * ```
 */
export function registerComposeSbom(compose: Command, contextFor: (globals: GlobalOptions) => CommandContext): void {
  compose
    .command("sbom")
    .description("Write the SBOM of a commit (SPDX 2.3 or CycloneDX 1.6 JSON) from its dpkg database")
    .argument("<source>", "branch, ref, commit checksum or unique checksum prefix")
    .addOption(shownChoices(new Option("--format <format>", "SBOM format"), FORMATS).default("spdx"))
    .option("-o, --output <file>", "write the document to a file (default: standard output)")
    .option("--name <name>", "what the document describes (default: the source as given)")
    .addHelpText(
      "after",
      `
The document is made from the commit itself (dpkg's status file, os-release and the packages'
machine-readable copyright files, read from the repository), never from the host: the same commit
gives the same bytes. build-image --sbom attaches the same kind of document to an image.

Examples:
  apt-ostree compose sbom debian/12/x86_64 > sbom.spdx.json
  apt-ostree compose sbom my-deployment --format cyclonedx -o sbom.cdx.json`,
    )
    .action(async (source: string, opts: { format: string; output?: string; name?: string }, command: Command) => {
      const globals = command.optsWithGlobals() as GlobalOptions;
      const ctx = contextFor(globals);
      const [format] = parseSbomFormats([opts.format]);
      const [{ commitSbom }, { defaultRepoPath, OstreeRepo }] = await Promise.all([
        import("../sbom/commit.ts"),
        import("../ostree/repo.ts"),
      ]);
      const repo = await OstreeRepo.open(defaultRepoPath(globals.repo));
      const commit = await repo.resolveCommit(source);
      const docs = await withInterruptSignal((signal) =>
        commitSbom(repo, { commit, name: opts.name ?? source, image: false, formats: [format], signal })
      );
      const bytes = docs.get(format)!;
      await writeOutput(bytes, opts.output);
      if (opts.output !== undefined && opts.output !== "-") {
        ctx.result(
          { commit, format, output: opts.output, size: bytes.length },
          () => [`Wrote the ${format} SBOM of commit ${commit} to ${opts.output}`],
        );
      }
    });
}

/**
 * Adds `sbom` to the `image` command.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { registerImageSbom } from "./sbom.ts";
 * import { createContext } from "./context.ts";
 * registerImageSbom(new Command("image"), createContext);
 * ```
 */
export function registerImageSbom(image: Command, contextFor: (globals: GlobalOptions) => CommandContext): void {
  const command = image
    .command("sbom")
    .description("Print the SBOM attached to an image (an OCI referrer), checked against its digest")
    .argument("<image>", "oci:PATH[:TAG] or docker://HOST/NAME[:TAG]")
    .addOption(
      shownChoices(new Option("--format <format>", "the SBOM format to print (default: the first attached)"), FORMATS),
    )
    .option("-o, --output <file>", "write the document to a file (default: standard output)")
    .option("--arch <arch>", "platform of a multi-platform image (default: the host's)");
  addRegistryOptions(command);
  addRetryOptions(command).addHelpText(
    "after",
    `
Finds the image's referrers (the registry's referrers API, else the sha256-<hex> fallback tag; in a
layout, index.json), picks an SBOM whose subject is the image's manifest, and checks the artifact's
manifest and document against their digests before printing.

Examples:
  apt-ostree image sbom oci:./web.oci:1.0
  apt-ostree image sbom docker://localhost:5000/web:1 --tls-verify=false --format cyclonedx`,
  )
    .action(async (imageName: string, opts: Record<string, unknown>, command: Command) => {
      const globals = command.optsWithGlobals() as GlobalOptions;
      const ctx = contextFor(globals);
      const formats = opts.format !== undefined ? parseSbomFormats([opts.format as string]) : [...FORMATS];
      const [{ openImageSource }, { readAttached }, { resolveImage }, { hostArch, ociPlatform }] = await Promise.all([
        import("../image/open.ts"),
        import("../image/referrers.ts"),
        import("../oci/image.ts"),
        import("../oci/platform.ts"),
      ]);
      await withInterruptSignal(async (signal) => {
        const source = await openImageSource(parseImageLocation(imageName), registryOptionsFrom(opts, globals));
        try {
          const arch = (opts.arch as string | undefined) ?? hostArch();
          const { raw } = await resolveImage(source, ociPlatform(arch), signal);
          const subject = { mediaType: raw.mediaType, digest: raw.digest, size: raw.bytes.length };
          const docs = await readAttached(source, subject, formats.map((f) => ARTIFACT_TYPES[f]), signal);
          docs.sort((a, b) =>
            formats.indexOf(FORMATS.find((f) => ARTIFACT_TYPES[f] === a.artifactType)!) -
            formats.indexOf(FORMATS.find((f) => ARTIFACT_TYPES[f] === b.artifactType)!)
          );
          if (docs.length === 0) {
            throw new AptOstreeError(
              `${source.description} (manifest ${raw.digest}) has no ${opts.format ?? "SBOM"} attached`,
              {
                solution:
                  "Build the image with: apt-ostree compose build-image --sbom spdx (copies carry it along unless --no-referrers)",
              },
            );
          }
          const doc = docs[0];
          const output = opts.output as string | undefined;
          await writeOutput(doc.bytes, output);
          if (output !== undefined && output !== "-") {
            ctx.result(
              { image: source.description, subject: raw.digest, artifact: doc.manifest.digest, ...doc.layer },
              () => [`Wrote the SBOM ${doc.layer.digest} (${doc.artifactType}) of ${raw.digest} to ${output}`],
            );
          }
        } finally {
          source.close();
        }
      });
    });
}

/** Severities for `--fail-on` (as `sbom/scan.ts` has them). */
const SEVERITY_CHOICES = ["negligible", "low", "medium", "high", "unknown"];

/** Writes the SARIF and OpenVEX files `--sarif` and `--openvex` ask for (each whole or not at all). */
async function writeScanReports(
  opts: Record<string, unknown>,
  scanned: { target: string; release: string; findings: Finding[]; distro?: string },
): Promise<void> {
  const sarif = opts.sarif as string | undefined;
  const openvex = opts.openvex as string | undefined;
  if (sarif === undefined && openvex === undefined) return;
  const [{ sarifReport, openVexReport }, { debPurl }, { DPKG_DATABASE_DIR }, { VERSION }, { writeFileAtomic }] =
    await Promise.all([
      import("../sbom/scan_report.ts"),
      import("../sbom/documents.ts"),
      import("../layers/dpkg_owners.ts"),
      import("../version.ts"),
      import("../util/fs.ts"),
    ]);
  const vendor = scanned.distro?.split("-")[0] ?? "debian";
  const input = {
    ...scanned,
    toolVersion: VERSION,
    purl: (f: Finding) => debPurl({ name: f.package, version: f.version, arch: f.arch }, vendor, scanned.distro),
    statusPath: `${DPKG_DATABASE_DIR}/status`,
  };
  const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value, null, 2) + "\n");
  if (sarif !== undefined) await writeFileAtomic(sarif, json(sarifReport(input)));
  if (openvex !== undefined) {
    const timestamp = (sourceDateEpoch(Deno.env.get("SOURCE_DATE_EPOCH")) ?? new Date()).toISOString()
      .replace(/\.\d{3}Z$/, "Z");
    await writeFileAtomic(openvex, json(openVexReport(input, timestamp)));
  }
}

/**
 * Adds `scan` to the `image` command.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { registerImageScan } from "./sbom.ts";
 * import { createContext } from "./context.ts";
 * registerImageScan(new Command("image"), createContext);
 * ```
 */
export function registerImageScan(image: Command, contextFor: (globals: GlobalOptions) => CommandContext): void {
  const command = image
    .command("scan")
    .description("List the known vulnerabilities of an image's or a commit's Debian packages (offline)")
    .argument("<target>", "an image with an SBOM attached (oci:PATH[:TAG], docker://…) or an OSTree ref or commit")
    .requiredOption("--advisories <file>", "the Debian Security Tracker's JSON (tracker/data/json), downloaded before")
    .option("--release <name>", "the Debian release to match (default: from the distro: debian-12 is bookworm)")
    .addOption(
      shownChoices(
        new Option("--fail-on <severity>", "exit 1 when a finding is at least this severe (unknown counts as high)"),
        SEVERITY_CHOICES,
      ),
    )
    .option("--arch <arch>", "platform of a multi-platform image (default: the host's)")
    .option(
      "--sarif <file>",
      "also write the findings as a SARIF 2.1.0 log (GitHub code scanning and other SARIF tools)",
    )
    .option("--openvex <file>", "also write the findings as an OpenVEX 0.2.0 document");
  addRegistryOptions(command);
  addRetryOptions(command).addHelpText(
    "after",
    `
A package is affected by a CVE when the tracker's entry for its source package and the release is open (no fix
yet) or resolved in a version later than the installed source version (dpkg's version order). An image is read
through its attached SBOM (compose build-image --sbom); a ref through the commit's dpkg database. No network.

Examples:
  apt-ostree image scan oci:./web.oci:1 --advisories debian-security.json
  apt-ostree image scan my-deployment --advisories debian-security.json --fail-on high --json
  apt-ostree image scan oci:./web.oci:1 --advisories debian-security.json --sarif scan.sarif --openvex scan.vex.json`,
  )
    .action(async (target: string, opts: Record<string, unknown>, command: Command) => {
      const globals = command.optsWithGlobals() as GlobalOptions;
      const ctx = contextFor(globals);
      const scan = await import("../sbom/scan.ts");
      const { isImageLocation } = await import("../reference/transport.ts");
      const file = opts.advisories as string;
      let text: string;
      try {
        text = await Deno.readTextFile(file);
      } catch (error) {
        throw new UsageError(`Cannot read the advisories ${file}: ${error instanceof Error ? error.message : error}`, {
          solution: "Download https://security-tracker.debian.org/tracker/data/json and give its path",
        });
      }
      const advisories = scan.parseAdvisories(text, file);
      let packages: import("../sbom/scan.ts").ScanPackage[];
      let distro: string | undefined;
      if (isImageLocation(target)) {
        const [{ openImageSource }, { readAttached }, { resolveImage }, { hostArch, ociPlatform }] = await Promise.all([
          import("../image/open.ts"),
          import("../image/referrers.ts"),
          import("../oci/image.ts"),
          import("../oci/platform.ts"),
        ]);
        const found = await withInterruptSignal(async (signal) => {
          const source = await openImageSource(parseImageLocation(target), registryOptionsFrom(opts, globals));
          try {
            const { raw } = await resolveImage(
              source,
              ociPlatform((opts.arch as string | undefined) ?? hostArch()),
              signal,
            );
            const subject = { mediaType: raw.mediaType, digest: raw.digest, size: raw.bytes.length };
            const docs = await readAttached(source, subject, [ARTIFACT_TYPES.spdx, ARTIFACT_TYPES.cyclonedx], signal);
            if (docs.length === 0) {
              throw new AptOstreeError(`${source.description} has no SBOM attached to scan`, {
                solution: "Build it with: apt-ostree compose build-image --sbom spdx, or scan the commit (its ref)",
              });
            }
            return scan.sbomPackages(JSON.parse(new TextDecoder().decode(docs[0].bytes)));
          } finally {
            source.close();
          }
        });
        packages = found.packages;
        distro = found.distro;
      } else {
        const [{ readCommitPackages }, { defaultRepoPath, OstreeRepo }, { contentSourceFor }, { distroOf }] =
          await Promise.all([
            import("../sbom/commit.ts"),
            import("../ostree/repo.ts"),
            import("../ostree/content.ts"),
            import("../sbom/documents.ts"),
          ]);
        const repo = await OstreeRepo.open(defaultRepoPath(globals.repo));
        const commit = await repo.resolveCommit(target);
        const found = await readCommitPackages(await repo.readTree(commit), contentSourceFor(repo), target);
        packages = found.packages;
        distro = distroOf(found.osRelease).distro;
      }
      const release = (opts.release as string | undefined) ?? (distro ? scan.releaseName(distro) : undefined);
      if (release === undefined) {
        throw new UsageError(`The release of ${target} is not known (no distro in its SBOM or os-release)`, {
          solution: "Name it with --release, e.g. --release bookworm",
        });
      }
      const findings = scan.scanPackages(packages, advisories, release);
      await writeScanReports(opts, { target, release, findings, distro });
      const counts = Object.fromEntries(
        scan.SEVERITIES.map((s) => [s, findings.filter((f) => f.severity === s).length]),
      );
      ctx.result({ target, release, packages: packages.length, counts, findings }, () => [
        `${target}: ${packages.length} packages, release ${release}: ${findings.length} finding(s)` +
        (findings.length > 0
          ? ` (${scan.SEVERITIES.filter((s) => counts[s] > 0).map((s) => `${counts[s]} ${s}`).join(", ")})`
          : ""),
        ...findings.map((f) =>
          `  ${f.package} ${f.version} (${f.arch}, source ${f.source} ${f.sourceVersion}): ${f.cve} ${f.severity}, ${
            f.status === "open" ? "no fix yet" : `fixed in ${f.fixedVersion}`
          }`
        ),
      ]);
      const failOn = opts.failOn as string | undefined;
      if (failOn !== undefined) {
        const rank = (s: string) =>
          s === "unknown" ? scan.SEVERITIES.indexOf("high") : scan.SEVERITIES.indexOf(s as never);
        const failing = findings.filter((f) => rank(f.severity) >= rank(failOn));
        if (failing.length > 0) {
          throw new AptOstreeError(`${failing.length} finding(s) at or above ${failOn} in ${target}`, {
            solution: "Rebuild with the fixed packages (compose create pulls the latest), or raise --fail-on",
          });
        }
      }
    });
}
