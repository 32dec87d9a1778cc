/**
 * The signing options shared by `image copy`, `image push`,
 * `compose build-image` and `image sign` (`--sign-by`,
 * `--sign-by-sigstore-private-key`, as skopeo spells them), and the
 * verification options of `image verify` (`--key`, `--policy`): the CLI
 * side of `src/sign/`.
 *
 * @module
 */

import { type Command, Option } from "commander";
import type { SignatureWritten, SignOptions } from "../sign/sign.ts";
import type { VerifySignaturesOptions } from "../sign/verify.ts";
import type { RegistryOptions } from "../registry/client.ts";
import type { ImageLocation } from "../reference/transport.ts";

const collect = (value: string, previous: string[]) => [...previous, value];

function registriesDOption(): Option {
  const option = new Option(
    "--registries.d <dir>",
    "registries.d directory naming the signature lookaside (default: ~/.config/containers/registries.d if it exists, else /etc/containers/registries.d)",
  );
  // The library's name for it ({registriesD} in messages); commander would keep the dot.
  option.attributeName = () => "registriesD";
  return option;
}

/**
 * Adds the signing options to a command.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addSignOptions } from "./sign_options.ts";
 * addSignOptions(new Command("copy"));
 * ```
 */
export function addSignOptions(command: Command): Command {
  return command
    .optionsGroup("Signing:")
    .option("--sign-by <fingerprint>", "sign the image with this GPG key (simple signing, as skopeo --sign-by)")
    .option("--passphrase-file <file>", "with --sign-by: read the GPG key's passphrase from this file")
    .option(
      "--sign-by-sigstore-private-key <file>",
      "sign with this cosign key (ECDSA P-256; cosign's encrypted key file or PKCS#8 PEM), stored as cosign does",
    )
    .option(
      "--sign-passphrase-file <file>",
      "with --sign-by-sigstore-private-key: the key's passphrase (default: $COSIGN_PASSWORD)",
    )
    .option(
      "--sign-identity <reference>",
      "the docker reference the signature names (default: the registry destination; needed for layouts and archives)",
    )
    .option(
      "--signature-dir <dir>",
      "write simple signatures here (DIR/<repository>@sha256=<hex>/signature-N) instead of the lookaside; needed for layouts and archives",
    )
    .addOption(registriesDOption());
}

/**
 * The signing options from the collected ones.
 *
 * @example
 * ```ts
 * import { signOptionsFrom } from "./sign_options.ts";
 * signOptionsFrom({ signBy: "ABCD" }).signBy; // "ABCD"
 * ```
 */
export function signOptionsFrom(opts: Record<string, unknown>): SignOptions {
  const s = (key: string) => opts[key] as string | undefined;
  return {
    signBy: s("signBy"),
    passphraseFile: s("passphraseFile"),
    signBySigstorePrivateKey: s("signBySigstorePrivateKey"),
    signPassphraseFile: s("signPassphraseFile"),
    signIdentity: s("signIdentity"),
    signatureDir: s("signatureDir"),
    registriesD: s("registriesD"),
  };
}

/**
 * Human lines for the signatures written.
 *
 * @example
 * ```ts
 * import { signatureLines } from "./sign_options.ts";
 * signatureLines([]); // []
 * ```
 */
export function signatureLines(written: SignatureWritten[]): string[] {
  return written.map((w) =>
    `  signed:  ${
      w.format === "simple" ? "GPG simple signing" : "sigstore (cosign key)"
    } as ${w.identity}: ${w.stored}${w.kept ? " (signed already, kept)" : ""}`
  );
}

/**
 * Adds the signature verification options to `image verify`.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addVerifySignatureOptions } from "./sign_options.ts";
 * addVerifySignatureOptions(new Command("verify"));
 * ```
 */
export function addVerifySignatureOptions(command: Command): Command {
  return command
    .optionsGroup("Signatures:")
    .option(
      "--key <file>",
      "check the image's signatures with this public key: a PEM key (cosign) or a GPG public key (repeatable; one good signature is enough)",
      collect,
      [],
    )
    .option("--policy <file>", "check the image against a containers-policy.json (signedBy, sigstoreSigned, …)")
    .option(
      "--identity <reference>",
      "the docker reference the signatures must name (default: the image's own; a layout's recorded name)",
    )
    .option("--signature-dir <dir>", "read simple signatures from here instead of the lookaside (layouts, archives)")
    .addOption(registriesDOption());
}

/**
 * The verification options from the collected ones, or undefined when no
 * key or policy is given (the blob check alone).
 *
 * @example
 * ```ts
 * import { verifySignatureOptionsFrom } from "./sign_options.ts";
 * verifySignatureOptionsFrom({ key: [] }); // undefined
 * ```
 */
export function verifySignatureOptionsFrom(opts: Record<string, unknown>): VerifySignaturesOptions | undefined {
  const keys = (opts.key as string[] | undefined) ?? [];
  const policy = opts.policy as string | undefined;
  if (keys.length === 0 && policy === undefined) return undefined;
  return {
    keys,
    policy,
    identity: opts.identity as string | undefined,
    signatureDir: opts.signatureDir as string | undefined,
    registriesD: opts.registriesD as string | undefined,
  };
}

/**
 * Checks the signing options against the destination before any work
 * (loads the signing code only when a signing option is given).
 *
 * @example
 * ```ts
 * import { precheckSigning } from "./sign_options.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * await precheckSigning(parseImageLocation("docker://localhost:5000/web:1"), { signBy: "ABCD" });
 * ```
 */
export async function precheckSigning(
  location: ImageLocation,
  options: SignOptions,
  defaultIdentity?: string,
): Promise<void> {
  if (Object.values(options).every((v) => v === undefined)) return;
  const { checkSignOptions } = await import("../sign/sign.ts");
  checkSignOptions(location, { ...options, defaultIdentity });
}

/**
 * Signs the image just written to `location` when a signing option asks
 * for it (none written otherwise).
 *
 * @example
 * ```ts
 * import { signWritten } from "./sign_options.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * await signWritten(parseImageLocation("docker://localhost:5000/web:1"), "sha256:" + "a".repeat(64), {}, {});
 * ```
 */
export async function signWritten(
  location: ImageLocation,
  digest: string,
  options: SignOptions,
  registry: RegistryOptions,
  defaultIdentity?: string,
): Promise<SignatureWritten[]> {
  if (options.signBy === undefined && options.signBySigstorePrivateKey === undefined) return [];
  const { signImage } = await import("../sign/sign.ts");
  return await signImage(location, digest, { ...options, registry, defaultIdentity });
}
