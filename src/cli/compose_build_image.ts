/**
 * `apt-ostree compose build-image SOURCE IMAGE[:TAG]`: the CLI shell over
 * {@linkcode buildImage}.
 *
 * @module
 */

import { type Command, Option } from "commander";
import type { BuildImageResult, ImageFormat } from "../builder/build_image.ts";
import type { Compression } from "../compress/compression.ts";
import { parseKeyValues } from "../oci/image_config.ts";
import type { ImageSettings } from "../oci/image_config.ts";
import type { CommandContext, GlobalOptions } from "./context.ts";
import { COMPRESSION_CHOICES, DEFAULT_MAX_LAYERS_SHOWN, FORMAT_CHOICES, shownChoices } from "./option_values.ts";
import { parseCommand, parsePositiveInt, sourceDateEpoch } from "./parse.ts";
import { formatBytes } from "./progress.ts";
import { withInterruptSignal } from "./signals.ts";
import { addPushOptions, planPush } from "./build_push.ts";
import { pushSummary } from "./image_push.ts";
import { uploadOptionsFrom } from "./registry_options.ts";
import { findingLines } from "./lint.ts";
import { addSignOptions, precheckSigning, signatureLines, signOptionsFrom, signWritten } from "./sign_options.ts";
import { type ImageLocation, isImageLocation, parseImageLocation } from "../reference/transport.ts";
import type { BuildIndexResult, PlatformSource } from "../builder/build_index.ts";
import { formatPlatform } from "../oci/platform.ts";

/** Where a built image is, as a location (for signing it). */
function builtLocation(format: string, output: string, image: string): ImageLocation {
  if (format === "registry" || output.startsWith("docker://")) return parseImageLocation(output);
  const tag = image.replace(/^.*:/, "");
  if (format === "oci") return { transport: "oci", path: output, tag };
  if (format === "oci-archive") return { transport: "oci-archive", path: output, tag: undefined };
  return { transport: "docker-archive", path: output, ref: undefined };
}
import { parseSbomFormats } from "./sbom.ts";
import { addProvenanceOption, attachBuildProvenance, precheckProvenance } from "./build_provenance.ts";
import type { ProvenanceAttached } from "../provenance/attach.ts";
import type { SbomFormat } from "../sbom/documents.ts";
import { UsageError } from "../errors.ts";

/**
 * The SBOMs asked for: `--sbom-format`/`--sbom` (an error where none can be
 * made), none with `--no-sbom`, else SPDX where the commit and the output
 * allow it.
 */
function sbomChoice(opts: BuildImageCliOptions): { sbom: SbomFormat[]; sbomOptional: boolean } {
  const named = [...(opts.sbom || []), ...opts.sbomFormat];
  if (opts.sbom === false) {
    if (named.length > 0) {
      throw new UsageError("--no-sbom and --sbom-format contradict each other", { solution: "Give one of them" });
    }
    return { sbom: [], sbomOptional: false };
  }
  if (opts.dryRun || named.length === 0) return { sbom: opts.dryRun ? [] : ["spdx"], sbomOptional: true };
  return { sbom: parseSbomFormats(named), sbomOptional: false };
}

/** The options a provenance statement records: those that decide the image (no paths of keys or passphrases). */
function provenanceOptions(opts: BuildImageCliOptions): Record<string, unknown> {
  const picked: Record<string, unknown> = {
    format: opts.format,
    compression: opts.compression,
    compressionLevel: opts.compressionLevel,
    maxLayers: opts.maxLayers,
    arch: opts.arch,
    bootc: opts.bootc,
    lintSkip: opts.lintSkip.length > 0 ? opts.lintSkip : undefined,
    sbom: opts.sbom === false ? false : [...opts.sbom, ...opts.sbomFormat],
  };
  return Object.fromEntries(Object.entries(picked).filter(([, v]) => v !== undefined));
}

function provenanceLines(provenance: ProvenanceAttached | undefined): string[] {
  if (!provenance) return [];
  return [
    `  provenance: ${provenance.predicateType} ${provenance.digest} (DSSE, ${provenance.signatures} signature${
      provenance.signatures === 1 ? "" : "s"
    }${provenance.written ? "" : ", attached already"})`,
  ];
}

/** Options of the build-image command as commander collects them. */
interface BuildImageCliOptions {
  format: string;
  output?: string;
  force?: boolean;
  compression: string;
  compressionLevel?: string;
  allowZstdDocker?: boolean;
  maxLayers?: string;
  arch?: string;
  cmd?: string;
  entrypoint?: string;
  env: string[];
  workdir?: string;
  user?: string;
  label: string[];
  annotation: string[];
  expose: string[];
  volume: string[];
  stopSignal?: string;
  dryRun?: boolean;
  bootc?: boolean;
  lintSkip: string[];
  sbom: string[] | false;
  sbomFormat: string[];
  workers?: string;
  file?: string;
  platform: string[];
  provenance?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** Image settings from the command line. */
function settingsFromOptions(opts: BuildImageCliOptions): ImageSettings {
  const settings: ImageSettings = {};
  if (opts.cmd !== undefined) settings.cmd = parseCommand(opts.cmd, "--cmd");
  if (opts.entrypoint !== undefined) settings.entrypoint = parseCommand(opts.entrypoint, "--entrypoint");
  if (opts.env.length) settings.env = opts.env;
  if (opts.workdir !== undefined) settings.workdir = opts.workdir;
  if (opts.user !== undefined) settings.user = opts.user;
  if (opts.label.length) settings.labels = parseKeyValues(opts.label, "--label");
  if (opts.annotation.length) settings.annotations = parseKeyValues(opts.annotation, "--annotation");
  if (opts.expose.length) settings.expose = opts.expose;
  if (opts.volume.length) settings.volumes = opts.volume;
  if (opts.stopSignal !== undefined) settings.stopSignal = opts.stopSignal;
  return settings;
}

/** The transport name skopeo uses for an output. */
function transportOf(result: BuildImageResult): string {
  const tag = result.image.replace(/^.*:/, "");
  if (result.format === "oci") return `oci:${result.output}:${tag}`;
  if (result.format === "oci-archive") return `oci-archive:${result.output}`;
  if (result.format === "registry") return result.output;
  return `docker-archive:${result.output}`;
}

function humanLines(result: BuildImageResult): string[] {
  const platform = `${result.platform.os}/${result.platform.architecture}${
    result.platform.variant ? `/${result.platform.variant}` : ""
  }`;
  if (result.dryRun) {
    const planned = result.plannedLayers ?? [];
    return [
      `Would build ${result.format} image ${result.image} from commit ${result.commit}${
        result.bootc ? " (ostree-native)" : ""
      }`,
      `  output:   ${result.output}`,
      `  platform: ${platform}`,
      `  created:  ${result.created}`,
      `  content:  ${(result.entries ?? 0).toLocaleString("en-US")} entries, ${formatBytes(result.contentBytes ?? 0)}`,
      `  layers:   ${planned.length}`,
      ...planned.map((l) =>
        `    ${l.bin}: ${l.entries.toLocaleString("en-US")} entries, ${formatBytes(l.contentBytes)}`
      ),
      "Nothing was written (--dry-run).",
    ];
  }
  const layers = result.layers ?? [];
  const compressed = layers.reduce((n, l) => n + l.size, 0);
  const reused = layers.filter((l) => l.reused).length;
  const content = result.entries !== undefined
    ? `; ${result.entries.toLocaleString("en-US")} entries, ${formatBytes(result.contentBytes ?? 0)} of content`
    : "";
  return [
    result.reusedImage
      ? `Image ${result.image} is up to date with commit ${result.commit} (reused as it was)`
      : `Built ${result.format} image ${result.image} from commit ${result.commit}${
        result.bootc ? ` (ostree-native${result.kernel ? `, bootable, kernel ${result.kernel}` : ""})` : ""
      }`,
    `  output:  ${result.output}`,
    `  digest:  ${result.digest}`,
    `  layers:  ${layers.length} (${formatBytes(compressed)} compressed${content}; ${reused} reused)`,
    ...(result.sbom ?? []).map((s) =>
      `  sbom:    ${s.format} ${s.digest} (${formatBytes(s.size)}${s.written ? "" : ", attached already"})`
    ),
    ...(result.sbomSkipped ? [`  sbom:    none (${result.sbomSkipped})`] : []),
    `Inspect it with: skopeo inspect ${transportOf(result)}`,
  ];
}

/** `--platform PLATFORM=SOURCE`, split. */
function parsePlatformSource(value: string): PlatformSource {
  const at = value.indexOf("=");
  if (at <= 0 || at === value.length - 1) {
    throw new UsageError(`Invalid --platform: ${value}`, {
      solution: "Use --platform PLATFORM=SOURCE, e.g. --platform linux/arm64=deploy/debian/12/aarch64/app",
    });
  }
  return { platform: value.slice(0, at), source: value.slice(at + 1) };
}

/** The two arguments: `SOURCE IMAGE`, or `IMAGE` alone with platforms. */
function sourceAndImage(
  first: string,
  second: string | undefined,
  withPlatforms: boolean,
): { source?: string; image: string } {
  if (withPlatforms) {
    if (second !== undefined) {
      throw new UsageError(`With --platform, each platform names its source; "${first}" is one too many`, {
        solution:
          "Give only IMAGE: compose build-image IMAGE --platform linux/amd64=SOURCE --platform linux/arm64=SOURCE",
      });
    }
    return { image: first };
  }
  if (second === undefined) {
    throw new UsageError("missing required argument 'image'", {
      solution: "Give SOURCE and IMAGE (compose build-image SOURCE IMAGE), or IMAGE with --platform PLATFORM=SOURCE",
    });
  }
  return { source: first, image: second };
}

function indexLines(result: BuildIndexResult): string[] {
  const platforms = result.images.map((one) => formatPlatform(one.platform)).join(", ");
  if (result.dryRun) {
    return [
      `Would build ${result.format} image index ${result.image} for ${platforms}`,
      `  output:    ${result.output}`,
      ...result.images.flatMap((one) => [
        `  ${formatPlatform(one.platform)}: commit ${one.commit}${one.bootc ? " (ostree-native)" : ""}`,
        `    ${(one.entries ?? 0).toLocaleString("en-US")} entries, ${formatBytes(one.contentBytes ?? 0)}, ${
          one.plannedLayers?.length ?? 0
        } layers`,
      ]),
      "Nothing was written (--dry-run).",
    ];
  }
  const transport = result.format === "oci"
    ? `oci:${result.output}:${result.image.replace(/^.*:/, "")}`
    : result.format === "oci-archive"
    ? `oci-archive:${result.output}`
    : result.output;
  return [
    result.reusedImage
      ? `Image index ${result.image} is up to date (every platform reused as it was)`
      : `Built ${result.format} image index ${result.image} for ${platforms}`,
    `  output:  ${result.output}`,
    `  digest:  ${result.digest}`,
    ...result.images.map((one) => {
      const layers = one.layers ?? [];
      const compressed = layers.reduce((n, l) => n + l.size, 0);
      return `  ${formatPlatform(one.platform)}: ${one.digest} from commit ${one.commit.slice(0, 12)}${
        one.bootc ? " (ostree-native)" : ""
      }; ${layers.length} layers (${formatBytes(compressed)}; ${layers.filter((l) => l.reused).length} reused)${
        one.reusedImage ? "; reused as it was" : ""
      }${one.sbom?.length ? `; SBOM ${one.sbom.map((s) => s.format).join(", ")} attached` : ""}`;
    }),
    `Inspect it with: skopeo inspect --raw ${transport}`,
  ];
}

/**
 * Adds `build-image` to the `compose` command.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { registerBuildImage } from "./compose_build_image.ts";
 * import { createContext } from "./context.ts";
 * const compose = new Command("compose");
 * registerBuildImage(compose, (globals) => createContext(globals));
 * ```
 */
export function registerBuildImage(
  compose: Command,
  contextFor: (globals: GlobalOptions) => CommandContext,
): void {
  const buildImageCommand = compose
    .command("build-image")
    .description("Build an OCI image (layout, oci-archive or docker-archive) from an OSTree commit")
    .argument("<source>", "branch, ref, commit checksum or unique checksum prefix (left out with --platform)")
    .argument("[image]", "image name and tag, e.g. my-image:latest or registry.example.com/team/app:1.0")
    .optionsGroup("Output:")
    .addOption(
      shownChoices(
        new Option("--format <format>", "output format of a path (docker-archive is the same as docker)"),
        [...FORMAT_CHOICES, "docker-archive"],
      ).default("oci"),
    )
    .option(
      "-o, --output <path|location>",
      "output path (default: ./<name>.oci for oci, ./<name>.tar for archives), or a location: " +
        "oci:PATH[:TAG], oci-archive:PATH, docker-archive:PATH, docker://HOST/NAME:TAG (built straight into the registry)",
    )
    .option(
      "--force",
      "replace a file, empty directory or broken layout at the output (never a repository, $HOME, / or a mount point)",
    )
    .option("--dry-run", "resolve the source and show what would be written, without writing")
    .option(
      "--bootc",
      "write the ostree-native (bootc) format: the commit's own objects, deployable by bootc, rpm-ostree and " +
        "ostree hosts (default: on for a commit with a kernel in /usr/lib/modules)",
    )
    .option("--no-bootc", "write a plain OCI image even for a bootable commit")
    .option(
      "--lint-skip <rule>",
      "bootc lint rule not to enforce on an ostree-native image (repeatable; see: apt-ostree image lint --list)",
      collect,
      [],
    )
    .option(
      "--sbom-format <format>",
      "the SBOM attached to the image, made from the commit's dpkg database: spdx (SPDX 2.3, the default) or " +
        "cyclonedx (CycloneDX 1.6); repeatable or comma-separated. Without it, an SPDX SBOM is attached when the " +
        "commit has a dpkg database and the output can hold it (not a docker-archive); see docs/sbom.md",
      collect,
      [],
    )
    .option("--sbom <format>", "the same as --sbom-format (the older spelling)", collect, [])
    .option("--no-sbom", "attach no SBOM")
    .optionsGroup("Layers:")
    .addOption(
      shownChoices(new Option("--compression <algorithm>", "layer compression"), COMPRESSION_CHOICES).default("gzip"),
    )
    .option("--compression-level <n>", "compression level: gzip 1-9 (default 6), zstd 1-19 (default 3)")
    .option("--allow-zstd-docker", "allow zstd layers in a docker-archive (Docker before 23.0 cannot load it)")
    .option(
      "--max-layers <n>",
      `most layers, split by Debian package (or path prefix) and stable across builds; 1 for a single layer (default ${DEFAULT_MAX_LAYERS_SHOWN})`,
    )
    .option(
      "--workers <n>",
      "compression threads, this one included (default: one per CPU; the output is the same for any number)",
    )
    .optionsGroup("Image settings:")
    .option("-f, --file <path>", "compose file whose image: settings to use (options given here win)")
    .option("--arch <arch>", "image architecture (default: the commit's, else the host's)")
    .option(
      "--platform <platform=source>",
      "build a multi-platform image index: PLATFORM (linux/arm64, linux/arm/v7) from SOURCE, a commit " +
        "recorded for that architecture (repeatable; the SOURCE argument is then left out)",
      collect,
      [],
    )
    .option("--cmd <command>", "default command: a JSON array or a command line")
    .option("--entrypoint <command>", "entrypoint: a JSON array or a command line")
    .option("--env <KEY=VALUE>", "environment variable (repeatable)", collect, [])
    .option("--workdir <dir>", "working directory")
    .option("--user <user>", "user[:group] the container runs as")
    .option("--label <KEY=VALUE>", "image config label (repeatable)", collect, [])
    .option("--annotation <KEY=VALUE>", "manifest annotation (repeatable)", collect, [])
    .option("--expose <port>", "exposed port, PORT[/tcp|udp|sctp] (repeatable)", collect, [])
    .option("--volume <path>", "volume mount point (repeatable)", collect, [])
    .option("--stop-signal <signal>", "signal that stops the container, e.g. SIGTERM")
    .addHelpText(
      "after",
      `
Examples:
  apt-ostree compose build-image my-deployment my-image:latest
  apt-ostree compose build-image abc123 registry.example.com/team/web:1.0 --format docker -o web.tar
  apt-ostree compose build-image main web:1.0 -o docker://registry.example.com/team/web:1.0
  apt-ostree --repo ./repo compose build-image main app:1 --cmd "nginx -g 'daemon off;'" --expose 80 --env LANG=C.UTF-8
  apt-ostree compose build-image app:1 --platform linux/amd64=deploy/amd64 --platform linux/arm64=deploy/arm64 -o oci:app.oci

Environment:
  APT_OSTREE_REPO     repository used when --repo is not given (default /var/lib/apt-ostree/repo)
  SOURCE_DATE_EPOCH   image creation time (default: the commit's timestamp)`,
    )
    .action(async (first: string, second: string | undefined, opts: BuildImageCliOptions, command: Command) => {
      const [{ buildImage }, { defaultRepoPath }] = await Promise.all([
        import("../builder/build_image.ts"),
        import("../ostree/repo.ts"),
      ]);
      const globals = command.optsWithGlobals() as GlobalOptions;
      const ctx = contextFor(globals);
      const cliSettings = settingsFromOptions(opts);
      let settings = cliSettings;
      let filePlatforms: PlatformSource[] | undefined;
      if (opts.file !== undefined) {
        const { loadComposeFile, mergeImageSettings } = await import("../compose/compose_file.ts");
        const file = await loadComposeFile(opts.file);
        settings = mergeImageSettings(file.image, cliSettings);
        filePlatforms = file.platforms;
      }
      const platforms = opts.platform.length > 0
        ? opts.platform.map(parsePlatformSource)
        : second === undefined
        ? filePlatforms
        : undefined; // SOURCE IMAGE: one image, whatever platforms the file lists
      const { source, image } = sourceAndImage(first, second, platforms !== undefined);
      if (platforms !== undefined && opts.arch !== undefined) {
        throw new UsageError("--arch relabels one image; with --platform each platform names its own", {
          solution: "Drop --arch, or build one image without --platform",
        });
      }
      if (platforms !== undefined && opts.provenance) {
        throw new UsageError("--provenance is not attached to a multi-platform image yet", {
          solution: "Build without --provenance, or build each platform's image on its own with --provenance",
        });
      }
      const created = sourceDateEpoch(Deno.env.get("SOURCE_DATE_EPOCH"));
      const workers = opts.workers !== undefined ? parsePositiveInt(opts.workers, "--workers") : undefined;
      const maxLayers = opts.maxLayers !== undefined ? parsePositiveInt(opts.maxLayers, "--max-layers") : undefined;
      const compressionLevel = opts.compressionLevel !== undefined
        ? parsePositiveInt(opts.compressionLevel, "--compression-level")
        : undefined;
      const progress = ctx.reporter();
      const push = opts.dryRun ? undefined : planPush(image, opts as unknown as Record<string, unknown>, globals);
      const output = push?.output ?? opts.output;
      // Used only when the output is a registry (`--push --no-local`, or `-o docker://…`).
      const registry = push?.registry ?? uploadOptionsFrom(opts as unknown as Record<string, unknown>, globals);
      const sign = signOptionsFrom(opts as unknown as Record<string, unknown>);
      const signTarget = (format: string, out: string) =>
        push?.push ? push.destination : builtLocation(format, out, image.includes(":") ? image : `${image}:latest`);
      const identity = image.includes(":") || image.includes("@") ? image : `${image}:latest`;
      if (!opts.dryRun) {
        await precheckSigning(signTarget(opts.format, output ?? "image.oci"), sign, push ? undefined : identity);
        const built = output !== undefined && isImageLocation(output)
          ? parseImageLocation(output)
          : builtLocation(opts.format === "docker-archive" ? "docker" : opts.format, output ?? "image.oci", identity);
        precheckProvenance(opts.provenance, sign, built.transport);
      }
      try {
        const shared = {
          repo: defaultRepoPath(globals.repo),
          image,
          format: (opts.format === "docker-archive" ? "docker" : opts.format) as ImageFormat,
          output,
          registry,
          force: opts.force,
          compression: opts.compression as Compression,
          compressionLevel,
          allowZstdDocker: opts.allowZstdDocker === true,
          maxLayers,
          settings,
          created,
          dryRun: opts.dryRun,
          bootc: opts.bootc,
          lintSkip: opts.lintSkip,
          ...sbomChoice(opts),
          workers,
          onProgress: progress.onProgress,
        };
        if (platforms !== undefined) {
          const { buildIndex } = await import("../builder/build_index.ts");
          const result = await withInterruptSignal((signal) => buildIndex({ ...shared, platforms, signal }));
          progress.done();
          if (!globals.json) {
            for (const one of result.images) {
              for (const finding of one.lintWarnings ?? []) {
                for (const line of findingLines(finding)) console.error(`${formatPlatform(one.platform)}: ${line}`);
              }
            }
          }
          const lines = indexLines(result);
          // As `cosign sign --recursive`: the index and each platform's manifest, so that a host that resolves the
          // index to its platform (and checks that manifest's signature) finds one too.
          const children = (result.images ?? []).map((one) => one.digest).filter((d): d is string => d !== undefined);
          const signEach = async (location: ImageLocation, digest: string, defaultIdentity?: string) => {
            const signed = { ...sign, keepExisting: true };
            const all = await signWritten(location, digest, signed, registry, defaultIdentity);
            for (const child of children) {
              all.push(...await signWritten(location, child, signed, registry, defaultIdentity));
            }
            return all;
          };
          if (push?.push) {
            const pushed = await push.push(result);
            const signatures = await signEach(push.destination, pushed.digest);
            ctx.result(
              { ...result, push: pushed, ...(signatures.length > 0 ? { signatures } : {}) },
              () => [...lines, ...pushSummary(pushed), ...signatureLines(signatures)],
            );
            return;
          }
          const signatures = result.dryRun || result.digest === undefined
            ? []
            : await signEach(signTarget(result.format, result.output), result.digest, identity);
          ctx.result(
            signatures.length > 0 ? { ...result, signatures } : result,
            () => [...lines, ...signatureLines(signatures)],
          );
          return;
        }
        const result = await withInterruptSignal((signal) =>
          buildImage({ ...shared, source: source!, arch: opts.arch, signal })
        );
        progress.done();
        // Attached to what was built (a layout that --push then copies with its referrers, or the registry image).
        const provenance = opts.provenance && !result.dryRun
          ? await attachBuildProvenance(
            result,
            builtLocation(result.format, result.output, identity),
            {
              repo: defaultRepoPath(globals.repo),
              source: source!,
              composeFile: opts.file,
              settings,
              options: provenanceOptions(opts),
            },
            sign,
            registry,
          )
          : undefined;
        if (!globals.json) {
          for (const finding of result.lintWarnings ?? []) {
            for (const line of findingLines(finding)) console.error(line);
          }
        }
        if (push?.push) {
          const pushed = await push.push(result);
          // A rebuild of an unchanged image keeps a valid signature by the same key (no second one).
          const signatures = await signWritten(
            push.destination,
            pushed.digest,
            { ...sign, keepExisting: true },
            registry,
          );
          ctx.result(
            {
              ...result,
              ...(provenance ? { provenance } : {}),
              push: pushed,
              ...(signatures.length > 0 ? { signatures } : {}),
            },
            () => [
              ...humanLines(result),
              ...provenanceLines(provenance),
              ...pushSummary(pushed),
              ...signatureLines(signatures),
            ],
          );
          return;
        }
        const signatures = result.dryRun || result.digest === undefined ? [] : await signWritten(
          signTarget(result.format, result.output),
          result.digest,
          { ...sign, keepExisting: true },
          registry,
          identity,
        );
        ctx.result(
          { ...result, ...(provenance ? { provenance } : {}), ...(signatures.length > 0 ? { signatures } : {}) },
          () => [...humanLines(result), ...provenanceLines(provenance), ...signatureLines(signatures)],
        );
      } finally {
        progress.done();
      }
    });
  addPushOptions(buildImageCommand);
  addSignOptions(buildImageCommand);
  addProvenanceOption(buildImageCommand);
}
