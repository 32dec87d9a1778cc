/**
 * `deno task demo:debian`: the real flow, with the network to the Debian
 * archive, as root. Bootstraps debian:12 with mmdebstrap, creates a
 * deployment with `hello` (apt in a bubblewrap sandbox), builds its OCI
 * image, unpacks it with umoci and runs `hello` in it, and says how long
 * each step took and how big the image is. Everything lands in
 * `.demo/debian/` (replaced on every run).
 *
 * @module
 */

const root = new URL("../", import.meta.url).pathname;
const demo = `${root}.demo/debian`;
const repo = `${demo}/repo`;
const layout = `${demo}/hello.oci`;
const bundle = `${demo}/bundle`;
const cliFlags = (await Deno.readTextFile(`${root}scripts/cli-flags`)).trim().split(/\s+/);
const decoder = new TextDecoder();

if (Deno.uid() !== 0) {
  console.error("Error: deno task demo:debian must be run as root (mmdebstrap, apt and dpkg need real ownership)");
  console.error("Solution: sudo deno task demo:debian");
  Deno.exit(1);
}

async function run(cmd: string, args: string[]): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "inherit" }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      console.error(`Error: ${cmd} is not installed.\nSolution: run ./scripts/setup.sh first`);
      Deno.exit(1);
    }
    throw error;
  }
  const stdout = decoder.decode(out.stdout);
  if (!out.success) {
    console.error(`Error: ${cmd} ${args.join(" ")} failed (exit code ${out.code})\n${stdout}`);
    Deno.exit(1);
  }
  return stdout;
}

function cli(args: string[]): Promise<string> {
  return run("deno", ["run", ...cliFlags, `${root}cli.ts`, "--repo", repo, "--json", ...args]);
}

const timings: [string, number][] = [];

async function step<T>(label: string, fn: () => Promise<T>): Promise<T> {
  console.log(`== ${label}`);
  const started = performance.now();
  const result = await fn();
  const seconds = (performance.now() - started) / 1000;
  timings.push([label, seconds]);
  console.log(`   done in ${seconds.toFixed(1)} s`);
  return result;
}

async function treeSize(path: string): Promise<number> {
  let total = 0;
  for await (const entry of Deno.readDir(path)) {
    const full = `${path}/${entry.name}`;
    if (entry.isDirectory) total += await treeSize(full);
    else if (entry.isFile) total += (await Deno.stat(full)).size;
  }
  return total;
}

const phases = (durations: Record<string, number>) =>
  Object.entries(durations).map(([name, seconds]) => `${name} ${seconds.toFixed(1)} s`).join(", ");

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

await Deno.remove(demo, { recursive: true }).catch(() => {});
await Deno.mkdir(demo, { recursive: true });

const base = JSON.parse(
  await step("compose bootstrap debian:12 (mmdebstrap, minbase)", () => cli(["compose", "bootstrap", "debian:12"])),
);
console.log(`   ${base.branch} ${base.commit.slice(0, 12)} version ${base.version}, ${base.packages.length} packages`);
console.log(`   phases: ${phases(base.durations)}`);

const created = JSON.parse(
  await step(
    "compose create --base debian:12 --packages hello (apt in bubblewrap)",
    () => cli(["compose", "create", "--base", "debian:12", "--packages", "hello"]),
  ),
);
const installed = created.installed.map((p: { name: string; version: string }) => `${p.name} ${p.version}`);
console.log(`   ${created.branch} ${created.commit.slice(0, 12)}: installed ${installed.join(", ")}`);
console.log(`   phases: ${phases(created.durations)}`);

const image = JSON.parse(
  await step(
    "compose build-image (OCI layout)",
    () => cli(["compose", "build-image", created.branch, "apt-ostree-demo/hello:latest", "-o", layout]),
  ),
);

await step("umoci unpack + chroot /usr/bin/hello", async () => {
  await run("umoci", ["unpack", "--image", `${layout}:latest`, bundle]);
  const hello = await run("chroot", [`${bundle}/rootfs`, "/usr/bin/hello"]);
  console.log(`   the image says: ${hello.trim()}`);
});

const compressed = (image.layers as { size: number }[]).reduce((n, l) => n + l.size, 0);
console.log("\nTimings:");
for (const [label, seconds] of timings) console.log(`  ${seconds.toFixed(1).padStart(6)} s  ${label}`);
console.log("\nImage:");
console.log(`  ${image.image} ${image.digest}`);
console.log(
  `  ${image.layers.length} layer(s): ${mib(compressed)} compressed, ${
    mib(image.contentBytes)
  } of content, ${image.entries} entries`,
);
console.log(`  layout on disk: ${mib(await treeSize(layout))} (${layout})`);
console.log(`  repository on disk: ${mib(await treeSize(repo))} (${repo})`);
console.log(`\nInspect it with: skopeo inspect oci:${layout}:latest`);
