/**
 * Image names with a transport, as skopeo and podman users write them:
 * `oci:PATH[:TAG]`, `oci-archive:PATH[:TAG]`, `docker-archive:PATH[:NAME:TAG]`
 * and `docker://[HOST[:PORT]/]NAME[:TAG|@DIGEST]`.
 *
 * As in containers/image, the path ends at the first `:` (paths with a
 * colon cannot be named).
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { type ImageReference, parseImageReference } from "./image_ref.ts";

/** An image in an OCI layout directory. */
export interface OciLocation {
  /** `oci`. */
  transport: "oci";
  /** The layout directory. */
  path: string;
  /** The tag (`org.opencontainers.image.ref.name`), when given. */
  tag: string | undefined;
}

/** An image in an OCI layout tar. */
export interface OciArchiveLocation {
  /** `oci-archive`. */
  transport: "oci-archive";
  /** The tar file. */
  path: string;
  /** The tag, when given. */
  tag: string | undefined;
}

/** An image in a docker-archive (`docker save`) tar. */
export interface DockerArchiveLocation {
  /** `docker-archive`. */
  transport: "docker-archive";
  /** The tar file. */
  path: string;
  /** The image name in the archive (`RepoTags`), when given. */
  ref: ImageReference | undefined;
}

/** An image in a registry. */
export interface DockerLocation {
  /** `docker`. */
  transport: "docker";
  /** The reference, with a registry host (docker.io when none was given). */
  ref: ImageReference;
  /** The registry host to talk to (`registry-1.docker.io` for docker.io). */
  host: string;
  /** The repository path on that registry (`library/nginx`). */
  repository: string;
}

/** Any image name with a transport. */
export type ImageLocation = OciLocation | OciArchiveLocation | DockerArchiveLocation | DockerLocation;

/** Transport names, for help texts and errors. */
export const TRANSPORTS: readonly string[] = ["oci:", "oci-archive:", "docker-archive:", "docker://"];

/**
 * Whether `text` starts with a transport (`oci:`, `oci-archive:`,
 * `docker-archive:`, `docker://`), as opposed to a plain path.
 *
 * @example
 * ```ts
 * import { isImageLocation } from "./transport.ts";
 * isImageLocation("docker://localhost:5000/app:1"); // true
 * isImageLocation("./app.oci"); // false
 * ```
 */
export function isImageLocation(text: string): boolean {
  return TRANSPORTS.some((t) => text.startsWith(t));
}

const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:@/+-]*$/;

function badName(text: string, why: string): UsageError {
  return new UsageError(`Invalid image name: ${text} (${why})`, {
    solution:
      "Use oci:PATH[:TAG], oci-archive:PATH[:TAG], docker-archive:PATH or docker://HOST[:PORT]/NAME[:TAG], as skopeo does",
  });
}

/**
 * The registry host and repository of a reference, with docker's defaults:
 * no host means Docker Hub (`registry-1.docker.io`, `library/` for
 * one-component names).
 *
 * @example
 * ```ts
 * import { registryLocation } from "./transport.ts";
 * import { parseImageReference } from "./image_ref.ts";
 * registryLocation(parseImageReference("nginx:1")); // { host: "registry-1.docker.io", repository: "library/nginx" }
 * registryLocation(parseImageReference("localhost:5000/app")); // { host: "localhost:5000", repository: "app" }
 * ```
 */
export function registryLocation(ref: ImageReference): { host: string; repository: string } {
  const domain = ref.domain ?? "docker.io";
  const dockerHub = domain === "docker.io" || domain === "index.docker.io";
  return {
    host: dockerHub ? "registry-1.docker.io" : domain,
    repository: dockerHub && !ref.path.includes("/") ? `library/${ref.path}` : ref.path,
  };
}

/**
 * Parses an image name with a transport prefix.
 *
 * @example
 * ```ts
 * import { parseImageLocation } from "./transport.ts";
 * parseImageLocation("oci:./out.oci:1.0"); // { transport: "oci", path: "./out.oci", tag: "1.0" }
 * parseImageLocation("docker://localhost:5000/app:1").transport; // "docker"
 * ```
 */
export function parseImageLocation(text: string): ImageLocation {
  if (text.startsWith("docker://")) {
    const rest = text.slice("docker://".length);
    if (rest.length === 0) throw badName(text, "no image name after docker://");
    const ref = parseImageReference(rest);
    return { transport: "docker", ref, ...registryLocation(ref) };
  }
  const colon = text.indexOf(":");
  if (colon < 0) {
    throw badName(text, `no transport; prefix it with one of ${TRANSPORTS.join(", ")}`);
  }
  const transport = text.slice(0, colon);
  const rest = text.slice(colon + 1);
  const sep = rest.indexOf(":");
  const path = sep < 0 ? rest : rest.slice(0, sep);
  const suffix = sep < 0 ? undefined : rest.slice(sep + 1);
  if (transport === "oci" || transport === "oci-archive") {
    if (path.length === 0) throw badName(text, "empty path");
    if (suffix !== undefined && !TAG_RE.test(suffix)) throw badName(text, `bad tag '${suffix}'`);
    return { transport, path, tag: suffix === "" ? undefined : suffix };
  }
  if (transport === "docker-archive") {
    if (path.length === 0) throw badName(text, "empty path");
    return { transport, path, ref: suffix ? parseImageReference(suffix) : undefined };
  }
  if (transport === "docker") throw badName(text, "registry names start with docker://");
  throw badName(text, `unknown transport '${transport}'; use one of ${TRANSPORTS.join(", ")}`);
}

/**
 * Formats a location back into its transport name.
 *
 * @example
 * ```ts
 * import { formatImageLocation, parseImageLocation } from "./transport.ts";
 * formatImageLocation(parseImageLocation("oci:out.oci:1")); // "oci:out.oci:1"
 * ```
 */
export function formatImageLocation(location: ImageLocation): string {
  switch (location.transport) {
    case "docker":
      return `docker://${location.ref.name}${suffixOf(location.ref)}`;
    case "docker-archive":
      return `docker-archive:${location.path}${location.ref ? `:${location.ref.familiarName}` : ""}`;
    default:
      return `${location.transport}:${location.path}${location.tag !== undefined ? `:${location.tag}` : ""}`;
  }
}

function suffixOf(ref: ImageReference): string {
  return (ref.tag !== undefined ? `:${ref.tag}` : "") + (ref.digest !== undefined ? `@${ref.digest}` : "");
}
