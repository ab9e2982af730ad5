// The narrow container-runtime interface the agent needs. runtime/docker/ implements it with dockerode.
// Everything here is keyed by Kubernetes identity (pod uid + container name), never by Docker name.

export type ContainerKind = 'sandbox' | 'init' | 'container';

/** Identity stamped on every managed container as labels, so the agent can adopt after a restart. */
export interface ContainerIdentity {
  podUid: string;
  podName: string;
  podNamespace: string;
  /** Kubernetes container name; 'POD' for the sandbox. */
  containerName: string;
  kind: ContainerKind;
  /** Docker name suffix: k8s_<container>_<pod>_<ns>_<uid>_<attempt>. */
  attempt: number;
  restartCount: number;
  /** Hash of the container spec this container was created from (a change means restart). */
  specHash: string;
}

export interface ObservedContainer extends ContainerIdentity {
  id: string;
  /** Docker's container name without the leading slash. */
  dockerName: string;
  state: 'created' | 'running' | 'exited' | 'dead' | 'unknown';
  image: string;
  imageRef: string; // docker-pullable://… or the image ID
  createdAt: string; // RFC 3339
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  oomKilled?: boolean;
  /** Docker's error text when the container failed to start. */
  error?: string;
  /** For sandboxes: the IP on the pod network. */
  ip?: string;
  /** Annotations the agent stored (termination message path/policy, ports…). */
  annotations: Record<string, string>;
  pid?: number;
  /** For app/init containers: the sandbox container they joined (label io.kubernetes.sandbox.id). */
  sandboxId?: string;
}

/** One Docker container event for a managed container (see ContainerRuntime.watchEvents). */
export interface RuntimeEvent {
  id: string;
  podUid?: string;
  /** Docker's action: create, start, die, oom, destroy, … */
  action: string;
}

export interface PortBinding {
  containerPort: number;
  hostPort: number;
  hostIP?: string;
  protocol: 'TCP' | 'UDP' | 'SCTP';
}

export interface SandboxSpec {
  identity: ContainerIdentity;
  image: string;
  hostname: string;
  hostNetwork: boolean;
  portBindings: PortBinding[];
  dns?: { servers: string[]; searches: string[]; options: string[] };
  labels?: Record<string, string>;
  /** cgroup parent for the pod (optional). */
  cgroupParent?: string;
  /** Docker network the sandbox joins (the node's pod network, e.g. dockerlet0); Docker's default bridge when absent. */
  network?: string;
  /** Namespaced sysctls of the pod (dotted names), set on the sandbox whose net/IPC namespaces the containers join. */
  sysctls?: Record<string, string>;
  /** hostPID / hostIPC of the pod. */
  hostPid?: boolean;
  hostIpc?: boolean;
  /** The pod cgroup's own limits (kubelet ResourceConfigForPod), written to cgroupParent after the sandbox starts. */
  podResources?: Resources;
}

/**
 * A file the runtime writes before creating the container and bind-mounts at containerPath (the
 * kubelet-managed /etc/hosts): prefix + the contents of includeFile (when set) + suffix, mode 0644.
 */
export interface GeneratedFile {
  hostPath: string;
  containerPath: string;
  prefix: string;
  includeFile?: string;
  suffix: string;
}

/** CRI-style security profile names: 'unconfined', 'runtime/default' or 'localhost/<path or name>'. */
export type SecurityProfile = 'unconfined' | 'runtime/default' | `localhost/${string}`;

export interface Mount {
  hostPath: string;
  containerPath: string;
  readOnly: boolean;
}

export interface TmpfsMount {
  containerPath: string;
  sizeBytes?: number;
}

export interface Resources {
  cpuShares?: number;
  cpuQuota?: number; // microseconds per period
  cpuPeriod?: number; // microseconds
  memoryLimitBytes?: number;
  oomScoreAdj?: number;
}

export interface ContainerCreateSpec {
  identity: ContainerIdentity;
  sandboxId: string;
  image: string;
  command?: string[]; // entrypoint override (Kubernetes `command`)
  args?: string[]; // cmd override (Kubernetes `args`)
  env: { name: string; value: string }[];
  workingDir?: string;
  mounts: Mount[];
  tmpfs?: TmpfsMount[];
  resources: Resources;
  tty?: boolean;
  stdin?: boolean;
  stdinOnce?: boolean;
  privileged?: boolean;
  user?: string;
  readOnlyRootfs?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  sharePid?: boolean;
  /** Join this container's PID namespace (an ephemeral container's targetContainerName): PidMode container:<id>. */
  pidContainerId?: string;
  hostNetwork?: boolean;
  /** hostPID / hostIPC: the container joins the host's PID / IPC namespace. */
  hostPid?: boolean;
  hostIpc?: boolean;
  /** Extra groups of the process (supplementalGroups + fsGroup). */
  groupAdd?: number[];
  /** allowPrivilegeEscalation=false: no_new_privs. */
  noNewPrivileges?: boolean;
  /** Seccomp profile; localhost/<absolute path of a JSON profile>. Absent: the runtime's default. */
  seccomp?: SecurityProfile;
  /** AppArmor profile; localhost/<loaded profile name>. Absent: the runtime's default. */
  appArmor?: SecurityProfile;
  /** procMount Unmasked: no masked / read-only /proc paths. */
  unmaskedProc?: boolean;
  /** SELinux label options (Docker label=user:…, role:…, type:…, level:…). */
  seLinux?: { user?: string; role?: string; type?: string; level?: string };
  /**
   * runAsNonRoot without runAsUser: the runtime checks the image's USER (root or non-numeric refuses
   * with CONTAINER_CONFIG, as the kubelet's verifyRunAsNonRoot). The value names the pod for the message.
   */
  verifyNonRoot?: { pod: string };
  /** Files generated and bind-mounted into the container (the kubelet-managed /etc/hosts). */
  files?: GeneratedFile[];
  /** cgroup parent of the pod (kubelet cgroupfs layout, e.g. /kubepods/burstable/pod<uid>). */
  cgroupParent?: string;
  annotations: Record<string, string>;
  /** Host file that backs terminationMessagePath (bind-mounted there). */
  terminationMessageHostPath?: string;
}

export interface PullProgress {
  status: string;
  current?: number;
  total?: number;
}

/** A registry credential for one pull (the Engine API's X-Registry-Auth fields). */
export interface RegistryAuth {
  username: string;
  password: string;
  serveraddress: string;
  email?: string;
}

export interface ImageInfo {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  stopSignal?: string;
  sizeBytes?: number;
}

export interface LogOptions {
  follow?: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  timestamps?: boolean;
  limitBytes?: number;
  signal?: AbortSignal;
}

export interface ContainerRuntime {
  version(): Promise<{ name: 'docker'; version: string; apiVersion: string }>;
  /** All containers the agent manages (label io.kubernetes.pod.uid present), running or not. */
  listManaged(): Promise<ObservedContainer[]>;
  /** The managed containers of one pod (as listManaged, filtered by the pod uid label): a pod sync's own look. */
  listPod?(podUid: string): Promise<ObservedContainer[]>;
  /** The given managed containers as they are now (one inspect each; gone ones left out): a sync's look after its own creates/starts. */
  inspectContainers?(ids: readonly string[]): Promise<ObservedContainer[]>;
  inspectImage(ref: string): Promise<ImageInfo | undefined>;
  /** auth: the registry credential chosen from imagePullSecrets / the node's docker config (agent/images/keyring.ts). */
  pullImage(ref: string, onProgress?: (p: PullProgress) => void, signal?: AbortSignal, auth?: RegistryAuth): Promise<ImageInfo>;
  listImages(): Promise<ImageInfo[]>;
  /** Creates and starts the sandbox (pause) container; returns its id. */
  runSandbox(spec: SandboxSpec): Promise<string>;
  createContainer(spec: ContainerCreateSpec): Promise<string>;
  startContainer(id: string): Promise<void>;
  /** Sends stopSignal (image STOPSIGNAL or SIGTERM), then SIGKILL after graceSeconds. */
  stopContainer(id: string, graceSeconds: number): Promise<void>;
  removeContainer(id: string): Promise<void>;
  /** Removes the empty pod cgroups of pods not in keep (the kubelet's cleanupOrphanedPodCgroups); returns how many dirs. */
  removeOrphanPodCgroups?(keep: ReadonlySet<string>): Promise<number>;
  /** Container logs as a byte stream (stdout+stderr demultiplexed, in order). */
  logs(id: string, opts: LogOptions): Promise<NodeJS.ReadableStream>;
  /** Reads a file from a (possibly exited) container, e.g. the termination message. */
  readFile?(id: string, path: string, maxBytes: number): Promise<string | undefined>;
  /**
   * Streams lifecycle events of managed containers, reconnecting with backoff until signal aborts.
   * onConnected(true) once the stream delivers (replaying from the last event seen), false when it broke:
   * while it is down a caller must not rely on events alone.
   */
  watchEvents?(signal: AbortSignal, onEvent: (e: RuntimeEvent) => void, onConnected?: (connected: boolean) => void): Promise<void>;
  /** Rewrites a pod cgroup's limits (in-place resize: raise the pod's before its containers', lower after). */
  updatePodResources?(cgroupParent: string, resources: Resources): Promise<void>;
  /** Applies CPU/memory limits to a running container (docker update; in-place resize). oomScoreAdj is ignored. */
  updateContainerResources?(id: string, resources: Resources): Promise<void>;
  /** Runs cmd in a running container (exec probes): exit code + combined output (≤10 KiB); throws EXEC_TIMEOUT. */
  exec?(id: string, cmd: string[], opts: { timeoutMs: number }): Promise<{ exitCode: number; output: string }>;
}
