/**
 * Compose files: the inputs of `compose create` (base, packages, output
 * branch, …) and the image settings of `compose build-image`, in YAML.
 * Unknown keys and wrong types are errors that name the file, the line and
 * the key.
 *
 * ```yaml
 * base: debian:12
 * packages: [nginx, curl]
 * output: web-server
 * bootable: false
 * image:
 *   cmd: ["nginx", "-g", "daemon off;"]
 *   expose: [80]
 *   env: { LANG: C.UTF-8 }
 *   labels: { org.opencontainers.image.title: web }
 * ```
 *
 * @module
 */

import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, type Scalar, type YAMLMap } from "yaml";
import { AptOstreeError, UsageError } from "../errors.ts";
import { type ImageSettings, parseCommand, validateImageSettings } from "../oci/image_config.ts";
import { debianArch, parseBaseImageRef } from "../reference/base_ref.ts";
import { parsePlatform } from "../oci/platform.ts";
import { validateOutputBranch, validatePackageNames } from "./packages.ts";

/** A compose file, read and checked. */
export interface ComposeFile {
  /** The file's path, as given. */
  path: string;
  /** Base image reference. */
  base?: string;
  /** Architecture. */
  arch?: string;
  /** Remote to pull the base from. */
  remote?: string;
  /** Packages to install. */
  packages: string[];
  /** Output branch. */
  output?: string;
  /** Install recommended packages. */
  installRecommends?: boolean;
  /** Make the deployment bootable (`compose create --bootable`). */
  bootable?: boolean;
  /** Image settings for build-image. */
  image: ImageSettings;
  /** The platforms of a multi-platform build-image, each with its branch or commit. */
  platforms?: { platform: string; source: string }[];
}

/** Top-level keys and what each holds (for the error messages). */
export const COMPOSE_FILE_KEYS: Readonly<Record<string, string>> = {
  base: "a base image reference like debian:12",
  arch: "an architecture like x86_64",
  remote: "a remote name",
  packages: "a list of package names",
  output: "a branch name",
  "install-recommends": "true or false",
  bootable: "true or false",
  image: "a mapping of image settings",
  platforms: "a mapping of platforms (linux/arm64) to branches or commits",
};

/** Keys of the `image` mapping. */
export const IMAGE_KEYS: Readonly<Record<string, string>> = {
  cmd: "a list of strings or a command line",
  entrypoint: "a list of strings or a command line",
  env: "a mapping of names to values, or a list of NAME=VALUE",
  workdir: "an absolute path",
  user: "a user name or uid[:gid]",
  labels: "a mapping of names to values",
  annotations: "a mapping of names to values",
  expose: "a list of ports like 80 or 53/udp",
  volumes: "a list of absolute paths",
  "stop-signal": "a signal name like SIGTERM",
};

/** Reads positions and builds errors that name file, line and key. */
class Reader {
  constructor(readonly path: string, readonly lines: LineCounter) {}

  line(node: Node | null | undefined): number {
    const offset = node?.range?.[0];
    return offset === undefined ? 1 : this.lines.linePos(offset).line;
  }

  error(node: Node | null | undefined, message: string, solution?: string): UsageError {
    return new UsageError(`Invalid compose file ${this.path}, line ${this.line(node)}: ${message}`, {
      solution: solution ?? "Fix the file; its schema is in the README (Compose files)",
    });
  }
}

function describe(node: unknown): string {
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) {
    const value = node.value;
    if (value === null) return "empty";
    if (typeof value === "boolean") return "a boolean";
    if (typeof value === "number") return "a number";
    return "a string";
  }
  return "empty";
}

function stringOf(r: Reader, key: string, node: unknown, expected: string): string {
  if (isScalar(node) && typeof node.value === "string" && node.value.length > 0) return node.value;
  throw r.error(node as Node, `"${key}" must be ${expected}, not ${describe(node)}`);
}

/** A scalar as a string: strings, numbers and booleans (labels and env values are often written unquoted). */
function scalarText(r: Reader, key: string, node: unknown, expected: string): string {
  if (isScalar(node) && ["string", "number", "boolean"].includes(typeof node.value)) return String(node.value);
  throw r.error(node as Node, `"${key}" must be ${expected}, not ${describe(node)}`);
}

function stringList(r: Reader, key: string, node: unknown, expected: string, allowNumbers = false): string[] {
  if (!isSeq(node)) throw r.error(node as Node, `"${key}" must be ${expected}, not ${describe(node)}`);
  return node.items.map((item, i) => {
    if (isScalar(item) && (typeof item.value === "string" || (allowNumbers && typeof item.value === "number"))) {
      return String(item.value);
    }
    throw r.error(item as Node, `"${key}[${i}]" must be a string, not ${describe(item)}`);
  });
}

function keyName(r: Reader, pairKey: unknown): { name: string; node: Node } {
  if (isScalar(pairKey) && typeof pairKey.value === "string") return { name: pairKey.value, node: pairKey as Scalar };
  throw r.error(pairKey as Node, `keys must be strings, not ${describe(pairKey)}`);
}

function checkKeys(r: Reader, map: YAMLMap, allowed: Readonly<Record<string, string>>, where: string): void {
  for (const pair of map.items) {
    const { name, node } = keyName(r, pair.key);
    if (!(name in allowed)) {
      throw r.error(
        node,
        `unknown key "${where}${name}"`,
        `Valid keys${where ? ` in ${where.slice(0, -1)}` : ""}: ${Object.keys(allowed).join(", ")}`,
      );
    }
  }
}

function mapping(r: Reader, key: string, node: unknown): Record<string, string> {
  if (!isMap(node)) throw r.error(node as Node, `"${key}" must be a mapping of names to values, not ${describe(node)}`);
  const out: Record<string, string> = {};
  for (const pair of node.items) {
    const { name } = keyName(r, pair.key);
    out[name] = scalarText(r, `${key}.${name}`, pair.value, "a string, number or boolean");
  }
  return out;
}

function command(r: Reader, key: string, node: unknown): string[] {
  if (isSeq(node)) return stringList(r, key, node, "a list of strings or a command line");
  const text = stringOf(r, key, node, "a list of strings or a command line");
  try {
    return parseCommand(text, key);
  } catch (error) {
    if (error instanceof UsageError) throw r.error(node as Node, error.message);
    throw error;
  }
}

function readImage(r: Reader, node: unknown): ImageSettings {
  if (!isMap(node)) throw r.error(node as Node, `"image" must be a mapping of image settings, not ${describe(node)}`);
  checkKeys(r, node, IMAGE_KEYS, "image.");
  const settings: ImageSettings = {};
  for (const pair of node.items) {
    const { name } = keyName(r, pair.key);
    const key = `image.${name}`;
    const value = pair.value;
    switch (name) {
      case "cmd":
        settings.cmd = command(r, key, value);
        break;
      case "entrypoint":
        settings.entrypoint = command(r, key, value);
        break;
      case "env":
        settings.env = isMap(value)
          ? Object.entries(mapping(r, key, value)).map(([k, v]) => `${k}=${v}`)
          : stringList(r, key, value, IMAGE_KEYS.env);
        break;
      case "workdir":
        settings.workdir = stringOf(r, key, value, IMAGE_KEYS.workdir);
        break;
      case "user":
        settings.user = scalarText(r, key, value, IMAGE_KEYS.user);
        break;
      case "labels":
        settings.labels = mapping(r, key, value);
        break;
      case "annotations":
        settings.annotations = mapping(r, key, value);
        break;
      case "expose":
        settings.expose = stringList(r, key, value, IMAGE_KEYS.expose, true);
        break;
      case "volumes":
        settings.volumes = stringList(r, key, value, IMAGE_KEYS.volumes);
        break;
      case "stop-signal":
        settings.stopSignal = scalarText(r, key, value, IMAGE_KEYS["stop-signal"]);
        break;
    }
    try {
      validateImageSettings(settings);
    } catch (error) {
      if (error instanceof UsageError) {
        throw r.error(value as Node, `"${key}": ${error.message}`, error.solutionTemplate);
      }
      throw error;
    }
  }
  return settings;
}

/**
 * Parses and checks a compose file's text. `path` is used in messages.
 *
 * @example
 * ```ts
 * import { parseComposeFile } from "./compose_file.ts";
 * const file = parseComposeFile("base: debian:12\npackages: [hello]\n", "compose.yaml");
 * file.packages; // ["hello"]
 * ```
 */
export function parseComposeFile(text: string, path: string): ComposeFile {
  const lines = new LineCounter();
  const r = new Reader(path, lines);
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    const line = lines.linePos(first.pos[0]).line;
    const message = first.message.split("\n")[0];
    throw new UsageError(`Invalid compose file ${path}, line ${line}: ${message}`, {
      solution: "Fix the YAML syntax",
    });
  }
  const root = doc.contents;
  const file: ComposeFile = { path, packages: [], image: {} };
  if (root === null || (isScalar(root) && root.value === null)) return file;
  if (!isMap(root)) {
    throw r.error(root as Node, `the file must be a mapping of keys (base, packages, …), not ${describe(root)}`);
  }
  checkKeys(r, root, COMPOSE_FILE_KEYS, "");
  const nodes = new Map<string, Node>();
  for (const pair of root.items) {
    const { name } = keyName(r, pair.key);
    const value = pair.value;
    nodes.set(name, value as Node);
    switch (name) {
      case "base":
        file.base = stringOf(r, name, value, COMPOSE_FILE_KEYS.base);
        break;
      case "arch":
        file.arch = stringOf(r, name, value, COMPOSE_FILE_KEYS.arch);
        break;
      case "remote":
        file.remote = stringOf(r, name, value, COMPOSE_FILE_KEYS.remote);
        break;
      case "packages":
        file.packages = stringList(r, name, value, COMPOSE_FILE_KEYS.packages);
        break;
      case "output":
        file.output = stringOf(r, name, value, COMPOSE_FILE_KEYS.output);
        break;
      case "install-recommends":
        if (!isScalar(value) || typeof value.value !== "boolean") {
          throw r.error(value as Node, `"install-recommends" must be true or false, not ${describe(value)}`);
        }
        file.installRecommends = value.value;
        break;
      case "bootable":
        if (!isScalar(value) || typeof value.value !== "boolean") {
          throw r.error(value as Node, `"bootable" must be true or false, not ${describe(value)}`);
        }
        file.bootable = value.value;
        break;
      case "image":
        file.image = readImage(r, value);
        break;
      case "platforms":
        if (!isMap(value) || value.items.length === 0) {
          throw r.error(value as Node, `"platforms" must be ${COMPOSE_FILE_KEYS.platforms}, not ${describe(value)}`);
        }
        file.platforms = value.items.map((item) => {
          const platform = stringOf(r, "platforms", item.key, "a platform like linux/arm64");
          try {
            parsePlatform(platform);
          } catch (error) {
            if (error instanceof UsageError) {
              throw r.error(item.key as Node, `"platforms": ${error.message}`, error.solutionTemplate);
            }
            throw error;
          }
          return { platform, source: stringOf(r, `platforms.${platform}`, item.value, "a branch or commit") };
        });
        break;
    }
  }
  // The values that have a grammar of their own, checked here so that errors name the line.
  const check = (key: string, fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      if (error instanceof UsageError) {
        throw r.error(nodes.get(key), `"${key}": ${error.message}`, error.solutionTemplate);
      }
      throw error;
    }
  };
  if (file.arch !== undefined) check("arch", () => debianArch(file.arch!));
  if (file.base !== undefined) check("base", () => parseBaseImageRef(file.base!, { arch: file.arch }));
  if (file.output !== undefined) check("output", () => validateOutputBranch(file.output!));
  const packagesNode = nodes.get("packages");
  file.packages.forEach((name, i) => {
    try {
      validatePackageNames([name]);
    } catch (error) {
      const item = isSeq(packagesNode) ? packagesNode.items[i] as Node : packagesNode;
      if (error instanceof UsageError) {
        throw r.error(item, `"packages[${i}]": ${error.message}`, error.solutionTemplate);
      }
      throw error;
    }
  });
  return file;
}

/**
 * Reads and checks a compose file.
 *
 * @example
 * ```ts
 * import { loadComposeFile } from "./compose_file.ts";
 * const file = await loadComposeFile("compose.yaml");
 * console.log(file.base, file.packages, file.image.cmd);
 * ```
 */
export async function loadComposeFile(path: string): Promise<ComposeFile> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UsageError(`Compose file not found: ${path}`, { solution: "Check the path given to {file}" });
    }
    throw new AptOstreeError(
      `Cannot read the compose file ${path}: ${error instanceof Error ? error.message : error}`,
      {
        cause: error,
      },
    );
  }
  return parseComposeFile(text, path);
}

/**
 * Merges image settings: the command line's win over the file's; `env`,
 * `labels` and `annotations` merge by name (the command line's value wins),
 * the list settings (`expose`, `volumes`) add up.
 *
 * @example
 * ```ts
 * import { mergeImageSettings } from "./compose_file.ts";
 * mergeImageSettings({ env: ["A=1", "B=2"], cmd: ["a"] }, { env: ["B=3"] });
 * // { env: ["A=1", "B=3"], cmd: ["a"] }
 * ```
 */
export function mergeImageSettings(file: ImageSettings, cli: ImageSettings): ImageSettings {
  const out: ImageSettings = { ...file };
  for (const [key, value] of Object.entries(cli) as [keyof ImageSettings, unknown][]) {
    if (value === undefined) continue;
    if (key === "env") {
      const byName = new Map<string, string>();
      for (const e of [...(file.env ?? []), ...(cli.env ?? [])]) byName.set(e.slice(0, e.indexOf("=")), e);
      out.env = [...byName.values()];
    } else if (key === "labels" || key === "annotations") {
      out[key] = { ...(file[key] ?? {}), ...(cli[key] ?? {}) };
    } else if (key === "expose" || key === "volumes") {
      out[key] = [...new Set([...(file[key] ?? []), ...(cli[key] ?? [])])];
    } else {
      (out as Record<string, unknown>)[key] = value;
    }
  }
  return out;
}
