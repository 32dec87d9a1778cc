/**
 * The registry options that `image push`, `image pull`, `image inspect`,
 * `login` and `compose build-image --push` share, named as skopeo names
 * them.
 *
 * @module
 */

import type { Command } from "commander";
import { UsageError } from "../errors.ts";
import type { RegistryOptions } from "../registry/client.ts";
import { DEFAULT_RETRY_POLICY, DEFAULT_TIMEOUT_MS, parseDuration, type RetryPolicy } from "../registry/retry.ts";
import { redactSecrets } from "../util/redact.ts";
import type { GlobalOptions } from "./context.ts";

/** Registry options as commander collects them. */
export interface RegistryCliOptions {
  /** `--creds USER:PASS`. */
  creds?: string;
  /** `--authfile PATH`. */
  authfile?: string;
  /** `--tls-verify[=BOOL]`. */
  tlsVerify?: string | boolean;
  /** `--cert-dir DIR`. */
  certDir?: string;
  /** `--retry-times N`. */
  retryTimes?: string;
  /** `--retry-delay DURATION`. */
  retryDelay?: string;
  /** `--timeout DURATION`. */
  timeout?: string;
}

/**
 * Adds the registry options to a command (with a prefix such as `src-`
 * for a second registry).
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addRegistryOptions } from "./registry_options.ts";
 * addRegistryOptions(new Command("push"));
 * ```
 */
export function addRegistryOptions(command: Command, prefix = "", what = "the registry"): Command {
  return command
    .optionsGroup(prefix === "src-" ? "Source registry options:" : "Registry options:")
    .option(`--${prefix}creds <USER:PASSWORD>`, `credentials for ${what} (else the auth files are searched)`)
    .option(
      `--${prefix}authfile <path>`,
      "auth file (default: $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json, ~/.docker/config.json, …)",
    )
    .option(
      `--${prefix}tls-verify [bool]`,
      `require HTTPS and verify certificates for ${what} (default true; false allows plain HTTP and self-signed certificates)`,
    )
    .option(`--${prefix}cert-dir <dir>`, `CA certificates (*.crt) and client certificate (*.cert, *.key) for ${what}`);
}

/**
 * Adds `--retry-times` and `--retry-delay`.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addRetryOptions } from "./registry_options.ts";
 * addRetryOptions(new Command("push"));
 * ```
 */
export function addRetryOptions(command: Command): Command {
  return command
    .optionsGroup("Transfer options:")
    .option(
      "--retry-times <n>",
      `retries of a request that failed on the connection, 408, 429 or 5xx (default ${DEFAULT_RETRY_POLICY.retries})`,
    )
    .option("--retry-delay <duration>", "fixed delay between retries, e.g. 500ms or 2s (default: exponential backoff)")
    .option(
      "--timeout <duration>",
      `how long a registry may stay silent (connecting, answering, mid-body), e.g. 10s or 2m; 0 waits forever (default ${
        DEFAULT_TIMEOUT_MS / 1000
      }s)`,
    );
}

function parseBool(value: string | boolean | undefined, option: string): boolean {
  if (value === undefined || value === true) return true;
  if (value === false) return false;
  const v = value.toLowerCase();
  if (v === "true" || v === "1" || v === "yes") return true;
  if (v === "false" || v === "0" || v === "no") return false;
  throw new UsageError(`Invalid ${option} value '${value}'`, { solution: `Use ${option}=true or ${option}=false` });
}

/**
 * A debug log for `--verbose` (on stderr, secrets redacted), or undefined.
 *
 * @example
 * ```ts
 * import { verboseLog } from "./registry_options.ts";
 * verboseLog({ verbose: true })?.("GET https://example.com/v2/ → 200");
 * ```
 */
export function verboseLog(globals: GlobalOptions): ((line: string) => void) | undefined {
  if (!globals.verbose) return undefined;
  return (line) => console.error(redactSecrets(`  ${line}`));
}

/**
 * Converts the collected options (with `prefix` keys such as `srcCreds`)
 * into {@linkcode RegistryOptions}.
 *
 * @example
 * ```ts
 * import { registryOptionsFrom } from "./registry_options.ts";
 * registryOptionsFrom({ tlsVerify: "false" }, {}).tlsVerify; // false
 * ```
 */
export function registryOptionsFrom(
  opts: Record<string, unknown>,
  globals: GlobalOptions,
  prefix: "" | "src" | "dest" = "",
): RegistryOptions {
  const key = (name: string) => (prefix === "" ? name : prefix + name[0].toUpperCase() + name.slice(1));
  const flag = (name: string) => `--${prefix === "" ? "" : prefix + "-"}${name}`;
  const retry: RetryPolicy = { ...DEFAULT_RETRY_POLICY };
  const retryTimes = opts.retryTimes as string | undefined;
  if (retryTimes !== undefined) {
    if (!/^\d+$/.test(retryTimes)) {
      throw new UsageError(`Invalid --retry-times value '${retryTimes}'`, { solution: "Give a whole number, e.g. 3" });
    }
    retry.retries = Number(retryTimes);
  }
  const retryDelay = opts.retryDelay as string | undefined;
  if (retryDelay !== undefined) {
    const ms = parseDuration(retryDelay);
    if (ms === undefined) {
      throw new UsageError(`Invalid --retry-delay value '${retryDelay}'`, { solution: "Use e.g. 500ms, 2s or 1m" });
    }
    retry.fixedDelayMs = ms;
  }
  let timeoutMs: number | undefined;
  const timeout = opts.timeout as string | undefined;
  if (timeout !== undefined) {
    timeoutMs = timeout === "0" ? 0 : parseDuration(timeout);
    if (timeoutMs === undefined) {
      throw new UsageError(`Invalid --timeout value '${timeout}'`, { solution: "Use e.g. 10s, 2m or 0 (no timeout)" });
    }
  }
  return {
    credentials: {
      creds: opts[key("creds")] as string | undefined,
      authfile: opts[key("authfile")] as string | undefined,
    },
    tlsVerify: parseBool(opts[key("tlsVerify")] as string | boolean | undefined, flag("tls-verify")),
    certDir: opts[key("certDir")] as string | undefined,
    retry,
    timeoutMs,
    log: verboseLog(globals),
  };
}

/**
 * The registry options of a command that uploads: those of
 * {@linkcode registryOptionsFrom} and `--chunk-size`.
 *
 * @example
 * ```ts
 * import { uploadOptionsFrom } from "./registry_options.ts";
 * uploadOptionsFrom({ chunkSize: "8MiB" }, {}).chunkSize; // 8388608
 * ```
 */
export function uploadOptionsFrom(
  opts: Record<string, unknown>,
  globals: GlobalOptions,
  prefix: "" | "src" | "dest" = "",
): RegistryOptions & { chunkSize?: number } {
  return {
    ...registryOptionsFrom(opts, globals, prefix),
    chunkSize: opts.chunkSize !== undefined ? parseSize(opts.chunkSize as string, "--chunk-size") : undefined,
  };
}

/**
 * Parses a size such as `16MiB`, `512k` or `1048576`.
 *
 * @example
 * ```ts
 * import { parseSize } from "./registry_options.ts";
 * parseSize("16MiB", "--chunk-size"); // 16777216
 * ```
 */
export function parseSize(text: string, option: string): number {
  const m = /^(\d+)\s*([kmg]?)(i?b?)$/i.exec(text.trim());
  if (!m) {
    throw new UsageError(`Invalid ${option} value '${text}'`, { solution: "Give a size such as 16MiB, 512KiB or 0" });
  }
  const unit = m[2].toLowerCase();
  return Number(m[1]) * (unit === "k" ? 1024 : unit === "m" ? 1 << 20 : unit === "g" ? 1 << 30 : 1);
}
