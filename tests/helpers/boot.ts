/**
 * Deploying and booting a bootable commit, for the bootable end-to-end
 * test, the boot test and `deno task demo:boot`: a marker unit committed
 * over a deployment, a scratch sysroot made with the real `ostree admin`
 * (through `src/ostree/admin.ts`, in a user namespace), a disk image made
 * without mounting anything (`mkfs.ext4 -d`), and QEMU booting the
 * deployment's kernel and initramfs until the marker is on the serial
 * console.
 *
 * @module
 */

import { join } from "node:path";
import { bootEntries, type BootEntry, deployToSysroot } from "../../src/ostree/admin.ts";
import { commitDirectory } from "../../src/ostree/commit.ts";
import { OstreeRepo } from "../../src/ostree/repo.ts";

/** The line the marker unit prints on the console once the system is up. */
export const BOOT_MARKER = "APT-OSTREE-BOOT-MARKER";

/** The oneshot unit: prints the marker (and what it sees) to the console after multi-user.target, then powers off. */
export const MARKER_UNIT = `[Unit]
Description=apt-ostree boot marker: the deployment came up
After=multi-user.target

[Service]
Type=oneshot
StandardOutput=tty
TTYPath=/dev/console
ExecStart=/bin/sh -c 'echo "${BOOT_MARKER} $(. /etc/os-release; echo $PRETTY_NAME) | $(hello 2>&1) | dpkg: $(dpkg-query -W | wc -l) packages | $(ostree admin status 2>&1 | head -1)"'
ExecStartPost=/bin/systemctl --no-block poweroff

[Install]
WantedBy=multi-user.target
`;

/**
 * Commits `from` plus the marker unit (enabled in `/usr`) to `branch`: a
 * commit made over the created tree (apt-ostree has no option to add files
 * to a deployment). Returns the new commit.
 */
export async function commitMarkerUnit(repoPath: string, from: string, branch: string, work: string): Promise<string> {
  const repo = await OstreeRepo.open(repoPath);
  const commit = await repo.resolveCommit(from);
  const info = await repo.readCommit(commit);
  const tree = join(work, "marker-tree");
  await repo.checkoutCopy(commit, tree);
  try {
    const units = join(tree, "usr/lib/systemd/system");
    await Deno.writeTextFile(join(units, "apt-ostree-marker.service"), MARKER_UNIT);
    await Deno.mkdir(join(units, "multi-user.target.wants"), { recursive: true });
    await Deno.symlink(
      "../apt-ostree-marker.service",
      join(units, "multi-user.target.wants/apt-ostree-marker.service"),
    );
    const metadata = Object.fromEntries(
      [...info.metadata].filter(([k, v]) =>
        !k.startsWith("ostree.ref-binding") && !k.startsWith("ostree.collection-binding") &&
        (typeof v === "string" || typeof v === "boolean" ||
          (Array.isArray(v) && v.every((x) => typeof x === "string")))
      ),
    ) as Record<string, string | boolean | string[]>;
    return await commitDirectory(repo, {
      tree,
      branch,
      subject: `${info.subject} + boot marker unit`,
      metadata,
      parent: "none",
      timestamp: info.timestamp,
    });
  } finally {
    await Deno.remove(tree, { recursive: true });
  }
}

/** Deploys `ref` into a scratch sysroot (root=LABEL=root) and returns the default boot entry. */
export async function deploy(sysroot: string, repo: string, ref: string): Promise<BootEntry> {
  await deployToSysroot({ sysroot, os: "debian", repo, ref, kargs: ["root=LABEL=root", "rw"] });
  const [entry] = await bootEntries(sysroot);
  return entry;
}

/** The path of the deployment directory a boot entry boots (`…/deploy/<commit>.<serial>`). */
export async function deploymentDirs(sysroot: string): Promise<string[]> {
  const dir = join(sysroot, "ostree/deploy/debian/deploy");
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isDirectory) out.push(join(dir, e.name));
  return out.sort();
}

/** Clears the immutable flag ostree sets on deployments, then removes the sysroot. */
export async function removeSysroot(sysroot: string): Promise<void> {
  try {
    for (const dir of await deploymentDirs(sysroot)) {
      await new Deno.Command("chattr", { args: ["-i", dir], stdout: "null", stderr: "null" }).output();
    }
  } catch {
    // no deployments
  }
  await Deno.remove(sysroot, { recursive: true }).catch(() => {});
}

async function runChecked(program: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${program} ${args.join(" ")} failed:\n${new TextDecoder().decode(out.stderr)}`);
  }
}

/** `mkfs.ext4 -d SYSROOT -L root disk.img SIZE`: a disk image from the sysroot, without mounting anything. */
export async function makeDisk(sysroot: string, disk: string, size = "4G"): Promise<void> {
  await runChecked("mkfs.ext4", ["-q", "-F", "-d", sysroot, "-L", "root", disk, size]);
}

/** Options for {@linkcode bootUntilMarker}. */
export interface BootOptions {
  /** The sysroot the entry belongs to (its `boot/` holds the kernel and initramfs). */
  sysroot: string;
  /** The boot entry. */
  entry: BootEntry;
  /** The disk image. */
  disk: string;
  /** Give up after this many milliseconds. */
  timeoutMs: number;
  /** Where to write the serial console log. */
  log: string;
  /** Every console line, as it arrives. */
  onLine?: (line: string) => void;
}

/** What {@linkcode bootUntilMarker} saw. */
export interface BootResult {
  /** The marker line, if it appeared. */
  marker?: string;
  /** Seconds from start to the marker (or to the end). */
  seconds: number;
  /** Whether the guest powered off by itself. */
  poweredOff: boolean;
  /** Whether KVM was used (else TCG). */
  kvm: boolean;
  /** The last console lines. */
  tail: string[];
}

/**
 * KVM only when asked for (`APT_OSTREE_QEMU_KVM=1`) and `/dev/kvm` opens: on
 * the nested virtual machines of CI and of this project's build hosts, KVM
 * guests hang at the first kernel instruction or trip over MSRs; TCG is
 * slower but works everywhere.
 */
function kvmUsable(): boolean {
  if (Deno.env.get("APT_OSTREE_QEMU_KVM") !== "1") return false;
  try {
    Deno.openSync("/dev/kvm", { read: true, write: true }).close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Boots the deployment under QEMU (direct kernel boot with the entry's
 * kernel, initramfs and options, plus a serial console and no emergency
 * shell) and waits until the marker line appears and the guest powers off,
 * or the timeout passes (then QEMU is killed).
 */
export async function bootUntilMarker(options: BootOptions): Promise<BootResult> {
  const boot = join(options.sysroot, "boot");
  const kvm = kvmUsable();
  const append = `${options.entry.options} console=ttyS0 rd.shell=0 rd.emergency=poweroff systemd.show_status=1`;
  const child = new Deno.Command("qemu-system-x86_64", {
    args: [
      ...(kvm ? ["-accel", "kvm"] : ["-accel", "tcg"]),
      "-cpu",
      kvm ? "host" : "max",
      "-m",
      "1536",
      "-smp",
      "2",
      "-nographic",
      "-no-reboot",
      "-nodefaults",
      "-serial",
      "stdio",
      "-kernel",
      join(boot, options.entry.linux!),
      "-initrd",
      join(boot, options.entry.initrd!),
      "-append",
      append,
      "-drive",
      `file=${options.disk},format=raw,if=virtio`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const started = performance.now();
  const log = await Deno.open(options.log, { write: true, create: true, truncate: true });
  const tail: string[] = [];
  let marker: string | undefined;
  let markerAt = 0;
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // exited
    }
  }, options.timeoutMs);
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of stream) {
      await log.write(chunk);
      pending += decoder.decode(chunk, { stream: true });
      const lines = pending.split(/\r?\n/);
      pending = lines.pop() ?? "";
      for (const line of lines) {
        options.onLine?.(line);
        tail.push(line);
        if (tail.length > 40) tail.shift();
        if (marker === undefined && line.includes(BOOT_MARKER)) {
          marker = line.slice(line.indexOf(BOOT_MARKER));
          markerAt = performance.now();
        }
      }
    }
  };
  try {
    const [status] = await Promise.all([child.status, pump(child.stdout), pump(child.stderr)]);
    const seconds = ((marker !== undefined ? markerAt : performance.now()) - started) / 1000;
    return { marker, seconds, poweredOff: status.success && status.signal === null, kvm, tail };
  } finally {
    clearTimeout(timer);
    log.close();
  }
}
