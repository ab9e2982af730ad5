// The agent's (kubelet half's) settings: its slice of dockerlet's config, validated once at the edge
// (cli/config.ts combines it with the proxy's) and frozen. Names and defaults follow the kubelet's
// KubeletConfiguration where one exists.
import { hostname } from 'node:os';
import { z } from 'zod';
import { invalidUnsafeSysctlPatterns } from './containers/sysctls.js';
import { serverConfigFields } from './server/config.js';

const Taint = z.object({ key: z.string().min(1), value: z.string().optional(), effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']) }).strict();

export const AgentConfigShape = {
  nodeName: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a lowercase RFC 1123 name').default(hostname().toLowerCase()),
  kubeconfig: z.string().optional(),
  staticPodPath: z.string().optional(),
  fileCheckFrequencySeconds: z.number().int().positive().default(20),
  podInfraContainerImage: z.string().min(1).default('registry.k8s.io/pause:3.10'),
  rootDir: z.string().default('/var/lib/dockerlet'),
  dockerEndpoint: z.string().default('/var/run/docker.sock'),
  maxPods: z.number().int().positive().max(1000).default(110),
  nodeLabels: z.record(z.string(), z.string()).default({}),
  registerWithTaints: z.array(Taint).default([]),
  port: z.number().int().min(1).max(65535).default(10250),
  // Image GC by disk usage (KubeletConfiguration names and defaults; imageMinimumGCAge 2m).
  imageGCHighThresholdPercent: z.number().int().min(0).max(100).default(85),
  imageGCLowThresholdPercent: z.number().int().min(0).max(100).default(80),
  imageMinimumGCAgeSeconds: z.number().int().min(0).default(120),
  clusterDNS: z.array(z.string()).default([]),
  clusterDomain: z.string().default('cluster.local'),
  /** kubenet's --non-masquerade-cidr: pod traffic to addresses outside it is masqueraded (set it to the cluster CIDR). */
  nonMasqueradeCIDR: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'must be an IPv4 CIDR').default('10.0.0.0/8'),
  /** KubeletConfiguration allowedUnsafeSysctls: unsafe sysctl names (or prefixes ending in *) pods may set. */
  allowedUnsafeSysctls: z.array(z.string()).default([]).superRefine((v, ctx) => {
    const bad = invalidUnsafeSysctlPatterns(v);
    if (bad.length) ctx.addIssue({ code: 'custom', message: `not namespaced sysctls: ${bad.join(', ')}` });
  }),
  // One worker per pod, as the kubelet: a pod waiting out its grace period must not hold up others.
  podWorkers: z.number().int().positive().max(4096).default(1024),
  /** Concurrent Docker container creates/starts (bench/pod-startup: 4 was slower than 12 or unbounded). */
  runtimeParallelism: z.number().int().positive().max(256).default(12),
  // The kubelet API server: address, readOnlyPort, tlsCertFile/tlsPrivateKeyFile, authentication, authorization.
  ...serverConfigFields,
};

export const AgentConfigSchema = z.object(AgentConfigShape).strict();

export type AgentConfig = Readonly<z.infer<typeof AgentConfigSchema>>;
