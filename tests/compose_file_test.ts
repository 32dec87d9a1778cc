/**
 * Compose files through the CLI: `compose build-image --file` takes the
 * image settings of the `image:` section (options on the command line win),
 * and a bad file is a usage error naming the file, the line and the key.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "./helpers/cli.ts";
import { commitTree, createRepo, makeSmallTree, makeTempDir, removeTree } from "./helpers/fixture_repo.ts";

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(path));
}

/** The image config of the only image in an OCI layout. */
async function imageConfig(layout: string): Promise<Record<string, unknown>> {
  const blob = (digest: string) => join(layout, "blobs", ...digest.split(":"));
  const index = await readJson(join(layout, "index.json")) as { manifests: { digest: string }[] };
  const manifest = await readJson(blob(index.manifests[0].digest)) as { config: { digest: string } };
  return await readJson(blob(manifest.config.digest));
}

Deno.test("build-image --file: image settings from the compose file, the command line wins", async () => {
  const dir = await makeTempDir();
  try {
    const repo = await createRepo("bare-user", dir);
    const tree = join(dir, "tree");
    await makeSmallTree(tree);
    await commitTree(repo, "web", tree);
    const file = join(dir, "compose.yaml");
    await Deno.writeTextFile(
      file,
      [
        "base: debian:12",
        "packages: [nginx]",
        "image:",
        '  cmd: ["nginx", "-g", "daemon off;"]',
        "  env: { LANG: C.UTF-8, MODE: file }",
        "  labels: { team: infra, tier: file }",
        "  expose: [80]",
        "  workdir: /srv",
        "",
      ].join("\n"),
    );
    const layout = join(dir, "web.oci");
    const result = await runCli([
      "--repo",
      repo,
      "compose",
      "build-image",
      "web",
      "web:1",
      "-o",
      layout,
      "--file",
      file,
      "--env",
      "MODE=cli",
      "--label",
      "tier=cli",
      "--expose",
      "443",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const config = (await imageConfig(layout)).config as Record<string, unknown>;
    assert.deepEqual(config.Cmd, ["nginx", "-g", "daemon off;"]);
    assert.equal(config.WorkingDir, "/srv");
    const env = config.Env as string[];
    assert.ok(env.includes("LANG=C.UTF-8"), env.join(" "));
    assert.ok(env.includes("MODE=cli"), env.join(" "));
    assert.ok(!env.includes("MODE=file"));
    const labels = config.Labels as Record<string, string>;
    assert.equal(labels.team, "infra");
    assert.equal(labels.tier, "cli");
    assert.deepEqual(Object.keys(config.ExposedPorts as Record<string, unknown>).sort(), ["443/tcp", "80/tcp"]);
  } finally {
    await removeTree(dir);
  }
});

Deno.test("a bad compose file is a usage error naming the file, the line and the key", async () => {
  const dir = await makeTempDir();
  try {
    const repo = await createRepo("bare-user", dir);
    const file = join(dir, "compose.yaml");
    await Deno.writeTextFile(file, "base: debian:12\nimage:\n  cmd: [a]\n  comand: [b]\n");
    const build = await runCli(["--repo", repo, "compose", "build-image", "web", "web:1", "--file", file]);
    assert.equal(build.code, 2, build.stderr);
    assert.match(
      build.stderr,
      new RegExp(`^Error: Invalid compose file ${file}, line 4: unknown key "image\\.comand"$`, "m"),
    );
    assert.match(build.stderr, /^Solution: Valid keys in image: cmd, entrypoint/m);
    await Deno.writeTextFile(file, "base: debian:12\npackages: nginx\n");
    const list = await runCli(["--repo", repo, "compose", "build-image", "web", "web:1", "--file", file]);
    assert.equal(list.code, 2);
    assert.match(list.stderr, /line 2: "packages" must be a list of package names, not a string$/m);
    const missing = await runCli([
      "--repo",
      repo,
      "compose",
      "build-image",
      "web",
      "web:1",
      "-f",
      join(dir, "nope.yaml"),
    ]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^Error: Compose file not found: /m);
  } finally {
    await removeTree(dir);
  }
});
