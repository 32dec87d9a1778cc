/**
 * Secrets (passwords, registry tokens, `auth` strings) must never reach
 * output, errors or logs. Code that handles one registers it here; every
 * message the CLI prints passes through {@linkcode redactSecrets}, as a last
 * line of defence behind code that never puts a secret into a message.
 *
 * @module
 */

const secrets = new Set<string>();

/** Secrets shorter than this are not redacted (they would mangle ordinary text). */
const MIN_SECRET_LENGTH = 4;

/**
 * Remembers a secret so that {@linkcode redactSecrets} hides it.
 *
 * @example
 * ```ts
 * import { redactSecrets, registerSecret } from "./redact.ts";
 * registerSecret("hunter22");
 * redactSecrets("password hunter22 rejected"); // "password *** rejected"
 * ```
 */
export function registerSecret(secret: string | undefined): void {
  if (secret === undefined || secret.length < MIN_SECRET_LENGTH) return;
  secrets.add(secret);
  // The forms a secret takes on the wire: base64 and URL encoding.
  secrets.add(encodeURIComponent(secret));
}

/**
 * Replaces every registered secret in `text` with `***`.
 *
 * @example
 * ```ts
 * import { redactSecrets } from "./redact.ts";
 * redactSecrets("nothing secret here"); // unchanged
 * ```
 */
export function redactSecrets(text: string): string {
  let out = text;
  // Longest first, so that a secret containing another is hidden whole.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (out.includes(secret)) out = out.split(secret).join("***");
  }
  return out;
}
