/**
 * OCI image-spec and docker-archive data types and media types.
 *
 * @module
 */

/** OCI image manifest media type. */
export const MEDIA_TYPE_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
/** OCI image index media type. */
export const MEDIA_TYPE_INDEX = "application/vnd.oci.image.index.v1+json";
/** OCI image config media type. */
export const MEDIA_TYPE_CONFIG = "application/vnd.oci.image.config.v1+json";

/** Annotation naming a manifest's tag inside a layout's `index.json`. */
export const ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name";
/** Annotation with the full image name, read by containerd and Docker 25+. */
export const ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name";

/** A content descriptor. */
export interface Descriptor {
  /** Media type of the referenced content. */
  mediaType: string;
  /** `sha256:<hex>` of the content. */
  digest: string;
  /** Size in bytes. */
  size: number;
  /** Annotations. */
  annotations?: Record<string, string>;
  /** Platform (index entries only). */
  platform?: Platform;
  /** Artifact type (OCI 1.1). */
  artifactType?: string;
}

/** An image platform. */
export interface Platform {
  /** CPU architecture in OCI/Go naming (amd64, arm64, …). */
  architecture: string;
  /** Operating system. */
  os: string;
  /** CPU variant (e.g. v7, v8). */
  variant?: string;
}

/** An OCI image manifest. */
export interface ImageManifest {
  /** Always 2. */
  schemaVersion: 2;
  /** {@linkcode MEDIA_TYPE_MANIFEST}. */
  mediaType: string;
  /** The config blob. */
  config: Descriptor;
  /** Layer blobs, base first. */
  layers: Descriptor[];
  /** Manifest annotations. */
  annotations?: Record<string, string>;
}

/** An OCI image index (`index.json` of a layout). */
export interface ImageIndex {
  /** Always 2. */
  schemaVersion: 2;
  /** {@linkcode MEDIA_TYPE_INDEX}. */
  mediaType?: string;
  /** Manifests. */
  manifests: Descriptor[];
  /** Index annotations. */
  annotations?: Record<string, string>;
}

/** The runtime part of an image config. */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
}

/** One history entry of an image config. */
export interface HistoryEntry {
  /** RFC 3339 time. */
  created?: string;
  /** What made the layer. */
  created_by?: string;
  /** Free text. */
  comment?: string;
  /** Whether the entry has no layer. */
  empty_layer?: boolean;
}

/** An OCI image config. */
export interface ImageConfig {
  /** RFC 3339 creation time. */
  created?: string;
  /** Author. */
  author?: string;
  /** CPU architecture. */
  architecture: string;
  /** Operating system. */
  os: string;
  /** CPU variant. */
  variant?: string;
  /** Runtime configuration. */
  config?: ContainerConfig;
  /** Layer diff ids. */
  rootfs: { type: "layers"; diff_ids: string[] };
  /** History. */
  history?: HistoryEntry[];
}

/** One image of a docker-archive `manifest.json`. */
export interface DockerArchiveManifestEntry {
  /** Path of the config blob inside the archive. */
  Config: string;
  /** Tags, e.g. `name:tag`. */
  RepoTags: string[];
  /** Paths of the layer blobs inside the archive. */
  Layers: string[];
}
