/**
 * A client for one registry (distribution API v2): picks HTTPS (or plain
 * HTTP when `--tls-verify=false` and the registry speaks no TLS), sends
 * requests with authentication, retries connection errors, 408, 429 and
 * 5xx with backoff, and follows redirects without leaking credentials to
 * other hosts. {@linkcode RegistryRepository} has the per-repository calls:
 * blobs, manifests, uploads.
 *
 * @module
 */

import { readLimited, readPrefix } from "../util/bounded_read.ts";
import { AptOstreeError } from "../errors.ts";
import { sha256Digest } from "../digest/digest.ts";
import { MANIFEST_ACCEPT, type RawManifest, rawManifest } from "../oci/manifest.ts";
import { MEDIA_TYPE_INDEX } from "../oci/types.ts";
import { VERSION } from "../version.ts";
import { RegistryAuth } from "./auth.ts";
import { type CredentialOptions, type FoundCredentials, lookupCredentials } from "./credentials.ts";
import {
  connectionProblem,
  createTransport,
  type HttpTransport,
  loadTlsSettings,
  RegistryTimeoutError,
} from "./http.ts";
import { DEFAULT_RETRY_POLICY, isRetryableStatus, retryDelay, type RetryPolicy, sleep } from "./retry.ts";

/** How to reach and authenticate with registries (the CLI's registry options). */
export interface RegistryOptions {
  /** `--creds`, `--authfile`. */
  credentials?: CredentialOptions;
  /** Verify TLS certificates and require HTTPS (default true). */
  tlsVerify?: boolean;
  /** Directory with the registry's CA certificate(s) (`*.crt`). */
  certDir?: string;
  /** Retry policy. */
  retry?: RetryPolicy;
  /** How long a registry may stay silent, in milliseconds (default 30 s; 0: wait forever). */
  timeoutMs?: number;
  /** Debug log of requests (method, URL without query, status; never headers). */
  log?: (line: string) => void;
}

/** One request to the registry. */
export interface RegistryRequest {
  /** HTTP method. */
  method: string;
  /** Path under the registry (e.g. `/v2/app/blobs/…`), or an absolute URL (a Location). */
  path: string | URL;
  /** Extra headers. */
  headers?: Record<string, string>;
  /** Body: bytes, or a function that opens the body stream (called again for each attempt). */
  body?: Uint8Array | (() => Promise<ReadableStream<Uint8Array>> | ReadableStream<Uint8Array>);
  /** Token scopes the request needs, e.g. `repository:app:pull`. */
  scopes: string[];
  /** Aborts the request. */
  signal?: AbortSignal;
  /** Retry connection errors and retryable statuses (default true). */
  retry?: boolean;
  /** Follow redirects (blob downloads); credentials go only to the registry's own origin. */
  followRedirects?: boolean;
}

const USER_AGENT = `apt-ostree/${VERSION}`;

/** A registry that could not be reached, or a connection that broke. */
export class RegistryConnectionError extends AptOstreeError {
  constructor(
    message: string,
    /** What kind of problem: `connection` (worth retrying), `certificate`, `tls-handshake`. */
    readonly problem: string | undefined,
    options: { solution: string; cause: unknown },
  ) {
    super(message, options);
    this.name = "RegistryConnectionError";
  }
}
const MAX_REDIRECTS = 5;

/** Strips query and fragment from a URL for logs (presigned URLs carry signatures). */
function displayUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/** Strips the query strings of URLs inside an error message (Deno's fetch errors quote the URL). */
function withoutQueries(text: string): string {
  return text.replace(/(https?:\/\/[^\s?#)]+)[?#][^\s)]*/g, "$1");
}

/**
 * Reads a registry error response (`{"errors":[{"code","message"}]}`) into
 * one line.
 *
 * @example
 * ```ts
 * import { describeRegistryError } from "./client.ts";
 * const text = await describeRegistryError(new Response('{"errors":[{"code":"DENIED","message":"no"}]}', { status: 403 }));
 * // "403 DENIED: no"
 * ```
 */
export async function describeRegistryError(response: Response): Promise<string> {
  let text = "";
  try {
    text = await readPrefix(response.body, 4096);
  } catch {
    // the body is optional
  }
  try {
    const json = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const parts = (json.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(": ")).filter(Boolean);
    if (parts.length > 0) return `${response.status} ${parts.join("; ")}`;
  } catch {
    // not JSON
  }
  const statusText = response.statusText || ({ 404: "Not Found", 403: "Forbidden" } as Record<number, string>)[
    response.status
  ] || "";
  return `${response.status}${statusText ? ` ${statusText}` : ""}`;
}

/** A client for one registry host. */
export class RegistryClient {
  private base: URL | undefined;
  private pinging: Promise<void> | undefined;
  private readonly auth: RegistryAuth;
  private readonly retry: RetryPolicy;

  private constructor(
    /** The host (and port) to connect to. */
    readonly host: string,
    /** The registry name credentials are stored under (`docker.io` for Docker Hub). */
    readonly authKey: string,
    private readonly transport: HttpTransport,
    private readonly tlsVerify: boolean,
    private readonly options: RegistryOptions,
    repository: string | undefined,
  ) {
    this.retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.auth = new RegistryAuth({
      host: authKey,
      transport,
      retry: this.retry,
      log: options.log,
      userAgent: USER_AGENT,
      allowHttp: !tlsVerify,
      credentials: async (): Promise<FoundCredentials | undefined> => {
        const found = await lookupCredentials(authKey, repository, options.credentials ?? {});
        options.log?.(
          found ? `using credentials for ${authKey} from ${found.source}` : `no credentials for ${authKey}`,
        );
        return found;
      },
    });
  }

  /**
   * Creates a client for `host` (TLS settings read from `--cert-dir` or
   * the system certificate directories).
   *
   * @example
   * ```ts
   * import { RegistryClient } from "./client.ts";
   * const client = await RegistryClient.create("localhost:5000", { tlsVerify: false });
   * const repo = client.repository("team/app");
   * ```
   */
  static async create(
    host: string,
    options: RegistryOptions = {},
    authKey: string = host,
    repository?: string,
  ): Promise<RegistryClient> {
    const tlsVerify = options.tlsVerify ?? true;
    const tls = await loadTlsSettings(host, { verify: tlsVerify, certDir: options.certDir });
    return new RegistryClient(host, authKey, createTransport(tls, options.timeoutMs), tlsVerify, options, repository);
  }

  /**
   * Checks that the registry accepts the credentials (for `login`): a
   * Basic challenge is answered with them; a token server must give a
   * token for them.
   */
  async checkCredentials(signal?: AbortSignal): Promise<void> {
    await this.ping(signal);
    const response = await this.request({ method: "GET", path: "/v2/", scopes: [], signal });
    await response.body?.cancel();
    if (response.status === 401 || response.status === 403) {
      const found = await this.auth.credentials();
      throw new AptOstreeError(
        `Authentication failed for ${this.authKey}: the user name or password${
          found ? ` from ${found.source}` : ""
        } was rejected`,
        { solution: `Check the credentials and try again` },
      );
    }
    if (!response.ok) {
      throw new AptOstreeError(`${this.host} answered ${response.status} to GET /v2/`, {
        solution: "Check the registry address",
      });
    }
    if (this.auth.scheme === undefined) {
      this.options.log?.(`${this.host} needs no authentication; storing the credentials anyway`);
    } else if (this.auth.scheme === "bearer") {
      // The registry answers /v2/ to a token without scopes; make sure the token server checked the password.
      await this.auth.authorization([], signal);
    }
  }

  /** The registry's base URL (scheme and host), once it answered. */
  async baseUrl(signal?: AbortSignal): Promise<URL> {
    await this.ping(signal);
    return this.base!;
  }

  /** The retry policy in use. */
  get retryPolicy(): RetryPolicy {
    return this.retry;
  }

  /** Per-repository operations. */
  repository(path: string): RegistryRepository {
    return new RegistryRepository(this, path);
  }

  /** Releases connections. */
  close(): void {
    this.transport.close();
  }

  /** The credentials in use (looked up once), for messages and login. */
  credentials(): Promise<FoundCredentials | undefined> {
    return this.auth.credentials();
  }

  /**
   * Checks that the registry answers (`GET /v2/`), choosing the scheme and
   * learning how it authenticates. Called once, before the first request.
   */
  ping(signal?: AbortSignal): Promise<void> {
    this.pinging ??= this.doPing(signal);
    return this.pinging;
  }

  private async doPing(signal: AbortSignal | undefined): Promise<void> {
    const https = new URL(`https://${this.host}/v2/`);
    if (this.tlsVerify) {
      await this.pingAt(https, signal, true);
      return;
    }
    // As skopeo with --tls-verify=false: HTTPS without checks, else plain HTTP.
    let httpsError: unknown;
    try {
      await this.pingAt(https, signal, false);
      return;
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      const problem = error instanceof RegistryConnectionError ? error.problem : undefined;
      if (problem !== "tls-handshake" && problem !== "connection") throw error;
      httpsError = error;
      this.options.log?.(`https://${this.host} failed (${(error as Error).message}); trying plain HTTP`);
    }
    try {
      await this.pingAt(new URL(`http://${this.host}/v2/`), signal, true);
    } catch (error) {
      // A 400 to plain HTTP is an HTTPS server: its own error says more.
      if (error instanceof AptOstreeError && / answered 400 /.test(error.message)) throw httpsError;
      throw error;
    }
  }

  private async pingAt(url: URL, signal: AbortSignal | undefined, retry: boolean): Promise<void> {
    for (let attempt = 0;; attempt++) {
      let response: Response;
      try {
        response = await this.transport.send({
          method: "GET",
          url,
          headers: new Headers({ "user-agent": USER_AGENT }),
          signal,
        });
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        const problem = connectionProblem(error);
        if (problem === "connection" && retry && attempt < this.retry.retries) {
          this.options.log?.(`GET ${displayUrl(url)} failed (${(error as Error).message}); retrying`);
          await sleep(retryDelay(this.retry, attempt + 1), signal);
          continue;
        }
        throw this.connectError(error, problem);
      }
      this.options.log?.(`GET ${displayUrl(url)} → ${response.status}`);
      if (isRetryableStatus(response.status) && retry && attempt < this.retry.retries) {
        await response.body?.cancel();
        await sleep(retryDelay(this.retry, attempt + 1, response.headers.get("retry-after")), signal);
        continue;
      }
      await response.body?.cancel();
      if (response.status === 401) {
        this.auth.noteChallenge(response.headers.get("www-authenticate"));
      } else if (!response.ok && response.status !== 404) {
        throw new AptOstreeError(`${this.host} answered ${response.status} to GET /v2/`, {
          solution: "Check the registry address; it does not behave like an OCI registry (distribution API v2)",
        });
      }
      this.base = new URL(`${url.protocol}//${this.host}`);
      return;
    }
  }

  private connectError(error: unknown, problem: string | undefined): AptOstreeError {
    if (error instanceof RegistryTimeoutError) return error;
    const detail = withoutQueries((error as Error)?.message ?? String(error));
    // The cause shown with --verbose, without URLs' query strings (presigned URLs carry signatures).
    const inner = (error as Error)?.cause;
    const cause = new Error(
      detail + (inner ? ` (${withoutQueries(inner instanceof Error ? inner.message : String(inner))})` : ""),
    );
    error = cause;
    if (problem === "certificate") {
      return new RegistryConnectionError(`The TLS certificate of ${this.host} is not trusted: ${detail}`, problem, {
        solution:
          `Pass {certDir} DIR holding the registry's CA certificate as *.crt (or put it in /etc/containers/certs.d/${this.host}/ca.crt); for a test registry, {tlsVerify}=false`,
        cause: error,
      });
    }
    if (problem === "tls-handshake") {
      return new RegistryConnectionError(`${this.host} does not speak HTTPS`, problem, {
        solution: "For a plain-HTTP registry (tests, loopback), pass {tlsVerify}=false",
        cause: error,
      });
    }
    return new RegistryConnectionError(`Cannot connect to the registry ${this.host}: ${detail}`, problem, {
      solution: "Check the host name and port, the network, and that the registry is running",
      cause: error,
    });
  }

  /**
   * Sends a request with authentication, retries and redirects. Returns the
   * final response whatever its status (callers check it).
   */
  async request(request: RegistryRequest): Promise<Response> {
    await this.ping(request.signal);
    const base = this.base!;
    let url = typeof request.path === "string" ? new URL(request.path, base) : request.path;
    let scopes = request.scopes;
    let attempt = 0;
    let authRounds = 0;
    let redirects = 0;
    const retry = request.retry ?? true;
    for (;;) {
      const sameOrigin = url.origin === base.origin;
      const headers = new Headers({ "user-agent": USER_AGENT, ...(request.headers ?? {}) });
      let sentAuthorization = false;
      if (sameOrigin) {
        const authorization = await this.auth.authorization(scopes, request.signal);
        if (authorization !== undefined) {
          headers.set("authorization", authorization);
          sentAuthorization = true;
        }
      }
      let body: Uint8Array | ReadableStream<Uint8Array> | undefined;
      if (request.body instanceof Uint8Array) body = request.body;
      else if (request.body !== undefined) body = await request.body();
      let response: Response;
      try {
        response = await this.transport.send({ method: request.method, url, headers, body, signal: request.signal });
      } catch (error) {
        if (body instanceof ReadableStream) await body.cancel().catch(() => {});
        if (request.signal?.aborted) throw request.signal.reason;
        const problem = connectionProblem(error);
        const willRetry = problem === "connection" && retry && attempt < this.retry.retries;
        this.options.log?.(
          `${request.method} ${displayUrl(url)} failed (${withoutQueries((error as Error).message)})${
            willRetry ? "; retrying" : ""
          }`,
        );
        if (willRetry) {
          attempt++;
          await sleep(retryDelay(this.retry, attempt), request.signal);
          continue;
        }
        throw this.connectError(error, problem);
      }
      this.options.log?.(`${request.method} ${displayUrl(url)} → ${response.status}`);
      if (response.status === 401 && sameOrigin && authRounds < 2) {
        await response.body?.cancel();
        authRounds++;
        scopes = await this.auth.onUnauthorized(response.headers.get("www-authenticate"), scopes, sentAuthorization);
        continue;
      }
      if (isRetryableStatus(response.status) && retry && attempt < this.retry.retries) {
        attempt++;
        await response.body?.cancel();
        await sleep(retryDelay(this.retry, attempt, response.headers.get("retry-after")), request.signal);
        continue;
      }
      if (
        request.followRedirects && [301, 302, 303, 307, 308].includes(response.status) &&
        response.headers.has("location")
      ) {
        await response.body?.cancel();
        if (++redirects > MAX_REDIRECTS) {
          throw new AptOstreeError(`Too many redirects from ${this.host} for ${request.method} ${request.path}`);
        }
        url = new URL(response.headers.get("location")!, url);
        // Locations come from the registry: http(s) only (fetch would read file: URLs).
        if (url.protocol !== "https:" && !(url.protocol === "http:" && !this.tlsVerify)) {
          throw new AptOstreeError(`${this.host} redirected to a URL that is not HTTPS: ${url.protocol}//${url.host}`, {
            solution: "For a plain-HTTP test registry, pass {tlsVerify}=false",
          });
        }
        continue;
      }
      return response;
    }
  }
}

/** What a HEAD on a blob found. */
export interface BlobStat {
  /** Whether the registry has the blob in this repository. */
  exists: boolean;
  /** Its size, when known. */
  size?: number;
}

/** Operations on one repository of a registry. */
export class RegistryRepository {
  constructor(readonly client: RegistryClient, readonly path: string) {}

  /** `repository:<path>:pull`. */
  get pullScope(): string {
    return `repository:${this.path}:pull`;
  }

  /** `repository:<path>:pull,push`. */
  get pushScope(): string {
    return `repository:${this.path}:pull,push`;
  }

  /** `host/path`, for messages. */
  get name(): string {
    return `${this.client.host}/${this.path}`;
  }

  /** Whether the repository has a blob (HEAD). */
  async statBlob(digest: string, scopes: string[] = [this.pullScope], signal?: AbortSignal): Promise<BlobStat> {
    const response = await this.client.request({
      method: "HEAD",
      path: `/v2/${this.path}/blobs/${digest}`,
      scopes,
      signal,
      followRedirects: true,
    });
    await response.body?.cancel();
    if (response.ok) {
      const length = response.headers.get("content-length");
      return { exists: true, size: length !== null ? Number(length) : undefined };
    }
    if (response.status === 404) return { exists: false };
    throw await this.error(`check blob ${digest} in`, response);
  }

  /**
   * Opens a blob for reading from `offset` (a `Range` request; a registry
   * that ignores it sends everything, and the caller skips).
   */
  async openBlob(
    digest: string,
    options: { offset?: number; signal?: AbortSignal } = {},
  ): Promise<{ body: ReadableStream<Uint8Array>; offset: number; length: number | undefined }> {
    const offset = options.offset ?? 0;
    const response = await this.client.request({
      method: "GET",
      path: `/v2/${this.path}/blobs/${digest}`,
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      scopes: [this.pullScope],
      signal: options.signal,
      followRedirects: true,
    });
    if (!response.ok || response.body === null) throw await this.error(`download blob ${digest} from`, response);
    const length = response.headers.get("content-length");
    const started = response.status === 206 ? offset : 0;
    return { body: response.body, offset: started, length: length !== null ? Number(length) : undefined };
  }

  /** Downloads a small blob (a config) whole, checking its digest. */
  async fetchBlobBytes(digest: string, maxSize: number, signal?: AbortSignal): Promise<Uint8Array> {
    const { body } = await this.openBlob(digest, { signal });
    const bytes = await readLimited(body, maxSize, `blob ${digest} of ${this.name}`);
    const actual = sha256Digest(bytes);
    if (actual !== digest) {
      throw new AptOstreeError(`Blob ${digest} from ${this.name} has the wrong content (it hashes to ${actual})`, {
        solution: "The registry sent damaged data; try again, and report it to the registry's operator if it persists",
      });
    }
    return bytes;
  }

  /** Fetches a manifest by tag or digest, checking its digest. */
  async getManifest(reference: string, signal?: AbortSignal): Promise<RawManifest> {
    const response = await this.client.request({
      method: "GET",
      path: `/v2/${this.path}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
      scopes: [this.pullScope],
      signal,
    });
    if (!response.ok) {
      if (response.status === 404) {
        await response.body?.cancel();
        throw new AptOstreeError(`Image not found: ${this.name}:${reference}`.replace(":sha256:", "@sha256:"), {
          solution: "Check the name and tag (list the tags with: skopeo list-tags docker://" + this.name + ")",
        });
      }
      throw await this.error(`get manifest ${reference} from`, response);
    }
    const bytes = await readLimited(response.body!, 4 << 20, `manifest ${reference} of ${this.name}`);
    const contentType = (response.headers.get("content-type") ?? "").split(";")[0].trim();
    const raw = rawManifest(bytes, contentType);
    const claimed = response.headers.get("docker-content-digest");
    const expected = reference.includes(":") ? reference : claimed?.startsWith("sha256:") ? claimed : undefined;
    if (expected !== undefined && expected !== raw.digest) {
      throw new AptOstreeError(
        `Manifest ${reference} from ${this.name} does not match its digest (got ${raw.digest}, expected ${expected})`,
        { solution: "The registry sent damaged data; try again" },
      );
    }
    return raw;
  }

  /** HEADs a manifest: its digest and media type, or undefined when absent. */
  async statManifest(
    reference: string,
    scopes: string[] = [this.pullScope],
    signal?: AbortSignal,
  ): Promise<{ digest: string | undefined; mediaType: string } | undefined> {
    const response = await this.client.request({
      method: "HEAD",
      path: `/v2/${this.path}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
      scopes,
      signal,
    });
    await response.body?.cancel();
    if (response.status === 404) return undefined;
    if (!response.ok) throw await this.error(`check manifest ${reference} in`, response);
    return {
      digest: response.headers.get("docker-content-digest") ?? undefined,
      mediaType: (response.headers.get("content-type") ?? "").split(";")[0].trim(),
    };
  }

  /** Uploads a manifest under a tag or its digest; resolves to the response's headers (`OCI-Subject`). */
  async putManifest(reference: string, raw: RawManifest, signal?: AbortSignal): Promise<Headers> {
    const response = await this.client.request({
      method: "PUT",
      path: `/v2/${this.path}/manifests/${reference}`,
      headers: { "content-type": raw.mediaType },
      body: raw.bytes,
      scopes: [this.pushScope],
      signal,
    });
    if (!response.ok) throw await this.error(`upload manifest ${reference} to`, response);
    await response.body?.cancel();
    return response.headers;
  }

  /**
   * The referrers of a manifest through the OCI 1.1 referrers API: its
   * index, or undefined when the registry has no such API (404).
   */
  async getReferrers(digest: string, signal?: AbortSignal): Promise<RawManifest | undefined> {
    const response = await this.client.request({
      method: "GET",
      path: `/v2/${this.path}/referrers/${digest}`,
      headers: { accept: MEDIA_TYPE_INDEX },
      scopes: [this.pullScope],
      signal,
    });
    const contentType = (response.headers.get("content-type") ?? "").split(";")[0].trim();
    // 404 (docker-registry 2.8), or another answer that is no index: no referrers API.
    if ([400, 404, 405, 501].includes(response.status) || (response.ok && contentType !== MEDIA_TYPE_INDEX)) {
      await response.body?.cancel();
      return undefined;
    }
    if (!response.ok) throw await this.error(`list the referrers of ${digest} in`, response);
    const bytes = await readLimited(response.body!, 4 << 20, `referrers of ${digest} in ${this.name}`);
    return rawManifest(bytes, MEDIA_TYPE_INDEX);
  }

  /** An error for a failed response: access problems get their own advice. */
  async error(action: string, response: Response): Promise<AptOstreeError> {
    const detail = await describeRegistryError(response);
    if (response.status === 401 || response.status === 403) {
      return new AptOstreeError(`Access denied: cannot ${action} ${this.name}: ${detail}`, {
        solution: `Check that the user may access ${this.path}; log in with: apt-ostree login ${this.client.authKey}`,
      });
    }
    if (response.status === 404) {
      return new AptOstreeError(`Cannot ${action} ${this.name}: ${detail}`, {
        solution: "Check the image name; the registry does not have it",
      });
    }
    return new AptOstreeError(`Cannot ${action} ${this.name}: ${detail}`, {
      solution: "Check the registry's state and logs; run again with {verbose} for the requests",
    });
  }
}
