/**
 * Image references as the distribution project defines them
 * (`[domain[:port]/]path[:tag][@digest]`), with docker's normalisation of
 * short names (`nginx` is `docker.io/library/nginx`).
 *
 * @module
 */

import { UsageError } from "../errors.ts";

/** A parsed image reference. */
export interface ImageReference {
  /** Registry host (with port), or undefined when none was given. */
  domain: string | undefined;
  /** Repository path, e.g. `library/nginx` or `team/app`. */
  path: string;
  /** Tag (default `latest` when no digest is given). */
  tag: string | undefined;
  /** `algorithm:hex` digest, when given. */
  digest: string | undefined;
  /** The name as given, without tag or digest (`registry.example.com/app`). */
  name: string;
  /**
   * Docker's normalised repository, without tag or digest
   * (`docker.io/library/nginx` for `nginx`, `docker.io/nginx` and
   * `index.docker.io/nginx` alike).
   */
  repository: string;
  /** Docker's normalised full name with tag, e.g. `docker.io/library/nginx:latest`. */
  fullName: string;
  /** The short form docker shows (`nginx:latest`, `registry.example.com/app:1`). */
  familiarName: string;
}

const ALNUM = "[a-z0-9]+";
const SEPARATOR = "(?:[._]|__|[-]+)";
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const IPV6 = "\\[(?:[a-fA-F0-9:]+)\\]";
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|${IPV6})(?::[0-9]+)?`;
const PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const NAME_MAX = 255;
const DEFAULT_DOMAIN = "docker.io";

function invalid(ref: string, why: string): UsageError {
  // "user:password@host/…" is not a reference, and its password must not reach a log.
  const shown = ref.replace(/^[^/@]*:[^/@]*@/, "***@");
  return new UsageError(`Invalid image reference: ${shown} (${why})`, {
    solution:
      'Use a name like "my-image:latest" or "registry.example.com/team/my-image:1.0" (lowercase path, tag of letters, digits, ".", "_", "-")',
  });
}

/**
 * Parses and validates an image reference.
 *
 * @example
 * ```ts
 * import { parseImageReference } from "./image_ref.ts";
 * const ref = parseImageReference("registry.example.com:5000/team/app:1.0");
 * ref.domain; // "registry.example.com:5000"
 * ref.path; // "team/app"
 * ref.tag; // "1.0"
 * parseImageReference("nginx").fullName; // "docker.io/library/nginx:latest"
 * parseImageReference("docker.io/nginx:1").fullName; // "docker.io/library/nginx:1"
 * ```
 */
export function parseImageReference(ref: string): ImageReference {
  if (ref.length === 0) throw invalid(ref, "empty");
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw invalid(ref, `bad digest '${digest}'`);
  }
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(":");
  if (lastColon > rest.lastIndexOf("/")) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG_RE.test(tag)) throw invalid(ref, `bad tag '${tag}'`);
  }
  const name = rest;
  if (name.length === 0) throw invalid(ref, "empty name");
  if (name.length > NAME_MAX) throw invalid(ref, `name longer than ${NAME_MAX} characters`);
  let domain: string | undefined;
  let path = name;
  const slash = name.indexOf("/");
  if (slash >= 0) {
    const first = name.slice(0, slash);
    if (first.includes(".") || first.includes(":") || first === "localhost") {
      domain = first;
      path = name.slice(slash + 1);
      if (!DOMAIN_RE.test(domain)) throw invalid(ref, `bad registry host '${domain}'`);
    }
  }
  if (!PATH_RE.test(path)) {
    const why = path !== path.toLowerCase() ? "repository name must be lowercase" : `bad repository name '${path}'`;
    throw invalid(ref, why);
  }
  if (tag === undefined && digest === undefined) tag = "latest";
  // Docker Hub under any of its names: `docker.io/nginx` is `docker.io/library/nginx`, as `nginx` is.
  const dockerHub = domain === undefined || domain === DEFAULT_DOMAIN || domain === "index.docker.io";
  const fullDomain = dockerHub ? DEFAULT_DOMAIN : domain!;
  const fullPath = dockerHub && !path.includes("/") ? `library/${path}` : path;
  const suffix = (tag !== undefined ? `:${tag}` : "") + (digest !== undefined ? `@${digest}` : "");
  const familiarPath =
    fullDomain === DEFAULT_DOMAIN && fullPath.startsWith("library/") && fullPath.split("/").length === 2
      ? fullPath.slice("library/".length)
      : fullPath;
  const familiarName = (fullDomain === DEFAULT_DOMAIN ? familiarPath : `${fullDomain}/${fullPath}`) + suffix;
  return {
    domain,
    path,
    tag,
    digest,
    name,
    repository: `${fullDomain}/${fullPath}`,
    fullName: `${fullDomain}/${fullPath}${suffix}`,
    familiarName,
  };
}

/**
 * The last component of a reference's path (`app` for `r.io/team/app:1`),
 * used for default output names.
 *
 * @example
 * ```ts
 * import { lastNameComponent, parseImageReference } from "./image_ref.ts";
 * lastNameComponent(parseImageReference("r.io/team/app:1")); // "app"
 * ```
 */
export function lastNameComponent(ref: ImageReference): string {
  return ref.path.split("/").pop()!;
}
