// Pure Node.status computation, as the kubelet's nodestatus setters: capacity, allocatable, addresses,
// nodeInfo, daemon endpoints and the four kubelet-owned conditions, plus the "did anything change" test.
import type { Node, NodeCondition } from '../../kube/api.js';
import type { HostInfo, PressureInputs } from './hostinfo.js';

export type NodeStatus = NonNullable<Node['status']>;

export interface Reserved {
  cpuMillis?: number;
  memoryBytes?: number;
  ephemeralStorageBytes?: number;
}

/** Hard eviction thresholds (upstream Linux defaults: memory.available<100Mi, nodefs.available<10%). */
export interface EvictionThresholds {
  memoryAvailableBytes: number;
  nodefsAvailablePercent: number;
  /** pid.available threshold; upstream sets none by default, so PIDPressure stays False. */
  pidAvailablePercent?: number;
}

export const DEFAULT_EVICTION_HARD: Readonly<EvictionThresholds> = Object.freeze({
  memoryAvailableBytes: 100 * 1024 * 1024,
  nodefsAvailablePercent: 10,
});

export interface Pressure {
  memory: boolean;
  disk: boolean;
  pid: boolean;
}

export interface NodeImage {
  names: string[];
  sizeBytes?: number;
}

export interface NodeStatusInput {
  host: HostInfo;
  /** Docker's version; undefined when the runtime did not answer (the previous value is kept). */
  runtimeVersion?: string;
  /** Why the node is not ready (e.g. "container runtime is down"); empty/absent = healthy. */
  runtimeErrors?: string[];
  kubeletVersion: string;
  /** Defaults to kubeletVersion. */
  kubeProxyVersion?: string;
  maxPods: number;
  reserved?: Reserved;
  evictionHard?: EvictionThresholds;
  port: number;
  pressure: Pressure;
  /** Epoch ms. */
  now: number;
  /** The Node as last read from the API: condition transition times are carried over from it. */
  previous?: Node;
  /** --node-ip: overrides the host's default-route address. */
  nodeIP?: string;
  /** Overrides the Hostname address (default host.hostname). */
  hostname?: string;
  /** Images to list (sorted by size, capped at 50, at most 5 names each, as upstream). */
  images?: NodeImage[];
}

export const MAX_NODE_IMAGES = 50;
const MAX_NAMES_PER_IMAGE = 5;
const KUBELET_CONDITIONS = ['MemoryPressure', 'DiskPressure', 'PIDPressure', 'Ready'] as const;

/** RFC 3339 with second precision, as metav1.Time is serialised. */
export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A byte count as a canonical binary-SI quantity ("24684096Ki", "1Gi", "1000"). */
export function formatBinaryQuantity(bytes: number): string {
  let v = Math.max(0, Math.floor(bytes));
  if (v === 0) return '0';
  const suffixes = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];
  let i = 0;
  while (i < suffixes.length - 1 && v % 1024 === 0) {
    v /= 1024;
    i++;
  }
  return `${v}${suffixes[i]}`;
}

/** Millicores as a canonical decimal quantity ("2", "1500m"). */
export function formatMillicores(millis: number): string {
  const m = Math.max(0, Math.floor(millis));
  return m % 1000 === 0 ? String(m / 1000) : `${m}m`;
}

/** Which eviction thresholds the inputs cross right now (no transition period applied). */
export function observePressure(p: PressureInputs, t: EvictionThresholds = DEFAULT_EVICTION_HARD): Pressure {
  const diskMin = (p.nodefsCapacityBytes * t.nodefsAvailablePercent) / 100;
  const pidAvail = p.pidMax - p.pidsInUse;
  return {
    memory: p.memoryAvailableBytes < t.memoryAvailableBytes,
    disk: p.nodefsCapacityBytes > 0 && p.nodefsAvailableBytes < diskMin,
    pid: t.pidAvailablePercent !== undefined && p.pidMax > 0 && pidAvail < (p.pidMax * t.pidAvailablePercent) / 100,
  };
}

/**
 * Applies the eviction pressure transition period: a signal stays under pressure until it has been
 * clear for periodMs since it was last observed. `lastObserved` is updated in place.
 */
export function withTransitionPeriod(
  observed: Pressure,
  lastObserved: Partial<Record<keyof Pressure, number>>,
  now: number,
  periodMs = 5 * 60_000,
): Pressure {
  const out = { ...observed };
  for (const k of ['memory', 'disk', 'pid'] as const) {
    if (observed[k]) lastObserved[k] = now;
    else if (lastObserved[k] !== undefined && now - (lastObserved[k] as number) < periodMs) out[k] = true;
  }
  return out;
}

function capacityOf(input: NodeStatusInput): Record<string, string> {
  const h = input.host;
  const cap: Record<string, string> = {
    cpu: String(h.cpuCount),
    memory: formatBinaryQuantity(h.memoryBytes),
    pods: String(input.maxPods),
  };
  if (h.ephemeralStorageBytes > 0) cap['ephemeral-storage'] = formatBinaryQuantity(h.ephemeralStorageBytes);
  return cap;
}

function allocatableOf(input: NodeStatusInput): Record<string, string> {
  const h = input.host;
  const r = input.reserved ?? {};
  const t = input.evictionHard ?? DEFAULT_EVICTION_HARD;
  const alloc: Record<string, string> = {
    cpu: formatMillicores(h.cpuCount * 1000 - (r.cpuMillis ?? 0)),
    memory: formatBinaryQuantity(h.memoryBytes - (r.memoryBytes ?? 0) - t.memoryAvailableBytes),
    pods: String(input.maxPods),
  };
  if (h.ephemeralStorageBytes > 0) {
    const evict = Math.floor((h.ephemeralStorageBytes * t.nodefsAvailablePercent) / 100);
    alloc['ephemeral-storage'] = formatBinaryQuantity(h.ephemeralStorageBytes - evict - (r.ephemeralStorageBytes ?? 0));
  }
  return alloc;
}

function findCondition(node: Node | undefined, type: string): NodeCondition | undefined {
  return node?.status?.conditions?.find((c) => c.type === type);
}

/** One condition with lastTransitionTime kept from the previous one unless the status flips. */
function condition(
  prev: NodeCondition | undefined,
  type: string,
  status: 'True' | 'False',
  reason: string,
  message: string,
  now: string,
): NodeCondition {
  const keep = prev && prev.status === status && prev.lastTransitionTime;
  return {
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: now,
    lastTransitionTime: keep ? (prev.lastTransitionTime as string) : now,
  };
}

const PRESSURE_TEXT = {
  MemoryPressure: {
    True: ['KubeletHasInsufficientMemory', 'kubelet has insufficient memory available'],
    False: ['KubeletHasSufficientMemory', 'kubelet has sufficient memory available'],
  },
  DiskPressure: {
    True: ['KubeletHasDiskPressure', 'kubelet has disk pressure'],
    False: ['KubeletHasNoDiskPressure', 'kubelet has no disk pressure'],
  },
  PIDPressure: {
    True: ['KubeletHasInsufficientPID', 'kubelet has insufficient PID available'],
    False: ['KubeletHasSufficientPID', 'kubelet has sufficient PID available'],
  },
} as const;

function conditionsOf(input: NodeStatusInput, capacity: Record<string, string>): NodeCondition[] {
  const now = rfc3339(input.now);
  const out: NodeCondition[] = [];
  const pressures: [keyof typeof PRESSURE_TEXT, boolean][] = [
    ['MemoryPressure', input.pressure.memory],
    ['DiskPressure', input.pressure.disk],
    ['PIDPressure', input.pressure.pid],
  ];
  for (const [type, on] of pressures) {
    const status = on ? 'True' : 'False';
    const [reason, message] = PRESSURE_TEXT[type][status];
    out.push(condition(findCondition(input.previous, type), type, status, reason, message, now));
  }
  const errs = [...(input.runtimeErrors ?? [])];
  const missing = ['cpu', 'memory', 'pods', 'ephemeral-storage'].filter((k) => !(k in capacity));
  if (missing.length) errs.push(`missing node capacity for resources: ${missing.join(', ')}`);
  const ready = errs.length === 0;
  // Ready is last (kubernetes/kubernetes#16961); several errors aggregate as "[a, b]" as upstream.
  out.push(condition(
    findCondition(input.previous, 'Ready'),
    'Ready',
    ready ? 'True' : 'False',
    ready ? 'KubeletReady' : 'KubeletNotReady',
    ready ? 'kubelet is posting ready status' : errs.length === 1 ? (errs[0] as string) : `[${errs.join(', ')}]`,
    now,
  ));
  return out;
}

function imagesOf(images: NodeImage[]): NodeImage[] {
  return [...images]
    .filter((i) => i.names.length > 0)
    .sort((a, b) => (b.sizeBytes ?? 0) - (a.sizeBytes ?? 0))
    .slice(0, MAX_NODE_IMAGES)
    .map((i) => (i.sizeBytes === undefined
      ? { names: i.names.slice(0, MAX_NAMES_PER_IMAGE) }
      : { names: i.names.slice(0, MAX_NAMES_PER_IMAGE), sizeBytes: i.sizeBytes }));
}

/** The node status the kubelet owns. Pure: everything time- or host-dependent comes in `input`. */
export function buildNodeStatus(input: NodeStatusInput): NodeStatus {
  const h = input.host;
  const capacity = capacityOf(input);
  const addresses: { type: string; address: string }[] = [];
  const ip = input.nodeIP ?? h.internalIP;
  if (ip) addresses.push({ type: 'InternalIP', address: ip });
  addresses.push({ type: 'Hostname', address: input.hostname ?? h.hostname });
  const prevInfo = input.previous?.status?.nodeInfo;
  const runtimeVersion = input.runtimeVersion ?? h.runtimeVersion;
  const status: NodeStatus = {
    capacity,
    allocatable: allocatableOf(input),
    conditions: conditionsOf(input, capacity),
    addresses,
    daemonEndpoints: { kubeletEndpoint: { Port: input.port } },
    nodeInfo: {
      machineID: h.machineID,
      systemUUID: h.systemUUID,
      bootID: h.bootID,
      kernelVersion: h.kernelVersion,
      osImage: h.osImage,
      containerRuntimeVersion: runtimeVersion ? `docker://${runtimeVersion}` : (prevInfo?.containerRuntimeVersion ?? ''),
      kubeletVersion: input.kubeletVersion,
      kubeProxyVersion: input.kubeProxyVersion ?? input.kubeletVersion,
      operatingSystem: h.operatingSystem,
      architecture: h.architecture,
    },
  };
  if (input.images) status.images = imagesOf(input.images);
  return status;
}

function sortedJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (val && typeof val === 'object' && !Array.isArray(val)) {
      const o = val as Record<string, unknown>;
      return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
    }
    return val;
  });
}

/** The comparable part of a status: kubelet-owned fields, conditions without heartbeat, by type. */
function comparable(s: NodeStatus | undefined, withImages: boolean): unknown {
  const conds = (s?.conditions ?? [])
    .filter((c) => (KUBELET_CONDITIONS as readonly string[]).includes(c.type))
    .map((c) => ({ ...c, lastHeartbeatTime: undefined }))
    .sort((a, b) => a.type.localeCompare(b.type));
  return {
    capacity: s?.capacity ?? {},
    allocatable: s?.allocatable ?? {},
    addresses: s?.addresses ?? [],
    daemonEndpoints: s?.daemonEndpoints ?? {},
    nodeInfo: s?.nodeInfo ?? {},
    conditions: conds,
    images: withImages ? (s?.images ?? []) : undefined,
  };
}

/**
 * True when `next` differs from `prev` in anything the kubelet sets, ignoring lastHeartbeatTime and
 * conditions owned by others. Images are compared only when `next` lists them.
 */
export function nodeStatusChanged(prev: NodeStatus | undefined, next: NodeStatus): boolean {
  if (!prev) return true;
  const withImages = next.images !== undefined;
  return sortedJson(comparable(prev, withImages)) !== sortedJson(comparable(next, withImages));
}

export interface ConditionTransition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  /** Upstream event reason, e.g. NodeReady, NodeNotReady, NodeHasSufficientMemory. */
  eventReason: string;
}

const EVENT_REASONS: Record<string, { True: string; False: string }> = {
  Ready: { True: 'NodeReady', False: 'NodeNotReady' },
  MemoryPressure: { True: 'NodeHasInsufficientMemory', False: 'NodeHasSufficientMemory' },
  DiskPressure: { True: 'NodeHasDiskPressure', False: 'NodeHasNoDiskPressure' },
  PIDPressure: { True: 'NodeHasInsufficientPID', False: 'NodeHasSufficientPID' },
};

/** The kubelet-owned conditions whose status differs between prev and next (for node events). */
export function conditionTransitions(prev: NodeStatus | undefined, next: NodeStatus): ConditionTransition[] {
  const out: ConditionTransition[] = [];
  for (const c of next.conditions ?? []) {
    const reasons = EVENT_REASONS[c.type];
    if (!reasons || c.status === 'Unknown') continue;
    const before = prev?.conditions?.find((p) => p.type === c.type);
    if (before?.status !== c.status) out.push({ type: c.type, status: c.status, eventReason: reasons[c.status] });
  }
  return out;
}
