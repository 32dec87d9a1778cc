/**
 * The image settings users give (`--cmd`, `--env`, `--label`, …), their
 * validation, and the OCI image config and manifest built from them.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import {
  type ContainerConfig,
  type Descriptor,
  type HistoryEntry,
  type ImageConfig,
  type ImageManifest,
  MEDIA_TYPE_CONFIG,
  MEDIA_TYPE_MANIFEST,
  type Platform,
} from "./types.ts";

/**
 * Splits a command given as one string: a JSON array is taken as is (exec
 * form); otherwise words are split like a shell does (quotes and
 * backslashes, no expansion).
 *
 * @example
 * ```ts
 * import { parseCommand } from "./image_config.ts";
 * parseCommand(`nginx -g 'daemon off;'`); // ["nginx", "-g", "daemon off;"]
 * parseCommand(`["/bin/sh", "-c", "echo hi"]`); // ["/bin/sh", "-c", "echo hi"]
 * ```
 */
export function parseCommand(value: string, option = "--cmd"): string[] {
  const trimmed = value.trim();
  if (trimmed.startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new UsageError(`Invalid ${option} value: not a valid JSON array: ${value}`, {
        solution: `Use a JSON array of strings like '["/bin/sh", "-c", "echo hi"]', or a plain command line`,
      });
    }
    if (!Array.isArray(parsed) || !parsed.every((p) => typeof p === "string")) {
      throw new UsageError(`Invalid ${option} value: the JSON array must hold strings only`, {
        solution: `Use a JSON array of strings like '["/bin/sh", "-c", "echo hi"]'`,
      });
    }
    return parsed;
  }
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === "\\" && i + 1 < value.length && '"\\$`'.includes(value[i + 1])) word += value[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < value.length) {
      word += value[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) {
    throw new UsageError(`Invalid ${option} value: unterminated ${quote} quote: ${value}`, {
      solution: "Close the quote, or give a JSON array",
    });
  }
  if (inWord) words.push(word);
  return words;
}

/** Runtime settings of an image, as docker and buildah users know them. */
export interface ImageSettings {
  /** Default command (exec form). */
  cmd?: string[];
  /** Entrypoint (exec form). */
  entrypoint?: string[];
  /** Environment, `KEY=VALUE`. */
  env?: string[];
  /** Working directory. */
  workdir?: string;
  /** User (`name`, `uid`, `uid:gid`). */
  user?: string;
  /** Config labels. */
  labels?: Record<string, string>;
  /** Manifest annotations. */
  annotations?: Record<string, string>;
  /** Exposed ports, `PORT[/tcp|udp|sctp]`. */
  expose?: string[];
  /** Volumes (absolute paths). */
  volumes?: string[];
  /** Stop signal, e.g. `SIGTERM`. */
  stopSignal?: string;
}

/** The default `PATH` of an image that sets none (as docker's). */
export const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * Parses `KEY=VALUE` pairs into a record; a key without `=` is an error.
 *
 * @example
 * ```ts
 * import { parseKeyValues } from "./image_config.ts";
 * parseKeyValues(["a=1", "b=x=y"], "--label"); // { a: "1", b: "x=y" }
 * ```
 */
export function parseKeyValues(pairs: readonly string[], option: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) {
      throw new UsageError(`Invalid ${option} value '${pair}': expected KEY=VALUE`, {
        solution: `Write it as ${option} key=value`,
      });
    }
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/**
 * Normalises an exposed port to `PORT/proto` (tcp by default).
 *
 * @example
 * ```ts
 * import { normalizePort } from "./image_config.ts";
 * normalizePort("80"); // "80/tcp"
 * normalizePort("53/udp"); // "53/udp"
 * ```
 */
export function normalizePort(port: string): string {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp|sctp))?$/i.exec(port);
  const valid = m && Number(m[1]) >= 1 && Number(m[1]) <= 65535 && (!m[2] || Number(m[2]) <= 65535);
  if (!valid) {
    throw new UsageError(`Invalid port '${port}'`, { solution: "Use PORT or PORT/tcp, PORT/udp, PORT/sctp (1-65535)" });
  }
  return `${m![1]}${m![2] ? `-${m![2]}` : ""}/${(m![3] ?? "tcp").toLowerCase()}`;
}

/** Linux's signal names (as `kill -l` lists them), without `SIG`. */
const SIGNALS = new Set(
  ("HUP INT QUIT ILL TRAP ABRT IOT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT CHLD CONT STOP TSTP TTIN " +
    "TTOU URG XCPU XFSZ VTALRM PROF WINCH IO POLL PWR SYS RTMIN RTMAX").split(" "),
);

/** Whether `value` names a signal: `SIGTERM`, `TERM`, `15`, `SIGRTMIN+3`, `SIGRTMAX-1`. */
function isSignal(value: string): boolean {
  const name = value.toUpperCase().replace(/^SIG/, "");
  if (/^[0-9]+$/.test(name)) return Number(name) >= 1 && Number(name) <= 64;
  const rt = /^(RTMIN\+|RTMAX-)([0-9]+)$/.exec(name);
  if (rt) return Number(rt[2]) >= 1 && Number(rt[2]) <= 30;
  return SIGNALS.has(name);
}

/**
 * The largest config or manifest that registries and skopeo accept: the
 * distribution registry refuses manifests over 4 MiB, and containers/image
 * reads configs and manifests up to 4 MiB.
 */
export const MAX_CONFIG_SIZE = 4 << 20;

/** Every string an image's settings hold, with the setting it came from (`label`, `env`, …). */
function settingStrings(settings: ImageSettings): { option: string; what: string; value: string }[] {
  const out: { option: string; what: string; value: string }[] = [];
  const add = (option: string, values: Iterable<string> | undefined, what = (v: string) => v) => {
    for (const value of values ?? []) out.push({ option, what: what(value), value });
  };
  add("cmd", settings.cmd);
  add("entrypoint", settings.entrypoint);
  add("env", settings.env, (v) => v.slice(0, v.indexOf("=") + 1) || v);
  add("workdir", settings.workdir !== undefined ? [settings.workdir] : []);
  add("user", settings.user !== undefined ? [settings.user] : []);
  for (const [key, value] of Object.entries(settings.labels ?? {})) {
    out.push({ option: "label", what: key, value: key + value });
  }
  for (const [key, value] of Object.entries(settings.annotations ?? {})) {
    out.push({ option: "annotation", what: key, value: key + value });
  }
  add("expose", settings.expose);
  add("volume", settings.volumes);
  add("stopSignal", settings.stopSignal !== undefined ? [settings.stopSignal] : []);
  return out;
}

/**
 * Refuses a config or manifest larger than {@linkcode MAX_CONFIG_SIZE},
 * naming the largest setting, which is what makes it so.
 *
 * @example
 * ```ts
 * import { checkImageJsonSize } from "./image_config.ts";
 * checkImageJsonSize(new Uint8Array(10), "config", {}); // small: fine
 * ```
 */
export function checkImageJsonSize(bytes: Uint8Array, what: "config" | "manifest", settings: ImageSettings): void {
  if (bytes.length <= MAX_CONFIG_SIZE) return;
  const largest = settingStrings(settings).sort((a, b) => b.value.length - a.value.length)[0];
  throw new UsageError(
    `The image ${what} would be ${bytes.length} bytes, over the ${MAX_CONFIG_SIZE} that registries and skopeo accept` +
      (largest ? `; the largest setting is the ${largest.option} ${largest.what} (${largest.value.length} bytes)` : ""),
    { solution: "Keep labels, annotations and environment small; put large data in a file of the image instead" },
  );
}

/**
 * Checks image settings and throws a {@linkcode UsageError} for bad ones.
 *
 * @example
 * ```ts
 * import { validateImageSettings } from "./image_config.ts";
 * validateImageSettings({ env: ["A=1"], expose: ["80"] });
 * ```
 */
export function validateImageSettings(settings: ImageSettings): void {
  for (const e of settings.env ?? []) {
    if (e.indexOf("=") <= 0) {
      throw new UsageError(`Invalid --env value '${e}': expected KEY=VALUE`, {
        solution: "Write it as {env} KEY=VALUE",
      });
    }
  }
  for (const p of settings.expose ?? []) normalizePort(p);
  for (const v of settings.volumes ?? []) {
    if (!v.startsWith("/")) throw new UsageError(`Invalid volume '${v}'`, { solution: "Volumes are absolute paths" });
  }
  if (settings.workdir !== undefined && !settings.workdir.startsWith("/")) {
    throw new UsageError(`Invalid --workdir '${settings.workdir}'`, {
      solution: "The working directory is an absolute path",
    });
  }
  if (settings.stopSignal !== undefined && !isSignal(settings.stopSignal)) {
    throw new UsageError(`Invalid --stop-signal '${settings.stopSignal}': not a Linux signal`, {
      solution: "Use a name like SIGTERM, SIGINT or SIGRTMIN+3, or a number from 1 to 64",
    });
  }
  if (settings.user !== undefined && !/^[^:\s]+(?::[^:\s]+)?$/.test(settings.user)) {
    throw new UsageError(`Invalid --user '${settings.user}'`, {
      solution: "Use USER, UID, USER:GROUP or UID:GID (no spaces, at most one ':')",
    });
  }
  for (const { option, what, value } of settingStrings(settings)) {
    // Command-line bytes that are not UTF-8 arrive as U+FFFD: refuse them rather than store a changed value.
    if (value.includes("\uFFFD")) {
      throw new UsageError(`The ${option} setting ${what} is not valid UTF-8 (or holds U+FFFD)`, {
        solution: "Image configs are JSON: give the value as UTF-8 text",
      });
    }
    if (value.includes("\0")) {
      throw new UsageError(`The ${option} setting ${what} holds a NUL character`, {
        solution: "Remove the NUL: runtimes cannot pass it to a process",
      });
    }
  }
}

function sortedRecord<V>(record: Record<string, V>): Record<string, V> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function emptySet(keys: Iterable<string>): Record<string, Record<string, never>> {
  const out: Record<string, Record<string, never>> = {};
  for (const k of [...new Set(keys)].sort()) out[k] = {};
  return out;
}

/** What an image config is made of. */
export interface ImageConfigInput {
  /** Target platform. */
  platform: Platform;
  /** Creation time. */
  created: Date;
  /** Runtime settings. */
  settings: ImageSettings;
  /** Labels set by the tool (user labels override them). */
  labels: Record<string, string>;
  /** Diff ids of the layers, base first. */
  diffIds: string[];
  /** History entries, one per layer. */
  history: HistoryEntry[];
}

/**
 * Builds an image config. Maps are emitted with sorted keys (as Go tools
 * do), so equal inputs give byte-identical JSON.
 *
 * @example
 * ```ts
 * import { buildImageConfig } from "./image_config.ts";
 * const config = buildImageConfig({
 *   platform: { architecture: "amd64", os: "linux" },
 *   created: new Date(0),
 *   settings: { cmd: ["/bin/sh"] },
 *   labels: {},
 *   diffIds: ["sha256:" + "0".repeat(64)],
 *   history: [{ created_by: "apt-ostree" }],
 * });
 * config.config?.Cmd; // ["/bin/sh"]
 * ```
 */
export function buildImageConfig(input: ImageConfigInput): ImageConfig {
  const s = input.settings;
  const env = [...(s.env ?? [])];
  if (!env.some((e) => e.startsWith("PATH="))) env.unshift(DEFAULT_PATH);
  const labels = sortedRecord({ ...input.labels, ...(s.labels ?? {}) });
  const config: ContainerConfig = {};
  if (s.user !== undefined) config.User = s.user;
  if (s.expose?.length) config.ExposedPorts = emptySet(s.expose.map(normalizePort));
  config.Env = env;
  if (s.entrypoint?.length) config.Entrypoint = [...s.entrypoint];
  if (s.cmd?.length) config.Cmd = [...s.cmd];
  if (s.volumes?.length) config.Volumes = emptySet(s.volumes);
  if (s.workdir !== undefined) config.WorkingDir = s.workdir;
  if (Object.keys(labels).length > 0) config.Labels = labels;
  if (s.stopSignal !== undefined) config.StopSignal = s.stopSignal;
  const created = input.created.toISOString().replace(/\.000Z$/, "Z");
  return {
    created,
    architecture: input.platform.architecture,
    os: input.platform.os,
    ...(input.platform.variant ? { variant: input.platform.variant } : {}),
    config,
    rootfs: { type: "layers", diff_ids: [...input.diffIds] },
    history: input.history.map((h) => ({ created, ...h })),
  };
}

/**
 * Builds an image manifest with sorted annotations.
 *
 * @example
 * ```ts
 * import { buildImageManifest } from "./image_config.ts";
 * const manifest = buildImageManifest(
 *   { mediaType: "application/vnd.oci.image.config.v1+json", digest: "sha256:" + "1".repeat(64), size: 10 },
 *   [],
 *   { "org.opencontainers.image.version": "1.0" },
 * );
 * ```
 */
export function buildImageManifest(
  config: Descriptor,
  layers: Descriptor[],
  annotations: Record<string, string>,
): ImageManifest {
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_MANIFEST,
    config: { mediaType: MEDIA_TYPE_CONFIG, digest: config.digest, size: config.size },
    layers,
  };
  if (Object.keys(annotations).length > 0) manifest.annotations = sortedRecord(annotations);
  return manifest;
}

/**
 * Serialises a JSON document as the bytes stored in a blob.
 *
 * @example
 * ```ts
 * import { jsonBytes } from "./image_config.ts";
 * jsonBytes({ a: 1 }); // Uint8Array of '{"a":1}'
 * ```
 */
export function jsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}
