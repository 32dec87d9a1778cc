/**
 * Signing an image that is at a location (a registry, a layout, an
 * archive): simple signing with GPG into the lookaside (or a directory for
 * layouts and archives), and cosign key-based signing into the `.sig`
 * attachment. The one entry point `image copy`, `image push`,
 * `compose build-image` and `image sign` share.
 *
 * @module
 */

import { createPublicKey, type KeyObject } from "node:crypto";
import { AptOstreeError, UsageError } from "../errors.ts";
import type { RegistryOptions } from "../registry/client.ts";
import type { ImageLocation } from "../reference/transport.ts";
import { attachCosignSignature, readCosignSignatures, sigstoreTag } from "./attachments.ts";
import { readPrivateKey, signBytes, verifyBytes } from "./cosign_key.ts";
import { gpgExportKey, gpgSign, gpgVerify } from "./gpg.ts";
import { formatReference, normalizeReference, signingIdentity } from "./identity.ts";
import { readLookasideSignatures, writeLookasideSignature } from "./lookaside.ts";
import { COSIGN_TYPE, makePayload, parsePayload, SIMPLE_SIGNING_TYPE } from "./payload.ts";
import { loadRegistriesD, lookasideDir } from "./registries_d.ts";

/** How to sign. */
export interface SignOptions {
  /** GPG key (fingerprint) for a simple signature. */
  signBy?: string;
  /** Passphrase file for the GPG key. */
  passphraseFile?: string;
  /** cosign private key file (encrypted cosign format or PKCS#8 PEM) for a sigstore signature. */
  signBySigstorePrivateKey?: string;
  /** Passphrase file for the cosign key (default: `COSIGN_PASSWORD`). */
  signPassphraseFile?: string;
  /** The docker reference the signature names (default: the registry destination, else `defaultIdentity`). */
  signIdentity?: string;
  /** The identity when `signIdentity` is not given and the location is no registry (an image's name). */
  defaultIdentity?: string;
  /** registries.d directory (default: the user's, else /etc/containers/registries.d). */
  registriesD?: string;
  /** Directory for simple signatures of layouts and archives (and instead of the lookaside for registries). */
  signatureDir?: string;
  /** How to reach the registry. */
  registry?: RegistryOptions;
  /** Seconds since the epoch for the payload (default: `SOURCE_DATE_EPOCH`, else now). */
  timestamp?: number;
  /** Aborts gpg. */
  signal?: AbortSignal;
  /**
   * Keep a valid signature that is there already (by the same key, for the
   * same identity and digest) instead of adding another: what a rebuild of
   * an unchanged image wants.
   */
  keepExisting?: boolean;
}

/** One signature written. */
export interface SignatureWritten {
  /** `simple` (GPG) or `sigstore` (cosign key). */
  format: "simple" | "sigstore";
  /** The docker reference signed. */
  identity: string;
  /** The manifest digest signed. */
  digest: string;
  /** Where it went: a file path, or `TAG` in the location. */
  stored: string;
  /** True when a valid signature by the same key was there already and was kept (nothing written). */
  kept?: boolean;
}

/**
 * Whether any signing option is set.
 *
 * @example
 * ```ts
 * import { wantsSignature } from "./sign.ts";
 * wantsSignature({ signBy: "ABCD" }); // true
 * ```
 */
export function wantsSignature(options: SignOptions): boolean {
  return options.signBy !== undefined || options.signBySigstorePrivateKey !== undefined;
}

/**
 * Checks the signing options before anything is built or copied (a
 * missing `--signature-dir` must not cost a build).
 *
 * @example
 * ```ts
 * import { checkSignOptions } from "./sign.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * checkSignOptions(parseImageLocation("docker://localhost:5000/web:1"), { signBy: "ABCD" });
 * ```
 */
export function checkSignOptions(location: ImageLocation, options: SignOptions): void {
  if (!wantsSignature(options)) {
    for (const [name, value] of Object.entries(options)) {
      if (
        value !== undefined &&
        ["passphraseFile", "signPassphraseFile", "signIdentity", "signatureDir"].includes(name)
      ) {
        throw new UsageError(`{${name}} needs {signBy} or {signBySigstorePrivateKey}`, {
          solution: "Add {signBy} FINGERPRINT or {signBySigstorePrivateKey} FILE",
        });
      }
    }
    return;
  }
  if (options.signBy !== undefined && location.transport !== "docker" && options.signatureDir === undefined) {
    throw new UsageError(
      `A simple signature of an image in ${location.transport} (not a registry) needs a directory to go to`,
      {
        solution: "Add {signatureDir} DIR (signatures go to DIR/<repository>@sha256=<hex>/signature-N)",
      },
    );
  }
  identityFor(location, options);
  if (
    options.signBySigstorePrivateKey !== undefined && location.transport !== "docker" && location.transport !== "oci"
  ) {
    throw new UsageError(
      `Sigstore signatures are stored in registries and OCI layouts, not in a ${location.transport}`,
      {
        solution: "Sign the image in the registry or layout you copy the archive to",
      },
    );
  }
}

function identityFor(location: ImageLocation, options: SignOptions): string {
  if (options.signIdentity !== undefined) return signingIdentity(options.signIdentity);
  if (location.transport === "docker") {
    const ref = location.ref;
    const named = normalizeReference(ref.name);
    return formatReference({
      repository: named.repository,
      tag: ref.tag ?? (ref.digest ? undefined : "latest"),
      digest: ref.tag ? undefined : ref.digest,
    });
  }
  if (options.defaultIdentity !== undefined) return signingIdentity(options.defaultIdentity);
  throw new UsageError(`A signature names the image's docker reference; ${location.transport} has none`, {
    solution: "Add {signIdentity} HOST/NAME:TAG (the name the image will be pulled as)",
  });
}

async function readPassphrase(file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return Deno.env.get("COSIGN_PASSWORD");
  try {
    return (await Deno.readTextFile(file)).replace(/\r?\n$/, "");
  } catch (error) {
    throw new AptOstreeError(`Cannot read the passphrase file ${file}: ${(error as Error).message}`, {
      solution: "Check {signPassphraseFile}",
    });
  }
}

/** Whether a payload of `type` names `identity` and `digest`. */
function payloadMatches(bytes: Uint8Array, type: string, identity: string, digest: string): boolean {
  try {
    const payload = parsePayload(bytes);
    return payload.type === type && payload.manifestDigest === digest && payload.dockerReference === identity;
  } catch {
    return false;
  }
}

/** The path of a simple signature by `signBy` for `identity` and `digest` that is there already. */
async function keptSimple(
  base: string,
  pathRef: string,
  identity: string,
  digest: string,
  options: SignOptions,
): Promise<string | undefined> {
  const existing = await readLookasideSignatures(base, pathRef, digest);
  if (existing.length === 0) return undefined;
  const key = await gpgExportKey(options.signBy!, options.signal);
  if (!key) return undefined;
  for (const sig of existing) {
    const result = await gpgVerify(sig.bytes, [key]);
    if (result.ok && payloadMatches(result.payload, SIMPLE_SIGNING_TYPE, identity, digest)) return sig.path;
  }
  return undefined;
}

/**
 * Reads the cosign private key `file` (its passphrase from
 * `passphraseFile`, else `COSIGN_PASSWORD`).
 *
 * @example
 * ```ts
 * import { loadSigstoreKey } from "./sign.ts";
 * const key = await loadSigstoreKey("cosign.key", undefined);
 * ```
 */
export async function loadSigstoreKey(file: string, passphraseFile: string | undefined): Promise<KeyObject> {
  // Decrypting costs a scrypt run (about 0.17 s): signing and an attestation in one build share it.
  const cacheKey = JSON.stringify([file, passphraseFile ?? null]);
  let loaded = loadedKeys.get(cacheKey);
  if (!loaded) {
    loaded = readSigstoreKey(file, passphraseFile);
    loadedKeys.set(cacheKey, loaded);
    loaded.catch(() => loadedKeys.delete(cacheKey));
  }
  return await loaded;
}

/** Keys decrypted in this process, by file and passphrase file. */
const loadedKeys = new Map<string, Promise<KeyObject>>();

async function readSigstoreKey(file: string, passphraseFile: string | undefined): Promise<KeyObject> {
  let pem: string;
  try {
    pem = await Deno.readTextFile(file);
  } catch (error) {
    throw new AptOstreeError(`Cannot read the private key ${file}: ${(error as Error).message}`, {
      solution: "Check {signBySigstorePrivateKey}",
    });
  }
  return readPrivateKey(pem, await readPassphrase(passphraseFile), file);
}

/**
 * Signs the image `digest` at `location` with every method the options
 * name, and stores each signature where containers/image and cosign look
 * for it.
 *
 * @example
 * ```ts
 * import { signImage } from "./sign.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * const written = await signImage(parseImageLocation("docker://localhost:5000/web:1"), "sha256:" + "a".repeat(64), {
 *   signBy: "0123456789ABCDEF0123456789ABCDEF01234567",
 *   registry: { tlsVerify: false },
 * });
 * ```
 */
export async function signImage(
  location: ImageLocation,
  digest: string,
  options: SignOptions,
): Promise<SignatureWritten[]> {
  checkSignOptions(location, options);
  const identity = identityFor(location, options);
  const written: SignatureWritten[] = [];
  if (options.signBy !== undefined) {
    let base = options.signatureDir;
    // containers/image finds the signatures of a registry image under the name it pulls (the destination).
    let pathRef = identity;
    if (location.transport === "docker") {
      pathRef = `${location.ref.name}:${location.ref.tag ?? "latest"}`;
      base ??= lookasideDir(await loadRegistriesD(options.registriesD), pathRef, "write");
    }
    const kept = options.keepExisting ? await keptSimple(base!, pathRef, identity, digest, options) : undefined;
    if (kept !== undefined) {
      written.push({ format: "simple", identity, digest, stored: kept, kept: true });
    } else {
      const payload = makePayload("simple", identity, digest, { timestamp: options.timestamp });
      const signature = await gpgSign(payload, {
        signBy: options.signBy,
        passphraseFile: options.passphraseFile,
        signal: options.signal,
      });
      const stored = await writeLookasideSignature(base!, pathRef, digest, signature);
      written.push({ format: "simple", identity, digest, stored });
    }
  }
  if (options.signBySigstorePrivateKey !== undefined) {
    const key = await loadSigstoreKey(options.signBySigstorePrivateKey, options.signPassphraseFile);
    if (options.keepExisting) {
      const publicKey = createPublicKey(key);
      const existing = await readCosignSignatures(location, digest, { ...options.registry });
      const valid = existing.some((sig) =>
        verifyBytes(publicKey, sig.payload, sig.signature) && payloadMatches(sig.payload, COSIGN_TYPE, identity, digest)
      );
      if (valid) {
        written.push({ format: "sigstore", identity, digest, stored: sigstoreTag(digest), kept: true });
        return written;
      }
    }
    const payload = makePayload("cosign", identity, digest, { timestamp: options.timestamp });
    const result = await attachCosignSignature(location, digest, { payload, signature: signBytes(key, payload) }, {
      ...options.registry,
    });
    written.push({ format: "sigstore", identity, digest, stored: result.tag });
  }
  return written;
}
