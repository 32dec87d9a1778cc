/**
 * cosign's key files and ECDSA P-256 signatures: reading cosign's
 * encrypted private key (`ENCRYPTED COSIGN PRIVATE KEY`, or cosign 2's
 * `ENCRYPTED SIGSTORE PRIVATE KEY`: a JSON body with scrypt N=32768 r=8
 * p=1 and nacl/secretbox over the PKCS#8 DER key) and plain PKCS#8 PEM,
 * writing a pair as `cosign generate-key-pair` does, and signing and
 * verifying payloads as cosign does (SHA-256, ASN.1 DER signature).
 *
 * @module
 */

import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  scryptSync,
} from "node:crypto";
import { sign as cryptoSign, verify as cryptoVerify } from "node:crypto";
// nacl secretbox (XSalsa20-Poly1305) is not in node:crypto nor WebCrypto. tweetnacl is the
// audited, dependency-free port of NaCl that many key tools use; pinned here and in deno.lock.
import nacl from "tweetnacl";
import { AptOstreeError } from "../errors.ts";
import { decodeBase64, encodeBase64 } from "../util/base64.ts";

/** PEM labels cosign uses for encrypted private keys (cosign 1, cosign 2). */
const ENCRYPTED_LABELS = ["ENCRYPTED COSIGN PRIVATE KEY", "ENCRYPTED SIGSTORE PRIVATE KEY"];
/** The label written (read by every cosign version and by containers/image). */
const WRITE_LABEL = "ENCRYPTED COSIGN PRIVATE KEY";
const SCRYPT = { N: 32768, r: 8, p: 1 };

function pemBlock(text: string): { label: string; body: Uint8Array } | undefined {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(text);
  const body = m ? decodeBase64(m[2]) : undefined;
  return m && body ? { label: m[1], body } : undefined;
}

function toPem(label: string, der: Uint8Array): string {
  const lines = encodeBase64(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

function unb64(text: unknown, what: string, where: string): Uint8Array {
  if (typeof text !== "string") throw badKey(where, `no ${what}`);
  const bytes = decodeBase64(text);
  if (!bytes) throw badKey(where, `${what} is not base64`);
  return bytes;
}

function badKey(where: string, why: string): AptOstreeError {
  return new AptOstreeError(`Cannot read the private key ${where}: ${why}`, {
    solution: "Give a cosign key file (cosign generate-key-pair, apt-ostree image generate-key) or a PKCS#8 PEM key",
  });
}

function scryptKey(passphrase: string, salt: Uint8Array, n: number, r: number, p: number): Uint8Array {
  return new Uint8Array(scryptSync(passphrase, salt, 32, { N: n, r, p, maxmem: 256 * n * r + (1 << 20) }));
}

function checkP256(key: KeyObject, where: string): KeyObject {
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new AptOstreeError(`The key ${where} is not an ECDSA P-256 key`, {
      solution: "Use an ECDSA P-256 key, as cosign generate-key-pair writes",
    });
  }
  return key;
}

/**
 * Decrypts the JSON body of cosign's encrypted key (the envelope of
 * go-securesystemslib's `encrypted` package: scrypt, then nacl/secretbox).
 *
 * @example
 * ```ts
 * import { openEnvelope } from "./cosign_key.ts";
 * // openEnvelope(bodyBytes, "passphrase", "cosign.key") → the PKCS#8 DER bytes
 * ```
 */
export function openEnvelope(body: Uint8Array, passphrase: string, where: string): Uint8Array {
  let env: Record<string, Record<string, unknown>>;
  try {
    env = JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw badKey(where, "the encrypted key is not JSON");
  }
  const kdf = env.kdf as { name?: string; params?: { N?: number; r?: number; p?: number }; salt?: string };
  const cipher = env.cipher as { name?: string; nonce?: string };
  if (kdf?.name !== "scrypt") throw badKey(where, `unsupported key derivation ${kdf?.name}`);
  if (cipher?.name !== "nacl/secretbox") throw badKey(where, `unsupported cipher ${cipher?.name}`);
  const { N, r, p } = kdf.params ?? {};
  if (!Number.isInteger(N) || !Number.isInteger(r) || !Number.isInteger(p) || N! < 2 || N! > 1 << 20) {
    throw badKey(where, "bad scrypt parameters");
  }
  const salt = unb64(kdf.salt, "salt", where);
  const nonce = unb64(cipher.nonce, "nonce", where);
  const ciphertext = unb64((env as Record<string, unknown>).ciphertext, "ciphertext", where);
  if (nonce.length !== nacl.secretbox.nonceLength) throw badKey(where, "the nonce is not 24 bytes");
  const der = nacl.secretbox.open(ciphertext, nonce, scryptKey(passphrase, salt, N!, r!, p!));
  if (der === null) {
    throw new AptOstreeError(`Wrong passphrase for the private key ${where}`, {
      solution: "Give the passphrase the key was made with ({signPassphraseFile} or COSIGN_PASSWORD)",
    });
  }
  return der;
}

/**
 * Reads a private key: cosign's encrypted format (with `passphrase`) or
 * a plain PKCS#8 (or SEC1 `EC PRIVATE KEY`) PEM. `where` names the file in
 * errors. The passphrase is never printed.
 *
 * @example
 * ```ts
 * import { generateCosignKeyPair, readPrivateKey } from "./cosign_key.ts";
 * const pair = generateCosignKeyPair("secret");
 * const key = readPrivateKey(pair.privateKeyPem, "secret", "cosign.key");
 * ```
 */
export function readPrivateKey(pem: string, passphrase: string | undefined, where: string): KeyObject {
  const block = pemBlock(pem);
  if (block === undefined) throw badKey(where, "no PEM block");
  if (ENCRYPTED_LABELS.includes(block.label)) {
    if (passphrase === undefined) {
      throw new AptOstreeError(`The private key ${where} is encrypted and no passphrase was given`, {
        solution: "Give {signPassphraseFile}, or set COSIGN_PASSWORD",
      });
    }
    const der = openEnvelope(block.body, passphrase, where);
    return checkP256(createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" }), where);
  }
  if (block.label === "PRIVATE KEY" || block.label === "EC PRIVATE KEY") {
    try {
      return checkP256(createPrivateKey(pem), where);
    } catch (error) {
      if (error instanceof AptOstreeError) throw error;
      throw badKey(where, (error as Error).message);
    }
  }
  if (block.label === "ENCRYPTED PRIVATE KEY") {
    try {
      return checkP256(createPrivateKey({ key: pem, passphrase: passphrase ?? "" }), where);
    } catch (error) {
      if (error instanceof AptOstreeError) throw error;
      throw badKey(where, "cannot decrypt the PKCS#8 key (wrong passphrase?)");
    }
  }
  throw badKey(where, `unexpected PEM block ${block.label}`);
}

/**
 * Reads a PEM public key (cosign's `cosign.pub`: SubjectPublicKeyInfo).
 *
 * @example
 * ```ts
 * import { generateCosignKeyPair, readPublicKey } from "./cosign_key.ts";
 * const key = readPublicKey(generateCosignKeyPair("").publicKeyPem, "cosign.pub");
 * ```
 */
export function readPublicKey(pem: string, where: string): KeyObject {
  try {
    return checkP256(createPublicKey(pem), where);
  } catch (error) {
    if (error instanceof AptOstreeError) throw error;
    throw new AptOstreeError(`Cannot read the public key ${where}: ${(error as Error).message}`, {
      solution: "Give a PEM public key (cosign.pub, as cosign generate-key-pair writes)",
    });
  }
}

/** A key pair in cosign's file formats. */
export interface CosignKeyPair {
  /** `-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----`. */
  privateKeyPem: string;
  /** `-----BEGIN PUBLIC KEY-----`. */
  publicKeyPem: string;
}

/**
 * Encrypts a private key as cosign does.
 *
 * @example
 * ```ts
 * import { generateKeyPairSync } from "node:crypto";
 * import { encryptPrivateKey } from "./cosign_key.ts";
 * const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
 * const pem = encryptPrivateKey(privateKey, "secret");
 * ```
 */
export function encryptPrivateKey(key: KeyObject, passphrase: string): string {
  const der = new Uint8Array(key.export({ format: "der", type: "pkcs8" }));
  const salt = new Uint8Array(randomBytes(32));
  const nonce = new Uint8Array(randomBytes(nacl.secretbox.nonceLength));
  const box = nacl.secretbox(der, nonce, scryptKey(passphrase, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p));
  const body = {
    kdf: { name: "scrypt", params: SCRYPT, salt: encodeBase64(salt) },
    cipher: { name: "nacl/secretbox", nonce: encodeBase64(nonce) },
    ciphertext: encodeBase64(box),
  };
  return toPem(WRITE_LABEL, new TextEncoder().encode(JSON.stringify(body)));
}

/**
 * Generates an ECDSA P-256 pair in cosign's formats (the private key
 * encrypted with `passphrase`, which may be empty as cosign allows).
 *
 * @example
 * ```ts
 * import { generateCosignKeyPair } from "./cosign_key.ts";
 * const { privateKeyPem, publicKeyPem } = generateCosignKeyPair("secret");
 * ```
 */
export function generateCosignKeyPair(passphrase: string): CosignKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return {
    privateKeyPem: encryptPrivateKey(privateKey, passphrase),
    publicKeyPem: publicKey.export({ format: "pem", type: "spki" }).toString(),
  };
}

/**
 * Signs bytes as cosign does: ECDSA over SHA-256, DER-encoded, returned as
 * base64 (the `dev.cosignproject.cosign/signature` annotation).
 *
 * @example
 * ```ts
 * import { generateKeyPairSync } from "node:crypto";
 * import { signBytes } from "./cosign_key.ts";
 * const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
 * const signature = signBytes(privateKey, new TextEncoder().encode("payload"));
 * ```
 */
export function signBytes(key: KeyObject, bytes: Uint8Array): string {
  return encodeBase64(new Uint8Array(cryptoSign("sha256", bytes, key)));
}

/**
 * Verifies a base64 DER ECDSA/SHA-256 signature of `bytes`.
 *
 * @example
 * ```ts
 * import { generateKeyPairSync } from "node:crypto";
 * import { signBytes, verifyBytes } from "./cosign_key.ts";
 * const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
 * const data = new TextEncoder().encode("payload");
 * verifyBytes(publicKey, data, signBytes(privateKey, data)); // true
 * ```
 */
export function verifyBytes(key: KeyObject, bytes: Uint8Array, signatureBase64: string): boolean {
  const signature = decodeBase64(signatureBase64);
  if (!signature) return false;
  try {
    return cryptoVerify("sha256", bytes, key, signature);
  } catch {
    return false;
  }
}
