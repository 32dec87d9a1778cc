/**
 * `deno task bench`: apt-ostree against the shell baselines, in one run.
 *
 * Inputs (cached under bench/cache/, made once):
 * - `debian`: a real Debian 12 root file system (mmdebstrap minbase plus a
 *   few packages, ~200 MB), and a second commit of it in which one package
 *   (`less`) changed;
 * - `mixed`: ~1 GB of mixed content from files already on this machine
 *   (/usr/share and /usr/bin), no network needed;
 * - `small`: 100,000 small files.
 * - `million`: 1,000,000 empty files in 1000 directories (opt-in: `--only million`), for time and memory at scale.
 *
 * `startup` times the CLI's start (best of 10): `--version`, `--help` and a
 * command's `--help`, against an empty Deno program and `mod.ts` (which
 * loads the whole library).
 *
 * Every case runs `--runs` times (default 3), alternating between the
 * tools, and the median is reported (cold builds: no output layout):
 * apt-ostree (64 layers and 1 layer,
 * gzip; 1 layer zstd) and the baselines `ostree checkout` + `tar --sort=name
 * | tee >(sha256sum) | gzip -6 | tee >(sha256sum) > blob` and the same with
 * `pigz -p2 -6`. Peak memory is the summed RSS of the whole process tree,
 * sampled every 20 ms. Results go to stdout as a table and to
 * bench/results.json.
 *
 * Options: `--runs N`, `--only debian,mixed,small,million,startup` (million: opt-in), `--skip-baselines`,
 * `--profile` (where the time of one cold build goes, stage by stage,
 * instead of the comparison: of the Debian commit, or of the first input
 * named by `--only`).
 *
 * @module
 */

import { parseArgs } from "node:util";

const root = new URL("../", import.meta.url).pathname;
const cache = `${root}bench/cache`;
const repo = `${cache}/repo`;
const work = `${cache}/work`;
const cliFlags = (await Deno.readTextFile(`${root}scripts/cli-flags`)).trim().split(/\s+/);

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "3" },
    only: { type: "string", default: "debian,mixed,small,startup" },
    "skip-baselines": { type: "boolean", default: false },
    profile: { type: "boolean", default: false },
  },
});
const RUNS = Math.max(1, Number(args.runs));
const ONLY = new Set(args.only!.split(","));

// ---------------------------------------------------------------- helpers

async function sh(script: string, options: { quiet?: boolean } = {}): Promise<string> {
  const out = await new Deno.Command("bash", {
    args: ["-euo", "pipefail", "-c", script],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`command failed: ${script}\n${new TextDecoder().decode(out.stderr)}${stdout}`);
  }
  if (!options.quiet) await Deno.stderr.write(out.stderr);
  return stdout;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

function log(text: string): void {
  console.error(`bench: ${text}`);
}

/** Summed RSS (bytes) of `pid` and all its descendants. */
async function treeRss(pid: number): Promise<number> {
  const parents = new Map<number, number>();
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parents.set(Number(entry.name), Number(fields[1]));
    } catch {
      // The process ended meanwhile.
    }
  }
  const inTree = new Set([pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [child, parent] of parents) {
      if (inTree.has(parent) && !inTree.has(child)) {
        inTree.add(child);
        grew = true;
      }
    }
  }
  let total = 0;
  for (const p of inTree) {
    try {
      const statm = await Deno.readTextFile(`/proc/${p}/statm`);
      total += Number(statm.split(" ")[1]) * 4096;
    } catch {
      // Gone.
    }
  }
  return total;
}

interface Measured {
  seconds: number;
  peakRss: number;
  stdout: string;
}

/** Runs a command line, timing it and sampling the RSS of its process tree. */
async function measure(argv: string[]): Promise<Measured> {
  const started = performance.now();
  const child = new Deno.Command(argv[0], { args: argv.slice(1), stdout: "piped", stderr: "piped" }).spawn();
  let peak = 0;
  let running = true;
  const sampler = (async () => {
    while (running) {
      peak = Math.max(peak, await treeRss(child.pid));
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const [status, stdout, stderr] = await Promise.all([
    child.status,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  const seconds = (performance.now() - started) / 1000;
  running = false;
  await sampler;
  if (!status.success) throw new Error(`${argv.join(" ")} failed:\n${stderr}`);
  return { seconds, peakRss: peak, stdout };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function dirBlobBytes(layout: string, index = "index.json"): Promise<number> {
  const idx = JSON.parse(await Deno.readTextFile(`${layout}/${index}`));
  // The tagged image (an SBOM or a signature is another entry of index.json).
  const entries = idx.manifests as { digest: string; annotations?: Record<string, string> }[];
  const image = entries.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === "1") ?? entries[0];
  const manifest = JSON.parse(await Deno.readTextFile(`${layout}/blobs/sha256/${image.digest.slice(7)}`));
  return manifest.layers.reduce((n: number, l: { size: number }) => n + l.size, 0);
}

function cli(args: string[]): string[] {
  return ["deno", "run", ...cliFlags, `${root}cli.ts`, "--repo", repo, "--quiet", ...args];
}

// ---------------------------------------------------------------- inputs

interface Input {
  name: string;
  commit: string;
  entries: number;
  contentBytes: number;
}

async function commitInfo(name: string, branch: string): Promise<Input> {
  const commit = (await sh(`ostree rev-parse --repo=${repo} ${branch}`, { quiet: true })).trim();
  const dry = JSON.parse(
    await sh(
      cli(["compose", "build-image", commit, "bench:dry", "--dry-run", "--json", "-o", `${work}/dry`]).join(" "),
      {
        quiet: true,
      },
    ),
  );
  return { name, commit, entries: dry.entries, contentBytes: dry.contentBytes };
}

/** A cosign key pair for the signing row (no passphrase: the row measures signing, not scrypt). */
const signKey = `${work}/bench-cosign.key`;
// Its passphrase is empty; builds inherit it from here.
Deno.env.set("COSIGN_PASSWORD", "");

async function prepareRepo(): Promise<void> {
  await Deno.mkdir(work, { recursive: true });
  if (!(await exists(signKey))) {
    await sh(
      `${cli(["image", "generate-key", "--output-prefix", `${work}/bench-cosign`]).join(" ")} >/dev/null`,
      { quiet: true },
    );
  }
  if (!(await exists(`${repo}/config`))) await sh(`ostree init --repo=${repo} --mode=bare`);
}

async function hasBranch(branch: string): Promise<boolean> {
  const refs = await sh(`ostree refs --repo=${repo}`, { quiet: true });
  return refs.split("\n").includes(branch);
}

async function prepareDebian(): Promise<void> {
  if (await hasBranch("bench/debian-changed")) return;
  log("preparing the Debian commit (mmdebstrap minbase + packages, cached)");
  const tree = `${work}/debian-tree`;
  await sh(`rm -rf ${tree} && mkdir -p ${tree}`);
  await sh(
    `mmdebstrap --quiet --variant=minbase --include=python3,curl,ca-certificates,less,procps bookworm ${work}/debian.tar`,
  );
  await sh(`tar -C ${tree} --numeric-owner --xattrs --xattrs-include='*' -xpf ${work}/debian.tar --exclude='./dev/*'`);
  await sh(
    `ostree commit --repo=${repo} -b bench/debian --tree=dir=${tree} --timestamp=2026-01-01T00:00:00Z --add-metadata-string=version=12-bench`,
    { quiet: true },
  );
  // The same tree with one package changed: `less` gets a new binary.
  await sh(`printf 'changed' >> ${tree}/usr/bin/less`);
  await sh(
    `ostree commit --repo=${repo} -b bench/debian-changed --tree=dir=${tree} --timestamp=2026-01-02T00:00:00Z --add-metadata-string=version=12-bench.1`,
    { quiet: true },
  );
  await sh(`rm -rf ${tree} ${work}/debian.tar`);
}

async function prepareMixed(): Promise<void> {
  if (await hasBranch("bench/mixed")) return;
  log("preparing the ~1 GB mixed commit from /usr/share and /usr/bin (cached)");
  const tree = `${work}/mixed-tree`;
  await sh(`rm -rf ${tree} && mkdir -p ${tree}/usr && cp -a --reflink=auto /usr/share /usr/bin ${tree}/usr/`);
  await sh(`ostree commit --repo=${repo} -b bench/mixed --tree=dir=${tree} --timestamp=2026-01-01T00:00:00Z`, {
    quiet: true,
  });
  await sh(`rm -rf ${tree}`);
}

async function prepareSmall(): Promise<void> {
  if (await hasBranch("bench/small")) return;
  log("preparing the 100,000 small files commit (cached)");
  const tree = `${work}/small-tree`;
  await sh(`rm -rf ${tree}`);
  for (let d = 0; d < 500; d++) {
    const dir = `${tree}/srv/data/d${String(d).padStart(3, "0")}`;
    await Deno.mkdir(dir, { recursive: true });
    for (let f = 0; f < 200; f++) {
      const n = d * 200 + f;
      await Deno.writeTextFile(`${dir}/f${String(f).padStart(3, "0")}.txt`, `file ${n}\n`.repeat(1 + (n % 40)));
    }
  }
  await sh(`ostree commit --repo=${repo} -b bench/small --tree=dir=${tree} --timestamp=2026-01-01T00:00:00Z`, {
    quiet: true,
  });
  await sh(`rm -rf ${tree}`);
}

async function prepareMillion(): Promise<void> {
  if (await hasBranch("bench/million")) return;
  log("preparing the 1,000,000 empty files commit (1000 directories of 1000; cached)");
  const tree = `${work}/million-tree`;
  await sh(
    `rm -rf ${tree} && mkdir -p ${tree} && cd ${tree} && ` +
      `for d in $(seq 1 1000); do mkdir d$d && (cd d$d && touch $(seq -f 'f%g' 1 1000)) || exit 1; done`,
  );
  await sh(`ostree commit --repo=${repo} -b bench/million --tree=dir=${tree} --timestamp=2026-01-01T00:00:00Z`, {
    quiet: true,
  });
  await sh(`rm -rf ${tree}`);
}

// ---------------------------------------------------------------- cases

interface Row {
  input: string;
  tool: string;
  seconds: number;
  mbPerSecond: number;
  filesPerSecond: number;
  peakRssMiB: number;
  compressedBytes: number;
  runs: number[];
}

type Case = {
  tool: string;
  run: (input: Input, out: string) => Promise<Measured>;
  size: (out: string) => Promise<number>;
};

const ours = (label: string, extra: string[]): Case => ({
  tool: label,
  run: (input, out) => measure(cli(["compose", "build-image", input.commit, "bench:1", "-o", out, ...extra])),
  size: (out) => dirBlobBytes(out),
});

const baseline = (label: string, compressor: string): Case => ({
  tool: label,
  run: (input, out) =>
    measure([
      "bash",
      "-euo",
      "pipefail",
      "-c",
      `mkdir -p ${out} && ostree checkout --repo=${repo} ${input.commit} ${out}/co && cd ${out}/co && ` +
      `tar --sort=name -cf - . | tee >(sha256sum > ${out}/tar.sha256) | ${compressor} | ` +
      `tee >(sha256sum > ${out}/blob.sha256) > ${out}/blob`,
    ]),
  size: async (out) => (await Deno.stat(`${out}/blob`)).size,
});

/** The bench trees are not deployable (no /sysroot, no /var tmpfiles): the ostree-native rows skip those rules. */
const BOOTC = ["--bootc", "--lint-skip", "baseimage-root", "--lint-skip", "api-base-directories"];

/** The plain rows: no ostree-native format, no SBOM (the supply-chain rows add them one at a time). */
const PLAIN = ["--no-bootc", "--no-sbom"];

function casesFor(input: Input): Case[] {
  if (input.name === "million") {
    // Scale, not speed against tar: the time and peak memory of the two layer plans (a checkout of a million files
    // for the baselines would take longer than everything else).
    return [
      ours("apt-ostree gzip, 64 layers", PLAIN),
      ours("apt-ostree gzip, 1 layer", ["--max-layers", "1", ...PLAIN]),
    ];
  }
  const cases = [
    ours("apt-ostree gzip, 64 layers", PLAIN),
    ours("apt-ostree --bootc gzip, 64 layers", [...BOOTC, "--no-sbom"]),
    ours("apt-ostree gzip, 1 layer", ["--max-layers", "1", ...PLAIN]),
    ours("apt-ostree --bootc gzip, 1 layer", [...BOOTC, "--max-layers", "1", "--no-sbom"]),
    ours("apt-ostree zstd, 1 layer", ["--max-layers", "1", "--compression", "zstd", ...PLAIN]),
  ];
  if (input.name === "debian") {
    // The supply chain on the Debian commit (it has a dpkg database): the SBOM (on by default), then a signature.
    cases.push(
      ours("apt-ostree gzip, 64 layers +SBOM", ["--no-bootc"]),
      ours("apt-ostree gzip, 64 layers +SBOM +signature", ["--no-bootc", "--sign-by-sigstore-private-key", signKey]),
    );
  }
  if (!args["skip-baselines"]) {
    cases.push(baseline("baseline tar | gzip -6", "gzip -6"), baseline("baseline tar | pigz -p2 -6", "pigz -p2 -6"));
  }
  return cases;
}

async function runCases(input: Input): Promise<Row[]> {
  const cases = casesFor(input);
  const times = cases.map(() => [] as Measured[]);
  const sizes = cases.map(() => 0);
  for (let r = 0; r < RUNS; r++) {
    for (const [i, c] of cases.entries()) {
      const out = `${work}/out-${i}`;
      await sh(`rm -rf ${out}`);
      const m = await c.run(input, out);
      times[i].push(m);
      sizes[i] = await c.size(out);
      await sh(`rm -rf ${out}`);
      log(`${input.name}: ${c.tool}: ${m.seconds.toFixed(2)} s, peak ${(m.peakRss / 2 ** 20).toFixed(0)} MiB`);
    }
  }
  return cases.map((c, i) => {
    const seconds = median(times[i].map((m) => m.seconds));
    return {
      input: input.name,
      tool: c.tool,
      seconds,
      mbPerSecond: input.contentBytes / 1e6 / seconds,
      filesPerSecond: input.entries / seconds,
      peakRssMiB: Math.max(...times[i].map((m) => m.peakRss)) / 2 ** 20,
      compressedBytes: sizes[i],
      runs: times[i].map((m) => m.seconds),
    };
  });
}

interface Rebuild {
  /** Build settings, e.g. `--bootc`. */
  label: string;
  coldSeconds: number;
  unchangedSeconds: number;
  changedSeconds: number;
  layers: number;
  layersWrittenOnChange: number;
}

async function rebuildCases(base: Input, changed: Input, label: string, extra: string[]): Promise<Rebuild> {
  const out = `${work}/rebuild.oci`;
  const cold: number[] = [];
  const unchanged: number[] = [];
  const change: number[] = [];
  let layers = 0;
  let written = 0;
  for (let r = 0; r < RUNS; r++) {
    await sh(`rm -rf ${out}`);
    cold.push((await measure(cli(["compose", "build-image", base.commit, "bench:1", "-o", out, ...extra]))).seconds);
    unchanged.push(
      (await measure(cli(["compose", "build-image", base.commit, "bench:1", "-o", out, ...extra]))).seconds,
    );
    const changedRun = await measure(
      cli(["compose", "build-image", changed.commit, "bench:1", "-o", out, "--json", ...extra]),
    );
    change.push(changedRun.seconds);
    const result = JSON.parse(changedRun.stdout) as { layers: { reused: boolean }[] };
    layers = result.layers.length;
    written = result.layers.filter((l) => !l.reused).length;
    log(
      `rebuild ${label}: cold ${cold.at(-1)!.toFixed(2)} s, unchanged ${unchanged.at(-1)!.toFixed(2)} s, one package ${
        change.at(-1)!.toFixed(2)
      } s`,
    );
  }
  await sh(`rm -rf ${out}`);
  return {
    label,
    coldSeconds: median(cold),
    unchangedSeconds: median(unchanged),
    changedSeconds: median(change),
    layers,
    layersWrittenOnChange: written,
  };
}

// ---------------------------------------------------------------- multi-platform

interface IndexBench {
  platforms: string;
  twoSinglesSeconds: number;
  indexSeconds: number;
  unchangedSingleSeconds: number;
  unchangedIndexSeconds: number;
}

/**
 * A two-platform index (`--platform`) against the same two commits built
 * one after the other as single images, each into a fresh layout, and the
 * unchanged rebuilds of both. The two inputs share no layer, as two
 * architectures' trees share little.
 */
async function indexCases(a: Input, b: Input): Promise<IndexBench> {
  const single = `${work}/single.oci`;
  const other = `${work}/single-other.oci`;
  const index = `${work}/index.oci`;
  const twoSingles: number[] = [];
  const indexed: number[] = [];
  const unchangedSingle: number[] = [];
  const unchangedIndex: number[] = [];
  const platforms = ["--platform", `linux/amd64=${a.commit}`, "--platform", `linux/arm64=${b.commit}`];
  for (let r = 0; r < RUNS; r++) {
    await sh(`rm -rf ${single} ${other} ${index}`);
    const first = await measure(cli(["compose", "build-image", a.commit, "bench:1", "-o", single]));
    const second = await measure(cli(["compose", "build-image", b.commit, "bench:1", "-o", other]));
    twoSingles.push(first.seconds + second.seconds);
    unchangedSingle.push((await measure(cli(["compose", "build-image", a.commit, "bench:1", "-o", single]))).seconds);
    indexed.push(
      (await measure(cli(["compose", "build-image", "bench:1", ...platforms, "-o", `oci:${index}`]))).seconds,
    );
    unchangedIndex.push(
      (await measure(cli(["compose", "build-image", "bench:1", ...platforms, "-o", `oci:${index}`]))).seconds,
    );
    log(
      `index ${a.name}+${b.name}: two singles ${twoSingles.at(-1)!.toFixed(2)} s, index ${
        indexed.at(-1)!.toFixed(2)
      } s, unchanged single ${unchangedSingle.at(-1)!.toFixed(3)} s, unchanged index ${
        unchangedIndex.at(-1)!.toFixed(3)
      } s`,
    );
  }
  await sh(`rm -rf ${single} ${other} ${index}`);
  return {
    platforms: `${a.name} as amd64 + ${b.name} as arm64`,
    twoSinglesSeconds: median(twoSingles),
    indexSeconds: median(indexed),
    unchangedSingleSeconds: median(unchangedSingle),
    unchangedIndexSeconds: median(unchangedIndex),
  };
}

// ---------------------------------------------------------------- start-up

interface Startup {
  what: string;
  bestMs: number;
  medianMs: number;
}

/** Times `argv` `runs` times (after two warm-up runs): the CLI's start-up. */
async function startupCase(what: string, argv: string[], runs = 10): Promise<Startup> {
  const times: number[] = [];
  for (let i = 0; i < runs + 2; i++) {
    const started = performance.now();
    const out = await new Deno.Command(argv[0], { args: argv.slice(1), stdout: "null", stderr: "piped" }).output();
    const ms = performance.now() - started;
    if (!out.success) throw new Error(`${argv.join(" ")} failed:\n${new TextDecoder().decode(out.stderr)}`);
    if (i >= 2) times.push(ms);
  }
  return { what, bestMs: Math.min(...times), medianMs: median(times) };
}

async function startupCases(): Promise<Startup[]> {
  await Deno.mkdir(work, { recursive: true });
  const empty = `${work}/empty.ts`;
  await Deno.writeTextFile(empty, "");
  const entry = (file: string, args: string[]) => ["deno", "run", ...cliFlags, `${root}${file}`, ...args];
  const rows = [
    await startupCase("empty Deno program", ["deno", "run", empty]),
    await startupCase("apt-ostree --version", entry("cli.ts", ["--version"])),
    await startupCase("apt-ostree --help", entry("cli.ts", ["--help"])),
    await startupCase("apt-ostree compose build-image --help", entry("cli.ts", ["compose", "build-image", "--help"])),
    await startupCase("mod.ts --version (loads the whole library)", entry("mod.ts", ["--version"])),
  ];
  for (const r of rows) log(`startup: ${r.what}: best ${r.bestMs.toFixed(0)} ms, median ${r.medianMs.toFixed(0)} ms`);
  return rows;
}

// ---------------------------------------------------------------- profile

/**
 * Times the stages of a cold single-layer gzip build of `branch`, each run
 * alone and in order: read the tree's objects, map + sort, read + tar,
 * + SHA-256, + parallel gzip, + SHA-256 and write (the whole pipeline).
 */
async function profile(branch: string): Promise<void> {
  // The stages are internals (not exported by mod.ts): the profile reaches into the modules themselves.
  const lib = {
    ...await import("../mod.ts"),
    ...await import("../src/builder/rootfs.ts"),
    ...await import("../src/ostree/content.ts"),
    ...await import("../src/layers/dpkg_owners.ts"),
    ...await import("../src/layers/layer_plan.ts"),
    ...await import("../src/tar/layer_tar.ts"),
    ...await import("../src/digest/digest.ts"),
    ...await import("../src/compress/deflate_pool.ts"),
    ...await import("../src/compress/parallel_gzip.ts"),
  };
  const { BufferPool } = await import("../src/util/buffer_pool.ts");
  const repoHandle = await lib.OstreeRepo.open(repo);
  const commit = await repoHandle.resolveCommit(branch);
  const lap = (() => {
    let t = performance.now();
    return () => {
      const now = performance.now();
      const ms = now - t;
      t = now;
      return ms;
    };
  })();
  const rows: [string, number][] = [];
  lap();
  const listed = await repoHandle.readTree(commit);
  rows.push(["read the tree's objects", lap()]);
  const entries = lib.toImageRootfs(listed);
  rows.push(["/usr/etc mapping + sort", lap()]);
  const content = lib.contentSourceFor(repoHandle);
  const owners = await lib.readDpkgOwners(entries, content);
  lib.planLayers(entries, { maxLayers: 64, unitOf: owners ? (p) => owners.get(p) : lib.pathPrefixUnit });
  rows.push(["dpkg owners + layer plan (64)", lap()]);
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const _ of stream) { /* consume */ }
  };
  const tar = () => lib.createLayerTarStream(entries, (e) => content.open(e), { bufferPool: new BufferPool(1 << 20) });
  lap();
  await drain(tar());
  rows.push(["read objects + tar", lap()]);
  await drain(tar().pipeThrough(new lib.DigestStream()));
  rows.push(["read + tar + sha256", lap()]);
  const pool = new lib.DeflatePool();
  const gzPool = new BufferPool(1 << 20);
  await drain(
    lib.createLayerTarStream(entries, (e) => content.open(e), { bufferPool: gzPool }).pipeThrough(
      new lib.DigestStream(),
    )
      .pipeThrough(new lib.ParallelGzipStream(pool, { bufferPool: gzPool })),
  );
  pool.terminate();
  rows.push(["read + tar + sha256 + parallel gzip", lap()]);
  const out = `${work}/profile.oci`;
  await sh(`rm -rf ${out}`);
  lap();
  await lib.buildImage({ repo, source: commit, image: "profile:1", output: out, maxLayers: 1 });
  rows.push(["whole build-image, 1 layer (library)", lap()]);
  await sh(`rm -rf ${out}`);
  lap();
  await lib.buildImage({ repo, source: commit, image: "profile:1", output: out });
  rows.push(["whole build-image, 64 layers (library)", lap()]);
  await sh(`rm -rf ${out}`);
  console.log(`| stage (${branch}, ${entries.length} entries) | ms |\n|---|---:|`);
  for (const [stage, ms] of rows) console.log(`| ${stage} | ${ms.toFixed(0)} |`);
}

// ---------------------------------------------------------------- main

if (args.profile) {
  await prepareRepo();
  const first = args.only!.split(",")[0];
  if (first === "small") await prepareSmall();
  else if (first === "mixed") await prepareMixed();
  else await prepareDebian();
  await profile(`bench/${first === "small" || first === "mixed" ? first : "debian"}`);
  Deno.exit(0);
}

await prepareRepo();
const inputs: Input[] = [];
let changedInput: Input | undefined;
if (ONLY.has("debian")) {
  await prepareDebian();
  inputs.push(await commitInfo("debian", "bench/debian"));
  changedInput = await commitInfo("debian-changed", "bench/debian-changed");
}
if (ONLY.has("mixed")) {
  await prepareMixed();
  inputs.push(await commitInfo("mixed", "bench/mixed"));
}
if (ONLY.has("small")) {
  await prepareSmall();
  inputs.push(await commitInfo("small", "bench/small"));
}
if (ONLY.has("million")) {
  await prepareMillion();
  inputs.push(await commitInfo("million", "bench/million"));
}

const startup = ONLY.has("startup") ? await startupCases() : undefined;
const rows: Row[] = [];
for (const input of inputs) {
  log(`${input.name}: ${input.entries} entries, ${(input.contentBytes / 1e6).toFixed(0)} MB of content`);
  rows.push(...(await runCases(input)));
}
const debianInput = inputs.find((i) => i.name === "debian");
const rebuilds = changedInput && debianInput
  ? [
    await rebuildCases(debianInput, changedInput, "default settings", ["--no-bootc"]),
    await rebuildCases(debianInput, changedInput, "--bootc", BOOTC),
  ]
  : [];

const smallInput = inputs.find((i) => i.name === "small");
const indexBench = debianInput && smallInput ? await indexCases(debianInput, smallInput) : undefined;

// Ratios against the baselines of the same input, measured in the same run.
const find = (input: string, tool: string) => rows.find((r) => r.input === input && r.tool.startsWith(tool));
/** A tool name for a Markdown table: a baseline's shell pipeline as code, its `|` escaped. */
const toolCell = (tool: string) =>
  tool.replace(/^baseline (.*)$/, (_, cmd: string) => `baseline \`${cmd.replace(/\|/g, "\\|")}\``);
const table: string[] = [];
if (rows.length > 0) {
  table.push("| input | tool | s (median) | MB/s | × gzip -6 | × pigz | size vs gzip -6 | files/s | peak RSS MiB |");
  table.push("|---|---|---:|---:|---:|---:|---:|---:|---:|");
}
for (const r of rows) {
  const gz = find(r.input, "baseline tar | gzip");
  const pz = find(r.input, "baseline tar | pigz");
  table.push(
    `| ${r.input} | ${toolCell(r.tool)} | ${r.seconds.toFixed(2)} | ${r.mbPerSecond.toFixed(1)} | ${
      gz ? (gz.seconds / r.seconds).toFixed(2) : "-"
    } | ${pz ? (pz.seconds / r.seconds).toFixed(2) : "-"} | ${
      gz ? ((r.compressedBytes / gz.compressedBytes - 1) * 100).toFixed(2) + "%" : "-"
    } | ${r.filesPerSecond.toFixed(0)} | ${r.peakRssMiB.toFixed(0)} |`,
  );
}
const bootcRows = rows.filter((r) => r.tool.includes("--bootc"));
if (bootcRows.length > 0) {
  table.push("");
  table.push("| ostree-native cost | plain s | --bootc s | --bootc / plain |");
  table.push("|---|---:|---:|---:|");
  for (const b of bootcRows) {
    const plain = rows.find((r) => r.input === b.input && r.tool === b.tool.replace("--bootc ", ""));
    if (plain) {
      table.push(
        `| ${b.input}, ${plain.tool.replace("apt-ostree ", "")} | ${plain.seconds.toFixed(2)} | ${
          b.seconds.toFixed(2)
        } | ${(b.seconds / plain.seconds).toFixed(2)} |`,
      );
    }
  }
}
const supplyRows = rows.filter((r) => r.tool.includes(" +SBOM"));
if (supplyRows.length > 0) {
  table.push("");
  table.push("| supply-chain cost (debian, gzip, 64 layers) | s (median) | added to the plain build, s |");
  table.push("|---|---:|---:|");
  const plain = rows.find((r) => r.input === "debian" && r.tool === "apt-ostree gzip, 64 layers");
  for (const r of supplyRows) {
    table.push(
      `| ${r.tool.replace("apt-ostree gzip, 64 layers ", "")} | ${r.seconds.toFixed(2)} | ${
        plain ? (r.seconds - plain.seconds).toFixed(2) : "-"
      } |`,
    );
  }
}
for (const rebuild of rebuilds) {
  if (table.length > 0) table.push("");
  table.push(`| rebuild (debian, ${rebuild.label}) | s (median) | × faster than cold | layers written |`);
  table.push("|---|---:|---:|---:|");
  table.push(`| cold build | ${rebuild.coldSeconds.toFixed(2)} | 1.00 | ${rebuild.layers} |`);
  table.push(
    `| unchanged commit, same layout | ${rebuild.unchangedSeconds.toFixed(3)} | ${
      (rebuild.coldSeconds / rebuild.unchangedSeconds).toFixed(1)
    } | 0 |`,
  );
  table.push(
    `| one package changed | ${rebuild.changedSeconds.toFixed(3)} | ${
      (rebuild.coldSeconds / rebuild.changedSeconds).toFixed(1)
    } | ${rebuild.layersWrittenOnChange} |`,
  );
}
if (indexBench) {
  if (table.length > 0) table.push("");
  table.push(`| two platforms (${indexBench.platforms}) | s (median) | × two single builds |`);
  table.push("|---|---:|---:|");
  table.push(`| two single builds, one after the other | ${indexBench.twoSinglesSeconds.toFixed(2)} | 1.00 |`);
  table.push(
    `| one index, --platform ×2 | ${indexBench.indexSeconds.toFixed(2)} | ${
      (indexBench.indexSeconds / indexBench.twoSinglesSeconds).toFixed(2)
    } |`,
  );
  table.push(`| unchanged rebuild, single image | ${indexBench.unchangedSingleSeconds.toFixed(3)} | - |`);
  table.push(`| unchanged rebuild, index | ${indexBench.unchangedIndexSeconds.toFixed(3)} | - |`);
}
if (startup) {
  if (table.length > 0) table.push("");
  table.push("| cli start | best of 10, ms | median, ms |");
  table.push("|---|---:|---:|");
  for (const s of startup) table.push(`| ${s.what} | ${s.bestMs.toFixed(0)} | ${s.medianMs.toFixed(0)} |`);
}
console.log(table.join("\n"));

await Deno.mkdir(`${root}bench`, { recursive: true });
await Deno.writeTextFile(
  `${root}bench/results.json`,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      cpus: navigator.hardwareConcurrency,
      deno: Deno.version.deno,
      runs: RUNS,
      inputs,
      rows,
      rebuilds,
      indexBench,
      startup,
    },
    null,
    2,
  ) + "\n",
);
log(`wrote ${root}bench/results.json`);
