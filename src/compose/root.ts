/**
 * The root check of the commands that install packages: files must get
 * their real owners, and mmdebstrap, bwrap and dpkg need root to do so.
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";

/**
 * The user id of this process (needs `--allow-sys=uid`; Deno does not let a
 * program read `/proc/self` without `--allow-all`).
 *
 * @example
 * ```ts
 * import { effectiveUid } from "./root.ts";
 * effectiveUid(); // 0 when run as root
 * ```
 */
export function effectiveUid(): number {
  return Deno.uid() ?? -1;
}

/**
 * Throws unless the process runs as root, naming the command.
 *
 * @example
 * ```ts
 * import { requireRoot } from "./root.ts";
 * requireRoot("compose create"); // throws "compose create must be run as root" for other users
 * ```
 */
export function requireRoot(command: string): void {
  const uid = effectiveUid();
  if (uid !== 0) {
    throw new AptOstreeError(`${command} must be run as root (running as uid ${uid})`, {
      solution:
        `Run it as root, e.g. sudo apt-ostree ${command} …: packages are installed with their real owners, which needs root`,
    });
  }
}
