/**
 * Build provenance of an image: an in-toto statement (v1) with a SLSA
 * provenance v1 predicate, made from what the build knows: the builder
 * (apt-ostree and its version), the OSTree commit, the base it was
 * composed on (an image and its digest, or an OSTree base commit, from the
 * commit's metadata), the compose file and its digest, the package list's
 * digest, and the build's parameters (`SOURCE_DATE_EPOCH`, options). The
 * same inputs give the same bytes (no clock is read).
 *
 * @module
 */

import { digestHex, sha256Digest } from "../digest/digest.ts";
import { COMMIT_METADATA } from "../ostree/metadata.ts";
import { VERSION } from "../version.ts";

/** The in-toto statement type. */
export const IN_TOTO_STATEMENT_V1 = "https://in-toto.io/Statement/v1";
/** The SLSA provenance v1 predicate type. */
export const SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1";
/** The build type apt-ostree's provenance describes (its parameters are documented in docs/provenance). */
export const BUILD_TYPE = "https://apt-ostree.dev/provenance/build-image/v1";
/** The builder's id. */
export const BUILDER_ID = "https://apt-ostree.dev/builder/apt-ostree";

/** A resolved dependency or byproduct (SLSA's ResourceDescriptor). */
export interface ResourceDescriptor {
  /** What it is. */
  name: string;
  /** Where it is, when it has an address. */
  uri?: string;
  /** Its digests by algorithm (hex). */
  digest: Record<string, string>;
  /** Its media type, when known. */
  mediaType?: string;
  /** More about it. */
  annotations?: Record<string, string>;
}

/** What {@linkcode provenanceStatement} describes. */
export interface ProvenanceInput {
  /** The image's name (`docker.io/library/web:1`). */
  image: string;
  /** The image's manifest digest. */
  digest: string;
  /** The source as given (branch, ref or checksum). */
  source: string;
  /** The commit checksum built from. */
  commit: string;
  /** The commit's `version`, when it has one. */
  version?: string;
  /** The commit's metadata (base image, base commit, packages). */
  metadata: ReadonlyMap<string, unknown>;
  /** The compose file given with `-f`, with its bytes' digest. */
  composeFile?: { path: string; digest: string };
  /** `SOURCE_DATE_EPOCH`, when set. */
  sourceDateEpoch?: string;
  /** The build's options (as given on the command line). */
  options: Record<string, unknown>;
  /** Documents the build made besides the image (the attached SBOMs). */
  byproducts?: ResourceDescriptor[];
}

function text(metadata: ReadonlyMap<string, unknown>, key: string): string | undefined {
  const value = metadata.get(key);
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

function hexOf(digest: string): Record<string, string> {
  const [algorithm] = digest.split(":", 1);
  return { [algorithm]: digestHex(digest) };
}

/**
 * The package list's digest: SHA-256 of the commit's `apt-ostree.packages`
 * list (`name=version`, sorted, one a line), when the commit records it.
 *
 * @example
 * ```ts
 * import { packageListDigest } from "./statement.ts";
 * packageListDigest(new Map([["apt-ostree.packages", ["a=1", "b=2"]]])); // "sha256:…"
 * ```
 */
export function packageListDigest(metadata: ReadonlyMap<string, unknown>): string | undefined {
  const list = metadata.get(COMMIT_METADATA.packages);
  if (!Array.isArray(list) || list.length === 0) return undefined;
  const lines = list.map(String).sort();
  return sha256Digest(new TextEncoder().encode(lines.join("\n") + "\n"));
}

/** The base the commit was composed on, from its metadata: an image, else an OSTree base commit. */
function baseDependencies(metadata: ReadonlyMap<string, unknown>): ResourceDescriptor[] {
  const out: ResourceDescriptor[] = [];
  const imageDigest = text(metadata, COMMIT_METADATA.imageDigest);
  if (imageDigest !== undefined) {
    const name = text(metadata, COMMIT_METADATA.imageName) ?? text(metadata, COMMIT_METADATA.imageSource);
    const index = text(metadata, COMMIT_METADATA.imageIndexDigest);
    out.push({
      name: "base-image",
      ...(name !== undefined ? { uri: `docker://${name.replace(/^docker:\/\//, "")}` } : {}),
      digest: hexOf(imageDigest),
      ...(index !== undefined ? { annotations: { "index-digest": index } } : {}),
    });
  }
  const baseCommit = text(metadata, COMMIT_METADATA.baseCommit);
  if (baseCommit !== undefined) {
    const ref = text(metadata, COMMIT_METADATA.baseRef) ?? text(metadata, COMMIT_METADATA.baseBranch);
    const version = text(metadata, COMMIT_METADATA.baseVersion);
    out.push({
      name: "base-commit",
      ...(ref !== undefined ? { uri: `ostree:${ref}` } : {}),
      digest: { sha256: baseCommit },
      ...(version !== undefined ? { annotations: { version } } : {}),
    });
  }
  return out;
}

/** Keys in a fixed (sorted) order, so that equal inputs give equal bytes. */
function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value).sort().filter((k) => (value as Record<string, unknown>)[k] !== undefined).map((
        k,
      ) => [k, sorted((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/**
 * The in-toto statement (SLSA provenance v1) of an image build, as JSON
 * bytes: the image as its subject, the commit, base, compose file and
 * package list as resolved dependencies, apt-ostree as the builder.
 *
 * @example
 * ```ts
 * import { provenanceStatement } from "./statement.ts";
 * const bytes = provenanceStatement({
 *   image: "docker.io/library/web:1",
 *   digest: "sha256:" + "a".repeat(64),
 *   source: "main",
 *   commit: "b".repeat(64),
 *   metadata: new Map(),
 *   options: { format: "oci" },
 * });
 * JSON.parse(new TextDecoder().decode(bytes)).predicateType; // "https://slsa.dev/provenance/v1"
 * ```
 */
export function provenanceStatement(input: ProvenanceInput): Uint8Array {
  const packages = packageListDigest(input.metadata);
  const dependencies: ResourceDescriptor[] = [
    {
      name: "ostree-commit",
      uri: `ostree:${input.source}`,
      digest: { sha256: input.commit },
      ...(input.version !== undefined ? { annotations: { version: input.version } } : {}),
    },
    ...baseDependencies(input.metadata),
    ...(input.composeFile
      ? [{ name: "compose-file", uri: input.composeFile.path, digest: hexOf(input.composeFile.digest) }]
      : []),
    ...(packages !== undefined
      ? [{
        name: "package-list",
        digest: hexOf(packages),
        annotations: { source: `commit metadata ${COMMIT_METADATA.packages}` },
      }]
      : []),
  ];
  const statement = {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name: input.image, digest: hexOf(input.digest) }],
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: BUILD_TYPE,
        externalParameters: { source: input.source, image: input.image, options: input.options },
        internalParameters: input.sourceDateEpoch !== undefined ? { SOURCE_DATE_EPOCH: input.sourceDateEpoch } : {},
        resolvedDependencies: dependencies,
      },
      runDetails: {
        builder: { id: BUILDER_ID, version: { "apt-ostree": VERSION } },
        metadata: {},
        ...(input.byproducts && input.byproducts.length > 0 ? { byproducts: input.byproducts } : {}),
      },
    },
  };
  const ordered = {
    _type: statement._type,
    subject: statement.subject,
    predicateType: statement.predicateType,
    predicate: sorted(statement.predicate),
  };
  return new TextEncoder().encode(JSON.stringify(ordered));
}
