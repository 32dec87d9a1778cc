/**
 * Registry authentication as the distribution spec defines it: a 401 names
 * the scheme in `WWW-Authenticate`. `Basic` means sending the credentials
 * with every request; `Bearer realm=…,service=…,scope=…` means asking the
 * realm (with the credentials, if any) for a token for the scopes needed,
 * and sending that. Tokens are cached per set of scopes until they expire.
 *
 * Passwords and tokens are registered as secrets and never put into a
 * message.
 *
 * @module
 */

import { readLimited } from "../util/bounded_read.ts";
import { AptOstreeError } from "../errors.ts";
import { registerSecret } from "../util/redact.ts";
import type { Credentials, FoundCredentials } from "./credentials.ts";
import { connectionProblem, type HttpTransport } from "./http.ts";
import { isRetryableStatus, retryDelay, type RetryPolicy, sleep } from "./retry.ts";

/** Largest token answer read (tokens are a few KiB; a JWT with many claims stays well under this). */
const MAX_TOKEN_RESPONSE = 1 << 20;

/** One challenge of a `WWW-Authenticate` header. */
export interface Challenge {
  /** Scheme in lower case: `basic`, `bearer`, … */
  scheme: string;
  /** Parameters (`realm`, `service`, `scope`, `error`, …). */
  params: Record<string, string>;
}

/**
 * Parses a `WWW-Authenticate` header (one or more challenges).
 *
 * @example
 * ```ts
 * import { parseWwwAuthenticate } from "./auth.ts";
 * parseWwwAuthenticate('Bearer realm="https://auth.example.com/token",service="registry",scope="repository:a:pull"');
 * // [{ scheme: "bearer", params: { realm: "https://auth.example.com/token", service: "registry", scope: "repository:a:pull" } }]
 * ```
 */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < header.length && /[\s,]/.test(header[i])) i++;
  };
  const readToken = () => {
    const start = i;
    while (i < header.length && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(header[i])) i++;
    return header.slice(start, i);
  };
  let current: Challenge | undefined;
  while (i < header.length) {
    skipSpace();
    const token = readToken();
    if (token === "") {
      i++;
      continue;
    }
    let j = i;
    while (j < header.length && header[j] === " ") j++;
    if (header[j] === "=" && current) {
      i = j + 1;
      while (i < header.length && header[i] === " ") i++;
      let value = "";
      if (header[i] === '"') {
        i++;
        while (i < header.length && header[i] !== '"') {
          if (header[i] === "\\" && i + 1 < header.length) i++;
          value += header[i++];
        }
        i++;
      } else {
        const start = i;
        while (i < header.length && header[i] !== "," && header[i] !== " ") i++;
        value = header.slice(start, i);
      }
      current.params[token.toLowerCase()] = value;
    } else {
      current = { scheme: token.toLowerCase(), params: {} };
      challenges.push(current);
    }
  }
  return challenges;
}

/**
 * The error for a registry that wants credentials when none were found.
 *
 * @example
 * ```ts
 * import { authenticationRequired } from "./auth.ts";
 * authenticationRequired("registry.example.com").message; // "Authentication required by registry.example.com"
 * ```
 */
export function authenticationRequired(host: string): AptOstreeError {
  return new AptOstreeError(`Authentication required by ${host}`, {
    solution:
      `Log in with: apt-ostree login ${host} (or pass {creds} USER:PASSWORD, or {authfile} PATH with credentials for it)`,
  });
}

/**
 * The error for credentials that the registry (or its token server)
 * rejected. It names where they came from, never the secret.
 *
 * @example
 * ```ts
 * import { authenticationFailed } from "./auth.ts";
 * authenticationFailed("registry.example.com", "--creds").message;
 * ```
 */
export function authenticationFailed(host: string, source: string): AptOstreeError {
  return new AptOstreeError(
    `Authentication failed for ${host}: the user name or password from ${source} was rejected`,
    {
      solution: `Check the credentials, then log in again with: apt-ostree login ${host}`,
    },
  );
}

/** Options of {@linkcode RegistryAuth}. */
export interface RegistryAuthOptions {
  /** The registry host, for messages. */
  host: string;
  /** Transport for token requests. */
  transport: HttpTransport;
  /** Finds the credentials (called at most once, when the registry asks). */
  credentials: () => Promise<FoundCredentials | undefined>;
  /** Retries of token requests. */
  retry: RetryPolicy;
  /** Debug log (no secrets are ever passed to it). */
  log?: (line: string) => void;
  /** User-Agent header. */
  userAgent: string;
  /** Whether plain HTTP is acceptable (`--tls-verify=false`); else token servers must be HTTPS. */
  allowHttp?: boolean;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Authentication state for one registry. */
export class RegistryAuth {
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  private found: Promise<FoundCredentials | undefined> | undefined;

  constructor(private readonly options: RegistryAuthOptions) {}

  /** The scheme the registry asked for (`basic`, `bearer`), once known. */
  get scheme(): string | undefined {
    return this.challenge?.scheme;
  }

  /** The credentials, looked up once. */
  credentials(): Promise<FoundCredentials | undefined> {
    this.found ??= this.options.credentials();
    return this.found;
  }

  /** Records how the registry authenticates (from the 401 of `GET /v2/`), without asking for anything yet. */
  noteChallenge(header: string | null): void {
    const challenges = parseWwwAuthenticate(header ?? "");
    const challenge = challenges.find((c) => c.scheme === "bearer") ?? challenges.find((c) => c.scheme === "basic");
    if (challenge && (challenge.scheme === "basic" || challenge.params.realm)) this.challenge = challenge;
  }

  /**
   * Records the challenge of a 401 response and returns the scopes to ask
   * for when repeating the request. Throws when the same credentials (or a
   * fresh token for the same scopes) were already refused, or when there
   * are no credentials to send.
   */
  async onUnauthorized(header: string | null, scopes: string[], sentAuthorization: boolean): Promise<string[]> {
    const challenges = parseWwwAuthenticate(header ?? "");
    const challenge = challenges.find((c) => c.scheme === "bearer") ?? challenges.find((c) => c.scheme === "basic");
    if (!challenge) {
      throw new AptOstreeError(`${this.options.host} refused the request (401) without saying how to authenticate`, {
        solution: "Check the registry address; it does not behave like an OCI registry",
      });
    }
    const found = await this.credentials();
    if (challenge.scheme === "basic") {
      if (!found) throw authenticationRequired(this.options.host);
      if (sentAuthorization && this.challenge?.scheme === "basic") {
        throw authenticationFailed(this.options.host, found.source);
      }
      if (found.credentials.kind !== "basic") {
        throw new AptOstreeError(`${this.options.host} asks for a password, but only an identity token was found`, {
          solution: `Log in with a password: apt-ostree login ${this.options.host}`,
        });
      }
      this.challenge = challenge;
      return scopes;
    }
    if (!challenge.params.realm) {
      throw new AptOstreeError(`${this.options.host} asked for a bearer token but named no token server (realm)`);
    }
    const wanted = new Set(scopes);
    for (const scope of (challenge.params.scope ?? "").split(" ")) if (scope) wanted.add(scope);
    const merged = [...wanted].sort();
    const key = merged.join(" ");
    if (sentAuthorization && this.challenge?.scheme === "bearer" && this.tokens.has(key)) {
      // A fresh token for exactly these scopes was refused: no access.
      this.tokens.delete(key);
      if (!found) throw authenticationRequired(this.options.host);
      throw new AptOstreeError(
        `Access denied by ${this.options.host}: the credentials from ${found.source} do not allow ${merged.join(", ")}`,
        { solution: "Check the repository name and that this user may pull (and push) it" },
      );
    }
    this.challenge = challenge;
    return merged;
  }

  /** The `Authorization` header value for a request needing `scopes`, if any. */
  async authorization(scopes: string[], signal?: AbortSignal): Promise<string | undefined> {
    const challenge = this.challenge;
    if (!challenge) return undefined;
    const found = await this.credentials();
    if (challenge.scheme === "basic") {
      if (!found || found.credentials.kind !== "basic") return undefined;
      return basicHeader(found.credentials.username, found.credentials.password);
    }
    const sorted = [...new Set(scopes)].sort();
    const key = sorted.join(" ");
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
    const token = await this.fetchToken(challenge, sorted, found, signal);
    this.tokens.set(key, token);
    return `Bearer ${token.token}`;
  }

  private async fetchToken(
    challenge: Challenge,
    scopes: string[],
    found: FoundCredentials | undefined,
    signal: AbortSignal | undefined,
  ): Promise<CachedToken> {
    const { host } = this.options;
    let realm: URL;
    try {
      realm = new URL(challenge.params.realm);
    } catch {
      throw new AptOstreeError(`${host} named an invalid token server: ${challenge.params.realm}`);
    }
    // The realm comes from the registry: never let it point at a local file
    // (fetch reads file: URLs) or take credentials over plain HTTP.
    if (realm.protocol !== "https:" && !(realm.protocol === "http:" && this.options.allowHttp)) {
      throw new AptOstreeError(`${host} named a token server that is not HTTPS: ${realm.protocol}//${realm.host}`, {
        solution: realm.protocol === "http:"
          ? "Credentials go to token servers over HTTPS only; for a test registry, pass --tls-verify=false"
          : "The registry's token server must be an https:// URL",
      });
    }
    const credentials: Credentials | undefined = found?.credentials;
    const headers = new Headers({ "user-agent": this.options.userAgent });
    let method = "GET";
    let body: Uint8Array | undefined;
    if (credentials?.kind === "identity-token") {
      method = "POST";
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: credentials.token,
        client_id: "apt-ostree",
      });
      if (challenge.params.service) form.set("service", challenge.params.service);
      if (scopes.length > 0) form.set("scope", scopes.join(" "));
      body = new TextEncoder().encode(form.toString());
      headers.set("content-type", "application/x-www-form-urlencoded");
    } else {
      if (challenge.params.service) realm.searchParams.set("service", challenge.params.service);
      for (const scope of scopes) realm.searchParams.append("scope", scope);
      if (credentials?.kind === "basic") {
        realm.searchParams.set("account", credentials.username);
        headers.set("authorization", basicHeader(credentials.username, credentials.password));
      }
    }
    const display = `${realm.origin}${realm.pathname}`;
    for (let attempt = 0;; attempt++) {
      let response: Response;
      try {
        response = await this.options.transport.send({ method, url: realm, headers, body, signal });
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (connectionProblem(error) === "connection" && attempt < this.options.retry.retries) {
          await sleep(retryDelay(this.options.retry, attempt + 1), signal);
          continue;
        }
        throw new AptOstreeError(`Cannot reach the token server ${display} of ${host}: ${(error as Error).message}`, {
          solution: "Check the network and the registry's auth configuration",
          cause: error,
        });
      }
      this.options.log?.(`${method} ${display} → ${response.status}`);
      if (isRetryableStatus(response.status) && attempt < this.options.retry.retries) {
        await response.body?.cancel();
        await sleep(retryDelay(this.options.retry, attempt + 1, response.headers.get("retry-after")), signal);
        continue;
      }
      if (response.status === 401 || response.status === 403) {
        await response.body?.cancel();
        if (!found) throw authenticationRequired(host);
        throw authenticationFailed(host, found.source);
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw new AptOstreeError(`The token server ${display} of ${host} answered ${response.status}`, {
          solution: "Check the registry's auth configuration, or try again later",
        });
      }
      let json: { token?: unknown; access_token?: unknown; expires_in?: unknown };
      try {
        json = JSON.parse(new TextDecoder().decode(await readLimited(response.body!, MAX_TOKEN_RESPONSE, "token")));
      } catch (error) {
        if (error instanceof AptOstreeError) {
          throw new AptOstreeError(
            `The token server ${display} of ${host} sent an answer larger than ${MAX_TOKEN_RESPONSE} bytes`,
            { solution: "Check the registry's auth configuration; a token answer is a small JSON object" },
          );
        }
        throw new AptOstreeError(`The token server ${display} of ${host} sent an answer that is not JSON`);
      }
      const token = typeof json.token === "string" && json.token !== ""
        ? json.token
        : typeof json.access_token === "string"
        ? json.access_token
        : "";
      if (token === "") throw new AptOstreeError(`The token server ${display} of ${host} sent no token`);
      registerSecret(token);
      // Tokens live at least 60 s (spec); renew 10 s early.
      const lifetime = typeof json.expires_in === "number" && json.expires_in > 0 ? json.expires_in : 60;
      return { token, expiresAt: Date.now() + Math.max(lifetime - 10, 5) * 1000 };
    }
  }
}

/**
 * A Basic `Authorization` header value (the secret is registered).
 *
 * @example
 * ```ts
 * import { basicHeader } from "./auth.ts";
 * basicHeader("user", "pass"); // "Basic dXNlcjpwYXNz"
 * ```
 */
export function basicHeader(username: string, password: string): string {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  const encoded = btoa(binary);
  registerSecret(encoded);
  return `Basic ${encoded}`;
}
