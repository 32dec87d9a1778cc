/**
 * Simple signing with GnuPG, by running `gpg` (to sign, with the user's
 * keys: `GNUPGHOME` respected) and `gpgv` (to verify, against a temporary
 * keyring made of the given public keys only, never the user's).
 *
 * @module
 */

import { join } from "node:path";
import { AptOstreeError } from "../errors.ts";
import { commandDyingWithUs, onPath } from "../util/child.ts";

/** Options for {@linkcode gpgSign}. */
export interface GpgSignOptions {
  /** The key to sign with: a fingerprint (or any key ID gpg accepts). */
  signBy: string;
  /** A file holding the key's passphrase (gpg `--pinentry-mode loopback --passphrase-file`). */
  passphraseFile?: string;
  /** Aborts gpg. */
  signal?: AbortSignal;
  /** A detached signature (`--detach-sign`: the signature alone, not a message holding the payload). */
  detach?: boolean;
}

async function runTool(
  program: string,
  args: string[],
  stdin: Uint8Array | undefined,
  signal?: AbortSignal,
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  if (!onPath(program)) {
    throw new AptOstreeError(`${program} is not installed`, {
      solution: `Install it: apt-get install ${program === "gpgv" ? "gpgv" : "gnupg"}`,
    });
  }
  // As every child of the tool: it dies with the tool (a SIGKILLed apt-ostree leaves no gpg behind).
  const child = commandDyingWithUs(program, {
    args,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  }).spawn();
  if (stdin) {
    const writer = child.stdin.getWriter();
    await writer.write(stdin).catch(() => {});
    await writer.close().catch(() => {});
  }
  const out = await child.output();
  return { code: out.code, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr) };
}

/**
 * Signs `payload` with `gpg --sign` (a signed OpenPGP message holding the
 * payload, as containers/image's simple signing wants). Never prompts
 * when stdin is not a terminal (`--batch`, loopback pinentry).
 *
 * @example
 * ```ts
 * import { gpgSign } from "./gpg.ts";
 * const signature = await gpgSign(new TextEncoder().encode("{}"), { signBy: "0123456789ABCDEF" });
 * ```
 */
export async function gpgSign(payload: Uint8Array, options: GpgSignOptions): Promise<Uint8Array> {
  const mode = options.detach ? "--detach-sign" : "--sign";
  const args = ["--batch", "--no-tty", "--status-fd", "2", mode, "--local-user", options.signBy, "--output", "-"];
  if (options.passphraseFile !== undefined || !Deno.stdin.isTerminal()) args.unshift("--pinentry-mode", "loopback");
  if (options.passphraseFile !== undefined) args.unshift("--passphrase-file", options.passphraseFile);
  const out = await runTool("gpg", args, payload, options.signal);
  if (out.code !== 0 || out.stdout.length === 0) {
    const lines = out.stderr.split("\n").filter((l) => l.startsWith("gpg:")).join("; ");
    const noKey = /INV_SGNR|secret key not available|No secret key|skipped/i.test(out.stderr);
    const noPass = /passphrase|BAD_PASSPHRASE|MISSING_PASSPHRASE|Inappropriate ioctl/i.test(out.stderr);
    throw new AptOstreeError(`gpg could not sign with ${options.signBy}: ${lines || `exit ${out.code}`}`, {
      solution: noKey
        ? "Check {signBy}: the key must be in the keyring of GNUPGHOME (gpg --list-secret-keys)"
        : noPass
        ? "The key needs a passphrase: give {passphraseFile}"
        : "Run gpg --sign with that key by hand to see what it needs",
    });
  }
  return out.stdout;
}

/**
 * The public key of `keyId` exported from the user's keyring (`GNUPGHOME`),
 * binary; undefined when gpg has no such key.
 *
 * @example
 * ```ts
 * import { gpgExportKey } from "./gpg.ts";
 * const key = await gpgExportKey("0123456789ABCDEF0123456789ABCDEF01234567");
 * ```
 */
export async function gpgExportKey(keyId: string, signal?: AbortSignal): Promise<Uint8Array | undefined> {
  const out = await runTool("gpg", ["--batch", "--no-tty", "--export", keyId], undefined, signal);
  return out.code === 0 && out.stdout.length > 0 ? out.stdout : undefined;
}

/** What {@linkcode gpgVerify} found. */
export type GpgVerifyResult =
  | { ok: true; payload: Uint8Array; fingerprint: string }
  | { ok: false; reason: string };

async function dearmor(key: Uint8Array, home: string): Promise<Uint8Array> {
  const head = new TextDecoder().decode(key.subarray(0, 64));
  if (!head.includes("-----BEGIN PGP")) return key;
  const out = await runTool("gpg", ["--homedir", home, "--batch", "--no-tty", "--dearmor"], key);
  if (out.code !== 0) {
    throw new AptOstreeError(`Cannot read a GPG public key: ${out.stderr.trim()}`, {
      solution: "Give a key exported with gpg --export (binary or --armor)",
    });
  }
  return out.stdout;
}

/**
 * Verifies a simple signature with `gpgv` against the given public keys
 * (binary or armored exports) in a temporary keyring, and returns the
 * signed payload and the signer's fingerprint, or why it does not verify.
 * With `detachedData`, `signature` is a detached signature of those bytes
 * (which are returned as the payload).
 *
 * @example
 * ```ts
 * import { gpgVerify } from "./gpg.ts";
 * const result = await gpgVerify(await Deno.readFile("signature-1"), [await Deno.readFile("key.gpg")]);
 * if (result.ok) console.log(result.fingerprint);
 * ```
 */
export async function gpgVerify(
  signature: Uint8Array,
  keys: Uint8Array[],
  detachedData?: Uint8Array,
): Promise<GpgVerifyResult> {
  const home = await Deno.makeTempDir({ prefix: "apt-ostree-gpgv-" });
  try {
    await Deno.chmod(home, 0o700);
    const parts = await Promise.all(keys.map((k) => dearmor(k, home)));
    const keyring = join(home, "keyring.gpg");
    const total = parts.reduce((n, p) => n + p.length, 0);
    const all = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    await Deno.writeFile(keyring, all);
    await Deno.writeFile(join(home, "signature"), signature);
    const output = join(home, "payload");
    if (detachedData) await Deno.writeFile(output, detachedData);
    const out = await runTool("gpgv", [
      "--homedir",
      home,
      "--keyring",
      keyring,
      "--status-fd",
      "1",
      ...(detachedData ? [] : ["--output", output]),
      join(home, "signature"),
      ...(detachedData ? [output] : []),
    ], undefined);
    const status = new TextDecoder().decode(out.stdout);
    const valid = /^\[GNUPG:\] VALIDSIG (\S+)(?: .*)? (\S+)$/m.exec(status);
    if (out.code === 0 && valid) {
      return { ok: true, payload: await Deno.readFile(output), fingerprint: valid[2] ?? valid[1] };
    }
    const noKey = /^\[GNUPG:\] (?:NO_PUBKEY|ERRSIG) (\S+)/m.exec(status);
    if (/^\[GNUPG:\] BADSIG/m.test(status)) {
      return { ok: false, reason: "Invalid GPG signature (the data was changed)" };
    }
    if (noKey) return { ok: false, reason: `Invalid GPG signature: signed by key ${noKey[1]}, which is not trusted` };
    if (/NODATA|no valid OpenPGP data/i.test(status + out.stderr)) {
      return { ok: false, reason: "Invalid GPG signature: not an OpenPGP signature" };
    }
    return { ok: false, reason: `Invalid GPG signature: ${out.stderr.trim().split("\n").pop() ?? `exit ${out.code}`}` };
  } finally {
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
}
