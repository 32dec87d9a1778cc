/**
 * Test infrastructure for the registry tests: Debian's `docker-registry`
 * (distribution 2.8) on a random loopback port, plain HTTP or TLS with a CA
 * made here with openssl, htpasswd Basic auth or Bearer tokens from a small
 * token server of our own (JWTs signed with a test key, checked by the
 * registry's `auth.token` configuration), and a TCP proxy that cuts
 * connections in the middle of an upload.
 *
 * @module
 */

import { createHash, createPrivateKey, sign } from "node:crypto";
import { join } from "node:path";
import { run, runOk } from "./fixture_repo.ts";

/** Whether a program is on PATH. */
export async function hasProgram(name: string): Promise<boolean> {
  const out = await run("sh", ["-c", `command -v ${name}`]);
  return out.code === 0;
}

/** A free TCP port on loopback. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Waits until something accepts connections on the port. */
export async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** A test CA and a server certificate for 127.0.0.1 and localhost. */
export interface TestCa {
  /** CA certificate (PEM file). */
  caCert: string;
  /** Server certificate (PEM file). */
  serverCert: string;
  /** Server key (PEM file). */
  serverKey: string;
  /** A directory holding only `ca.crt`, for `--cert-dir`. */
  certDir: string;
}

/** Makes a CA and a server certificate signed by it, with openssl. */
export async function makeTestCa(dir: string): Promise<TestCa> {
  await Deno.mkdir(dir, { recursive: true });
  const p = (name: string) => join(dir, name);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await runOk("openssl", [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    p("ca.key"),
    "-out",
    p("ca.crt"),
    "-days",
    "2",
    "-subj",
    "/CN=apt-ostree test CA",
  ]);
  await runOk("openssl", ["req", ...ec, "-keyout", p("server.key"), "-out", p("server.csr"), "-subj", "/CN=127.0.0.1"]);
  await Deno.writeTextFile(
    p("ext.cnf"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
  );
  await runOk("openssl", [
    "x509",
    "-req",
    "-in",
    p("server.csr"),
    "-CA",
    p("ca.crt"),
    "-CAkey",
    p("ca.key"),
    "-CAcreateserial",
    "-out",
    p("server.crt"),
    "-days",
    "2",
    "-extfile",
    p("ext.cnf"),
  ]);
  const certDir = p("certs");
  await Deno.mkdir(certDir);
  await Deno.copyFile(p("ca.crt"), join(certDir, "ca.crt"));
  return { caCert: p("ca.crt"), serverCert: p("server.crt"), serverKey: p("server.key"), certDir };
}

/** Options of {@linkcode startRegistry}. */
export interface RegistryConfig {
  /** Serve TLS with this certificate and key. */
  tls?: { cert: string; key: string };
  /** htpasswd file for Basic auth. */
  htpasswd?: string;
  /** Bearer token auth. */
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
  /** Port (default: a free one). */
  port?: number;
  /** Storage directory to reuse (a restarted registry keeps its content). */
  storage?: string;
}

/** A running registry. */
export interface TestRegistry {
  /** `127.0.0.1:PORT`. */
  host: string;
  /** Port. */
  port: number;
  /** Storage directory. */
  storage: string;
  /** Stops it. */
  stop(): Promise<void>;
}

/** Starts `docker-registry serve` on loopback. */
export async function startRegistry(dir: string, config: RegistryConfig = {}): Promise<TestRegistry> {
  const port = config.port ?? freePort();
  const storage = config.storage ?? join(dir, "storage");
  await Deno.mkdir(storage, { recursive: true });
  const lines = [
    "version: 0.1",
    "log:",
    "  level: error",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${storage}`,
    "  delete:",
    "    enabled: true",
    "  maintenance:",
    "    uploadpurging:",
    "      enabled: false",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    "  secret: apt-ostree-test-secret",
  ];
  if (config.tls) lines.push("  tls:", `    certificate: ${config.tls.cert}`, `    key: ${config.tls.key}`);
  if (config.htpasswd) lines.push("auth:", "  htpasswd:", "    realm: apt-ostree-test", `    path: ${config.htpasswd}`);
  if (config.token) {
    lines.push(
      "auth:",
      "  token:",
      `    realm: ${config.token.realm}`,
      `    service: ${config.token.service}`,
      `    issuer: ${config.token.issuer}`,
      `    rootcertbundle: ${config.token.rootCertBundle}`,
    );
  }
  const configPath = join(dir, `registry-${port}.yml`);
  await Deno.writeTextFile(configPath, lines.join("\n") + "\n");
  const child = new Deno.Command("docker-registry", {
    args: ["serve", configPath],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  try {
    await waitForPort(port);
  } catch (error) {
    child.kill();
    await child.status;
    throw new Error(`docker-registry did not start: ${error}\n${await stderr}`);
  }
  let stopped = false;
  return {
    host: `127.0.0.1:${port}`,
    port,
    storage,
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      await child.status;
      await stderr.catch(() => "");
    },
  };
}

/** Writes an htpasswd file (bcrypt) for one user. */
export async function writeHtpasswd(path: string, user: string, password: string): Promise<void> {
  await runOk("htpasswd", ["-Bbc", path, user, password]);
}

/** A token server of our own for the registry's `auth.token` mode. */
export interface TokenServer {
  /** The realm URL. */
  realm: string;
  /** Service name (the `aud` of tokens). */
  service: string;
  /** Issuer (`iss`). */
  issuer: string;
  /** The certificate whose key signs tokens (the registry's rootcertbundle). */
  certPath: string;
  /** Every token issued (to check that none is printed). */
  issued: string[];
  /** Requests seen: scopes asked for, and whether they authenticated. */
  requests: { scopes: string[]; user: string | undefined }[];
  /** Stops it. */
  stop(): Promise<void>;
}

const b64url = (data: Uint8Array | string) =>
  btoa(typeof data === "string" ? data : String.fromCharCode(...data)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");

/**
 * Starts a token server: GET /token?service=…&scope=… with Basic
 * credentials `user:password` (or none: anonymous, granted pull only when
 * `anonymousPull`) answers a JWT signed with RS256 and the signing
 * certificate in `x5c`, as distribution's token auth expects.
 */
export async function startTokenServer(
  dir: string,
  users: Record<string, string>,
  options: { anonymousPull?: boolean } = {},
): Promise<TokenServer> {
  const keyPath = join(dir, "token.key");
  const certPath = join(dir, "token.crt");
  await runOk("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    keyPath,
    "-out",
    certPath,
    "-days",
    "2",
    "-subj",
    "/CN=apt-ostree test token signer",
  ]);
  const key = createPrivateKey(await Deno.readTextFile(keyPath));
  const certPem = await Deno.readTextFile(certPath);
  const certDer = certPem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const service = "apt-ostree-test-registry";
  const issuer = "apt-ostree-test-issuer";
  const issued: string[] = [];
  const requests: TokenServer["requests"] = [];
  const port = freePort();
  const controller = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port, signal: controller.signal, onListen() {} }, (req) => {
    const url = new URL(req.url);
    const scopes = url.searchParams.getAll("scope");
    let user: string | undefined;
    const auth = req.headers.get("authorization");
    if (auth?.startsWith("Basic ")) {
      const [name, ...rest] = atob(auth.slice(6)).split(":");
      if (users[name] !== rest.join(":")) {
        requests.push({ scopes, user: undefined });
        return new Response(JSON.stringify({ details: "bad credentials" }), { status: 401 });
      }
      user = name;
    } else if (!options.anonymousPull) {
      requests.push({ scopes, user: undefined });
      return new Response(JSON.stringify({ details: "authentication required" }), { status: 401 });
    }
    requests.push({ scopes, user });
    const access = scopes.map((scope) => {
      const [type, name, actions] = scope.split(":");
      const granted = (actions ?? "").split(",").filter((a) => user !== undefined || a === "pull");
      return { type, name, actions: granted };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "RS256", x5c: [certDer] };
    const claims = {
      iss: issuer,
      sub: user ?? "",
      aud: service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: crypto.randomUUID(),
      access,
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = sign("sha256", new TextEncoder().encode(signingInput), key);
    const token = `${signingInput}.${b64url(new Uint8Array(signature))}`;
    issued.push(token);
    return Response.json({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() });
  });
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certPath,
    issued,
    requests,
    async stop() {
      controller.abort();
      await server.finished;
    },
  };
}

/** A TCP proxy that can cut connections in the middle of an upload. */
export interface CuttingProxy {
  /** `127.0.0.1:PORT`. */
  host: string;
  /** Connections cut so far. */
  readonly cuts: number;
  /** Bytes forwarded to the registry so far (requests and uploads). */
  readonly bytesUp: number;
  /** Whether new connections are refused (after a cut, until {@linkcode CuttingProxy.heal}). */
  readonly down: boolean;
  /** Forwards everything again (and cuts no more unless `cutAfter` is given). */
  heal(cutAfter?: number): void;
  /** Stops it. */
  stop(): Promise<void>;
}

/**
 * Starts a TCP proxy to `upstreamPort` that counts the bytes sent upstream.
 * A connection that has sent more than `cutAfter` bytes upstream is cut
 * (none with `cutAfter: Infinity`); with `stayDown`, every connection
 * after a cut is refused until healed (a registry that went away).
 */
export function startCuttingProxy(
  upstreamPort: number,
  options: { cutAfter: number; stayDown: boolean; cutOnce?: boolean },
): CuttingProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  let cutAfter: number | undefined = options.cutAfter;
  let cuts = 0;
  let bytesUp = 0;
  let down = false;
  const open = new Set<Deno.Conn>();
  const pipe = async (from: Deno.Conn, to: Deno.Conn, count: boolean, onCut: () => void) => {
    const buf = new Uint8Array(64 * 1024);
    let sent = 0;
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) break;
        if (count && cutAfter !== undefined && sent + n > cutAfter) {
          const part = cutAfter - sent;
          if (part > 0) await to.write(buf.subarray(0, part));
          onCut();
          return;
        }
        sent += n;
        if (count) bytesUp += n;
        let off = 0;
        while (off < n) off += await to.write(buf.subarray(off, n));
      }
    } catch {
      // closed
    }
    await to.closeWrite().catch(() => {});
  };
  const accept = (async () => {
    for await (const conn of listener) {
      if (down) {
        conn.close();
        continue;
      }
      (async () => {
        let upstream: Deno.Conn;
        try {
          upstream = await Deno.connect({ hostname: "127.0.0.1", port: upstreamPort });
        } catch {
          conn.close();
          return;
        }
        open.add(conn);
        open.add(upstream);
        const cut = () => {
          cuts++;
          if (options.stayDown) down = true;
          if (options.cutOnce) cutAfter = undefined;
          for (const c of [conn, upstream]) {
            try {
              c.close();
            } catch {
              // closed
            }
          }
        };
        await Promise.all([pipe(conn, upstream, true, cut), pipe(upstream, conn, false, cut)]);
        for (const c of [conn, upstream]) {
          open.delete(c);
          try {
            c.close();
          } catch {
            // closed
          }
        }
      })();
    }
  })();
  return {
    host: `127.0.0.1:${port}`,
    get cuts() {
      return cuts;
    },
    get bytesUp() {
      return bytesUp;
    },
    get down() {
      return down;
    },
    heal(next?: number) {
      down = false;
      cutAfter = next;
    },
    async stop() {
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch {
          // closed
        }
      }
      await accept.catch(() => {});
    },
  };
}

/** SHA-256 of bytes as `sha256:<hex>`. */
export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Runs the CLI (with the binary's flags) feeding `stdin`; returns code and output. */
export async function runCliWithStdin(
  args: string[],
  stdin: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { CLI_FLAGS, CLI_TS, ROOT_DIR } = await import("./cli.ts");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...CLI_FLAGS, CLI_TS, ...args],
    cwd: ROOT_DIR,
    env: { NO_COLOR: "1", ...env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const out = await child.output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Deterministic pseudo-random bytes (incompressible), for big test blobs. */
export function randomBytes(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Asks the registry directly (plain HTTP, no auth) whether a manifest or blob exists. */
export async function registryHas(host: string, path: string): Promise<boolean> {
  const response = await fetch(`http://${host}/v2/${path}`, {
    method: "HEAD",
    headers: {
      accept:
        "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json",
    },
  });
  await response.body?.cancel();
  return response.ok;
}

/** Deno's cache directory (where `npm:` dependencies are), to keep when a test changes XDG_CACHE_HOME. */
export const DENO_DIR: string = await (async () => {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped", stderr: "null" })
    .output();
  return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir as string;
})();
