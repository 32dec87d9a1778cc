/**
 * `deno task demo`: the main job end to end, offline. Creates an OSTree
 * repository with a real commit under `.demo/`, builds an OCI layout and a
 * docker-archive from it with the CLI (same flags as the compiled binary),
 * validates both with skopeo, and says where they are.
 *
 * @module
 */

const root = new URL("../", import.meta.url).pathname;
const demo = `${root}.demo`;
const repo = `${demo}/repo`;
const tree = `${demo}/tree`;
const cliFlags = (await Deno.readTextFile(`${root}scripts/cli-flags`)).trim().split(/\s+/);

async function run(cmd: string, args: string[], quiet = false): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      console.error(`Error: ${cmd} is not installed.\nSolution: run ./scripts/setup.sh first`);
      Deno.exit(1);
    }
    throw error;
  }
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    console.error(`Error: ${cmd} ${args.join(" ")} failed:\n${new TextDecoder().decode(out.stderr)}${stdout}`);
    Deno.exit(1);
  }
  if (!quiet) await Deno.stderr.write(out.stderr);
  return stdout;
}

function cli(args: string[]): Promise<string> {
  return run("deno", ["run", ...cliFlags, `${root}cli.ts`, "--repo", repo, ...args]);
}

async function write(path: string, text: string, mode = 0o644): Promise<void> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(path, text, { mode });
  await Deno.chmod(path, mode);
}

console.log("== Creating a demo OSTree repository with a real commit");
await Deno.remove(demo, { recursive: true }).catch(() => {});
// A small root file system in deployment layout: configuration in /usr/etc.
await write(`${tree}/usr/etc/os-release`, 'NAME="apt-ostree demo"\nID=demo\nVERSION_ID=1.0\n');
await write(`${tree}/usr/etc/motd`, "Hello from an OSTree commit turned into an OCI image.\n");
await write(`${tree}/usr/bin/hello`, "#!/bin/sh\necho 'Hello from apt-ostree!'\n", 0o755);
await write(`${tree}/usr/share/doc/demo/README`, "This tree was committed with ostree by `deno task demo`.\n");
await Deno.mkdir(`${tree}/var/tmp`, { recursive: true });
await Deno.chmod(`${tree}/var/tmp`, 0o1777);
await Deno.symlink("usr/bin", `${tree}/bin`);
await Deno.link(`${tree}/usr/etc/motd`, `${tree}/usr/share/doc/demo/motd`);
await run("ostree", ["init", `--repo=${repo}`, "--mode=bare-user"]);
await run("ostree", [
  "commit",
  `--repo=${repo}`,
  "--branch=demo/hello",
  `--tree=dir=${tree}`,
  "--owner-uid=0",
  "--owner-gid=0",
  "--timestamp=2026-01-01T00:00:00Z",
  "--add-metadata-string=version=1.0",
  "--subject=apt-ostree demo commit",
]);
const commit = (await run("ostree", ["rev-parse", `--repo=${repo}`, "demo/hello"])).trim();
console.log(`Commit ${commit} on branch demo/hello in ${repo}\n`);

console.log("== apt-ostree compose build-image demo/hello demo-hello:1.0 --format oci");
const oci = JSON.parse(
  await cli([
    "compose",
    "build-image",
    "demo/hello",
    "demo-hello:1.0",
    "-o",
    `${demo}/demo-hello.oci`,
    "--cmd",
    "/usr/bin/hello",
    "--json",
  ]),
);
console.log(`Built ${oci.output}\n  digest ${oci.digest}\n`);

console.log("== apt-ostree compose build-image demo/hello demo-hello:1.0 --format docker");
const docker = JSON.parse(
  await cli([
    "compose",
    "build-image",
    "demo/hello",
    "demo-hello:1.0",
    "--format",
    "docker",
    "-o",
    `${demo}/demo-hello.tar`,
    "--cmd",
    "/usr/bin/hello",
    "--json",
  ]),
);
console.log(`Built ${docker.output}\n  digest ${docker.digest}\n`);

console.log("== Validating with skopeo");
const ociInspect = JSON.parse(await run("skopeo", ["inspect", `oci:${oci.output}:1.0`]));
const dockerInspect = JSON.parse(await run("skopeo", ["inspect", `docker-archive:${docker.output}`]));
const checks: [string, boolean][] = [
  ["skopeo reads the OCI layout, with the same manifest digest", ociInspect.Digest === oci.digest],
  ["the image carries the commit as a label", ociInspect.Labels?.["ostree.commit"] === commit],
  ["the image carries the commit's version", ociInspect.Labels?.["org.opencontainers.image.version"] === "1.0"],
  ["skopeo reads the docker-archive", dockerInspect.Layers?.length === oci.layers.length],
  [
    "both formats hold the same layers (skopeo lists a docker-archive's layers by diff_id)",
    JSON.stringify(dockerInspect.Layers) === JSON.stringify(oci.layers.map((l: { diffId: string }) => l.diffId)),
  ],
];
let ok = true;
for (const [what, passed] of checks) {
  console.log(`  ${passed ? "ok  " : "FAIL"} ${what}`);
  ok &&= passed;
}
if (!ok) Deno.exit(1);

console.log(`
Done. The images are in ${demo}:
  OCI layout:      ${oci.output}
  docker-archive:  ${docker.output}

Inspect them:
  skopeo inspect oci:${oci.output}:1.0
  skopeo inspect docker-archive:${docker.output}
  umoci unpack --image ${oci.output}:1.0 /tmp/demo-bundle && ls -la /tmp/demo-bundle/rootfs
  podman load -i ${docker.output}      (or: docker load -i ${docker.output})`);
