/**
 * The command reference in docs/commands/ is generated from the CLI's
 * command tree (`deno task docs`); this test regenerates it into a temp
 * directory and fails when the committed pages differ, i.e. when they no
 * longer say what `--help` says.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT_DIR } from "./helpers/cli.ts";

async function readPages(dir: string): Promise<Map<string, string>> {
  const pages = new Map<string, string>();
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.endsWith(".md")) {
        pages.set(entry.name, await Deno.readTextFile(join(dir, entry.name)));
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return pages;
}

Deno.test("docs/commands/ is what deno task docs generates from the CLI (run deno task docs when this fails)", async () => {
  const out = await Deno.makeTempDir({ prefix: "apt-ostree-docs-" });
  try {
    const run = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-write",
        "--allow-run=deno",
        join(ROOT_DIR, "scripts/gen_docs.ts"),
        "--out",
        out,
      ],
      cwd: ROOT_DIR,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(run.success, `scripts/gen_docs.ts failed:\n${new TextDecoder().decode(run.stderr)}`);
    const expected = await readPages(out);
    const committed = await readPages(join(ROOT_DIR, "docs/commands"));
    const names = [...new Set([...expected.keys(), ...committed.keys()])].sort();
    const drift = names.filter((name) => expected.get(name) !== committed.get(name)).map((name) =>
      !committed.has(name) ? `${name} (missing)` : !expected.has(name) ? `${name} (no such command)` : name
    );
    assert.ok(expected.size > 1, "the generator wrote no command pages");
    assert.deepEqual(
      drift,
      [],
      `docs/commands/ is out of date with the CLI's --help (${
        drift.join(", ")
      }): run deno task docs and commit the result`,
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
