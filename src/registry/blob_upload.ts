/**
 * Uploading one blob to a registry: a cross-repository mount when a
 * repository on the same registry may have it; else an upload session
 * (`POST`), the data (`PATCH`), and the commit (`PUT ?digest=`).
 *
 * Blobs up to the chunk size go as one streaming `PATCH` (constant memory).
 * Larger blobs go in chunks (`Content-Range`, one chunk in memory at a
 * time). After a failed chunk the session's status (`GET`, `Range`) says
 * how much the registry kept, and the upload resumes there; when the
 * session is gone (distribution drops a session whose data does not match
 * its state), the blob starts over in a new session. Nothing is visible to
 * users of the registry until the final `PUT`, which the registry checks
 * against the digest.
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";
import type { Descriptor } from "../oci/types.ts";
import type { BlobOpener } from "../oci/image.ts";
import { RegistryConnectionError, type RegistryRepository } from "./client.ts";
import { isRetryableStatus, retryDelay, sleep } from "./retry.ts";

/** Default chunk size: blobs larger than this are uploaded in chunks of this size. */
export const DEFAULT_CHUNK_SIZE: number = 16 << 20;

/** Options for {@linkcode uploadBlob}. */
export interface UploadBlobOptions {
  /** Chunk size in bytes (0: always one streaming request). */
  chunkSize?: number;
  /** Repositories on the same registry that may hold the blob (tried for a mount). */
  mountFrom?: string[];
  /** Aborts the upload (the session is cancelled). */
  signal?: AbortSignal;
  /** Called with the number of bytes read from the source as they go. */
  onBytes?: (bytes: number) => void;
}

/** What an upload did. */
export interface UploadBlobResult {
  /** Mounted from another repository (nothing sent). */
  mounted: boolean;
  /** Bytes sent, counting data sent again after failures. */
  bytesSent: number;
  /** Upload sessions started (1 unless the blob had to start over). */
  sessions: number;
}

/** The upload session is gone or holds the wrong data: start the blob over. */
class SessionLost extends Error {
  constructor(readonly reason: unknown) {
    super("upload session lost");
  }
}

function checkedStream(
  source: ReadableStream<Uint8Array>,
  expected: number,
  digest: string,
  onBytes: (n: number) => void,
): ReadableStream<Uint8Array> {
  let seen = 0;
  return source.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.length;
        if (seen > expected) {
          controller.error(sizeMismatch(digest, expected, `more than ${expected}`));
          return;
        }
        onBytes(chunk.length);
        controller.enqueue(chunk);
      },
      flush(controller) {
        if (seen !== expected) controller.error(sizeMismatch(digest, expected, String(seen)));
      },
    }),
  );
}

function sizeMismatch(digest: string, expected: number, actual: string): AptOstreeError {
  return new AptOstreeError(`Blob ${digest} of the source has ${actual} bytes, its descriptor says ${expected}`, {
    solution: "The source image is damaged; check it with: apt-ostree image verify",
  });
}

/** Reads a stream in pieces of a given size. */
class ChunkReader {
  private reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  private rest: Uint8Array = new Uint8Array(0);

  constructor(private readonly open: BlobOpener, private position: number) {}

  async read(length: number): Promise<Uint8Array> {
    this.reader ??= (await this.open(this.position)).getReader();
    const out = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      if (this.rest.length === 0) {
        const { done, value } = await this.reader.read();
        if (done) throw new AptOstreeError("The source blob ended early", { solution: "The source image is damaged" });
        this.rest = value;
      }
      const take = Math.min(length - filled, this.rest.length);
      out.set(this.rest.subarray(0, take), filled);
      this.rest = this.rest.subarray(take);
      filled += take;
    }
    this.position += length;
    return out;
  }

  /** Continues at another offset (the source is reopened there). */
  async seek(position: number): Promise<void> {
    await this.close();
    this.position = position;
  }

  async close(): Promise<void> {
    await this.reader?.cancel().catch(() => {});
    this.reader = undefined;
    this.rest = new Uint8Array(0);
  }
}

/** Parses `Range: 0-<end>` of an upload response; the number of bytes the registry holds. */
function receivedBytes(response: Response): number | undefined {
  const range = response.headers.get("range");
  const m = range ? /^(?:bytes=)?0-(\d+)$/.exec(range.trim()) : null;
  return m ? Number(m[1]) + 1 : undefined;
}

function locationOf(response: Response, repo: RegistryRepository, base: URL): URL {
  const location = response.headers.get("location");
  if (!location) {
    throw new AptOstreeError(`${repo.client.host} started an upload without a Location`, {
      solution: "The registry does not follow the distribution API",
    });
  }
  return new URL(location, base);
}

/**
 * Tries to mount a blob from other repositories of the same registry;
 * returns true when mounted, or an upload session URL the registry opened
 * instead.
 */
async function startSession(
  repo: RegistryRepository,
  digest: string,
  mountFrom: string[],
  signal: AbortSignal | undefined,
): Promise<{ mounted: true } | { mounted: false; location: URL }> {
  const base = await repo.client.baseUrl(signal);
  for (const from of mountFrom.filter((f) => f !== repo.path).slice(0, 3)) {
    const path = `/v2/${repo.path}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`;
    let response: Response;
    try {
      response = await repo.client.request({
        method: "POST",
        path,
        headers: { "content-length": "0" },
        scopes: [repo.pushScope, `repository:${from}:pull`],
        signal,
      });
    } catch (error) {
      // No pull access to the other repository: upload instead.
      if (error instanceof AptOstreeError && /Access denied|Authentication/.test(error.message)) continue;
      throw error;
    }
    await response.body?.cancel();
    if (response.status === 201) return { mounted: true };
    if (response.status === 202) return { mounted: false, location: locationOf(response, repo, base) };
    if (response.status === 401 || response.status === 403 || response.status === 404) continue;
    throw await repo.error("start an upload to", response);
  }
  const response = await repo.client.request({
    method: "POST",
    path: `/v2/${repo.path}/blobs/uploads/`,
    headers: { "content-length": "0" },
    scopes: [repo.pushScope],
    signal,
  });
  if (response.status !== 202) throw await repo.error("start an upload to", response);
  await response.body?.cancel();
  return { mounted: false, location: locationOf(response, repo, base) };
}

/**
 * Uploads one blob (its bytes come from `open`, which may be called again
 * to resume at an offset).
 *
 * @example
 * ```ts
 * import { uploadBlob } from "./blob_upload.ts";
 * import { RegistryClient } from "./client.ts";
 * const client = await RegistryClient.create("localhost:5000", { tlsVerify: false });
 * const bytes = new TextEncoder().encode("hello");
 * const { sha256Digest } = await import("../digest/digest.ts");
 * await uploadBlob(client.repository("app"), { mediaType: "application/octet-stream", digest: sha256Digest(bytes), size: 5 },
 *   async () => ReadableStream.from([bytes]));
 * ```
 */
export async function uploadBlob(
  repo: RegistryRepository,
  descriptor: Descriptor,
  open: BlobOpener,
  options: UploadBlobOptions = {},
): Promise<UploadBlobResult> {
  const { signal } = options;
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const policy = repo.client.retryPolicy;
  const base = await repo.client.baseUrl(signal);
  const onBytes = options.onBytes ?? (() => {});
  const result: UploadBlobResult = { mounted: false, bytesSent: 0, sessions: 0 };
  const chunked = chunkSize > 0 && descriptor.size > chunkSize;
  const state: { location: URL | undefined; failures: number } = { location: undefined, failures: 0 };
  const countFailure = (reason: unknown) => {
    state.failures++;
    if (state.failures <= policy.retries) return;
    if (reason instanceof RegistryConnectionError && reason.problem === "connection") {
      throw new AptOstreeError(
        `Uploading blob ${descriptor.digest} to ${repo.name} failed ${state.failures} times: ${reason.message}`,
        {
          solution:
            "Check the network and the registry, then run the push again: it sends only what the registry is missing",
          cause: reason,
        },
      );
    }
    throw reason;
  };

  const patch = (headers: Record<string, string>, body: Uint8Array | (() => Promise<ReadableStream<Uint8Array>>)) =>
    repo.client.request({
      method: "PATCH",
      path: state.location!,
      headers: { "content-type": "application/octet-stream", ...headers },
      body,
      scopes: [repo.pushScope],
      signal,
      retry: false, // the registry may have kept part of the data: the session's status decides
    });

  /** Sorts a PATCH outcome: the next Location, or a reason to resume or start over. */
  const accepted = async (response: Response, expected: number): Promise<void> => {
    if (response.status === 202) {
      await response.body?.cancel();
      state.location = locationOf(response, repo, base);
      const received = receivedBytes(response);
      // The registry holds something else than we sent: start over.
      if (received !== undefined && received !== expected && expected > 0) throw new SessionLost(undefined);
      return;
    }
    const error = await repo.error(`upload blob ${descriptor.digest} to`, response);
    if ([400, 404, 416].includes(response.status) || isRetryableStatus(response.status)) throw new SessionLost(error);
    throw error;
  };

  const sendWhole = async (): Promise<void> => {
    let response: Response;
    try {
      response = await patch({}, async () =>
        checkedStream(await open(0), descriptor.size, descriptor.digest, (n) => {
          result.bytesSent += n;
          onBytes(n);
        }));
    } catch (error) {
      if (isConnectionFailure(error)) throw new SessionLost(error);
      throw error;
    }
    await accepted(response, descriptor.size);
  };

  const sendChunks = async (): Promise<void> => {
    const reader = new ChunkReader(open, 0);
    let offset = 0;
    try {
      while (offset < descriptor.size) {
        const length = Math.min(chunkSize, descriptor.size - offset);
        const chunk = await reader.read(length);
        result.bytesSent += chunk.length;
        onBytes(chunk.length);
        try {
          await accepted(await patch({ "content-range": `${offset}-${offset + length - 1}` }, chunk), offset + length);
          offset += length;
          continue;
        } catch (error) {
          const reason = error instanceof SessionLost ? error.reason : error;
          if (!(error instanceof SessionLost) && !isConnectionFailure(error)) throw error;
          countFailure(reason ?? error);
        }
        // Where did the registry stop? Resume there, or start over.
        const status = await uploadStatus(repo, state.location!, signal);
        if (!status) throw new SessionLost(undefined);
        state.location = status.location;
        offset = status.received;
        await reader.seek(offset);
      }
    } finally {
      await reader.close();
    }
  };

  /** The final PUT; true when the blob is in place. */
  const commit = async (): Promise<void> => {
    const put = new URL(state.location!);
    put.searchParams.set("digest", descriptor.digest);
    const response = await repo.client.request({
      method: "PUT",
      path: put,
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array(0),
      scopes: [repo.pushScope],
      signal,
    });
    if (response.status === 201 || response.status === 204) {
      await response.body?.cancel();
      state.location = undefined;
      return;
    }
    if (response.status === 404) {
      await response.body?.cancel();
      // A repeated PUT after one that succeeded: the blob is there.
      if ((await repo.statBlob(descriptor.digest, [repo.pushScope], signal)).exists) {
        state.location = undefined;
        return;
      }
      throw new SessionLost(await repo.error(`finish the upload of blob ${descriptor.digest} to`, response));
    }
    const error = await repo.error(`finish the upload of blob ${descriptor.digest} to`, response);
    if (/DIGEST_INVALID|BLOB_UPLOAD_INVALID|SIZE_INVALID/.test(error.message)) {
      throw new AptOstreeError(
        `The registry refused blob ${descriptor.digest}: the bytes sent do not match its digest or size (${error.message})`,
        { solution: "The source image is damaged; check it with: apt-ostree image verify" },
      );
    }
    throw error;
  };

  let mountFrom = options.mountFrom ?? [];
  try {
    for (;;) {
      const session = await startSession(repo, descriptor.digest, mountFrom, signal);
      mountFrom = [];
      if (session.mounted) {
        result.mounted = true;
        return result;
      }
      result.sessions++;
      state.location = session.location;
      try {
        if (chunked) await sendChunks();
        else await sendWhole();
        await commit();
        return result;
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (!(error instanceof SessionLost)) throw error;
        await cancelSession(repo, state.location, signal);
        state.location = undefined;
        countFailure(error.reason ?? new AptOstreeError(`The upload of blob ${descriptor.digest} kept failing`));
        await sleep(retryDelay(policy, state.failures), signal);
      }
    }
  } catch (error) {
    await cancelSession(repo, state.location, undefined);
    throw signal?.aborted ? signal.reason : error;
  }
}

/** Whether an error is a broken or refused connection (worth resuming). */
function isConnectionFailure(error: unknown): boolean {
  return error instanceof RegistryConnectionError && error.problem === "connection";
}

/** What the registry holds of an upload session; undefined when the session is gone. */
async function uploadStatus(
  repo: RegistryRepository,
  location: URL,
  signal: AbortSignal | undefined,
): Promise<{ location: URL; received: number } | undefined> {
  let response: Response;
  try {
    response = await repo.client.request({ method: "GET", path: location, scopes: [repo.pushScope], signal });
  } catch {
    if (signal?.aborted) throw signal.reason;
    return undefined;
  }
  await response.body?.cancel();
  if (response.status !== 204 && response.status !== 200) return undefined;
  const received = receivedBytes(response);
  // "0-0" means 0 or 1 byte: ambiguous, so start over.
  if (received === undefined || received <= 1) return undefined;
  const base = await repo.client.baseUrl(signal);
  return { location: locationOf(response, repo, base), received };
}

/** Cancels an upload session (best effort: the registry expires it anyway). */
async function cancelSession(repo: RegistryRepository, location: URL | undefined, signal?: AbortSignal): Promise<void> {
  if (location === undefined) return;
  try {
    const response = await repo.client.request({
      method: "DELETE",
      path: location,
      scopes: [repo.pushScope],
      signal,
      retry: false,
    });
    await response.body?.cancel();
  } catch {
    // best effort
  }
}
