/**
 * `apt-ostree image verify oci:PATH`: the CLI shell over
 * {@linkcode verifyLayout}. Exits 1 when anything is wrong.
 *
 * @module
 */

import type { Command } from "commander";
import { AptOstreeError, UsageError } from "../errors.ts";
import type { ImageVerifyResult } from "../image/verify.ts";
import type { VerifyResult } from "../layout/verify.ts";
import { isImageLocation, parseImageLocation } from "../reference/transport.ts";
import type { CommandContext, GlobalOptions } from "./context.ts";
import { formatBytes } from "./progress.ts";
import { addRegistryOptions, addRetryOptions, registryOptionsFrom } from "./registry_options.ts";
import { withInterruptSignal } from "./signals.ts";
import { addVerifySignatureOptions, verifySignatureOptionsFrom } from "./sign_options.ts";
import type { SignaturesResult } from "../sign/verify.ts";
import type { ProvenanceVerifyResult } from "../provenance/attach.ts";

function signatureLines(result: SignaturesResult): string[] {
  return [
    `${result.accepted ? "SIGNED" : "NOT ACCEPTED"}: ${result.image} (${result.digest}) by ${result.scope}${
      result.reference ? `, as ${result.reference}` : ""
    }`,
    ...result.requirements.map((r) => `  ${r.ok ? "ok" : "FAILED"} ${r.type}: ${r.message}`),
  ];
}

function provenanceLines(result: ProvenanceVerifyResult): string[] {
  return [
    `${result.accepted ? "PROVENANCE OK" : "PROVENANCE NOT ACCEPTED"}: ${result.digest}`,
    ...(result.attestations.length === 0 ? ["  no DSSE attestation is attached"] : []),
    ...result.attestations.map((a) => `  ${a.ok ? "ok" : "FAILED"} ${a.digest}: ${a.message}`),
  ];
}

async function readKeyFile(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    throw new UsageError(`Cannot read the key ${path}: ${(error as Error).message}`, { solution: "Check {key}" });
  }
}

function humanLines(result: VerifyResult | ImageVerifyResult): string[] {
  const name = "layout" in result ? result.layout : result.image;
  const lines = [
    `${result.problems.length === 0 ? "OK" : "DAMAGED"}: ${name}`,
    `  ${result.blobs} blobs (${formatBytes(result.bytes)}) re-hashed, ${result.manifests} manifests checked`,
  ];
  if ("platforms" in result && result.platforms?.length) {
    lines.push(`  platforms: ${result.platforms.join(", ")} (each index entry checked against its image's config)`);
  }
  for (const p of result.problems) {
    lines.push(`  ${p.kind}: ${p.digest ? `${p.digest} ` : ""}${p.digest === p.path ? "" : `${p.path}: `}${p.message}`);
  }
  if ("unreferenced" in result && result.unreferenced.length > 0) {
    lines.push(`  ${result.unreferenced.length} blobs are not referenced by any image (harmless)`);
  }
  if ("stray" in result && result.stray.length > 0) {
    lines.push(
      `  stray entries (temp files of killed runs are removed by the next build into the layout): ${
        result.stray.join(", ")
      }`,
    );
  }
  return lines;
}

/**
 * Adds `verify` to the `image` command.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { registerImageVerify } from "./image_verify.ts";
 * import { createContext } from "./context.ts";
 * registerImageVerify(new Command("image"), createContext);
 * ```
 */
export function registerImageVerify(image: Command, contextFor: (globals: GlobalOptions) => CommandContext): void {
  const verify = image
    .command("verify")
    .description("Re-hash every blob of an image (or of a whole OCI layout) and check every reference")
    .argument(
      "<image>",
      "oci:PATH (a whole layout, or a directory), oci:PATH:TAG, oci-archive:, docker-archive:, docker://",
    );
  addRegistryOptions(verify, "", "the registry");
  addRetryOptions(verify);
  addVerifySignatureOptions(verify)
    .option(
      "--provenance",
      "check the attached provenance instead of the signatures: a DSSE in-toto statement (SLSA provenance v1) whose " +
        "signature verifies with --key and whose subject is this image (docs/provenance.md)",
    )
    .addHelpText(
      "after",
      `
Every blob is re-hashed and compared with its name; every descriptor, from the index down through indexes and
manifests to configs and layers, must name a blob that exists with the size it says. Each problem is printed with
its digest and path, and the exit code is 1. For a whole layout (oci:PATH without a tag, or a directory), every
image of it is checked and blobs no image references are counted, but are not errors.

With --key or --policy, the image's signatures are checked too: a GPG simple signature (from the
lookaside of registries.d, or --signature-dir) or a cosign signature (the sha256-<hex>.sig tag) must
verify with the key, sign this manifest's digest and name the image (as matchRepoDigestOrExact; or
--identity exactly); --policy applies a containers-policy.json as skopeo does (signedBy, sigstoreSigned,
insecureAcceptAnything, reject). A wrong key, a missing signature, another identity or a changed
manifest exits 1. Details: docs/signing.md.

Examples:
  apt-ostree image verify oci:./web.oci
  apt-ostree image verify ./web.oci --json
  apt-ostree image verify docker-archive:web.tar
  apt-ostree image verify docker://registry.example.com/team/web:1.0
  apt-ostree image verify docker://registry.example.com/team/web:1.0 --key cosign.pub
  apt-ostree image verify docker://registry.example.com/team/web:1.0 --policy /etc/containers/policy.json`,
    )
    .action(async (name: string, opts: Record<string, unknown>, command: Command) => {
      const globals = command.optsWithGlobals() as GlobalOptions;
      const ctx = contextFor(globals);
      const location = isImageLocation(name) ? parseImageLocation(name) : undefined;
      const provenance = opts.provenance === true;
      const keyFiles = (opts.key as string[] | undefined) ?? [];
      if (provenance && keyFiles.length === 0) {
        throw new UsageError("--provenance needs the key its signature is checked with", {
          solution: "Add --key FILE (a cosign public key PEM or a GPG public key)",
        });
      }
      // With --provenance the keys check the attestation; a --policy still checks the signatures.
      const signing = verifySignatureOptionsFrom(provenance ? { ...opts, key: [] } : opts);
      if (
        (signing !== undefined || provenance) &&
        (location === undefined || (location.transport === "oci" && location.tag === undefined))
      ) {
        throw new UsageError("Signatures are checked for one image, not a whole layout", {
          solution: "Name the image with its tag: oci:PATH:TAG",
        });
      }
      const reporter = ctx.reporter();
      const onProgress = reporter.onProgress;
      let result: VerifyResult | ImageVerifyResult;
      let signatures: SignaturesResult | undefined;
      let attested: ProvenanceVerifyResult | undefined;
      try {
        result = await withInterruptSignal(async (signal) => {
          const [{ verifyLayout }, { verifyImage }, { openImageSource }] = await Promise.all([
            import("../layout/verify.ts"),
            import("../image/verify.ts"),
            import("../image/open.ts"),
          ]);
          if (location === undefined || (location.transport === "oci" && location.tag === undefined)) {
            return await verifyLayout(location?.transport === "oci" ? location.path : name, { signal, onProgress });
          }
          const registry = registryOptionsFrom(opts, globals);
          const source = await openImageSource(location, registry);
          try {
            const checked = await verifyImage(source, { signal, onProgress });
            if (signing !== undefined) {
              const { verifySignatures } = await import("../sign/verify.ts");
              const root = await source.root(signal);
              signatures = await verifySignatures(location, root.digest, source.imageName, { ...signing, registry });
            }
            if (provenance) {
              const { verifyProvenance } = await import("../provenance/attach.ts");
              const keys = await Promise.all(
                keyFiles.map(async (path) => ({ name: path, bytes: await readKeyFile(path) })),
              );
              attested = await verifyProvenance(source, keys, signal);
            }
            return checked;
          } finally {
            source.close();
          }
        });
      } finally {
        reporter.done();
      }
      const signed = signatures;
      const proven = attested;
      ctx.result(
        { ...result, ...(signed ? { signatures: signed } : {}), ...(proven ? { provenance: proven } : {}) },
        () => [
          ...humanLines(result),
          ...(signed ? signatureLines(signed) : []),
          ...(proven ? provenanceLines(proven) : []),
        ],
      );
      if (result.problems.length > 0) {
        const what = "layout" in result ? `layout ${result.layout}` : `image ${result.image}`;
        throw new AptOstreeError(
          `The ${what} is damaged: ${result.problems.length} problem${result.problems.length === 1 ? "" : "s"}`,
          { solution: "Rebuild or copy the image again; the problems above name each blob and path" },
        );
      }
      if (proven && !proven.accepted) {
        const why = proven.attestations.map((a) => `${a.digest}: ${a.message}`).join("; ");
        throw new AptOstreeError(
          `The provenance of ${name} is not accepted: ${why || "no provenance (DSSE attestation) is attached"}`,
          { solution: "Check that the image was built with --provenance and signed with this key ({key})" },
        );
      }
      if (signed && !signed.accepted) {
        const failed = signed.requirements.filter((r) => !r.ok).map((r) => r.message);
        throw new AptOstreeError(`The signatures of ${signed.image} are not accepted: ${failed.join("; ")}`, {
          solution: "Check that the image was signed with this key and under this name ({key}, {policy}, {identity})",
        });
      }
    });
}
