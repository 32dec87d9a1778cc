/**
 * DSSE envelopes (Dead Simple Signing Envelope v1, what in-toto
 * attestations and cosign's attestations use): the pre-authentication
 * encoding (PAE) that is signed, signing it with the same keys as image
 * signatures (a cosign key: ECDSA P-256 over SHA-256, DER, base64; a GPG
 * key: an OpenPGP detached signature of the PAE bytes, base64, keyid the
 * fingerprint), and verifying an envelope against public keys.
 *
 * @module
 */

import { createPublicKey } from "node:crypto";
import { AptOstreeError } from "../errors.ts";
import { decodeBase64, encodeBase64 } from "../util/base64.ts";
import { readPublicKey, signBytes, verifyBytes } from "./cosign_key.ts";
import { gpgExportKey, gpgSign, gpgVerify } from "./gpg.ts";
import { loadSigstoreKey, type SignOptions } from "./sign.ts";

/** The media type of a DSSE envelope (cosign's attestation layers, the OCI artifact). */
export const DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json";

/** The payload type of an in-toto statement. */
export const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";

/** A DSSE envelope as JSON holds it (payload and signatures base64). */
export interface DsseEnvelope {
  /** What the payload is. */
  payloadType: string;
  /** The payload, base64. */
  payload: string;
  /** The signatures over the PAE of type and payload. */
  signatures: { keyid: string; sig: string }[];
}

/** Base64 from an envelope (perhaps written by another tool): a clear error when it is not. */
function unb64(text: string, what: string): Uint8Array {
  const bytes = decodeBase64(text);
  if (!bytes) {
    throw new AptOstreeError(`The DSSE envelope's ${what} is not base64`, {
      solution: "The attestation is damaged; attach it again",
    });
  }
  return bytes;
}

/**
 * DSSE's pre-authentication encoding: `DSSEv1 <len> <type> <len> <payload>`.
 *
 * @example
 * ```ts
 * import { pae } from "./dsse.ts";
 * new TextDecoder().decode(pae("a/b", new TextEncoder().encode("hi"))); // "DSSEv1 3 a/b 2 hi"
 * ```
 */
export function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = new TextEncoder().encode(payloadType);
  const head = new TextEncoder().encode(`DSSEv1 ${type.length} ${payloadType} ${payload.length} `);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length);
  return out;
}

/**
 * The payload of an envelope, decoded.
 *
 * @example
 * ```ts
 * import { envelopePayload } from "./dsse.ts";
 * envelopePayload({ payloadType: "a/b", payload: btoa("hi"), signatures: [] }); // Uint8Array of "hi"
 * ```
 */
export function envelopePayload(envelope: DsseEnvelope): Uint8Array {
  return unb64(envelope.payload, "payload");
}

/**
 * Signs `payload` in a DSSE envelope with every key the options name:
 * `signBySigstorePrivateKey` (ECDSA P-256) and `signBy` (GPG, detached).
 *
 * @example
 * ```ts
 * import { signDsse } from "./dsse.ts";
 * const envelope = await signDsse("application/vnd.in-toto+json", new TextEncoder().encode("{}"), {
 *   signBySigstorePrivateKey: "cosign.key",
 * });
 * ```
 */
export async function signDsse(payloadType: string, payload: Uint8Array, options: SignOptions): Promise<DsseEnvelope> {
  const message = pae(payloadType, payload);
  const signatures: DsseEnvelope["signatures"] = [];
  if (options.signBySigstorePrivateKey !== undefined) {
    const key = await loadSigstoreKey(options.signBySigstorePrivateKey, options.signPassphraseFile);
    signatures.push({ keyid: "", sig: signBytes(key, message) });
  }
  if (options.signBy !== undefined) {
    const sig = await gpgSign(message, {
      signBy: options.signBy,
      passphraseFile: options.passphraseFile,
      signal: options.signal,
      detach: true,
    });
    signatures.push({ keyid: options.signBy, sig: encodeBase64(sig) });
  }
  if (signatures.length === 0) {
    throw new AptOstreeError("Nothing to sign the attestation with", {
      solution: "Give {signBySigstorePrivateKey} FILE or {signBy} FINGERPRINT",
    });
  }
  return { payloadType, payload: encodeBase64(payload), signatures };
}

/** What {@linkcode verifyDsse} found. */
export type DsseVerifyResult = { ok: true; by: string } | { ok: false; reason: string };

/**
 * Checks the signatures of an envelope against public keys (PEM: ECDSA
 * P-256; anything else: a GPG public key export): accepted when one
 * signature verifies with one key.
 *
 * @example
 * ```ts
 * import { verifyDsse } from "./dsse.ts";
 * const result = await verifyDsse(JSON.parse(await Deno.readTextFile("envelope.json")), [
 *   { name: "cosign.pub", bytes: await Deno.readFile("cosign.pub") },
 * ]);
 * ```
 */
export async function verifyDsse(
  envelope: DsseEnvelope,
  keys: { name: string; bytes: Uint8Array }[],
): Promise<DsseVerifyResult> {
  if (
    typeof envelope?.payloadType !== "string" || typeof envelope.payload !== "string" ||
    !Array.isArray(envelope.signatures)
  ) {
    return { ok: false, reason: "not a DSSE envelope" };
  }
  const message = pae(envelope.payloadType, envelopePayload(envelope));
  const reasons: string[] = [];
  for (const key of keys) {
    const text = new TextDecoder().decode(key.bytes.subarray(0, 100));
    if (text.includes("-----BEGIN PUBLIC KEY-----")) {
      const publicKey = readPublicKey(new TextDecoder().decode(key.bytes), key.name);
      for (const s of envelope.signatures) {
        if (typeof s?.sig === "string" && verifyBytes(publicKey, message, s.sig)) return { ok: true, by: key.name };
      }
      reasons.push(`${key.name}: no signature verifies with it`);
      continue;
    }
    for (const s of envelope.signatures) {
      if (typeof s?.sig !== "string") continue;
      const signature = decodeBase64(s.sig);
      if (!signature) {
        reasons.push(`${key.name}: a signature is not base64`);
        continue;
      }
      const result = await gpgVerify(signature, [key.bytes], message);
      if (result.ok) return { ok: true, by: `${key.name} (GPG ${result.fingerprint})` };
      reasons.push(`${key.name}: ${result.reason}`);
    }
  }
  return { ok: false, reason: reasons.join("; ") || "the envelope has no signatures" };
}

/**
 * The public keys of the signing options (to recognise an envelope signed
 * earlier with the same keys): a cosign key's public half, a GPG key's
 * export from `GNUPGHOME`.
 *
 * @example
 * ```ts
 * import { signerPublicKeys } from "./dsse.ts";
 * const keys = await signerPublicKeys({ signBySigstorePrivateKey: "cosign.key" });
 * ```
 */
export async function signerPublicKeys(options: SignOptions): Promise<{ name: string; bytes: Uint8Array }[]> {
  const out: { name: string; bytes: Uint8Array }[] = [];
  if (options.signBySigstorePrivateKey !== undefined) {
    const key = await loadSigstoreKey(options.signBySigstorePrivateKey, options.signPassphraseFile);
    const pem = createPublicKey(key).export({ format: "pem", type: "spki" }).toString();
    out.push({ name: options.signBySigstorePrivateKey, bytes: new TextEncoder().encode(pem) });
  }
  if (options.signBy !== undefined) {
    const exported = await gpgExportKey(options.signBy, options.signal);
    if (exported) out.push({ name: options.signBy, bytes: exported });
  }
  return out;
}
