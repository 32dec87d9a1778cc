/**
 * The dependency rules of the code, checked from `deno info --json`:
 *
 * - no cycles between folders of `src/` (each file directly in `src/`, such
 *   as `errors.ts`, counts as a folder of its own);
 * - nothing outside `src/cli/` imports `src/cli/` (the CLI is a shell over
 *   the library);
 * - `oci/`, `tar/`, `digest/` and `util/` import only leaf helpers
 *   (`digest/`, `util/`, `src/errors.ts`), as listed in `ALLOWED`.
 *
 * Run with `deno task check` (or alone: `deno run -A scripts/check_deps.ts`).
 * Prints the folder graph with `--graph`.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { relative } from "node:path";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** What the low folders may import (besides themselves). */
const ALLOWED: Record<string, string[]> = {
  "errors.ts": [],
  util: ["errors.ts"],
  digest: ["util", "errors.ts"],
  tar: ["util", "digest", "errors.ts"],
  oci: ["util", "digest", "errors.ts"],
};

interface InfoModule {
  specifier: string;
  dependencies?: { specifier: string; code?: { specifier?: string }; type?: { specifier?: string } }[];
}

/** The folder of a module under `src/` (a file directly in it stands for itself), or undefined outside. */
function folderOf(specifier: string): string | undefined {
  if (!specifier.startsWith("file://")) return undefined;
  const rel = relative(ROOT, fileURLToPath(specifier));
  const parts = rel.split("/");
  if (parts[0] !== "src") return undefined;
  return parts[1];
}

async function moduleGraph(entry: string): Promise<InfoModule[]> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json", entry], cwd: ROOT }).output();
  if (!out.success) throw new Error(`deno info failed:\n${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(new TextDecoder().decode(out.stdout)).modules;
}

/** Strongly connected components of more than one node (Tarjan). */
function cycles(edges: Map<string, Set<string>>): string[][] {
  let index = 0;
  const order = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    order.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!order.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, order.get(w)!));
    }
    if (low.get(v) === order.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of [...edges.keys()].sort()) if (!order.has(v)) visit(v);
  return found;
}

const entries = ["mod.ts", ...Deno.args.filter((a) => !a.startsWith("--"))];
const edges = new Map<string, Set<string>>();
/** One example import per folder edge, to point at in messages. */
const example = new Map<string, string>();
const problems: string[] = [];
for (const entry of entries) {
  for (const module of await moduleGraph(entry)) {
    const from = folderOf(module.specifier);
    if (from === undefined) continue;
    if (!edges.has(from)) edges.set(from, new Set());
    for (const dep of module.dependencies ?? []) {
      const target = dep.code?.specifier ?? dep.type?.specifier;
      const to = target ? folderOf(target) : undefined;
      if (to === undefined || to === from) continue;
      edges.get(from)!.add(to);
      const key = `${from} -> ${to}`;
      if (!example.has(key)) {
        example.set(key, `${relative(ROOT, fileURLToPath(module.specifier))} imports ${dep.specifier}`);
      }
    }
  }
}

for (const [from, tos] of edges) {
  for (const to of tos) {
    if (to === "cli" && from !== "cli") problems.push(`nothing may import cli/: ${example.get(`${from} -> ${to}`)}`);
    const allowed = ALLOWED[from];
    if (allowed && !allowed.includes(to)) {
      problems.push(`${from}/ may import only ${allowed.join(", ")}: ${example.get(`${from} -> ${to}`)}`);
    }
  }
}
for (const component of cycles(edges)) {
  const links = component.flatMap((a) =>
    component.filter((b) => edges.get(a)?.has(b)).map((b) => `  ${example.get(`${a} -> ${b}`)}`)
  );
  problems.push(`folder cycle ${component.join(" <-> ")}:\n${links.join("\n")}`);
}

if (Deno.args.includes("--graph")) {
  for (const from of [...edges.keys()].sort()) console.log(`${from} -> ${[...edges.get(from)!].sort().join(", ")}`);
}
if (problems.length > 0) {
  console.error(`Dependency check failed:\n${problems.map((p) => `- ${p}`).join("\n")}`);
  Deno.exit(1);
}
console.log(`Dependency check: ${edges.size} folders, no cycles, cli/ imported by nothing else.`);
