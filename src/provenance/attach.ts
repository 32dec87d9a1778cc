/**
 * Provenance attached to an image: the in-toto statement signed in a DSSE
 * envelope (with the same keys as image signatures), attached as an OCI
 * referrer of artifact type `application/vnd.dsse.envelope.v1+json` (the
 * media type cosign gives attestation layers), and checked again:
 * signature, statement type, predicate type, and that its subject is the
 * image's manifest digest.
 *
 * @module
 */

import { AptOstreeError, UsageError } from "../errors.ts";
import { digestHex } from "../digest/digest.ts";
import { openImageSink, openImageSource } from "../image/open.ts";
import { attachArtifact, readAttached } from "../image/referrers.ts";
import { jsonBytes } from "../oci/image_config.ts";
import type { ImageSource } from "../oci/image.ts";
import { rawDescriptor } from "../oci/manifest.ts";
import { ANNOTATION_CREATED, artifactManifest } from "../oci/referrers.ts";
import type { Descriptor } from "../oci/types.ts";
import type { ImageLocation } from "../reference/transport.ts";
import type { RegistryOptions } from "../registry/client.ts";
import {
  DSSE_MEDIA_TYPE,
  type DsseEnvelope,
  envelopePayload,
  IN_TOTO_PAYLOAD_TYPE,
  signDsse,
  signerPublicKeys,
  verifyDsse,
} from "../sign/dsse.ts";
import type { SignOptions } from "../sign/sign.ts";
import { IN_TOTO_STATEMENT_V1, SLSA_PROVENANCE_V1 } from "./statement.ts";

/** The annotation naming an attestation's predicate type (as BuildKit and cosign's OCI 1.1 mode write it). */
export const ANNOTATION_PREDICATE_TYPE = "in-toto.io/predicate-type";

/** What {@linkcode attachProvenance} did. */
export interface ProvenanceAttached {
  /** The artifact manifest's digest. */
  digest: string;
  /** Its `artifactType`. */
  artifactType: string;
  /** The predicate type. */
  predicateType: string;
  /** How many signatures the envelope holds. */
  signatures: number;
  /** False when the same statement, signed by the same key, was attached already. */
  written: boolean;
}

function parseEnvelope(bytes: Uint8Array): DsseEnvelope | undefined {
  try {
    const envelope = JSON.parse(new TextDecoder().decode(bytes));
    return typeof envelope?.payload === "string" && Array.isArray(envelope.signatures) ? envelope : undefined;
  } catch {
    return undefined;
  }
}

function withTag(location: ImageLocation, tag: string): ImageLocation {
  return location.transport === "oci" ? { ...location, tag: location.tag ?? tag } : location;
}

/**
 * Signs `statement` in a DSSE envelope with the signing options' keys and
 * attaches it to the image at `location` (an OCI layout or a registry),
 * whose manifest must be `digest`. A statement with the same bytes that
 * verifies with the same keys is kept (nothing written): an unchanged
 * rebuild adds no second attestation.
 *
 * @example
 * ```ts
 * import { attachProvenance } from "./attach.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * const statement = new TextEncoder().encode("{}");
 * await attachProvenance(parseImageLocation("oci:web.oci:1"), "sha256:" + "a".repeat(64), statement, {
 *   sign: { signBySigstorePrivateKey: "cosign.key" },
 *   created: "2024-01-01T00:00:00Z",
 * });
 * ```
 */
export async function attachProvenance(
  location: ImageLocation,
  digest: string,
  statement: Uint8Array,
  options: { sign: SignOptions; registry?: RegistryOptions; tag?: string; created: string },
): Promise<ProvenanceAttached> {
  if (location.transport !== "oci" && location.transport !== "docker") {
    throw new UsageError(
      `Provenance is attached to images in OCI layouts and registries, not in ${location.transport}`,
      {
        solution: "Build into an OCI layout or a registry with {provenance}, or push the image with it",
      },
    );
  }
  const at = withTag(location, options.tag ?? "latest");
  const registry = options.registry ?? {};
  let subject: Descriptor;
  const source = await openImageSource(at, registry);
  try {
    const root = await source.root();
    if (root.digest !== digest) {
      throw new AptOstreeError(`The image at ${source.description} is ${root.digest}, not ${digest}`, {
        solution: "Another build moved the tag meanwhile; build again",
      });
    }
    subject = rawDescriptor(root);
    const attached = await readAttached(source, subject, [DSSE_MEDIA_TYPE]);
    const payload = new TextDecoder().decode(statement);
    const same = attached
      .map((doc) => ({ doc, envelope: parseEnvelope(doc.bytes) }))
      .filter((x) => x.envelope && new TextDecoder().decode(envelopePayload(x.envelope)) === payload);
    if (same.length > 0) {
      const keys = await signerPublicKeys(options.sign);
      for (const { doc, envelope } of same) {
        if ((await verifyDsse(envelope!, keys)).ok) {
          return {
            digest: doc.manifest.digest,
            artifactType: DSSE_MEDIA_TYPE,
            predicateType: SLSA_PROVENANCE_V1,
            signatures: envelope!.signatures.length,
            written: false,
          };
        }
      }
    }
  } finally {
    source.close();
  }
  const envelope = await signDsse(IN_TOTO_PAYLOAD_TYPE, statement, options.sign);
  const artifact = artifactManifest(subject, DSSE_MEDIA_TYPE, jsonBytes(envelope), {
    [ANNOTATION_CREATED]: options.created,
    [ANNOTATION_PREDICATE_TYPE]: SLSA_PROVENANCE_V1,
  });
  const sink = await openImageSink(at, { ...registry, tag: options.tag });
  try {
    const result = await attachArtifact(sink, subject, artifact);
    return {
      digest: result.digest,
      artifactType: DSSE_MEDIA_TYPE,
      predicateType: SLSA_PROVENANCE_V1,
      signatures: envelope.signatures.length,
      written: result.written,
    };
  } finally {
    sink.close();
  }
}

/** One attestation checked by {@linkcode verifyProvenance}. */
export interface ProvenanceCheck {
  /** The artifact manifest's digest. */
  digest: string;
  /** Whether it is accepted. */
  ok: boolean;
  /** Which key verified it, or why it is not accepted. */
  message: string;
  /** The statement's predicate type, when it could be read. */
  predicateType?: string;
}

/** What {@linkcode verifyProvenance} found. */
export interface ProvenanceVerifyResult {
  /** The image's manifest digest. */
  digest: string;
  /** Whether an attestation verified. */
  accepted: boolean;
  /** Each DSSE attestation attached to the image. */
  attestations: ProvenanceCheck[];
}

/** Checks one statement: in-toto v1, SLSA provenance, the image as a subject. */
function checkStatement(payload: Uint8Array, digest: string): { problem?: string; predicateType?: string } {
  let statement;
  try {
    statement = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return { problem: "the payload is not JSON" };
  }
  const predicateType = typeof statement?.predicateType === "string" ? statement.predicateType : undefined;
  if (statement?._type !== IN_TOTO_STATEMENT_V1) return { problem: `not an in-toto v1 statement`, predicateType };
  if (predicateType !== SLSA_PROVENANCE_V1) return { problem: `predicate ${predicateType} is not SLSA provenance v1` };
  const [algorithm] = digest.split(":", 1);
  const subjects: { digest?: Record<string, string> }[] = Array.isArray(statement.subject) ? statement.subject : [];
  if (!subjects.some((s) => s?.digest?.[algorithm] === digestHex(digest))) {
    const named = subjects.map((s) => Object.entries(s?.digest ?? {}).map(([a, h]) => `${a}:${h}`).join(",")).join(
      "; ",
    );
    return { problem: `its subject is ${named || "nothing"}, not the image ${digest}`, predicateType };
  }
  return { predicateType };
}

/**
 * Checks the provenance attached to the image in `source`: some DSSE
 * attestation must verify with one of `keys` (PEM: a cosign key; else a GPG
 * public key), hold an in-toto v1 statement with a SLSA provenance v1
 * predicate, and name the image's manifest digest as its subject.
 *
 * @example
 * ```ts
 * import { verifyProvenance } from "./attach.ts";
 * import { openImageSource } from "../image/open.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * const source = await openImageSource(parseImageLocation("oci:web.oci:1"));
 * const result = await verifyProvenance(source, [{ name: "cosign.pub", bytes: await Deno.readFile("cosign.pub") }]);
 * ```
 */
export async function verifyProvenance(
  source: ImageSource,
  keys: { name: string; bytes: Uint8Array }[],
  signal?: AbortSignal,
): Promise<ProvenanceVerifyResult> {
  const root = await source.root(signal);
  const subject = rawDescriptor(root);
  const attestations: ProvenanceCheck[] = [];
  for (const doc of await readAttached(source, subject, [DSSE_MEDIA_TYPE], signal)) {
    const envelope = parseEnvelope(doc.bytes);
    if (!envelope) {
      attestations.push({ digest: doc.manifest.digest, ok: false, message: "not a DSSE envelope" });
      continue;
    }
    if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
      attestations.push({
        digest: doc.manifest.digest,
        ok: false,
        message: `payload type ${envelope.payloadType}, not ${IN_TOTO_PAYLOAD_TYPE}`,
      });
      continue;
    }
    const verified = await verifyDsse(envelope, keys);
    const { problem, predicateType } = checkStatement(envelopePayload(envelope), root.digest);
    const message = !verified.ok ? `signature: ${verified.reason}` : problem ?? `verified with ${verified.by}`;
    attestations.push({
      digest: doc.manifest.digest,
      ok: verified.ok && problem === undefined,
      message,
      ...(predicateType ? { predicateType } : {}),
    });
  }
  return { digest: root.digest, accepted: attestations.some((a) => a.ok), attestations };
}
