/**
 * Registry credentials, found where skopeo and podman find them:
 * `--creds USER:PASS`; else `--authfile` or `$REGISTRY_AUTH_FILE` (then
 * only that file); else `$XDG_RUNTIME_DIR/containers/auth.json`,
 * `$XDG_CONFIG_HOME/containers/auth.json`, `$DOCKER_CONFIG/config.json`
 * (or `~/.docker/config.json`), in that order. In each file a
 * `credHelpers` entry for the registry wins, then an `auths` entry (the
 * most specific of `host/ns/repo`, `host/ns`, `host`), then `credsStore`.
 *
 * Helpers (`docker-credential-NAME get`) run only from /usr/bin or
 * /usr/local/bin, under the names in {@linkcode CREDENTIAL_HELPERS}: the
 * binary's permissions list exactly those paths.
 *
 * Every secret read is registered with {@linkcode registerSecret}, so it
 * never shows in output.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { AptOstreeError, UsageError } from "../errors.ts";
import { fsError, removeQuietly, siblingTempPath } from "../util/fs.ts";
import { registerSecret } from "../util/redact.ts";

/** A user name and password (or a registry token used as a password). */
export interface BasicCredentials {
  /** `basic`. */
  kind: "basic";
  /** User name. */
  username: string;
  /** Password. */
  password: string;
}

/** An OAuth2 refresh token (what `docker login` stores as `identitytoken`). */
export interface IdentityTokenCredentials {
  /** `identity-token`. */
  kind: "identity-token";
  /** The token. */
  token: string;
}

/** Credentials for one registry. */
export type Credentials = BasicCredentials | IdentityTokenCredentials;

/** Credentials and where they came from (a path or `--creds`; never the secret). */
export interface FoundCredentials {
  /** The credentials. */
  credentials: Credentials;
  /** Where they were found, for `--verbose` messages. */
  source: string;
}

/** Where to look, from the command line. */
export interface CredentialOptions {
  /** `--creds USER:PASS`. */
  creds?: string;
  /** `--authfile PATH`. */
  authfile?: string;
}

/** Credential helpers apt-ostree may run (`docker-credential-<name>`). */
export const CREDENTIAL_HELPERS: readonly string[] = [
  "secretservice",
  "pass",
  "ecr-login",
  "gcloud",
  "gcr",
  "acr-env",
  "desktop",
];

/** Directories credential helpers may be run from. */
export const CREDENTIAL_HELPER_DIRS: readonly string[] = ["/usr/bin", "/usr/local/bin"];

/** The shape of `auth.json` / docker's `config.json` (other keys are kept). */
export interface AuthFile {
  /** Credentials per registry (or `host/namespace`). */
  auths?: Record<string, { auth?: string; identitytoken?: string; [key: string]: unknown }>;
  /** Helper per registry. */
  credHelpers?: Record<string, string>;
  /** Helper for every registry. */
  credsStore?: string;
  [key: string]: unknown;
}

/** One auth file to read, and whether the user named it. */
export interface AuthFilePath {
  /** The path. */
  path: string;
  /** Named by `--authfile` or `$REGISTRY_AUTH_FILE` (then it is the only one). */
  userSpecified: boolean;
}

function env(name: string): string | undefined {
  const value = Deno.env.get(name);
  return value === undefined || value === "" ? undefined : value;
}

function homeDir(): string | undefined {
  return env("HOME");
}

/**
 * The auth file `login` writes and the first one read: `--authfile`, else
 * `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`, else
 * `/run/containers/<uid>/auth.json` (as podman).
 *
 * @example
 * ```ts
 * import { primaryAuthFile } from "./credentials.ts";
 * primaryAuthFile({}).path; // e.g. "/run/user/1000/containers/auth.json"
 * ```
 */
export function primaryAuthFile(options: CredentialOptions): AuthFilePath {
  if (options.authfile !== undefined) return { path: options.authfile, userSpecified: true };
  const fromEnv = env("REGISTRY_AUTH_FILE");
  if (fromEnv !== undefined) return { path: fromEnv, userSpecified: true };
  const runtime = env("XDG_RUNTIME_DIR");
  if (runtime !== undefined) return { path: join(runtime, "containers", "auth.json"), userSpecified: false };
  return { path: `/run/containers/${Deno.uid() ?? 0}/auth.json`, userSpecified: false };
}

/**
 * Every auth file to read, in order.
 *
 * @example
 * ```ts
 * import { authFilePaths } from "./credentials.ts";
 * authFilePaths({ authfile: "/tmp/auth.json" }); // [{ path: "/tmp/auth.json", userSpecified: true }]
 * ```
 */
export function authFilePaths(options: CredentialOptions): AuthFilePath[] {
  const primary = primaryAuthFile(options);
  if (primary.userSpecified) return [primary];
  const paths = [primary];
  const home = homeDir();
  const configHome = env("XDG_CONFIG_HOME") ?? (home !== undefined ? join(home, ".config") : undefined);
  if (configHome !== undefined) paths.push({ path: join(configHome, "containers", "auth.json"), userSpecified: false });
  const dockerConfig = env("DOCKER_CONFIG");
  if (dockerConfig !== undefined) paths.push({ path: join(dockerConfig, "config.json"), userSpecified: false });
  else if (home !== undefined) paths.push({ path: join(home, ".docker", "config.json"), userSpecified: false });
  return paths;
}

/**
 * Parses `--creds USER:PASS` (the password may contain colons).
 *
 * @example
 * ```ts
 * import { parseCredsOption } from "./credentials.ts";
 * parseCredsOption("alice:s3cr:et"); // { kind: "basic", username: "alice", password: "s3cr:et" }
 * ```
 */
export function parseCredsOption(text: string): BasicCredentials {
  const colon = text.indexOf(":");
  if (colon <= 0) {
    throw new UsageError("Invalid --creds value: expected USER:PASSWORD", {
      solution: "Pass {creds} USER:PASSWORD, or log in first with: apt-ostree login HOST",
    });
  }
  const credentials: BasicCredentials = {
    kind: "basic",
    username: text.slice(0, colon),
    password: text.slice(colon + 1),
  };
  registerSecret(credentials.password);
  registerSecret(text);
  // The encoded form, as a Basic header carries it (UTF-8, so any password works).
  let binary = "";
  for (const b of new TextEncoder().encode(text)) binary += String.fromCharCode(b);
  registerSecret(btoa(binary));
  return credentials;
}

/**
 * Normalises an auth file key: a legacy URL (`https://index.docker.io/v1/`)
 * becomes its host; `index.docker.io` is `docker.io`.
 *
 * @example
 * ```ts
 * import { normalizeAuthKey } from "./credentials.ts";
 * normalizeAuthKey("https://index.docker.io/v1/"); // "docker.io"
 * normalizeAuthKey("quay.io/team"); // "quay.io/team"
 * ```
 */
export function normalizeAuthKey(key: string): string {
  let out = key;
  const scheme = /^[a-z]+:\/\//i.exec(out);
  if (scheme) {
    out = out.slice(scheme[0].length);
    const slash = out.indexOf("/");
    if (slash >= 0) out = out.slice(0, slash);
  }
  if (out === "index.docker.io" || out.startsWith("index.docker.io/")) out = "docker.io" + out.slice(15);
  if (out === "registry-1.docker.io") out = "docker.io";
  return out;
}

/**
 * The keys to try for a repository, most specific first.
 *
 * @example
 * ```ts
 * import { authKeyCandidates } from "./credentials.ts";
 * authKeyCandidates("quay.io", "team/app"); // ["quay.io/team/app", "quay.io/team", "quay.io"]
 * ```
 */
export function authKeyCandidates(registry: string, repository: string | undefined): string[] {
  const out: string[] = [];
  const parts = repository ? repository.split("/") : [];
  for (let i = parts.length; i > 0; i--) out.push(`${registry}/${parts.slice(0, i).join("/")}`);
  out.push(registry);
  return out;
}

/**
 * Reads an auth file; undefined when it does not exist.
 *
 * @example
 * ```ts
 * import { readAuthFile } from "./credentials.ts";
 * const file = await readAuthFile("/run/user/1000/containers/auth.json");
 * ```
 */
export async function readAuthFile(path: string): Promise<AuthFile | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) return undefined;
    throw fsError("read the auth file", path, error);
  }
  if (text.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new AptOstreeError(`The auth file ${path} is not valid JSON`, {
      solution: "Fix or remove it, then log in again with: apt-ostree login HOST",
    });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new AptOstreeError(`The auth file ${path} is not a JSON object`, {
      solution: "Fix or remove it, then log in again with: apt-ostree login HOST",
    });
  }
  return parsed as AuthFile;
}

function decodeAuth(auth: string, path: string, key: string): BasicCredentials {
  let decoded: string;
  try {
    decoded = new TextDecoder().decode(Uint8Array.from(atob(auth), (c) => c.charCodeAt(0)));
  } catch {
    throw new AptOstreeError(`The auth file ${path} has an invalid "auth" value for ${key}`, {
      solution: `Log in again with: apt-ostree login ${key}`,
    });
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) {
    throw new AptOstreeError(`The auth file ${path} has an invalid "auth" value for ${key} (no user:password)`, {
      solution: `Log in again with: apt-ostree login ${key}`,
    });
  }
  registerSecret(auth);
  registerSecret(decoded);
  registerSecret(decoded.slice(colon + 1));
  return { kind: "basic", username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Finds `docker-credential-NAME` on PATH. */
function helperPath(name: string): string | undefined {
  const program = `docker-credential-${name}`;
  for (const dir of (env("PATH") ?? "/usr/local/bin:/usr/bin:/bin").split(":")) {
    if (dir === "") continue;
    const path = join(dir, program);
    try {
      const info = Deno.statSync(path);
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Asks a docker credential helper for a registry's credentials; undefined
 * when it has none.
 *
 * @example
 * ```ts
 * import { runCredentialHelper } from "./credentials.ts";
 * const creds = await runCredentialHelper("pass", "registry.example.com");
 * ```
 */
export async function runCredentialHelper(name: string, registry: string): Promise<Credentials | undefined> {
  const program = `docker-credential-${name}`;
  if (!/^[A-Za-z0-9._-]+$/.test(name)) {
    throw new AptOstreeError(`Invalid credential helper name: ${name}`);
  }
  const path = helperPath(name);
  if (path === undefined) {
    throw new AptOstreeError(`The credential helper ${program} is not installed (or not on PATH)`, {
      solution: `Install ${program}, or remove it from credHelpers/credsStore in your auth file`,
    });
  }
  const allowed = CREDENTIAL_HELPERS.includes(name) && CREDENTIAL_HELPER_DIRS.includes(dirname(path));
  if (!allowed) {
    throw new AptOstreeError(`apt-ostree may not run the credential helper ${path}`, {
      solution: `Helpers run only from ${CREDENTIAL_HELPER_DIRS.join(" or ")} as docker-credential-{${
        CREDENTIAL_HELPERS.join(",")
      }}; otherwise log in with: apt-ostree login ${registry}`,
    });
  }
  const serverUrl = registry === "docker.io" ? "https://index.docker.io/v1/" : registry;
  let output: Deno.CommandOutput;
  try {
    const child = new Deno.Command(path, { args: ["get"], stdin: "piped", stdout: "piped", stderr: "piped" })
      .spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(serverUrl));
    await writer.close();
    output = await child.output();
  } catch (error) {
    throw new AptOstreeError(`Cannot run the credential helper ${path}: ${(error as Error).message}`, {
      solution: `Check the helper, or log in with: apt-ostree login ${registry}`,
    });
  }
  const stdout = new TextDecoder().decode(output.stdout).trim();
  if (!output.success) {
    if (/credentials not found|not found in native keychain/i.test(stdout)) return undefined;
    // A helper's stderr may echo its input, never a secret: it has none to print on failure.
    throw new AptOstreeError(`The credential helper ${program} failed (exit code ${output.code})`, {
      solution: `Run '${program} list' to check it, or log in with: apt-ostree login ${registry}`,
    });
  }
  let parsed: { Username?: unknown; Secret?: unknown };
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new AptOstreeError(`The credential helper ${program} printed something that is not JSON`);
  }
  if (typeof parsed.Secret !== "string" || typeof parsed.Username !== "string") {
    throw new AptOstreeError(`The credential helper ${program} gave no Username and Secret`);
  }
  registerSecret(parsed.Secret);
  if (parsed.Username === "<token>") return { kind: "identity-token", token: parsed.Secret };
  return { kind: "basic", username: parsed.Username, password: parsed.Secret };
}

/**
 * Finds the credentials for a registry (and repository), or undefined for
 * anonymous access.
 *
 * @example
 * ```ts
 * import { lookupCredentials } from "./credentials.ts";
 * const found = await lookupCredentials("localhost:5000", "team/app", { authfile: "auth.json" });
 * found?.source; // "auth.json"
 * ```
 */
export async function lookupCredentials(
  registry: string,
  repository: string | undefined,
  options: CredentialOptions,
): Promise<FoundCredentials | undefined> {
  if (options.creds !== undefined) return { credentials: parseCredsOption(options.creds), source: "--creds" };
  const key = normalizeAuthKey(registry);
  const candidates = authKeyCandidates(key, repository);
  for (const { path } of authFilePaths(options)) {
    const file = await readAuthFile(path);
    if (file === undefined) continue;
    const helper = file.credHelpers?.[key];
    if (typeof helper === "string" && helper !== "") {
      const credentials = await runCredentialHelper(helper, key);
      if (credentials) return { credentials, source: `docker-credential-${helper}` };
      continue;
    }
    const auths = new Map<string, NonNullable<AuthFile["auths"]>[string]>();
    for (const [k, v] of Object.entries(file.auths ?? {})) {
      const normalized = normalizeAuthKey(k);
      if (!auths.has(normalized) || k === normalized) auths.set(normalized, v);
    }
    for (const candidate of candidates) {
      const entry = auths.get(candidate);
      if (!entry || typeof entry !== "object") continue;
      if (typeof entry.identitytoken === "string" && entry.identitytoken !== "") {
        registerSecret(entry.identitytoken);
        return { credentials: { kind: "identity-token", token: entry.identitytoken }, source: path };
      }
      if (typeof entry.auth === "string" && entry.auth !== "") {
        return { credentials: decodeAuth(entry.auth, path, candidate), source: path };
      }
    }
    if (typeof file.credsStore === "string" && file.credsStore !== "") {
      const credentials = await runCredentialHelper(file.credsStore, key);
      if (credentials) return { credentials, source: `docker-credential-${file.credsStore}` };
    }
  }
  return undefined;
}

/**
 * Stores credentials for a registry in an auth file (created with mode
 * 0600, its directory 0700; other entries kept; written atomically).
 *
 * @example
 * ```ts
 * import { storeCredentials } from "./credentials.ts";
 * await storeCredentials("/tmp/auth.json", "localhost:5000", { kind: "basic", username: "u", password: "p" });
 * ```
 */
export async function storeCredentials(path: string, registry: string, credentials: BasicCredentials): Promise<void> {
  const file = (await readAuthFile(path)) ?? {};
  const auths = { ...(file.auths ?? {}) };
  const key = normalizeAuthKey(registry);
  for (const k of Object.keys(auths)) if (normalizeAuthKey(k) === key) delete auths[k];
  const auth = btoa(
    String.fromCharCode(...new TextEncoder().encode(`${credentials.username}:${credentials.password}`)),
  );
  registerSecret(auth);
  auths[key] = { auth };
  await writeAuthFile(path, { ...file, auths });
}

/**
 * Removes a registry's entry from an auth file; returns whether there was
 * one.
 *
 * @example
 * ```ts
 * import { removeCredentials } from "./credentials.ts";
 * await removeCredentials("/tmp/auth.json", "localhost:5000"); // true when it was logged in
 * ```
 */
export async function removeCredentials(path: string, registry: string | undefined): Promise<boolean> {
  const file = await readAuthFile(path);
  if (file === undefined) return false;
  const auths = { ...(file.auths ?? {}) };
  let removed = false;
  for (const k of Object.keys(auths)) {
    if (registry === undefined || normalizeAuthKey(k) === normalizeAuthKey(registry)) {
      delete auths[k];
      removed = true;
    }
  }
  if (removed) await writeAuthFile(path, { ...file, auths });
  return removed;
}

async function writeAuthFile(path: string, file: AuthFile): Promise<void> {
  try {
    await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  } catch (error) {
    throw fsError("create the directory of", path, error);
  }
  // Never readable by others, not even for a moment: the temp file is created 0600.
  const tmp = siblingTempPath(path);
  try {
    await Deno.writeFile(tmp, new TextEncoder().encode(JSON.stringify(file, null, "\t") + "\n"), {
      createNew: true,
      mode: 0o600,
    });
    await Deno.rename(tmp, path);
  } catch (error) {
    await removeQuietly(tmp);
    throw fsError("write the auth file", path, error);
  }
}
