/**
 * `apt-ostree image sign IMAGE` (sign an image already in a registry, a
 * layout or an archive) and `apt-ostree image generate-key` (a cosign key
 * pair): CLI shells over `src/sign/`.
 *
 * @module
 */

import type { Command } from "commander";
import { AptOstreeError, UsageError } from "../errors.ts";
import { parseImageLocation } from "../reference/transport.ts";
import type { CommandContext, GlobalOptions } from "./context.ts";
import { addRegistryOptions, addRetryOptions, registryOptionsFrom } from "./registry_options.ts";
import { addSignOptions, signatureLines, signOptionsFrom } from "./sign_options.ts";

/**
 * Adds `sign` to the `image` command.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { registerImageSign } from "./image_sign.ts";
 * import { createContext } from "./context.ts";
 * registerImageSign(new Command("image"), createContext);
 * ```
 */
export function registerImageSign(image: Command, contextFor: (globals: GlobalOptions) => CommandContext): void {
  const sign = image
    .command("sign")
    .description("Sign an image in a registry, a layout or an archive (GPG simple signing or a cosign key)")
    .argument("<image>", "docker://HOST/NAME:TAG, oci:PATH:TAG, oci-archive:PATH or docker-archive:PATH");
  addRegistryOptions(sign, "", "the registry");
  addRetryOptions(sign);
  addSignOptions(sign)
    .addHelpText(
      "after",
      `
The signature covers the image's manifest digest and names its docker reference (the registry
name, or --sign-identity). GPG signatures (--sign-by) are made by running gpg (GNUPGHOME is used;
--passphrase-file, never a prompt without a terminal) and written where skopeo and podman look for
them: the lookaside directory of registries.d (lookaside-staging first; file:// only), or
--signature-dir for layouts and archives. cosign signatures (--sign-by-sigstore-private-key) go
to the sha256-<hex>.sig tag beside the image, in a registry or an OCI layout. Details: docs/signing.md.

Examples:
  apt-ostree image sign docker://registry.example.com/team/web:1.0 --sign-by 0123456789ABCDEF0123456789ABCDEF01234567
  apt-ostree image sign docker://localhost:5000/web:1 --sign-by-sigstore-private-key cosign.key --tls-verify=false
  apt-ostree image sign oci:./web.oci:1 --sign-by FINGERPRINT --sign-identity registry.example.com/web:1 --signature-dir sigs`,
    )
    .action(async (name: string, opts: Record<string, unknown>, command: Command) => {
      const globals = command.optsWithGlobals() as GlobalOptions;
      const ctx = contextFor(globals);
      const location = parseImageLocation(name);
      const options = signOptionsFrom(opts);
      const [{ signImage, checkSignOptions, wantsSignature }, { openImageSource }] = await Promise.all([
        import("../sign/sign.ts"),
        import("../image/open.ts"),
      ]);
      if (!wantsSignature(options)) {
        throw new UsageError("Nothing to sign with", {
          solution: "Give --sign-by FINGERPRINT or --sign-by-sigstore-private-key FILE",
        });
      }
      const registry = registryOptionsFrom(opts, globals);
      checkSignOptions(location, options);
      const source = await openImageSource(location, registry);
      let digest: string;
      let imageName: string | undefined;
      try {
        digest = (await source.root()).digest;
        imageName = source.imageName;
      } finally {
        source.close();
      }
      const written = await signImage(location, digest, { ...options, defaultIdentity: imageName, registry });
      ctx.result({ image: name, digest, signatures: written }, () => [
        `Signed ${name}`,
        `  digest:  ${digest}`,
        ...signatureLines(written),
      ]);
    });
}

/**
 * Adds `generate-key` to the `image` command.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { registerGenerateKey } from "./image_sign.ts";
 * import { createContext } from "./context.ts";
 * registerGenerateKey(new Command("image"), createContext);
 * ```
 */
export function registerGenerateKey(image: Command, contextFor: (globals: GlobalOptions) => CommandContext): void {
  image
    .command("generate-key")
    .description(
      "Write a cosign key pair (PREFIX.key encrypted as cosign does, PREFIX.pub), as cosign generate-key-pair",
    )
    .option("--output-prefix <prefix>", "path prefix of the two files", "cosign")
    .option("--sign-passphrase-file <file>", "the passphrase to encrypt the key with (default: $COSIGN_PASSWORD)")
    .option("--force", "replace existing files")
    .addHelpText(
      "after",
      `
The private key is ECDSA P-256, PKCS#8, encrypted with scrypt (N=32768, r=8, p=1) and nacl/secretbox
in cosign's ENCRYPTED COSIGN PRIVATE KEY format: cosign, skopeo and apt-ostree read it. The passphrase
comes from --sign-passphrase-file or COSIGN_PASSWORD (it may be empty: COSIGN_PASSWORD=).

Examples:
  COSIGN_PASSWORD=secret apt-ostree image generate-key --output-prefix ci
  apt-ostree image generate-key --sign-passphrase-file pass.txt`,
    )
    .action(async (opts: { outputPrefix: string; signPassphraseFile?: string; force?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals() as GlobalOptions;
      const ctx = contextFor(globals);
      let passphrase = Deno.env.get("COSIGN_PASSWORD");
      if (opts.signPassphraseFile !== undefined) {
        try {
          passphrase = (await Deno.readTextFile(opts.signPassphraseFile)).replace(/\r?\n$/, "");
        } catch (error) {
          throw new UsageError(`Cannot read ${opts.signPassphraseFile}: ${(error as Error).message}`, {
            solution: "Check --sign-passphrase-file",
          });
        }
      }
      if (passphrase === undefined) {
        throw new UsageError("No passphrase for the private key", {
          solution: "Give --sign-passphrase-file FILE, or set COSIGN_PASSWORD (COSIGN_PASSWORD= for none)",
        });
      }
      const { generateCosignKeyPair } = await import("../sign/cosign_key.ts");
      const pair = generateCosignKeyPair(passphrase);
      const privatePath = `${opts.outputPrefix}.key`;
      const publicPath = `${opts.outputPrefix}.pub`;
      const write = async (path: string, text: string, mode: number) => {
        try {
          await Deno.writeTextFile(path, text, { mode, createNew: opts.force !== true });
          await Deno.chmod(path, mode);
        } catch (error) {
          if (error instanceof Deno.errors.AlreadyExists) {
            throw new UsageError(`${path} exists`, { solution: "Choose another --output-prefix, or pass --force" });
          }
          throw new AptOstreeError(`Cannot write ${path}: ${(error as Error).message}`, {
            solution: "Choose another --output-prefix",
          });
        }
      };
      await write(privatePath, pair.privateKeyPem, 0o600);
      await write(publicPath, pair.publicKeyPem, 0o644);
      ctx.result({ privateKey: privatePath, publicKey: publicPath }, () => [
        `Private key written to ${privatePath}`,
        `Public key written to ${publicPath}`,
      ]);
    });
}
