/**
 * The rules of `bootc container lint`, over any tree: an OSTree commit, an
 * image's flattened layers, or a tree built in memory
 * ({@linkcode LintTree}). Each rule has bootc's name and severity; a fatal
 * finding means bootc (or `ostree container image deploy`) would refuse or
 * break the system, a warning means something that works but is a likely
 * mistake.
 *
 * A commit keeps its configuration in `usr/etc`, an image shows it at
 * `etc`: both views are accepted (only having both is the fatal
 * `etc-usretc`), and the rules that read configuration (`/etc/passwd`,
 * `/etc/hostname`, …) read it wherever the tree keeps it.
 *
 * Rules read the content of a few small configuration files only (see
 * {@linkcode lintNeedsContent}); tree sources keep those and nothing else.
 *
 * @module
 */

import { AptOstreeError, UsageError } from "../errors.ts";

/** How bad a finding is: fatal stops `compose lint`, `image lint` and a bootc build. */
export type LintSeverity = "fatal" | "warning";

/** A path's kind, as a lint tree records it. */
export type LintEntryKind = "file" | "directory" | "symlink";

/** One path of a tree. */
export interface LintEntry {
  /** Path relative to the root, without a leading slash (never empty). */
  path: string;
  /** Kind. */
  kind: LintEntryKind;
  /** Permission bits (`0o7777` mask). */
  mode: number;
  /** Owner user id. */
  uid: number;
  /** Owner group id. */
  gid: number;
  /** Size of a regular file's content (0 otherwise). */
  size: number;
  /** Symlink target (symlinks only). */
  target?: string;
  /** Set by a source that had to decode the name or target lossily (not UTF-8). */
  invalidUtf8?: boolean;
}

/** A tree to lint: its entries and the content of the few files the rules read. */
export interface LintTree {
  /** Every path of the tree (the root excluded), in any order. */
  entries: Iterable<LintEntry>;
  /**
   * The content of a regular file for which {@linkcode lintNeedsContent}
   * is true; undefined when the source did not keep it.
   */
  read(path: string): Promise<Uint8Array | undefined>;
}

/** A rule: bootc's name, severity and description. */
export interface LintRule {
  /** bootc's name for the rule (what `skip` takes). */
  name: string;
  /** Fatal or warning. */
  severity: LintSeverity;
  /** What it checks. */
  description: string;
}

/** What a rule found. */
export interface LintFinding {
  /** The rule's name. */
  rule: string;
  /** The rule's severity. */
  severity: LintSeverity;
  /** What is wrong, in one or a few lines. */
  message: string;
  /** Offending paths (absolute, at most {@linkcode MAX_LISTED_PATHS}). */
  paths: string[];
  /** How many more paths there are beyond `paths`. */
  morePaths: number;
}

/** Options for {@linkcode lintTree}. */
export interface LintOptions {
  /** Rule names not to run (bootc's `--skip`). */
  skip?: readonly string[];
  /** The option that takes `skip` where the error is shown (default `skip`; `build-image` names it `lintSkip`). */
  skipOption?: string;
}

/** Most paths a finding lists (bootc shows 5 unless told not to truncate). */
export const MAX_LISTED_PATHS = 5;

/** Largest file content a rule reads; sources need not keep more. */
export const MAX_LINT_CONTENT = 1 << 20;

/** bootc's base-image documentation, whose copy of the root is checked too. */
const BASEIMAGE_REF = "usr/share/doc/bootc/baseimage/base";
const KARGS_DIR = "usr/lib/bootc/kargs.d";
const PREPARE_ROOT = "ostree/prepare-root.conf";
const API_DIRS = ["dev", "proc", "sys", "run", "tmp", "var"];
/** Files container runtimes inject under `/run` (with their parents), not counted by `nonempty-run-tmp`. */
const RUNTIME_INJECTED = ["run/systemd/resolve/stub-resolv.conf"];

/**
 * Every rule, in the order they run and report.
 *
 * @example
 * ```ts
 * import { LINT_RULES } from "./lint.ts";
 * LINT_RULES.filter((r) => r.severity === "fatal").map((r) => r.name);
 * ```
 */
export const LINT_RULES: readonly LintRule[] = [
  { name: "var-run", severity: "fatal", description: "/var/run must be a symlink (to /run), never a directory" },
  {
    name: "etc-usretc",
    severity: "fatal",
    description: "Only one of /etc (an image) and /usr/etc (an OSTree commit) may exist",
  },
  {
    name: "bootc-kargs",
    severity: "fatal",
    description: "Files /usr/lib/bootc/kargs.d/*.toml must parse (kargs = [...], match-architectures = [...])",
  },
  {
    name: "kernel",
    severity: "fatal",
    description: "At most one kernel: one /usr/lib/modules/KVER directory holding a vmlinuz",
  },
  { name: "utf8", severity: "fatal", description: "File names and symlink targets must be UTF-8" },
  {
    name: "api-base-directories",
    severity: "fatal",
    description: "The API file system directories /dev /proc /sys /run /tmp /var must exist as directories",
  },
  {
    name: "baseimage-root",
    severity: "fatal",
    description: "/sysroot must be a directory and /ostree a symlink to sysroot/ostree",
  },
  {
    name: "baseimage-composefs",
    severity: "warning",
    description: "/usr/lib/ostree/prepare-root.conf (or /etc/ostree/) should enable composefs",
  },
  {
    name: "buildah-injected",
    severity: "warning",
    description: "No empty /etc/hostname or /etc/resolv.conf (left by a container build)",
  },
  { name: "var-log", severity: "warning", description: "No non-empty regular files in /var/log" },
  {
    name: "var-tmpfiles",
    severity: "warning",
    description: "Content in /var should be created by tmpfiles.d entries (the commit's /var is not deployed)",
  },
  {
    name: "sysusers",
    severity: "warning",
    description: "Users in /etc/passwd and groups in /etc/group should be created by sysusers.d",
  },
  { name: "nonempty-boot", severity: "warning", description: "/boot should exist and be empty" },
  { name: "nonempty-run-tmp", severity: "warning", description: "/run and /tmp should be empty" },
];

const RULES_BY_NAME = new Map(LINT_RULES.map((r) => [r.name, r]));

/**
 * A fatal lint finding, as an error: names the rule and the first path.
 * `compose build-image --bootc` and the lint commands throw it.
 *
 * @example
 * ```ts
 * import { LintError } from "./lint.ts";
 * const error = new LintError([{
 *   rule: "var-run", severity: "fatal", message: "Not a symlink: /var/run", paths: ["/var/run"], morePaths: 0,
 * }]);
 * error.finding.rule; // "var-run"
 * ```
 */
export class LintError extends AptOstreeError {
  /** The first fatal finding. */
  readonly finding: LintFinding;

  /** @param findings every finding (at least one fatal) */
  constructor(readonly findings: readonly LintFinding[], skipOption = "skip") {
    const fatal = findings.filter((f) => f.severity === "fatal");
    const first = fatal[0] ?? findings[0];
    const where = first.paths[0] ? ` at ${first.paths[0]}` : "";
    const others = fatal.length > 1 ? ` (and ${fatal.length - 1} more fatal rule${fatal.length > 2 ? "s" : ""})` : "";
    super(`Lint rule ${first.rule} failed${where}: ${firstLine(first.message)}${others}`, {
      solution: solutionFor(first.rule).replaceAll("{skip}", `{${skipOption}}`),
    });
    this.name = "LintError";
    this.finding = first;
  }
}

function firstLine(text: string): string {
  return text.split("\n")[0].replace(/:$/, "");
}

function solutionFor(rule: string): string {
  switch (rule) {
    case "var-run":
      return "Replace /var/run with a symlink to ../run in the tree, or pass {skip} var-run";
    case "etc-usretc":
      return "Keep configuration in one place: /usr/etc in an OSTree commit, /etc in an image; or pass {skip} etc-usretc";
    case "bootc-kargs":
      return 'Fix the TOML file: only `kargs = ["..."]` and `match-architectures = ["..."]` are allowed';
    case "kernel":
      return "Install a single kernel package (remove the others), or pass {skip} kernel";
    case "utf8":
      return "Rename the files to UTF-8 names (bootc's OSTree backend needs them)";
    case "api-base-directories":
      return "Create the directories /dev /proc /sys /run /tmp /var in the tree (empty), or pass {skip} api-base-directories";
    case "baseimage-root":
      return "Build the commit as bootable (it adds /sysroot and ostree -> sysroot/ostree), or pass {skip} baseimage-root";
    default:
      return `Fix the tree as the message says, or pass {skip} ${rule}`;
  }
}

/**
 * Whether a rule may read this file's content: tree sources keep the
 * content of these paths (up to {@linkcode MAX_LINT_CONTENT} bytes) and no
 * others.
 *
 * @example
 * ```ts
 * import { lintNeedsContent } from "./lint.ts";
 * lintNeedsContent("usr/etc/passwd"); // true
 * lintNeedsContent("usr/bin/bash"); // false
 * ```
 */
export function lintNeedsContent(path: string): boolean {
  for (const prefix of ["", BASEIMAGE_REF + "/"]) {
    if (path === prefix + "usr/lib/" + PREPARE_ROOT) return true;
  }
  for (const etc of ["etc", "usr/etc"]) {
    if (!path.startsWith(etc + "/")) continue;
    const rest = path.slice(etc.length + 1);
    if (["passwd", "group", PREPARE_ROOT].includes(rest)) return true;
    if (/^(tmpfiles|sysusers)\.d\/[^/]+\.conf$/.test(rest)) return true;
  }
  if (/^usr\/lib\/(tmpfiles|sysusers)\.d\/[^/]+\.conf$/.test(path)) return true;
  return path.startsWith(KARGS_DIR + "/") && path.endsWith(".toml") && !path.slice(KARGS_DIR.length + 1).includes("/");
}

/** The tree, indexed for the rules. */
class Index {
  readonly sorted: LintEntry[];
  private readonly byPath: Map<string, LintEntry>;
  /** Where configuration lives: `etc` (an image) or `usr/etc` (a commit). */
  readonly etc: string;

  constructor(readonly tree: LintTree) {
    this.sorted = [...tree.entries].sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
    this.byPath = new Map(this.sorted.map((e) => [e.path, e]));
    this.etc = this.get("etc") === undefined && this.get("usr/etc")?.kind === "directory" ? "usr/etc" : "etc";
  }

  get(path: string): LintEntry | undefined {
    return this.byPath.get(path);
  }

  isDir(path: string): boolean {
    return this.get(path)?.kind === "directory";
  }

  /** Entries strictly below `dir` (every depth), in path order. */
  *below(dir: string): Generator<LintEntry> {
    const prefix = dir + "/";
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.sorted[mid].path < prefix) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.sorted.length && this.sorted[i].path.startsWith(prefix); i++) yield this.sorted[i];
  }

  /** Direct children of a directory. */
  *children(dir: string): Generator<LintEntry> {
    for (const e of this.below(dir)) if (!e.path.slice(dir.length + 1).includes("/")) yield e;
  }

  /** A regular file's content as text, or undefined (missing, not a file, not kept, too large). */
  async text(path: string): Promise<string | undefined> {
    if (this.get(path)?.kind !== "file") return undefined;
    const bytes = await this.tree.read(path);
    return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
  }

  /** Contents of `DIR/*.conf` for each directory, by file name (a later directory's file of the same name wins). */
  async confFiles(dirs: string[]): Promise<Map<string, { path: string; text: string }>> {
    const out = new Map<string, { path: string; text: string }>();
    for (const dir of dirs) {
      if (!this.isDir(dir)) continue;
      for (const e of this.children(dir)) {
        const name = e.path.slice(dir.length + 1);
        if (!name.endsWith(".conf")) continue;
        const text = await this.text(e.path);
        if (text !== undefined) out.set(name, { path: e.path, text });
      }
    }
    return out;
  }
}

/** What a rule returns: nothing, or the message and paths of one finding. */
type RuleResult = { message: string; paths: string[] } | undefined;

function abs(path: string): string {
  return "/" + path;
}

const KIND_NAMES: Record<LintEntryKind, string> = {
  file: "a regular file",
  directory: "a directory",
  symlink: "a symlink",
};

function checkVarRun(t: Index): RuleResult {
  const e = t.get("var/run");
  if (e && e.kind !== "symlink") {
    return { message: `Not a symlink: /var/run (it is ${KIND_NAMES[e.kind]})`, paths: ["/var/run"] };
  }
}

function checkUsrEtc(t: Index): RuleResult {
  if (t.get("etc") && t.get("usr/etc")) {
    return {
      message:
        "Found both /etc and /usr/etc: an OSTree commit keeps its configuration in /usr/etc, an image in /etc, never both",
      paths: ["/etc", "/usr/etc"],
    };
  }
}

async function checkKargs(t: Index): Promise<RuleResult> {
  const dir = t.get(KARGS_DIR);
  if (!dir) return;
  if (dir.kind !== "directory") return { message: `/${KARGS_DIR} is not a directory`, paths: [abs(KARGS_DIR)] };
  const bad: string[] = [];
  const reasons: string[] = [];
  for (const e of t.children(KARGS_DIR)) {
    if (!e.path.endsWith(".toml") || e.kind === "directory") continue;
    let problem: string | undefined;
    if (e.kind === "symlink") problem = "is a symlink (put the file itself in the tree)";
    else if (e.size > MAX_LINT_CONTENT) problem = `is larger than ${MAX_LINT_CONTENT} bytes`;
    else {
      const bytes = await t.tree.read(e.path);
      if (bytes === undefined) problem = "could not be read";
      else {
        try {
          parseKargsToml(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
        } catch (error) {
          problem = error instanceof TypeError ? "is not UTF-8 text" : (error as Error).message;
        }
      }
    }
    if (problem) {
      bad.push(abs(e.path));
      reasons.push(`${abs(e.path)}: ${problem}`);
    }
  }
  if (bad.length > 0) return { message: `Cannot parse kernel arguments:\n${reasons.join("\n")}`, paths: bad };
}

function checkKernel(t: Index): RuleResult {
  const modules = "usr/lib/modules";
  if (!t.isDir(modules)) return;
  const kernels: string[] = [];
  for (const e of t.children(modules)) {
    if (e.kind === "directory" && t.get(`${e.path}/vmlinuz`)) kernels.push(abs(e.path));
  }
  if (kernels.length > 1) {
    return { message: `Found ${kernels.length} kernels in /${modules}: only one kernel is supported`, paths: kernels };
  }
}

function checkUtf8(t: Index): RuleResult {
  const bad: string[] = [];
  for (const e of t.sorted) {
    if (e.invalidUtf8 || !e.path.isWellFormed() || (e.target !== undefined && !e.target.isWellFormed())) {
      bad.push(abs(e.path.toWellFormed()));
    }
  }
  if (bad.length > 0) return { message: "Found non-UTF-8 file names or symlink targets", paths: bad };
}

function checkApiDirs(t: Index): RuleResult {
  const missing: string[] = [];
  const wrong: string[] = [];
  for (const d of API_DIRS) {
    const e = t.get(d);
    if (!e) missing.push(abs(d));
    else if (e.kind !== "directory") wrong.push(abs(d));
  }
  const lines: string[] = [];
  if (missing.length > 0) lines.push(`Missing API file system base directories: ${missing.join(" ")}`);
  if (wrong.length > 0) lines.push(`Expected directories for API file system base directories: ${wrong.join(" ")}`);
  if (lines.length > 0) return { message: lines.join("\n"), paths: [...missing, ...wrong] };
}

function baseimageRoot(t: Index, base: string): RuleResult {
  const p = (rel: string) => base === "" ? rel : `${base}/${rel}`;
  const sysroot = t.get(p("sysroot"));
  if (!sysroot) return { message: `Missing ${abs(p("sysroot"))}`, paths: [abs(p("sysroot"))] };
  if (sysroot.kind !== "directory") {
    return { message: `Expected a directory for ${abs(p("sysroot"))}`, paths: [abs(p("sysroot"))] };
  }
  const ostree = t.get(p("ostree"));
  if (!ostree) return { message: `Missing ${abs(p("ostree"))} -> sysroot/ostree link`, paths: [abs(p("ostree"))] };
  if (ostree.kind !== "symlink") {
    return { message: `${abs(p("ostree"))} should be a symlink`, paths: [abs(p("ostree"))] };
  }
  if (ostree.target !== "sysroot/ostree") {
    return {
      message: `Expected ${abs(p("ostree"))} -> sysroot/ostree, not ${JSON.stringify(ostree.target)}`,
      paths: [abs(p("ostree"))],
    };
  }
}

function checkBaseimageRoot(t: Index): RuleResult {
  return baseimageRoot(t, "") ?? (t.isDir(BASEIMAGE_REF) ? baseimageRoot(t, BASEIMAGE_REF) : undefined);
}

/**
 * Whether a prepare-root.conf enables an overlay root: `composefs.enabled`
 * is yes/true/1/maybe/signed/verity, or `root.transient` is true (as
 * ostree-ext reads it; a missing or invalid value means disabled).
 */
function composefsEnabled(text: string): boolean {
  const values = parseKeyFile(text);
  const transient = values.get("root")?.get("transient");
  if (transient === "true" || transient === "1") return true;
  const enabled = values.get("composefs")?.get("enabled");
  return enabled !== undefined && ["yes", "true", "1", "maybe", "signed", "verity"].includes(enabled);
}

function parseKeyFile(text: string): Map<string, Map<string, string>> {
  const groups = new Map<string, Map<string, string>>();
  let group: Map<string, string> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      group = groups.get(header[1]) ?? new Map();
      groups.set(header[1], group);
      continue;
    }
    const eq = line.indexOf("=");
    if (group && eq > 0) group.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return groups;
}

async function composefsIn(t: Index, base: string): Promise<RuleResult> {
  const p = (rel: string) => base === "" ? rel : `${base}/${rel}`;
  const etcView = base === "" ? t.etc : "etc";
  for (const path of [p(`${etcView}/${PREPARE_ROOT}`), p(`usr/lib/${PREPARE_ROOT}`)]) {
    if (!t.get(path)) continue;
    const text = await t.text(path);
    if (text === undefined || !composefsEnabled(text)) {
      return { message: `${abs(path)} does not have composefs enabled`, paths: [abs(path)] };
    }
    return;
  }
  const path = abs(p(`usr/lib/${PREPARE_ROOT}`));
  return { message: `${path} is not present to enable composefs`, paths: [path] };
}

async function checkComposefs(t: Index): Promise<RuleResult> {
  return await composefsIn(t, "") ?? (t.isDir(BASEIMAGE_REF) ? await composefsIn(t, BASEIMAGE_REF) : undefined);
}

function checkBuildahInjected(t: Index): RuleResult {
  const empty: string[] = [];
  for (const name of ["hostname", "resolv.conf"]) {
    const e = t.get(`${t.etc}/${name}`);
    if (e?.kind === "file" && e.size === 0) empty.push(abs(e.path));
  }
  if (empty.length > 0) {
    return {
      message: `${empty.join(" and ")} ${empty.length > 1 ? "are empty files" : "is an empty file"}; ` +
        "this may have been synthesized by a container runtime",
      paths: empty,
    };
  }
}

function checkVarLog(t: Index): RuleResult {
  const logs = [...t.below("var/log")].filter((e) => e.kind === "file" && e.size > 0).map((e) => abs(e.path));
  if (logs.length > 0) return { message: "Found non-empty log files", paths: logs };
}

/** The path a tmpfiles.d line names (its second field, with quotes and `\x` escapes undone). */
function tmpfilesPath(line: string): string | undefined {
  const m = /^\S+\s+("(?:[^"\\]|\\.)*"|'[^']*'|\S+)/.exec(line);
  if (!m) return undefined;
  let path = m[1];
  if (path.startsWith('"') || path.startsWith("'")) path = path.slice(1, -1);
  path = path.replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)))
    .replace(/\\(.)/g, "$1");
  return path.replace(/\/+$/, "") || "/";
}

/** Names for ids, from a passwd or group file. */
function idNames(text: string | undefined): Map<number, string> {
  const names = new Map<number, string>();
  for (const line of (text ?? "").split("\n")) {
    const fields = line.split(":");
    if (fields.length >= 3 && /^\d+$/.test(fields[2]) && !names.has(Number(fields[2]))) {
      names.set(Number(fields[2]), fields[0]);
    }
  }
  return names;
}

async function checkVarTmpfiles(t: Index): Promise<RuleResult> {
  if (!t.isDir("var")) return;
  const covered = new Set<string>();
  for (const { text } of (await t.confFiles(["usr/lib/tmpfiles.d", `${t.etc}/tmpfiles.d`])).values()) {
    for (const raw of text.split("\n")) {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) continue;
      const path = tmpfilesPath(line);
      if (path !== undefined) covered.add(path);
    }
  }
  const users = idNames(await t.text(`${t.etc}/passwd`));
  const groups = idNames(await t.text(`${t.etc}/group`));
  const missing: string[] = [];
  const lines: string[] = [];
  const unsupported: string[] = [];
  for (const e of t.below("var")) {
    const path = abs(e.path);
    if (covered.has(path)) continue;
    const user = users.get(e.uid) ?? String(e.uid);
    const group = groups.get(e.gid) ?? String(e.gid);
    // systemd-tmpfiles refuses paths below /var/run; bootc writes them as /run.
    const named = path.startsWith("/var/run/") ? path.slice(4) : path;
    if (e.kind === "directory") {
      missing.push(path);
      lines.push(`d ${named} ${e.mode.toString(8).padStart(4, "0")} ${user} ${group} - -`);
    } else if (e.kind === "symlink") {
      missing.push(path);
      lines.push(`L ${named} - - - - ${e.target ?? ""}`);
    } else {
      unsupported.push(path);
    }
  }
  if (missing.length === 0 && unsupported.length === 0) return;
  const parts: string[] = [];
  if (lines.length > 0) parts.push(listing("Found content in /var missing systemd tmpfiles.d entries", lines));
  if (unsupported.length > 0) parts.push(listing("Found non-directory/non-symlink files in /var", unsupported));
  return { message: parts.join("\n"), paths: [...missing, ...unsupported] };
}

/** A header and up to {@linkcode MAX_LISTED_PATHS} indented items. */
function listing(header: string, items: string[]): string {
  const shown = items.slice(0, MAX_LISTED_PATHS).map((i) => `  ${i}`);
  if (items.length > MAX_LISTED_PATHS) shown.push(`  ...and ${items.length - MAX_LISTED_PATHS} more`);
  return [`${header}:`, ...shown].join("\n");
}

/** Names in the first field of a colon-separated database (passwd, group). */
function dbNames(text: string): string[] {
  return text.split("\n").map((l) => l.split(":")[0].trim()).filter((n) => n !== "" && !n.startsWith("#"))
    .filter((n) => !n.startsWith("+") && !n.startsWith("-"));
}

function unquoteField(field: string): string {
  return field.length >= 2 && (field[0] === '"' || field[0] === "'") && field.at(-1) === field[0]
    ? field.slice(1, -1)
    : field;
}

async function checkSysusers(t: Index): Promise<RuleResult> {
  const passwd = await t.text(`${t.etc}/passwd`);
  if (passwd === undefined) return;
  const group = await t.text(`${t.etc}/group`) ?? "";
  const users = new Set<string>();
  const groups = new Set<string>();
  for (const { text } of (await t.confFiles(["usr/lib/sysusers.d", `${t.etc}/sysusers.d`])).values()) {
    for (const raw of text.split("\n")) {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) continue;
      const fields = line.split(/\s+/);
      const type = fields[0]?.replace(/!$/, "");
      const name = unquoteField(fields[1] ?? "");
      if (type === "u") {
        users.add(name);
        // "u NAME UID:GID" uses an existing group; otherwise a group of the user's name is made too.
        if (!(fields[2] ?? "").includes(":")) groups.add(name);
      } else if (type === "g") groups.add(name);
    }
  }
  const missingUsers = dbNames(passwd).filter((n) => !users.has(n));
  const missingGroups = dbNames(group).filter((n) => !groups.has(n));
  if (missingUsers.length === 0 && missingGroups.length === 0) return;
  const parts: string[] = [];
  if (missingUsers.length > 0) {
    parts.push(listing(`Found ${abs(t.etc)}/passwd entries without corresponding systemd sysusers.d`, missingUsers));
  }
  if (missingGroups.length > 0) {
    parts.push(listing(`Found ${abs(t.etc)}/group entries without corresponding systemd sysusers.d`, missingGroups));
  }
  const paths = [
    ...(missingUsers.length > 0 ? [abs(`${t.etc}/passwd`)] : []),
    ...(missingGroups.length > 0 ? [abs(`${t.etc}/group`)] : []),
  ];
  return { message: parts.join("\n"), paths };
}

function checkBoot(t: Index): RuleResult {
  if (!t.isDir("boot")) return { message: "Missing /boot directory", paths: ["/boot"] };
  // bootc ignores /boot/EFI (composefs-rs writes it).
  const found = [...t.children("boot")].filter((e) => e.path !== "boot/EFI").map((e) => abs(e.path));
  if (found.length > 0) return { message: "Found non-empty /boot", paths: found };
}

function checkRunTmp(t: Index): RuleResult {
  const found = new Set<string>();
  for (const dir of ["run", "tmp"]) {
    if (!t.isDir(dir)) continue;
    for (const e of t.below(dir)) found.add(e.path);
  }
  for (const known of RUNTIME_INJECTED) {
    found.delete(known);
    // Its parents too, up to /run, unless something else is below them.
    for (
      let dir = known.slice(0, known.lastIndexOf("/"));
      dir.includes("/");
      dir = dir.slice(0, dir.lastIndexOf("/"))
    ) {
      if ([...found].some((p) => p.startsWith(dir + "/"))) break;
      found.delete(dir);
    }
  }
  if (found.size > 0) {
    return { message: "Found content in runtime-only directories (/run, /tmp)", paths: [...found].sort().map(abs) };
  }
}

const CHECKS: Record<string, (t: Index) => RuleResult | Promise<RuleResult>> = {
  "var-run": checkVarRun,
  "etc-usretc": checkUsrEtc,
  "bootc-kargs": checkKargs,
  "kernel": checkKernel,
  "utf8": checkUtf8,
  "api-base-directories": checkApiDirs,
  "baseimage-root": checkBaseimageRoot,
  "baseimage-composefs": checkComposefs,
  "buildah-injected": checkBuildahInjected,
  "var-log": checkVarLog,
  "var-tmpfiles": checkVarTmpfiles,
  "sysusers": checkSysusers,
  "nonempty-boot": checkBoot,
  "nonempty-run-tmp": checkRunTmp,
};

/**
 * Checks rule names (for `skip`); throws a {@linkcode UsageError} naming
 * the unknown one and the known ones.
 *
 * @example
 * ```ts
 * import { checkLintRuleNames } from "./lint.ts";
 * checkLintRuleNames(["var-log", "sysusers"]);
 * ```
 */
export function checkLintRuleNames(names: readonly string[], skipOption = "skip"): void {
  for (const name of names) {
    if (!RULES_BY_NAME.has(name)) {
      throw new UsageError(`Unknown lint rule: ${name}`, {
        solution: `Pass {${skipOption}} one of: ${LINT_RULES.map((r) => r.name).join(", ")}`,
      });
    }
  }
}

/**
 * Runs every rule (but the skipped ones) over a tree and returns what they
 * found, fatal and warnings, in rule order. Throws nothing for findings:
 * see {@linkcode assertLintClean} for that.
 *
 * @example
 * ```ts
 * import { lintTree } from "./lint.ts";
 * const dir = (path: string) => ({ path, kind: "directory" as const, mode: 0o755, uid: 0, gid: 0, size: 0 });
 * const findings = await lintTree(
 *   { entries: ["dev", "proc", "sys", "run", "tmp", "var", "var/run"].map(dir), read: () => Promise.resolve(undefined) },
 *   { skip: ["sysusers"] },
 * );
 * findings.find((f) => f.severity === "fatal")?.rule; // "var-run"
 * ```
 */
export async function lintTree(tree: LintTree, options: LintOptions = {}): Promise<LintFinding[]> {
  const skip = options.skip ?? [];
  checkLintRuleNames(skip);
  const index = new Index(tree);
  const findings: LintFinding[] = [];
  for (const rule of LINT_RULES) {
    if (skip.includes(rule.name)) continue;
    const result = await CHECKS[rule.name](index);
    if (result === undefined) continue;
    const paths = result.paths.slice(0, MAX_LISTED_PATHS);
    findings.push({
      rule: rule.name,
      severity: rule.severity,
      message: result.message,
      paths,
      morePaths: result.paths.length - paths.length,
    });
  }
  return findings;
}

/**
 * Lints a tree and throws a {@linkcode LintError} when a fatal rule fires;
 * returns the warnings otherwise. What `compose build-image --bootc` calls
 * before it writes anything.
 *
 * @example
 * ```ts
 * import { assertLintClean, LintError } from "./lint.ts";
 * try {
 *   await assertLintClean({ entries: [], read: () => Promise.resolve(undefined) });
 * } catch (error) {
 *   if (error instanceof LintError) console.error(error.finding.rule); // "api-base-directories"
 * }
 * ```
 */
export async function assertLintClean(tree: LintTree, options: LintOptions = {}): Promise<LintFinding[]> {
  const findings = await lintTree(tree, options);
  if (findings.some((f) => f.severity === "fatal")) throw new LintError(findings, options.skipOption);
  return findings;
}

// --- kargs.d TOML: the subset bootc's schema allows (two keys, arrays of strings) ---

/**
 * Parses a kargs.d file as bootc does: TOML with `kargs` (an array of
 * strings, required) and `match-architectures` (an array of strings,
 * optional), nothing else. Returns the kernel arguments; throws an `Error`
 * saying what is wrong.
 *
 * @example
 * ```ts
 * import { parseKargsToml } from "./lint.ts";
 * parseKargsToml('kargs = ["console=ttyS0", "quiet"]\nmatch-architectures = ["x86_64"]'); // ["console=ttyS0", "quiet"]
 * ```
 */
export function parseKargsToml(text: string): string[] {
  const p = new TomlReader(text);
  const values = new Map<string, string[]>();
  for (;;) {
    p.skipBlank(true);
    if (p.done()) break;
    const line = p.line;
    if (p.peek() === "[") {
      throw new Error(`line ${line}: unknown table (only kargs and match-architectures are allowed)`);
    }
    const key = p.key();
    p.skipBlank(false);
    if (p.next() !== "=") throw new Error(`line ${line}: expected '=' after ${key}`);
    if (key !== "kargs" && key !== "match-architectures") {
      throw new Error(`line ${line}: unknown field '${key}' (only kargs and match-architectures are allowed)`);
    }
    if (values.has(key)) throw new Error(`line ${line}: duplicate key '${key}'`);
    p.skipBlank(false);
    values.set(key, p.stringArray(key));
    p.skipBlank(false);
    if (!p.done() && p.peek() !== "\n") throw new Error(`line ${p.line}: unexpected text after the value of ${key}`);
  }
  const kargs = values.get("kargs");
  if (kargs === undefined) throw new Error("missing field 'kargs'");
  return kargs;
}

class TomlReader {
  private pos = 0;
  line = 1;
  constructor(private readonly text: string) {}

  done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(): string {
    return this.text[this.pos];
  }

  next(): string {
    const c = this.text[this.pos++];
    if (c === "\n") this.line++;
    return c;
  }

  /** Skips spaces, tabs and comments, and newlines too when `newlines`. */
  skipBlank(newlines: boolean): void {
    while (!this.done()) {
      const c = this.peek();
      if (c === " " || c === "\t" || c === "\r" || (newlines && c === "\n")) this.next();
      else if (c === "#") { while (!this.done() && this.peek() !== "\n") this.next(); }
      else break;
    }
  }

  key(): string {
    const c = this.peek();
    if (c === '"' || c === "'") return this.string();
    const m = /^[A-Za-z0-9_-]+/.exec(this.text.slice(this.pos, this.pos + 256));
    if (!m) throw new Error(`line ${this.line}: expected a key`);
    this.pos += m[0].length;
    if (this.peek() === ".") throw new Error(`line ${this.line}: dotted keys are not allowed here`);
    return m[0];
  }

  stringArray(key: string): string[] {
    if (this.next() !== "[") throw new Error(`line ${this.line}: ${key} must be an array of strings`);
    const out: string[] = [];
    for (;;) {
      this.skipBlank(true);
      if (this.done()) throw new Error(`line ${this.line}: unterminated array for ${key}`);
      if (this.peek() === "]") {
        this.next();
        return out;
      }
      const c = this.peek();
      if (c !== '"' && c !== "'") throw new Error(`line ${this.line}: ${key} must be an array of strings`);
      out.push(this.string());
      this.skipBlank(true);
      if (this.done()) throw new Error(`line ${this.line}: unterminated array for ${key}`);
      const sep = this.next();
      if (sep === "]") return out;
      if (sep !== ",") throw new Error(`line ${this.line}: expected ',' or ']' in ${key}`);
    }
  }

  string(): string {
    const quote = this.next();
    if (this.text.startsWith(quote.repeat(2), this.pos)) {
      throw new Error(`line ${this.line}: multi-line strings are not supported in kargs.d`);
    }
    let out = "";
    for (;;) {
      if (this.done()) throw new Error(`line ${this.line}: unterminated string`);
      const c = this.next();
      if (c === "\n") throw new Error(`line ${this.line - 1}: unterminated string`);
      if (c === quote) return out;
      if (c === "\\" && quote === '"') out += this.escape();
      else out += c;
    }
  }

  private escape(): string {
    const c = this.next();
    const simple: Record<string, string> = { b: "\b", t: "\t", n: "\n", f: "\f", r: "\r", '"': '"', "\\": "\\" };
    if (c in simple) return simple[c];
    if (c === "u" || c === "U") {
      const len = c === "u" ? 4 : 8;
      const hex = this.text.slice(this.pos, this.pos + len);
      if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) throw new Error(`line ${this.line}: bad \\${c} escape`);
      this.pos += len;
      const code = parseInt(hex, 16);
      if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
        throw new Error(`line ${this.line}: bad \\${c} escape`);
      }
      return String.fromCodePoint(code);
    }
    throw new Error(`line ${this.line}: bad escape \\${c}`);
  }
}
