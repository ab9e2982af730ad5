// Validation of a static pod manifest as a core/v1 Pod (zod, strict objects: unknown fields are errors,
// as `kubectl apply --validate=strict`), plus the few semantic rules upstream's ValidatePodCreate adds
// that a manifest author commonly breaks. Errors are ONE line naming the file and the field path.
import { z } from 'zod';
import type { Pod } from '../../kube/api.js';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import { parseQuantity } from '../containers/quantity.js';

const str = z.string();
const bool = z.boolean();
const int = z.int();
const strList = z.array(str);
const strMap = z.record(str, str);
/** Fields we pass through untouched (scheduling hints a single node ignores). */
const loose = z.looseObject({});
const looseList = z.array(loose);

const intOrString = z.union([int, str]);
const quantity = z.union([str, z.number()]).superRefine((v, ctx) => {
  try {
    parseQuantity(v);
  } catch {
    ctx.addIssue({ code: 'custom', message: `invalid quantity ${JSON.stringify(v)}` });
  }
});
const port = int.min(1).max(65535);
const protocol = z.enum(['TCP', 'UDP', 'SCTP']);

const OwnerReference = z.strictObject({
  apiVersion: str, kind: str, name: str, uid: str, controller: bool.optional(), blockOwnerDeletion: bool.optional(),
});

const ObjectMeta = z.strictObject({
  name: str.optional(),
  generateName: str.optional(),
  namespace: str.optional(),
  uid: str.optional(),
  resourceVersion: str.optional(),
  generation: int.optional(),
  selfLink: str.optional(),
  creationTimestamp: str.nullable().optional().transform((v) => v ?? undefined),
  deletionTimestamp: str.optional(),
  deletionGracePeriodSeconds: int.optional(),
  labels: strMap.optional(),
  annotations: strMap.optional(),
  ownerReferences: z.array(OwnerReference).optional(),
  finalizers: strList.optional(),
  managedFields: looseList.optional(),
});

const ObjectFieldSelector = z.strictObject({ apiVersion: str.optional(), fieldPath: str });
const ResourceFieldSelector = z.strictObject({ containerName: str.optional(), resource: str, divisor: quantity.optional() });
const KeySelector = z.strictObject({ name: str, key: str, optional: bool.optional() });

const EnvVar = z.strictObject({
  name: str,
  value: str.optional(),
  valueFrom: z.strictObject({
    fieldRef: ObjectFieldSelector.optional(),
    resourceFieldRef: ResourceFieldSelector.optional(),
    configMapKeyRef: KeySelector.optional(),
    secretKeyRef: KeySelector.optional(),
  }).optional(),
});

const NameRef = z.strictObject({ name: str, optional: bool.optional() });
const EnvFromSource = z.strictObject({ prefix: str.optional(), configMapRef: NameRef.optional(), secretRef: NameRef.optional() });

const ResourceRequirements = z.strictObject({
  limits: z.record(str, quantity).optional(),
  requests: z.record(str, quantity).optional(),
  claims: z.array(z.strictObject({ name: str, request: str.optional() })).optional(),
});

const VolumeMount = z.strictObject({
  name: str,
  mountPath: str,
  subPath: str.optional(),
  subPathExpr: str.optional(),
  readOnly: bool.optional(),
  recursiveReadOnly: z.enum(['Disabled', 'IfPossible', 'Enabled']).optional(),
  mountPropagation: z.enum(['None', 'HostToContainer', 'Bidirectional']).optional(),
});

const HTTPGetAction = z.strictObject({
  path: str.optional(),
  port: intOrString,
  host: str.optional(),
  scheme: z.enum(['HTTP', 'HTTPS']).optional(),
  httpHeaders: z.array(z.strictObject({ name: str, value: str })).optional(),
});
const handlerFields = {
  exec: z.strictObject({ command: strList.optional() }).optional(),
  httpGet: HTTPGetAction.optional(),
  tcpSocket: z.strictObject({ port: intOrString, host: str.optional() }).optional(),
};
const LifecycleHandler = z.strictObject({ ...handlerFields, sleep: z.strictObject({ seconds: int }).optional() });
const Probe = z.strictObject({
  ...handlerFields,
  grpc: z.strictObject({ port: port, service: str.optional() }).optional(),
  initialDelaySeconds: int.min(0).optional(),
  timeoutSeconds: int.min(1).optional(),
  periodSeconds: int.min(1).optional(),
  successThreshold: int.min(1).optional(),
  failureThreshold: int.min(1).optional(),
  terminationGracePeriodSeconds: int.min(1).optional(),
});

const SeccompProfile = z.strictObject({ type: z.enum(['Unconfined', 'RuntimeDefault', 'Localhost']), localhostProfile: str.optional() });
const AppArmorProfile = z.strictObject({ type: z.enum(['Unconfined', 'RuntimeDefault', 'Localhost']), localhostProfile: str.optional() });

const SecurityContext = z.strictObject({
  privileged: bool.optional(),
  runAsUser: int.optional(),
  runAsGroup: int.optional(),
  runAsNonRoot: bool.optional(),
  readOnlyRootFilesystem: bool.optional(),
  allowPrivilegeEscalation: bool.optional(),
  capabilities: z.strictObject({ add: strList.optional(), drop: strList.optional() }).optional(),
  seccompProfile: SeccompProfile.optional(),
  appArmorProfile: AppArmorProfile.optional(),
  procMount: z.enum(['Default', 'Unmasked']).optional(),
  seLinuxOptions: loose.optional(),
  windowsOptions: loose.optional(),
});

const Container = z.strictObject({
  name: str,
  image: str.optional(),
  command: strList.optional(),
  args: strList.optional(),
  workingDir: str.optional(),
  ports: z.array(z.strictObject({
    name: str.optional(),
    containerPort: port,
    hostPort: port.optional(),
    hostIP: str.optional(),
    protocol: protocol.optional(),
  })).optional(),
  env: z.array(EnvVar).optional(),
  envFrom: z.array(EnvFromSource).optional(),
  resources: ResourceRequirements.optional(),
  resizePolicy: looseList.optional(),
  volumeMounts: z.array(VolumeMount).optional(),
  imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional(),
  terminationMessagePath: str.optional(),
  terminationMessagePolicy: z.enum(['File', 'FallbackToLogsOnError']).optional(),
  livenessProbe: Probe.optional(),
  readinessProbe: Probe.optional(),
  startupProbe: Probe.optional(),
  lifecycle: z.strictObject({
    postStart: LifecycleHandler.optional(),
    preStop: LifecycleHandler.optional(),
    stopSignal: str.optional(),
  }).optional(),
  securityContext: SecurityContext.optional(),
  stdin: bool.optional(),
  stdinOnce: bool.optional(),
  tty: bool.optional(),
  restartPolicy: z.literal('Always').optional(),
});

const mode = int.min(0).max(0o777);
const KeyToPath = z.strictObject({ key: str, path: str, mode: mode.optional() });
const DownwardAPIVolumeFile = z.strictObject({
  path: str, fieldRef: ObjectFieldSelector.optional(), resourceFieldRef: ResourceFieldSelector.optional(), mode: mode.optional(),
});
const VolumeProjection = z.strictObject({
  serviceAccountToken: z.strictObject({ audience: str.optional(), expirationSeconds: int.optional(), path: str }).optional(),
  configMap: z.strictObject({ name: str, items: z.array(KeyToPath).optional(), optional: bool.optional() }).optional(),
  secret: z.strictObject({ name: str, items: z.array(KeyToPath).optional(), optional: bool.optional() }).optional(),
  downwardAPI: z.strictObject({ items: z.array(DownwardAPIVolumeFile).optional() }).optional(),
  clusterTrustBundle: loose.optional(),
});

/** The volume sources a static pod may use (exactly one per volume; none = emptyDir, as upstream). */
export const VOLUME_SOURCES = ['emptyDir', 'hostPath', 'configMap', 'secret', 'downwardAPI', 'projected', 'persistentVolumeClaim'] as const;

const Volume = z.strictObject({
  name: str,
  emptyDir: z.strictObject({
    medium: z.enum(['', 'Memory']).optional(),
    sizeLimit: quantity.optional().transform((v) => (v === undefined ? undefined : String(v))),
  }).optional(),
  hostPath: z.strictObject({
    path: str,
    type: z.enum(['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice']).optional(),
  }).optional(),
  configMap: z.strictObject({ name: str, items: z.array(KeyToPath).optional(), defaultMode: mode.optional(), optional: bool.optional() }).optional(),
  secret: z.strictObject({ secretName: str, items: z.array(KeyToPath).optional(), defaultMode: mode.optional(), optional: bool.optional() }).optional(),
  downwardAPI: z.strictObject({ items: z.array(DownwardAPIVolumeFile).optional(), defaultMode: mode.optional() }).optional(),
  projected: z.strictObject({ sources: z.array(VolumeProjection), defaultMode: mode.optional() }).optional(),
  persistentVolumeClaim: z.strictObject({ claimName: str, readOnly: bool.optional() }).optional(),
});

const PodSecurityContext = z.strictObject({
  runAsUser: int.optional(),
  runAsGroup: int.optional(),
  runAsNonRoot: bool.optional(),
  fsGroup: int.optional(),
  fsGroupChangePolicy: z.enum(['OnRootMismatch', 'Always']).optional(),
  supplementalGroups: z.array(int).optional(),
  supplementalGroupsPolicy: z.enum(['Merge', 'Strict']).optional(),
  sysctls: z.array(z.strictObject({ name: str, value: str })).optional(),
  seccompProfile: SeccompProfile.optional(),
  appArmorProfile: AppArmorProfile.optional(),
  seLinuxOptions: loose.optional(),
  seLinuxChangePolicy: str.optional(),
  windowsOptions: loose.optional(),
});

const Toleration = z.strictObject({
  key: str.optional(),
  operator: z.enum(['Exists', 'Equal']).optional(),
  value: str.optional(),
  effect: z.enum(['', 'NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
  tolerationSeconds: int.optional(),
});

const PodSpec = z.strictObject({
  nodeName: str.optional(),
  containers: z.array(Container).min(1),
  initContainers: z.array(Container).optional(),
  volumes: z.array(Volume).optional(),
  restartPolicy: z.enum(['Always', 'OnFailure', 'Never']).optional(),
  terminationGracePeriodSeconds: int.min(0).optional(),
  activeDeadlineSeconds: int.min(1).optional(),
  serviceAccountName: str.optional(),
  serviceAccount: str.optional(),
  automountServiceAccountToken: bool.optional(),
  hostNetwork: bool.optional(),
  hostPID: bool.optional(),
  hostIPC: bool.optional(),
  hostUsers: bool.optional(),
  shareProcessNamespace: bool.optional(),
  hostname: str.optional(),
  subdomain: str.optional(),
  setHostnameAsFQDN: bool.optional(),
  hostAliases: z.array(z.strictObject({ ip: str, hostnames: strList.optional() })).optional(),
  dnsPolicy: z.enum(['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None']).optional(),
  dnsConfig: z.strictObject({
    nameservers: strList.optional(),
    searches: strList.optional(),
    options: z.array(z.strictObject({ name: str, value: str.optional() })).optional(),
  }).optional(),
  priority: int.optional(),
  priorityClassName: str.optional(),
  preemptionPolicy: str.optional(),
  schedulerName: str.optional(),
  securityContext: PodSecurityContext.optional(),
  tolerations: z.array(Toleration).optional(),
  nodeSelector: strMap.optional(),
  enableServiceLinks: bool.optional(),
  imagePullSecrets: z.array(z.strictObject({ name: str })).optional(),
  runtimeClassName: str.optional(),
  os: z.strictObject({ name: z.enum(['linux', 'windows']) }).optional(),
  resources: ResourceRequirements.optional(),
  // Scheduling-only fields (meaningless for a pod already bound to this node): passed through.
  affinity: loose.optional(),
  topologySpreadConstraints: looseList.optional(),
  readinessGates: z.array(z.strictObject({ conditionType: str })).optional(),
  overhead: z.record(str, quantity).optional(),
  schedulingGates: looseList.optional(),
  resourceClaims: looseList.optional(),
});

export const PodSchema = z.strictObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Pod'),
  metadata: ObjectMeta,
  spec: PodSpec,
  status: loose.optional().transform(() => undefined), // ignored: the agent computes status
});

type Path = readonly PropertyKey[];

/** spec.containers[0].ports[0].containerPort; odd map keys as ["a/b"]. */
export function formatPath(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(String(seg))) out += out ? `.${String(seg)}` : String(seg);
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out || '(root)';
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'number' : `non-integer ${v}`;
  return typeof v;
}

function expectedName(e: string): string {
  return e === 'int' ? 'integer' : e === 'record' ? 'object' : e;
}

interface Issue {
  code: string;
  path: Path;
  message: string;
  input?: unknown;
  expected?: string;
  keys?: string[];
  values?: unknown[];
  errors?: Issue[][];
  minimum?: number | bigint;
  maximum?: number | bigint;
  origin?: string;
}

function describe(issue: Issue): { path: Path; text: string } {
  const has = 'input' in issue && issue.input !== undefined;
  switch (issue.code) {
    case 'unrecognized_keys':
      return { path: [...issue.path, issue.keys?.[0] ?? '?'], text: 'unknown field' };
    case 'invalid_type':
      return { path: issue.path, text: has ? `expected ${expectedName(issue.expected ?? '?')}, got ${kindOf(issue.input)}` : 'required field missing' };
    case 'invalid_value': {
      const vals = (issue.values ?? []).map((v) => JSON.stringify(v));
      if (vals.length === 1) return { path: issue.path, text: `expected ${vals[0]}, got ${has ? JSON.stringify(issue.input) : 'nothing'}` };
      return { path: issue.path, text: `unknown value ${JSON.stringify(issue.input)} (expected one of ${vals.join(', ')})` };
    }
    case 'invalid_union': {
      const wanted = (issue.errors ?? []).map((b) => b[0]?.expected).filter((e): e is string => !!e).map(expectedName);
      return { path: issue.path, text: wanted.length ? `expected ${wanted.join(' or ')}, got ${kindOf(issue.input)}` : issue.message };
    }
    case 'too_small':
      if (issue.origin === 'array') return { path: issue.path, text: `must have at least ${issue.minimum} item(s)` };
      return { path: issue.path, text: `must be at least ${issue.minimum}, got ${JSON.stringify(issue.input)}` };
    case 'too_big':
      return { path: issue.path, text: `must be at most ${issue.maximum}, got ${JSON.stringify(issue.input)}` };
    default:
      return { path: issue.path, text: issue.message };
  }
}

function invalid(file: string, path: Path | string, text: string): DockerletError {
  const p = typeof path === 'string' ? path : formatPath(path);
  return new DockerletError(ErrorCodes.MANIFEST_INVALID, `static pod ${file}: ${p}: ${text}`, { details: { file, path: p } });
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The ValidatePodCreate rules schemas cannot express; returns [path, problem] or undefined. */
function semanticProblem(pod: Pod): [string, string] | undefined {
  const name = pod.metadata.name;
  if (!name) return ['metadata.name', 'required field missing'];
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) return ['metadata.name', `invalid name ${JSON.stringify(name)} (lower-case DNS subdomain expected)`];
  const ns = pod.metadata.namespace;
  if (ns !== undefined && (ns.length > 63 || !DNS_LABEL.test(ns))) return ['metadata.namespace', `invalid namespace ${JSON.stringify(ns)}`];
  const volumes = new Set<string>();
  for (const [i, v] of (pod.spec.volumes ?? []).entries()) {
    if (volumes.has(v.name)) return [`spec.volumes[${i}].name`, `duplicate volume name ${JSON.stringify(v.name)}`];
    volumes.add(v.name);
    const sources = VOLUME_SOURCES.filter((s) => v[s] !== undefined);
    if (sources.length > 1) return [`spec.volumes[${i}]`, `may not specify more than one volume type (got ${sources.join(', ')})`];
  }
  const names = new Set<string>();
  const groups: [string, typeof pod.spec.containers][] = [['initContainers', pod.spec.initContainers ?? []], ['containers', pod.spec.containers]];
  for (const [field, list] of groups) {
    for (const [i, c] of list.entries()) {
      const at = `spec.${field}[${i}]`;
      if (c.name.length > 63 || !DNS_LABEL.test(c.name)) return [`${at}.name`, `invalid container name ${JSON.stringify(c.name)} (DNS label expected)`];
      if (names.has(c.name)) return [`${at}.name`, `duplicate container name ${JSON.stringify(c.name)}`];
      names.add(c.name);
      if (!c.image) return [`${at}.image`, 'required field missing'];
      for (const [j, m] of (c.volumeMounts ?? []).entries()) {
        if (!volumes.has(m.name)) return [`${at}.volumeMounts[${j}].name`, `no volume named ${JSON.stringify(m.name)} in spec.volumes`];
      }
      for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
        const p = c[probe] as (Record<string, unknown> | undefined);
        if (!p) continue;
        const handlers = ['exec', 'httpGet', 'tcpSocket', 'grpc'].filter((h) => p[h] !== undefined);
        if (handlers.length !== 1) return [`${at}.${probe}`, handlers.length ? `may not specify more than one handler (got ${handlers.join(', ')})` : 'must specify a handler (exec, httpGet, tcpSocket or grpc)'];
      }
    }
  }
  return undefined;
}

/** Validates obj as a core/v1 Pod manifest; throws MANIFEST_INVALID with one line naming file and field. */
export function validatePodManifest(obj: unknown, file: string): Pod {
  const r = PodSchema.safeParse(obj, { reportInput: true });
  if (!r.success) {
    const first = r.error.issues[0] as unknown as Issue | undefined;
    if (!first) throw invalid(file, [], 'invalid manifest');
    const { path, text } = describe(first);
    throw invalid(file, path, text);
  }
  const pod: Pod = r.data; // also the compile-time check that the schema yields a kube/api.ts Pod
  delete pod.status;
  const problem = semanticProblem(pod);
  if (problem) throw invalid(file, problem[0], problem[1]);
  return pod;
}
