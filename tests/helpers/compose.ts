/**
 * Helpers for the compose tests: a stub Debian base (real dash and sleep
 * from the host, a shell-script apt-get) that lets `compose create` run its
 * whole path offline, repository snapshots to prove nothing changed, and a
 * static HTTP server that serves an archive-mode repository on loopback.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { runOk } from "./fixture_repo.ts";

/**
 * The stand-in for apt-get. `update` fails like a network error when
 * `/etc/apt/stub-offline` exists. `install` knows these package names:
 * `nonexistent*` (apt's "Unable to locate package"), `fail-postinst` (a
 * failing maintainer script, with dpkg's lines), `sleep-forever` (writes
 * `/var/lib/stub-sleeping` and sleeps, for Ctrl-C tests); any other name is
 * "installed": a dpkg status stanza, a file, a log, a cached .deb, and a
 * line appended in place to the base's `/etc/stub.conf`. It records what it
 * saw of the sandbox in `/var/lib/stub-sandbox`.
 */
export const STUB_APT_GET = `#!/bin/sh
mode=""; simulate=0; pkgs=""; rest=0
for a in "$@"; do
  if [ "$rest" = 1 ]; then pkgs="$pkgs $a"; continue; fi
  case "$a" in
    --) rest=1 ;;
    update|install) mode="$a" ;;
    --simulate|-s) simulate=1 ;;
  esac
done
if [ "$mode" = update ]; then
  if [ -e /etc/apt/stub-offline ]; then
    echo "Err:1 http://deb.debian.org/debian bookworm InRelease"
    echo "  Temporary failure resolving 'deb.debian.org'"
    echo "Reading package lists..."
    echo "W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Temporary failure resolving 'deb.debian.org'"
    echo "E: Some index files failed to download. They have been ignored, or old ones used instead." >&2
    exit 100
  fi
  echo "Get:1 stub://archive bookworm InRelease"
  echo "Package: stub" > /var/lib/apt/lists/stub_Packages
  echo "Reading package lists..."
  exit 0
fi
for p in $pkgs; do
  case "$p" in
    nonexistent*) echo "Reading package lists..."; echo "E: Unable to locate package $p" >&2; exit 100 ;;
  esac
done
for p in $pkgs; do
  if [ "$simulate" = 1 ] && [ "$p" = base-files ]; then
    echo "Inst $p [12.4] (12.4+deb12u1-stub Stub:12/stable [amd64])"
    continue
  fi
  if [ "$simulate" = 1 ]; then
    echo "Inst $p (1.0-stub Stub:12/stable [amd64])"
    echo "Conf $p (1.0-stub Stub:12/stable [amd64])"
    continue
  fi
  case "$p" in
    fail-postinst)
      echo "Setting up fail-postinst (1.0-stub) ..."
      echo "dpkg: error processing package fail-postinst (--configure):"
      echo " installed fail-postinst package post-installation script subprocess returned error exit status 1"
      echo "Errors were encountered while processing:"
      echo " fail-postinst"
      echo "E: Sub-process /usr/bin/dpkg returned an error code (1)" >&2
      exit 100 ;;
    sleep-forever)
      echo "Unpacking sleep-forever (1.0-stub) ..."
      : > /var/lib/stub-sleeping
      exec sleep 600 ;;
  esac
  /usr/sbin/policy-rc.d; policy=$?
  resolv=absent; [ -e /etc/resolv.conf ] && resolv=present
  echo "pid=$$ policy-rc.d=$policy resolv.conf=$resolv" > /var/lib/stub-sandbox
  if [ "$p" = base-files ]; then
    # An upgrade of a package the base has: its stanza's version replaced (shell only: no sed in here).
    cur=""
    while IFS= read -r line; do
      case "$line" in "Package: "*) cur="\${line#Package: }" ;; esac
      if [ "$cur" = "$p" ] && [ "\${line#Version: }" != "$line" ]; then line="Version: 12.4+deb12u1-stub"; fi
      printf '%s\\n' "$line"
    done < /var/lib/dpkg/status > /var/lib/dpkg/status-new
    while IFS= read -r line; do printf '%s\\n' "$line"; done < /var/lib/dpkg/status-new > /var/lib/dpkg/status
    : > /var/lib/dpkg/status-new
  else
    printf 'Package: %s\\nStatus: install ok installed\\nArchitecture: amd64\\nVersion: 1.0-stub\\n\\n' "$p" >> /var/lib/dpkg/status
  fi
  echo "$p" > "/usr/share/stub-$p"
  echo "installed $p" >> /etc/stub.conf
  echo "Install: $p" >> /var/log/apt/history.log
  echo deb > "/var/cache/apt/archives/$p.deb"
  echo "Setting up $p (1.0-stub) ..."
done
exit 0
`;

/** The dpkg status of the stub base: two packages. */
export const STUB_STATUS = `Package: dpkg
Status: install ok installed
Architecture: amd64
Version: 1.21.22

Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4

`;

/** The shared libraries a host program needs (paths as ldd prints them). */
async function sharedLibraries(program: string): Promise<string[]> {
  const out = await runOk("ldd", [program]);
  const libs: string[] = [];
  for (const line of out.split("\n")) {
    const m = /(\/\S+) \(0x/.exec(line);
    if (m) libs.push(m[1]);
  }
  return libs;
}

async function copyInto(root: string, hostPath: string, mode?: number): Promise<void> {
  const target = join(root, hostPath);
  await Deno.mkdir(dirname(target), { recursive: true });
  await Deno.copyFile(await Deno.realPath(hostPath), target);
  if (mode !== undefined) await Deno.chmod(target, mode);
}

/**
 * Fills `dir` with a stub Debian tree in deployment layout (`/usr/etc`):
 * the host's dash (as /bin/sh) and sleep with their libraries, the stub
 * apt-get, a dpkg status, and the empty mount points a sandbox needs.
 */
export async function makeStubTree(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.chmod(dir, 0o755);
  for (const d of ["usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "usr/share", "usr/etc/apt"]) {
    await Deno.mkdir(join(dir, d), { recursive: true });
  }
  for (const [link, target] of [["bin", "usr/bin"], ["sbin", "usr/sbin"], ["lib", "usr/lib"], ["lib64", "usr/lib64"]]) {
    await Deno.symlink(target, join(dir, link));
  }
  for (const d of ["proc", "sys", "dev", "run", "tmp", "var/tmp", "var/log/apt", "var/lib/apt/lists/partial"]) {
    await Deno.mkdir(join(dir, d), { recursive: true });
  }
  await Deno.mkdir(join(dir, "var/cache/apt/archives/partial"), { recursive: true });
  await Deno.mkdir(join(dir, "var/lib/dpkg"), { recursive: true });
  await Deno.chmod(join(dir, "tmp"), 0o1777);
  for (const program of ["/usr/bin/dash", "/usr/bin/sleep"]) {
    await copyInto(dir, program, 0o755);
    for (const lib of await sharedLibraries(program)) {
      if (!(await exists(join(dir, lib)))) await copyInto(dir, lib);
    }
  }
  await Deno.symlink("dash", join(dir, "usr/bin/sh"));
  await Deno.writeTextFile(join(dir, "usr/bin/apt-get"), STUB_APT_GET, { mode: 0o755 });
  await Deno.chmod(join(dir, "usr/bin/apt-get"), 0o755);
  await Deno.writeTextFile(join(dir, "usr/etc/os-release"), 'NAME="Stub Debian"\nID=debian\nVERSION_ID="12"\n');
  await Deno.writeTextFile(join(dir, "usr/etc/stub.conf"), "base line\n");
  await Deno.writeTextFile(join(dir, "usr/etc/machine-id"), "");
  await Deno.writeTextFile(join(dir, "var/lib/dpkg/status"), STUB_STATUS);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Metadata of the stub base commit. */
export const STUB_BASE_METADATA: Record<string, string> = {
  "apt-ostree.distribution": "debian",
  "apt-ostree.release": "12",
  "apt-ostree.suite": "bookworm",
  "apt-ostree.arch": "x86_64",
};

/** A repository state: refs with their commits, object file names, and the config. */
export interface RepoSnapshot {
  /** `ref checksum` lines, sorted. */
  refs: string[];
  /** Object file names, sorted. */
  objects: string[];
  /** The config file. */
  config: string;
}

/** Takes a snapshot of what a repository holds (refs, objects, config). */
export async function snapshotRepo(repo: string): Promise<RepoSnapshot> {
  const refNames = (await runOk("ostree", ["refs", `--repo=${repo}`])).split("\n").filter((l) => l.length > 0);
  const refs: string[] = [];
  for (const ref of refNames) {
    refs.push(`${ref} ${(await runOk("ostree", ["rev-parse", `--repo=${repo}`, ref])).trim()}`);
  }
  const objects: string[] = [];
  for await (const sub of Deno.readDir(join(repo, "objects"))) {
    for await (const entry of Deno.readDir(join(repo, "objects", sub.name))) objects.push(`${sub.name}/${entry.name}`);
  }
  return { refs: refs.sort(), objects: objects.sort(), config: await Deno.readTextFile(join(repo, "config")) };
}

/** The apt-ostree work directories left in a repository's tmp/. */
export async function leftoverWorkDirs(repo: string): Promise<string[]> {
  const left: string[] = [];
  try {
    for await (const entry of Deno.readDir(join(repo, "tmp"))) {
      if (entry.name.startsWith("apt-ostree-")) left.push(entry.name);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return left;
}

/** Runs `ostree fsck` and fails with its output unless it is clean. */
export async function assertFsckClean(repo: string): Promise<void> {
  await runOk("ostree", ["fsck", `--repo=${repo}`]);
}

/** Reads one metadata key of a commit as ostree prints it (GVariant text). */
export async function metadataText(repo: string, rev: string, key: string): Promise<string> {
  return (await runOk("ostree", ["show", `--repo=${repo}`, `--print-metadata-key=${key}`, rev])).trim();
}

/** A static file server on loopback. */
export interface StaticServer {
  /** Base URL, ending in `/`. */
  url: string;
  /** Paths requested so far. */
  requests: string[];
  /** Stops the server. */
  close(): Promise<void>;
}

/** Serves the files under `root` over HTTP on 127.0.0.1 (a random port): enough for `ostree pull`. */
export function serveDirectory(root: string): StaticServer {
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const path = decodeURIComponent(new URL(request.url).pathname);
    requests.push(path);
    if (path.includes("..")) return new Response("bad path", { status: 400 });
    try {
      const file = await Deno.open(join(root, path), { read: true });
      const info = await file.stat();
      if (!info.isFile) {
        file.close();
        return new Response("not found", { status: 404 });
      }
      return new Response(file.readable, { headers: { "content-length": String(info.size) } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  const addr = server.addr as Deno.NetAddr;
  return {
    url: `http://127.0.0.1:${addr.port}/`,
    requests,
    close: () => server.shutdown(),
  };
}
