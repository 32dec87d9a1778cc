/**
 * The registries.d configuration of containers/image
 * (containers-registries.d(5)): where simple signatures of an image live
 * (the lookaside), and whether cosign attachments are used. Read as skopeo
 * reads it: every `*.yaml` of the directory (default
 * `$HOME/.config/containers/registries.d` when it exists, else
 * `/etc/containers/registries.d`), `default-docker` and `docker:` entries
 * per host, namespace or repository (the longest match wins),
 * `lookaside-staging` preferred for writing, the old names `sigstore` and
 * `sigstore-staging` accepted.
 *
 * @module
 */

import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { AptOstreeError, UsageError } from "../errors.ts";
import { normalizeReference } from "./identity.ts";

/** One `default-docker` or `docker:` entry. */
export interface RegistryNamespace {
  /** Where signatures are read (`lookaside`, or the old `sigstore`). */
  lookaside?: string;
  /** Where signatures are written (`lookaside-staging`, or the old `sigstore-staging`). */
  lookasideStaging?: string;
  /** Whether cosign `.sig` attachments are read and written. */
  useSigstoreAttachments?: boolean;
}

/** A loaded registries.d directory. */
export interface RegistriesD {
  /** The directory read (undefined when none existed). */
  dir: string | undefined;
  /** `default-docker`. */
  defaultDocker?: RegistryNamespace;
  /** `docker:` entries by scope. */
  docker: Map<string, RegistryNamespace>;
}

/**
 * The registries.d directory containers/image reads when none is named.
 *
 * @example
 * ```ts
 * import { defaultRegistriesDir } from "./registries_d.ts";
 * const dir = await defaultRegistriesDir();
 * ```
 */
export async function defaultRegistriesDir(home: string | undefined = Deno.env.get("HOME")): Promise<string> {
  if (home !== undefined) {
    const user = join(home, ".config/containers/registries.d");
    try {
      if ((await Deno.stat(user)).isDirectory) return user;
    } catch {
      // not there: the system directory
    }
  }
  return "/etc/containers/registries.d";
}

function namespaceOf(value: unknown, where: string): RegistryNamespace {
  if (value === null || value === undefined) return {};
  if (typeof value !== "object") throw badConfig(where, "an entry is not a mapping");
  const v = value as Record<string, unknown>;
  const str = (key: string): string | undefined => {
    const s = v[key];
    if (s === undefined || s === null) return undefined;
    if (typeof s !== "string") throw badConfig(where, `${key} is not a string`);
    return s;
  };
  const ns: RegistryNamespace = {};
  const lookaside = str("lookaside") ?? str("sigstore");
  const staging = str("lookaside-staging") ?? str("sigstore-staging");
  if (lookaside !== undefined) ns.lookaside = lookaside;
  if (staging !== undefined) ns.lookasideStaging = staging;
  return ns;
}

function badConfig(where: string, why: string): AptOstreeError {
  return new AptOstreeError(`Invalid registries.d configuration ${where}: ${why}`, {
    solution: "Fix the file (containers-registries.d(5)), or name another directory with {registriesD}",
  });
}

/**
 * Loads every `*.yaml` of a registries.d directory (`dir`, default
 * {@linkcode defaultRegistriesDir}). A missing directory is an empty
 * configuration; a scope defined twice is an error, as in containers/image.
 *
 * @example
 * ```ts
 * import { loadRegistriesD } from "./registries_d.ts";
 * const config = await loadRegistriesD("/etc/containers/registries.d");
 * ```
 */
export async function loadRegistriesD(dir?: string): Promise<RegistriesD> {
  const path = dir ?? await defaultRegistriesDir();
  const config: RegistriesD = { dir: undefined, docker: new Map() };
  let names: string[];
  try {
    names = [];
    for await (const e of Deno.readDir(path)) if (e.name.endsWith(".yaml")) names.push(e.name);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      if (dir !== undefined) {
        throw new UsageError(`No registries.d directory ${dir}`, { solution: "Check {registriesD}" });
      }
      return config;
    }
    throw badConfig(path, (error as Error).message);
  }
  config.dir = path;
  for (const name of names.sort()) {
    const file = join(path, name);
    let doc: unknown;
    try {
      doc = parseYaml(await Deno.readTextFile(file));
    } catch (error) {
      throw badConfig(file, (error as Error).message);
    }
    if (doc === null || doc === undefined) continue;
    if (typeof doc !== "object") throw badConfig(file, "not a mapping");
    const d = doc as Record<string, unknown>;
    if (d["default-docker"] !== undefined) {
      if (config.defaultDocker !== undefined) throw badConfig(file, "default-docker is defined twice");
      config.defaultDocker = namespaceOf(d["default-docker"], file);
    }
    const docker = d.docker;
    if (docker !== undefined && docker !== null) {
      if (typeof docker !== "object") throw badConfig(file, "docker: is not a mapping");
      for (const [scope, value] of Object.entries(docker)) {
        if (config.docker.has(scope)) throw badConfig(file, `docker: ${scope} is defined twice`);
        config.docker.set(scope, namespaceOf(value, file));
      }
    }
  }
  return config;
}

/**
 * The scopes a docker reference is looked up under, most specific first:
 * `host/repo:tag` (or `@digest`), `host/repo`, each parent namespace,
 * `host`, and `*.domain` wildcards.
 *
 * @example
 * ```ts
 * import { dockerScopes } from "./registries_d.ts";
 * dockerScopes("localhost:5000/team/web:1"); // ["localhost:5000/team/web:1", "localhost:5000/team/web", …]
 * ```
 */
export function dockerScopes(reference: string): string[] {
  const ref = normalizeReference(reference);
  const scopes: string[] = [];
  if (ref.digest !== undefined) scopes.push(`${ref.repository}@${ref.digest}`);
  else if (ref.tag !== undefined) scopes.push(`${ref.repository}:${ref.tag}`);
  const parts = ref.repository.split("/");
  for (let n = parts.length; n >= 1; n--) scopes.push(parts.slice(0, n).join("/"));
  const host = parts[0].replace(/:\d+$/, "");
  const labels = host.split(".");
  for (let i = 1; i < labels.length; i++) scopes.push(`*.${labels.slice(i).join(".")}`);
  return scopes;
}

/**
 * The entry that applies to a reference: the most specific `docker:`
 * scope that has a lookaside (or `use-sigstore-attachments`), else
 * `default-docker`.
 *
 * @example
 * ```ts
 * import { loadRegistriesD, namespaceFor } from "./registries_d.ts";
 * const ns = namespaceFor(await loadRegistriesD("registries.d"), "localhost:5000/web:1");
 * ```
 */
export function namespaceFor(config: RegistriesD, reference: string): RegistryNamespace {
  for (const scope of dockerScopes(reference)) {
    const ns = config.docker.get(scope);
    if (ns !== undefined) return { ...config.defaultDocker, ...ns };
  }
  return config.defaultDocker ?? {};
}

/**
 * The lookaside when none is configured, as containers/image uses it.
 *
 * @example
 * ```ts
 * import { builtinLookaside } from "./registries_d.ts";
 * builtinLookaside(); // "file:///var/lib/containers/sigstore" for root
 * ```
 */
export function builtinLookaside(): string {
  const uid = Deno.uid?.() ?? 0;
  const home = Deno.env.get("HOME");
  return uid === 0 || home === undefined
    ? "file:///var/lib/containers/sigstore"
    : `file://${join(home, ".local/share/containers/sigstore")}`;
}

/**
 * The lookaside directory of a reference: for writing (`lookaside-staging`
 * first) or reading. Only `file://` URLs: an `http(s)://` lookaside is
 * served by a web server apt-ostree cannot write to (and does not fetch
 * from).
 *
 * @example
 * ```ts
 * import { loadRegistriesD, lookasideDir } from "./registries_d.ts";
 * const dir = lookasideDir(await loadRegistriesD("registries.d"), "localhost:5000/web:1", "write");
 * ```
 */
export function lookasideDir(config: RegistriesD, reference: string, use: "read" | "write"): string {
  // As containers/image: the most specific scope that sets one, then default-docker, then the built-in one.
  const pick = (ns: RegistryNamespace | undefined) =>
    use === "write" ? ns?.lookasideStaging ?? ns?.lookaside : ns?.lookaside;
  let url: string | undefined;
  for (const scope of dockerScopes(reference)) {
    url = pick(config.docker.get(scope));
    if (url !== undefined) break;
  }
  url ??= pick(config.defaultDocker) ?? builtinLookaside();
  if (!url.startsWith("file://")) {
    throw new AptOstreeError(
      `The signature lookaside for ${reference} is ${url}: apt-ostree ${
        use === "write" ? "writes" : "reads"
      } only file:// lookasides`,
      {
        solution: use === "write"
          ? "Set lookaside-staging: file:///DIR for it in registries.d (then publish DIR at the URL), or name a directory with {registriesD}"
          : "Download the signatures into a directory and name it with a lookaside: file:///DIR in {registriesD}",
      },
    );
  }
  return decodeURIComponent(new URL(url).pathname);
}
