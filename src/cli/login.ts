/**
 * `apt-ostree login HOST` and `apt-ostree logout HOST`: check credentials
 * against the registry and store them in the `auth.json` that podman and
 * skopeo read (or remove them), as `podman login` does.
 *
 * @module
 */

import type { Command } from "commander";
import { AptOstreeError, UsageError } from "../errors.ts";
import {
  normalizeAuthKey,
  parseCredsOption,
  primaryAuthFile,
  removeCredentials,
  storeCredentials,
} from "../registry/credentials.ts";
import { registryLocation } from "../reference/transport.ts";
import { parseImageReference } from "../reference/image_ref.ts";
import { registerSecret } from "../util/redact.ts";
import type { CommandContext, GlobalOptions } from "./context.ts";
import { registryOptionsFrom } from "./registry_options.ts";
import { withInterruptSignal } from "./signals.ts";

/** Names under which Docker Hub is logged in to. */
const DOCKER_HUB_NAMES: ReadonlySet<string> = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);

/**
 * The auth key and network host of a `login` argument: `HOST[:PORT]`,
 * optionally with a namespace (`quay.io/team`) or a scheme.
 *
 * @example
 * ```ts
 * import { loginTarget } from "./login.ts";
 * loginTarget("https://localhost:5000/"); // { key: "localhost:5000", host: "localhost:5000" }
 * loginTarget("docker.io"); // { key: "docker.io", host: "registry-1.docker.io" }
 * ```
 */
export function loginTarget(text: string): { key: string; host: string } {
  const stripped = text.replace(/^docker:\/\//, "").replace(/^https?:\/\//, "").replace(/\/+$/, "");
  if (stripped === "" || /\s/.test(stripped)) {
    throw new UsageError(`Invalid registry: '${text}'`, {
      solution: "Name a registry host, e.g. registry.example.com:5000",
    });
  }
  if (stripped.includes("@")) {
    // Never echo the text: it may hold a password (user:password@host).
    throw new UsageError("Invalid registry: a host name has no '@' (credentials do not go in the name)", {
      solution: "Give the host alone, and the user with -u and the password with --password-stdin",
    });
  }
  const key = normalizeAuthKey(stripped);
  const host = key.split("/")[0];
  if (key.includes("/")) parseImageReference(`${key}/x`); // validates the namespace
  // The host is a host, as podman reads it: "registry" is a registry called
  // "registry", not a repository on Docker Hub. Only Docker Hub's names map to it.
  if (DOCKER_HUB_NAMES.has(host)) return { key, host: registryLocation(parseImageReference(`${host}/x/y`)).host };
  if (
    !/^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d+)?$|^\[[0-9a-fA-F:]+\](?::\d+)?$/
      .test(host)
  ) {
    throw new UsageError(`Invalid registry host: ${host}`, {
      solution: "Name a registry host, e.g. registry.example.com:5000",
    });
  }
  return { key, host };
}

async function readStdin(): Promise<string> {
  const text = await new Response(Deno.stdin.readable).text();
  return text.replace(/\r?\n$/, "");
}

/** Reads a line from the terminal, without echo when `secret`. */
async function prompt(question: string, secret: boolean): Promise<string> {
  const encoder = new TextEncoder();
  await Deno.stderr.write(encoder.encode(question));
  if (secret) Deno.stdin.setRaw(true);
  const bytes: number[] = [];
  const buf = new Uint8Array(1);
  try {
    for (;;) {
      const n = await Deno.stdin.read(buf);
      if (n === null) break;
      const c = buf[0];
      if (c === 0x0d || c === 0x0a) break;
      if (c === 0x03) throw new UsageError("Login cancelled");
      if (c === 0x7f || c === 0x08) {
        bytes.pop();
        continue;
      }
      bytes.push(c);
    }
  } finally {
    if (secret) {
      Deno.stdin.setRaw(false);
      await Deno.stderr.write(encoder.encode("\n"));
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

interface LoginCliOptions {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
  authfile?: string;
  tlsVerify?: string | boolean;
  certDir?: string;
}

/**
 * Adds `login` and `logout`.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { registerLogin } from "./login.ts";
 * import { createContext } from "./context.ts";
 * registerLogin(new Command("apt-ostree"), createContext);
 * ```
 */
export function registerLogin(program: Command, contextFor: (globals: GlobalOptions) => CommandContext): void {
  program
    .command("login")
    .description("Log in to a registry: check the credentials and store them in auth.json")
    .argument("<registry>", "registry host[:port] (or host/namespace)")
    .option("-u, --username <user>", "user name (prompted for on a terminal when missing)")
    .option(
      "-p, --password <password>",
      "password (visible to other users in the process list: prefer --password-stdin)",
    )
    .option("--password-stdin", "read the password from standard input")
    .option(
      "--authfile <path>",
      "auth file to write (default: $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json)",
    )
    .option("--tls-verify [bool]", "require HTTPS and verify certificates (default true)")
    .option("--cert-dir <dir>", "CA certificates (*.crt) for the registry")
    .option(
      "--timeout <duration>",
      "how long the registry may stay silent, e.g. 10s or 2m; 0 waits forever (default 30s)",
    )
    .addHelpText(
      "after",
      `
The credentials are checked against the registry first (Basic or token authentication) and stored only if it
accepts them, in the same auth.json that podman, buildah and skopeo use.

Examples:
  apt-ostree login registry.example.com -u alice
  echo "$TOKEN" | apt-ostree login registry.example.com:5000 -u ci --password-stdin
  apt-ostree login localhost:5000 -u test --password-stdin --authfile ./auth.json --tls-verify=false`,
    )
    .action(async (registry: string, opts: LoginCliOptions, command: Command) => {
      const globals = command.optsWithGlobals() as GlobalOptions;
      const ctx = contextFor(globals);
      const { key, host } = loginTarget(registry);
      if (opts.passwordStdin && opts.password !== undefined) {
        throw new UsageError("Give the password with --password or --password-stdin, not both");
      }
      const interactive = Deno.stdin.isTerminal();
      let username = opts.username;
      if (username === undefined) {
        if (!interactive || opts.passwordStdin) {
          throw new UsageError("No user name", { solution: "Pass --username USER" });
        }
        username = await prompt("Username: ", false);
      }
      let password = opts.password;
      if (opts.passwordStdin) password = await readStdin();
      if (password === undefined) {
        if (!interactive) throw new UsageError("No password", { solution: "Pipe it in with --password-stdin" });
        password = await prompt("Password: ", true);
      }
      registerSecret(password);
      if (username === "" || password === "") throw new UsageError("The user name and the password must not be empty");
      const creds = parseCredsOption(`${username}:${password}`);
      const options = registryOptionsFrom({ ...opts, creds: `${username}:${password}` }, globals);
      const { RegistryClient } = await import("../registry/client.ts");
      const client = await RegistryClient.create(host, options, key.split("/")[0]);
      try {
        await withInterruptSignal((signal) => client.checkCredentials(signal));
      } finally {
        client.close();
      }
      const authfile = primaryAuthFile({ authfile: opts.authfile }).path;
      await storeCredentials(authfile, key, creds);
      ctx.result({ registry: key, username, authfile }, () => ["Login Succeeded!"]);
    });

  program
    .command("logout")
    .description("Remove a registry's credentials from auth.json")
    .argument("[registry]", "registry host[:port] (or host/namespace)")
    .option("--all", "remove the credentials of every registry")
    .option("--authfile <path>", "auth file (default: $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json)")
    .action(async (registry: string | undefined, opts: { all?: boolean; authfile?: string }, command: Command) => {
      const globals = command.optsWithGlobals() as GlobalOptions;
      const ctx = contextFor(globals);
      if ((registry === undefined) === !opts.all) {
        throw new UsageError("Name one registry, or pass --all", { solution: "apt-ostree logout HOST" });
      }
      const authfile = primaryAuthFile({ authfile: opts.authfile }).path;
      const key = registry !== undefined ? loginTarget(registry).key : undefined;
      const removed = await removeCredentials(authfile, key);
      if (!removed && key !== undefined) {
        throw new AptOstreeError(`Not logged into ${key} (no entry in ${authfile})`, {
          solution: "Nothing to do; to check another file, pass --authfile",
        });
      }
      ctx.result(
        { registry: key ?? "all", authfile, removed },
        () => [key ? `Removed login credentials for ${key}` : "Removed login credentials for all registries"],
      );
    });
}
