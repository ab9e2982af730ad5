// The Summary API's JSON shape (k8s.io/kubelet/pkg/apis/stats/v1alpha1 types.go) as a strict zod schema.
import { z } from 'zod';

const time = z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
const u = z.number().int().nonnegative();
const CPU = z.strictObject({ time, usageNanoCores: u.optional(), usageCoreNanoSeconds: u.optional() });
const Mem = z.strictObject({
  time, availableBytes: u.optional(), usageBytes: u.optional(), workingSetBytes: u.optional(), rssBytes: u.optional(),
  pageFaults: u.optional(), majorPageFaults: u.optional(),
});
const Iface = z.strictObject({ name: z.string(), rxBytes: u.optional(), rxErrors: u.optional(), txBytes: u.optional(), txErrors: u.optional() });
const Net = Iface.extend({ time, interfaces: z.array(Iface) }).strict();
const Fs = z.strictObject({
  time, availableBytes: u.optional(), capacityBytes: u.optional(), usedBytes: u.optional(), inodesFree: u.optional(), inodes: u.optional(), inodesUsed: u.optional(),
});
export const Summary = z.strictObject({
  node: z.strictObject({
    nodeName: z.string(), systemContainers: z.array(z.unknown()).optional(), startTime: time, cpu: CPU.optional(), memory: Mem.optional(),
    network: Net.optional(), fs: Fs.optional(), runtime: z.strictObject({ imageFs: Fs.optional() }).optional(),
  }),
  pods: z.array(z.strictObject({
    podRef: z.strictObject({ name: z.string(), namespace: z.string(), uid: z.string() }),
    startTime: time,
    containers: z.array(z.strictObject({ name: z.string(), startTime: time, cpu: CPU.optional(), memory: Mem.optional(), rootfs: Fs.optional(), logs: Fs.optional() })),
    cpu: CPU.optional(), memory: Mem.optional(), network: Net.optional(), volume: z.array(z.unknown()).optional(),
    'ephemeral-storage': Fs.optional(), process_stats: z.strictObject({ process_count: u.optional() }).optional(),
  })),
});

