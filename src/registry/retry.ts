/**
 * When and how long to wait before trying a registry request again:
 * connection errors, 408, 429 and 5xx are retried with exponential backoff
 * (and jitter), honouring `Retry-After`; everything else fails at once.
 *
 * @module
 */

/** How long a registry may stay silent (connecting, answering, or in the middle of a body), in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** How often and how long to retry. */
export interface RetryPolicy {
  /** Retries after the first attempt (0: no retries). */
  retries: number;
  /** Fixed delay between attempts in ms; when unset, exponential backoff. */
  fixedDelayMs?: number;
  /** First backoff delay in ms (doubled each time). */
  baseDelayMs: number;
  /** Longest delay in ms. */
  maxDelayMs: number;
}

/** The default: 4 retries, 0.5 s doubling to at most 10 s (about 8 s in all). */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 4, baseDelayMs: 500, maxDelayMs: 10_000 };

/**
 * Whether an HTTP status is worth retrying: 408, 429 and 5xx except the
 * permanent 501 and 505.
 *
 * @example
 * ```ts
 * import { isRetryableStatus } from "./retry.ts";
 * isRetryableStatus(503); // true
 * isRetryableStatus(404); // false
 * ```
 */
export function isRetryableStatus(status: number): boolean {
  if (status === 408 || status === 429) return true;
  return status >= 500 && status <= 599 && status !== 501 && status !== 505;
}

/**
 * The delay before retry number `attempt` (1 for the first retry), in ms.
 * A `Retry-After` header (seconds or an HTTP date) wins when it asks for
 * longer, up to `maxDelayMs`.
 *
 * @example
 * ```ts
 * import { DEFAULT_RETRY_POLICY, retryDelay } from "./retry.ts";
 * retryDelay(DEFAULT_RETRY_POLICY, 1); // about 500
 * retryDelay(DEFAULT_RETRY_POLICY, 2, "3"); // 3000
 * ```
 */
export function retryDelay(policy: RetryPolicy, attempt: number, retryAfter?: string | null): number {
  let delay = policy.fixedDelayMs ??
    Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1)) * (0.8 + 0.4 * Math.random());
  if (retryAfter) {
    const seconds = /^\d+$/.test(retryAfter.trim())
      ? Number(retryAfter.trim())
      : (Date.parse(retryAfter) - Date.now()) / 1000;
    if (Number.isFinite(seconds) && seconds * 1000 > delay) delay = Math.min(seconds * 1000, policy.maxDelayMs);
  }
  return Math.round(delay);
}

/**
 * Waits `ms` milliseconds; rejects with the signal's reason when aborted.
 *
 * @example
 * ```ts
 * import { sleep } from "./retry.ts";
 * await sleep(10);
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Parses a duration like `500ms`, `2s` or `1m` (a bare number is seconds),
 * as skopeo's `--retry-delay` takes.
 *
 * @example
 * ```ts
 * import { parseDuration } from "./retry.ts";
 * parseDuration("250ms"); // 250
 * parseDuration("2s"); // 2000
 * ```
 */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) return undefined;
  const value = Number(m[1]);
  const unit = m[2] ?? "s";
  return Math.round(unit === "ms" ? value : unit === "s" ? value * 1000 : value * 60_000);
}
