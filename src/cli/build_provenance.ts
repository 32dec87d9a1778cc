/**
 * `compose build-image --provenance`: the statement made from the build's
 * result and the commit's metadata, signed with the signing options' keys
 * and attached to the built image (see docs/provenance.md).
 *
 * @module
 */

import type { Command } from "commander";
import type { BuildImageResult } from "../builder/build_image.ts";
import { UsageError } from "../errors.ts";
import type { ImageSettings } from "../oci/image_config.ts";
import type { ProvenanceAttached } from "../provenance/attach.ts";
import type { ImageLocation } from "../reference/transport.ts";
import type { RegistryOptions } from "../registry/client.ts";
import type { SignOptions } from "../sign/sign.ts";

/**
 * Adds `--provenance` to a command.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addProvenanceOption } from "./build_provenance.ts";
 * addProvenanceOption(new Command("build-image"));
 * ```
 */
export function addProvenanceOption(command: Command): Command {
  return command.option(
    "--provenance",
    "attach a SLSA provenance v1 in-toto statement, signed in a DSSE envelope with --sign-by-sigstore-private-key " +
      "and/or --sign-by (an OCI layout or a registry; see docs/provenance.md)",
  );
}

/**
 * Refuses `--provenance` without a key, or for an archive, before any work.
 *
 * @example
 * ```ts
 * import { precheckProvenance } from "./build_provenance.ts";
 * precheckProvenance(true, { signBySigstorePrivateKey: "cosign.key" }, "oci");
 * ```
 */
export function precheckProvenance(wanted: boolean | undefined, sign: SignOptions, transport: string): void {
  if (!wanted) return;
  if (sign.signBy === undefined && sign.signBySigstorePrivateKey === undefined) {
    throw new UsageError("--provenance is signed with the signing options' keys, and none is given", {
      solution: "Add --sign-by-sigstore-private-key FILE or --sign-by FINGERPRINT",
    });
  }
  if (transport !== "oci" && transport !== "docker") {
    throw new UsageError(`--provenance is attached to an OCI layout or a registry image, not to ${transport}`, {
      solution: "Build into an OCI layout (oci:) or a registry (docker://, --push), then copy it where it goes",
    });
  }
}

/** What the statement records about the build besides the result. */
export interface ProvenanceContext {
  /** The repository path. */
  repo: string;
  /** The source as given. */
  source: string;
  /** `-f FILE`, when given. */
  composeFile?: string;
  /** Image settings used. */
  settings: ImageSettings;
  /** Options that decide the image, as given. */
  options: Record<string, unknown>;
}

/**
 * Makes the build's statement and attaches it, signed, to the image at
 * `location`.
 *
 * @example
 * ```ts
 * import { attachBuildProvenance } from "./build_provenance.ts";
 * import type { BuildImageResult } from "../builder/build_image.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * declare const result: BuildImageResult;
 * await attachBuildProvenance(result, parseImageLocation("oci:web.oci:1"), {
 *   repo: "repo", source: "main", settings: {}, options: {},
 * }, { signBySigstorePrivateKey: "cosign.key" }, {});
 * ```
 */
export async function attachBuildProvenance(
  result: BuildImageResult,
  location: ImageLocation,
  context: ProvenanceContext,
  sign: SignOptions,
  registry: RegistryOptions,
): Promise<ProvenanceAttached> {
  const [{ OstreeRepo }, { provenanceStatement }, { attachProvenance }, { sha256Digest }] = await Promise.all([
    import("../ostree/repo.ts"),
    import("../provenance/statement.ts"),
    import("../provenance/attach.ts"),
    import("../digest/digest.ts"),
  ]);
  const repo = await OstreeRepo.open(context.repo);
  const commit = await repo.readCommit(result.commit);
  let composeFile: { path: string; digest: string } | undefined;
  if (context.composeFile !== undefined) {
    composeFile = { path: context.composeFile, digest: sha256Digest(await Deno.readFile(context.composeFile)) };
  }
  const epoch = Deno.env.get("SOURCE_DATE_EPOCH");
  const statement = provenanceStatement({
    image: result.image,
    digest: result.digest!,
    source: context.source,
    commit: result.commit,
    ...(commit.version !== undefined ? { version: commit.version } : {}),
    metadata: commit.metadata,
    ...(composeFile ? { composeFile } : {}),
    ...(epoch !== undefined && epoch !== "" ? { sourceDateEpoch: epoch } : {}),
    options: {
      ...context.options,
      platform: result.platform,
      bootc: result.bootc,
      ...(Object.keys(context.settings).length > 0 ? { settings: context.settings } : {}),
    },
    byproducts: (result.sbom ?? []).map((s) => ({
      name: `sbom-${s.format}`,
      digest: { sha256: s.digest.slice("sha256:".length) },
      mediaType: s.artifactType,
      annotations: { kind: "OCI artifact manifest attached to the image" },
    })),
  });
  const tag = result.image.replace(/^.*:/, "");
  return await attachProvenance(location, result.digest!, statement, {
    sign,
    registry,
    tag,
    created: result.created,
  });
}
