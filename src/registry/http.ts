/**
 * The HTTP layer under the registry client: `fetch` (with a private CA or a
 * client certificate through `Deno.createHttpClient`), and, for
 * `--tls-verify=false`, `node:https` with certificate checks off, because
 * Deno's `fetch` offers no per-client way to ignore certificate errors
 * (only the process-wide `--unsafely-ignore-certificate-errors` flag).
 *
 * Redirects are never followed here: the client follows them itself, so
 * that credentials are not sent to another host.
 *
 * @module
 */

import https from "node:https";
import { Readable } from "node:stream";
import { join } from "node:path";
import { AptOstreeError } from "../errors.ts";
import { DEFAULT_TIMEOUT_MS } from "./retry.ts";

/** One request. */
export interface HttpRequest {
  /** HTTP method. */
  method: string;
  /** Absolute URL. */
  url: URL;
  /** Request headers. */
  headers: Headers;
  /** Body: bytes (sent with Content-Length) or a stream (sent chunked). */
  body?: Uint8Array | ReadableStream<Uint8Array>;
  /** Aborts the request. */
  signal?: AbortSignal;
}

/** Sends requests. */
export interface HttpTransport {
  /** Sends one request and returns the response (redirects are returned, not followed). */
  send(request: HttpRequest): Promise<Response>;
  /** Releases pooled connections. */
  close(): void;
}

/** TLS settings of a registry, as skopeo's `--tls-verify` and `--cert-dir`. */
export interface TlsSettings {
  /** Verify certificates and require HTTPS (default true). */
  verify: boolean;
  /** Extra CA certificates (PEM). */
  caCerts: string[];
  /** Client certificate (PEM), for registries that require one. */
  cert?: string;
  /** Client key (PEM). */
  key?: string;
}

/** Directories searched for a registry's certificates, as containers/image does. */
export const SYSTEM_CERT_DIRS: readonly string[] = ["/etc/containers/certs.d", "/etc/docker/certs.d"];

/**
 * Reads a certificate directory as skopeo's `--cert-dir` does: every
 * `*.crt` is a CA certificate, `*.cert` with the matching `*.key` a client
 * certificate. Without `certDir`, `/etc/containers/certs.d/HOST` and
 * `/etc/docker/certs.d/HOST` are read when they exist.
 *
 * @example
 * ```ts
 * import { loadTlsSettings } from "./http.ts";
 * const tls = await loadTlsSettings("registry.example.com:5000", { verify: true });
 * tls.caCerts.length; // CA certificates found for that host
 * ```
 */
export async function loadTlsSettings(
  host: string,
  options: { verify: boolean; certDir?: string },
): Promise<TlsSettings> {
  const settings: TlsSettings = { verify: options.verify, caCerts: [] };
  const dirs = options.certDir !== undefined ? [options.certDir] : SYSTEM_CERT_DIRS.map((d) => join(d, host));
  for (const dir of dirs) {
    let names: string[];
    try {
      names = (await Array.fromAsync(Deno.readDir(dir))).filter((e) => !e.isDirectory).map((e) => e.name).sort();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound && options.certDir === undefined) continue;
      throw new AptOstreeError(`Cannot read the certificate directory ${dir}: ${(error as Error).message}`, {
        solution: "Pass {certDir} a directory holding the registry's CA certificate as *.crt",
      });
    }
    for (const name of names) {
      const path = join(dir, name);
      if (name.endsWith(".crt")) settings.caCerts.push(await Deno.readTextFile(path));
      if (name.endsWith(".cert")) {
        const keyPath = path.slice(0, -".cert".length) + ".key";
        try {
          settings.key = await Deno.readTextFile(keyPath);
        } catch {
          throw new AptOstreeError(`Client certificate ${path} has no key ${keyPath}`, {
            solution: "Put the client key beside the certificate, named like it with .key",
          });
        }
        settings.cert = await Deno.readTextFile(path);
      }
    }
  }
  return settings;
}

/**
 * Creates the transport for a registry's TLS settings.
 *
 * @example
 * ```ts
 * import { createTransport } from "./http.ts";
 * const transport = createTransport({ verify: true, caCerts: [] });
 * const response = await transport.send({ method: "GET", url: new URL("https://example.com/v2/"), headers: new Headers() });
 * transport.close();
 * ```
 */
export function createTransport(tls: TlsSettings, timeoutMs: number = DEFAULT_TIMEOUT_MS): HttpTransport {
  const transport = tls.verify ? new FetchTransport(tls) : new InsecureTransport(tls);
  return timeoutMs > 0 ? new TimeoutTransport(transport, timeoutMs) : transport;
}

/** Bytes of an answer that must arrive within each timeout for it to count as moving. */
const MIN_PROGRESS = 1024;

/** A registry that stayed silent longer than the timeout. */
export class RegistryTimeoutError extends AptOstreeError {
  constructor(readonly host: string, stalled: boolean, timeoutMs: number) {
    const seconds = `${timeoutMs / 1000} s`;
    super(
      stalled
        ? `${host} stalled in the middle of an answer (less than ${MIN_PROGRESS} bytes in ${seconds})`
        : `${host} did not answer within ${seconds}`,
      {
        solution: "Check the registry (is it up, is a proxy in the way?), or allow a slow one more time with {timeout}",
      },
    );
    this.name = "RegistryTimeoutError";
  }
}

/**
 * Connect and idle timeouts around another transport: a request fails when
 * no answer has come `timeoutMs` after it was sent (or after its body last
 * moved, for an upload), and a response body fails when less than a KiB
 * has come in `timeoutMs` (silence, or a drip). Either way the connection
 * is aborted, so nothing hangs.
 */
class TimeoutTransport implements HttpTransport {
  constructor(private readonly inner: HttpTransport, private readonly timeoutMs: number) {}

  async send(request: HttpRequest): Promise<Response> {
    const host = request.url.host;
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = (stalled: boolean) => {
      clearTimeout(timer);
      timer = setTimeout(
        () => controller.abort(new RegistryTimeoutError(host, stalled, this.timeoutMs)),
        this.timeoutMs,
      );
    };
    const disarm = () => clearTimeout(timer);
    const signal = request.signal ? AbortSignal.any([request.signal, controller.signal]) : controller.signal;
    let body = request.body;
    if (body instanceof ReadableStream) {
      // An upload in progress is not silence: each chunk sent restarts the clock.
      body = body.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, out) {
            arm(false);
            out.enqueue(chunk);
          },
        }),
      );
    }
    arm(false);
    let response: Response;
    try {
      response = await this.inner.send({ ...request, body, signal });
    } catch (error) {
      disarm();
      throw controller.signal.aborted ? controller.signal.reason : error;
    }
    if (!response.body) {
      disarm();
      return response;
    }
    // The body: every KiB that arrives restarts the clock; silence (or a drip of less than a KiB per
    // timeout) aborts the connection and fails the stream.
    arm(true);
    let sinceArmed = 0;
    const reader = response.body.getReader();
    const guarded = new ReadableStream<Uint8Array>({
      async pull(out) {
        try {
          const { done, value } = await reader.read();
          // A timeout cancels the reader, which ends it as if the body were complete: it is not.
          if (controller.signal.aborted) throw controller.signal.reason;
          if (done) {
            disarm();
            out.close();
            return;
          }
          sinceArmed += value.length;
          if (sinceArmed >= MIN_PROGRESS) {
            sinceArmed = 0;
            arm(true);
          }
          out.enqueue(value);
        } catch (error) {
          disarm();
          throw controller.signal.aborted ? controller.signal.reason : error;
        }
      },
      async cancel(reason) {
        disarm();
        await reader.cancel(reason);
      },
    });
    controller.signal.addEventListener("abort", () => reader.cancel(controller.signal.reason).catch(() => {}), {
      once: true,
    });
    return new Response(guarded, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  }

  close(): void {
    this.inner.close();
  }
}

class FetchTransport implements HttpTransport {
  private readonly client: Deno.HttpClient | undefined;

  constructor(tls: TlsSettings) {
    if (tls.caCerts.length > 0 || tls.cert !== undefined) {
      const options: Deno.CreateHttpClientOptions & Partial<Deno.TlsCertifiedKeyPem> = { caCerts: tls.caCerts };
      if (tls.cert !== undefined && tls.key !== undefined) {
        options.cert = tls.cert;
        options.key = tls.key;
      }
      this.client = Deno.createHttpClient(options as Deno.CreateHttpClientOptions);
    }
  }

  send(request: HttpRequest): Promise<Response> {
    return fetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body as BodyInit | undefined,
      redirect: "manual",
      signal: request.signal,
      client: this.client,
    });
  }

  close(): void {
    this.client?.close();
  }
}

/** `--tls-verify=false`: HTTPS without certificate checks (node:https), plain HTTP through fetch. */
class InsecureTransport implements HttpTransport {
  private readonly agent: https.Agent;
  private readonly plain = new FetchTransport({ verify: true, caCerts: [] });

  constructor(tls: TlsSettings) {
    this.agent = new https.Agent({
      keepAlive: true,
      rejectUnauthorized: false,
      // Given explicitly, so that Deno does not load the system roots (which needs --allow-sys).
      ca: tls.caCerts,
      ...(tls.cert !== undefined && tls.key !== undefined ? { cert: tls.cert, key: tls.key } : {}),
    });
  }

  send(request: HttpRequest): Promise<Response> {
    if (request.url.protocol !== "https:") return this.plain.send(request);
    return new Promise<Response>((resolve, reject) => {
      const headers: Record<string, string> = {};
      request.headers.forEach((value, key) => headers[key] = value);
      if (request.body instanceof Uint8Array) headers["content-length"] = String(request.body.length);
      const req = https.request(request.url, { method: request.method, headers, agent: this.agent }, (res) => {
        const responseHeaders = new Headers();
        for (const [key, value] of Object.entries(res.headers)) {
          if (Array.isArray(value)) { for (const v of value) responseHeaders.append(key, v); }
          else if (value !== undefined) responseHeaders.set(key, String(value));
        }
        const status = res.statusCode ?? 502;
        if (request.method === "HEAD" || status === 204 || status === 304) {
          res.resume();
          resolve(new Response(null, { status, headers: responseHeaders }));
        } else {
          const body = Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>;
          resolve(new Response(body, { status, headers: responseHeaders }));
        }
      });
      const onAbort = () => req.destroy(request.signal?.reason);
      request.signal?.addEventListener("abort", onAbort, { once: true });
      req.on("error", (error) => {
        request.signal?.removeEventListener("abort", onAbort);
        reject(request.signal?.aborted ? request.signal.reason : error);
      });
      req.on("close", () => request.signal?.removeEventListener("abort", onAbort));
      if (request.body === undefined) {
        req.end();
      } else if (request.body instanceof Uint8Array) {
        req.end(request.body);
      } else {
        pump(request.body, req).catch((error) => req.destroy(error));
      }
    });
  }

  close(): void {
    this.agent.destroy();
    this.plain.close();
  }
}

async function pump(body: ReadableStream<Uint8Array>, req: ReturnType<typeof https.request>): Promise<void> {
  for await (const chunk of body) {
    if (!req.write(chunk)) await new Promise<void>((resolve) => req.once("drain", () => resolve()));
  }
  req.end();
}

/** What went wrong at the connection level. */
export type ConnectionProblem = "connection" | "certificate" | "tls-handshake";

/**
 * Classifies an error thrown by a transport: a connection that failed or
 * broke (worth retrying), a certificate that was not trusted, a TLS
 * handshake with a server that speaks plain HTTP; undefined for anything
 * else (a bug, an abort).
 *
 * @example
 * ```ts
 * import { connectionProblem } from "./http.ts";
 * connectionProblem(new TypeError("error sending request: connection refused")); // "connection"
 * ```
 */
export function connectionProblem(error: unknown): ConnectionProblem | undefined {
  if (error instanceof RegistryTimeoutError) return "connection"; // worth another try, as a broken connection
  const texts: string[] = [];
  const codes: string[] = [];
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (e instanceof Error) {
      texts.push(e.message);
      const code = (e as { code?: unknown }).code;
      if (typeof code === "string") codes.push(code);
      e = e.cause;
    } else {
      texts.push(String(e));
      break;
    }
  }
  const text = texts.join(" | ");
  if (/certificate|UnknownIssuer|CaUsedAsEndEntity|NotValidForName|self.signed|unable to verify/i.test(text)) {
    return "certificate";
  }
  if (
    /InvalidContentType|corrupt message|wrong version number|packet length too long|http request to an https/i.test(
      text,
    )
  ) {
    return "tls-handshake";
  }
  if (
    error instanceof Deno.errors.ConnectionRefused ||
    error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.BrokenPipe || error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.TimedOut || error instanceof Deno.errors.NotConnected ||
    codes.some((c) =>
      /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|ECONNABORTED|EHOSTUNREACH)$/.test(c)
    ) ||
    /fetch failed|connection|socket hang up|reset|broken pipe|unexpected eof|error sending request|error reading a body|request or response body error|body from connection|network/i
      .test(text)
  ) {
    return "connection";
  }
  return undefined;
}
