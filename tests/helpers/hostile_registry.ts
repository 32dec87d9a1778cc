/**
 * A hostile registry on loopback, for the tests' own use: a raw HTTP/1.1
 * server that misbehaves in one chosen way, so that every command that
 * talks to registries can be shown to fail cleanly, in bounded time and
 * memory. Everything it does is bounded: it stops sending when the client
 * goes away, and `stop()` closes every connection.
 */

import { sha256 } from "./registry.ts";

/** How the registry misbehaves. */
export type HostileMode =
  /** Accepts connections, reads requests, never answers. */
  | "silent"
  /** Asks for a Bearer token, then sends a token answer that never ends. */
  | "endless-token"
  /** Answers every request with a 400 whose body never ends. */
  | "endless-error"
  /** Sends a manifest's headers and one byte of it, then nothing. */
  | "stall-manifest"
  /** Serves the manifest and config; sends one byte of the layer, then nothing. */
  | "stall-layer"
  /** Serves the manifest and config; drips the layer one byte a second. */
  | "drip"
  /** Serves a manifest whose bytes do not match the digest it claims. */
  | "wrong-digest";

/** A running hostile registry. */
export interface HostileRegistry {
  /** `127.0.0.1:PORT`. */
  host: string;
  /** Requests seen (method and path). */
  requests: string[];
  /** Stops it and closes every connection. */
  stop(): Promise<void>;
}

const encoder = new TextEncoder();

/** A tiny valid image: one layer (a tar of one empty directory's worth of zeros), its config and manifest. */
function tinyImage() {
  const layer = new Uint8Array(4096); // an empty tar: end-of-archive blocks
  const config = encoder.encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: [sha256(layer)] },
  }));
  const manifest = encoder.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256(layer), size: layer.length }],
  }));
  return { layer, config, manifest };
}

/** Starts a hostile registry in `mode`. */
export function startHostileRegistry(mode: HostileMode): HostileRegistry {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const host = `127.0.0.1:${port}`;
  const image = tinyImage();
  const requests: string[] = [];
  const open = new Set<Deno.Conn>();
  let stopped = false;
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  const write = async (conn: Deno.Conn, data: Uint8Array | string) => {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    let off = 0;
    while (off < bytes.length) off += await conn.write(bytes.subarray(off));
  };
  const head = (status: string, headers: Record<string, string>) =>
    `HTTP/1.1 ${status}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`;
  const whole = (conn: Deno.Conn, status: string, body: Uint8Array, headers: Record<string, string> = {}) =>
    write(conn, head(status, { "content-length": String(body.length), ...headers })).then(() => write(conn, body));
  /** A chunked body that never ends (until the client goes away or the server stops). */
  const endless = async (conn: Deno.Conn, status: string, headers: Record<string, string>) => {
    await write(conn, head(status, { "transfer-encoding": "chunked", ...headers }));
    const chunk = encoder.encode("x".repeat(64 << 10));
    const frame = new Uint8Array([...encoder.encode(`${chunk.length.toString(16)}\r\n`), ...chunk, 13, 10]);
    while (!stopped) await write(conn, frame);
  };

  const answer = async (conn: Deno.Conn, method: string, path: string) => {
    requests.push(`${method} ${path}`);
    if (mode === "silent") return await new Promise(() => {}); // never
    if (mode === "endless-error") return await endless(conn, "400 Bad Request", { "content-type": "application/json" });
    if (mode === "endless-token") {
      if (path.startsWith("/token")) return await endless(conn, "200 OK", { "content-type": "application/json" });
      return await whole(conn, "401 Unauthorized", encoder.encode("{}"), {
        "www-authenticate": `Bearer realm="http://${host}/token",service="hostile"`,
      });
    }
    if (path === "/v2/" || path === "/v2") return await whole(conn, "200 OK", encoder.encode("{}"));
    const manifestHeaders = {
      "content-type": "application/vnd.oci.image.manifest.v1+json",
      "docker-content-digest": sha256(image.manifest),
    };
    if (/\/manifests\//.test(path)) {
      if (mode === "stall-manifest") {
        await write(conn, head("200 OK", { "content-length": String(image.manifest.length), ...manifestHeaders }));
        await write(conn, image.manifest.subarray(0, 1));
        return await new Promise(() => {});
      }
      if (mode === "wrong-digest") {
        const other = encoder.encode(
          new TextDecoder().decode(image.manifest).replace('"schemaVersion":2', '"schemaVersion": 2'),
        );
        return await whole(conn, "200 OK", method === "HEAD" ? new Uint8Array() : other, manifestHeaders);
      }
      return await whole(conn, "200 OK", method === "HEAD" ? new Uint8Array() : image.manifest, manifestHeaders);
    }
    if (path.includes(`/blobs/${sha256(image.config)}`)) return await whole(conn, "200 OK", image.config);
    if (path.includes(`/blobs/${sha256(image.layer)}`)) {
      await write(conn, head("200 OK", { "content-length": String(image.layer.length) }));
      if (mode === "stall-layer") {
        await write(conn, image.layer.subarray(0, 1));
        return await new Promise(() => {});
      }
      for (let i = 0; i < image.layer.length && !stopped; i++) { // drip: a byte a second
        await write(conn, image.layer.subarray(i, i + 1));
        await pause(1000);
      }
      return;
    }
    return await whole(conn, "404 Not Found", encoder.encode('{"errors":[{"code":"NOT_FOUND"}]}'));
  };

  const serve = async (conn: Deno.Conn) => {
    open.add(conn);
    const buf = new Uint8Array(64 << 10);
    let pending = "";
    try {
      while (!stopped) {
        const n = await conn.read(buf);
        if (n === null) break;
        if (pending === "" && buf[0] === 0x16 && mode !== "silent") {
          // A TLS handshake (the client tries HTTPS first): answer as a plain-HTTP server does, and hang up.
          await write(conn, "HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
          break;
        }
        pending += new TextDecoder().decode(buf.subarray(0, n));
        if (pending.length > 1 << 20) break; // bounded: nobody sends a megabyte of headers
        const end = pending.indexOf("\r\n\r\n");
        if (end < 0) continue;
        const [requestLine] = pending.slice(0, end).split("\r\n");
        pending = ""; // request bodies (uploads) are not read further: the answer is all that matters here
        const [method, path] = requestLine.split(" ");
        await answer(conn, method, path);
      }
    } catch {
      // the client went away
    } finally {
      open.delete(conn);
      try {
        conn.close();
      } catch {
        // closed
      }
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) serve(conn);
  })().catch(() => {});

  return {
    host,
    requests,
    async stop() {
      stopped = true;
      listener.close();
      for (const conn of open) {
        try {
          conn.close();
        } catch {
          // closed
        }
      }
      await accepting;
    },
  };
}
