// Pure parsers for the kernel's cgroup and procfs file formats (Documentation/admin-guide/cgroup-v2.rst
// "Interface Files" conventions: flat keyed, nested keyed, single value; cgroup-v1/blkio-controller.rst;
// proc(5) /proc/net/dev), as runc's libcontainer/cgroups/fscommon parses them.
import type { BlkioDevice, NetInterfaceStats } from '../types.js';

/** cAdvisor exports a limit above 2^62 as 0 (unlimited). */
export const UNLIMITED_THRESHOLD = 2 ** 62;

/** "KEY VALUE" lines (memory.stat, cpu.stat, memory.events, memory.oom_control). */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp <= 0) continue;
    const v = Number(line.slice(sp + 1).trim());
    if (Number.isFinite(v)) out.set(line.slice(0, sp), v);
  }
  return out;
}

/** A single number; "max" → Infinity. Undefined for empty/garbage. */
export function parseSingle(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (t === 'max') return Infinity;
  if (t === '') return undefined;
  const v = Number(t);
  return Number.isFinite(v) ? v : undefined;
}

/** A limit as cAdvisor exports it: unlimited (max, −1, > 2^62) → 0. */
export function limitValue(v: number | undefined): number {
  if (v === undefined || !Number.isFinite(v) || v < 0 || v > UNLIMITED_THRESHOLD) return 0;
  return v;
}

/** cgroup v2 cpu.max: "<quota|max> <period>" → quota µs (0 = none) and period µs. */
export function parseCpuMax(text: string | undefined): { quota: number; period: number } {
  const [q, p] = (text ?? '').trim().split(/\s+/);
  const period = Number(p);
  const quota = q === 'max' || q === undefined ? 0 : Number(q);
  return { quota: Number.isFinite(quota) && quota > 0 ? quota : 0, period: Number.isFinite(period) && period > 0 ? period : 100_000 };
}

/** cpu.weight (1..10000) → cpu.shares (2..262144), as cAdvisor's convertCPUWeightToCPULimit. */
export function weightToShares(weight: number): number {
  if (!Number.isFinite(weight) || weight <= 0) return 0;
  return Math.round(2 + ((weight - 1) * 262142) / 9999);
}

/** cgroup v2 io.stat: "MAJ:MIN rbytes=… wbytes=… rios=… wios=… dbytes=… dios=…". */
export function parseIoStat(text: string): BlkioDevice[] {
  const out: BlkioDevice[] = [];
  for (const line of text.split('\n')) {
    const parts = line.trim().split(/\s+/);
    const dev = parts[0]?.match(/^(\d+):(\d+)$/);
    if (!dev) continue;
    const kv = new Map<string, number>();
    for (const p of parts.slice(1)) {
      const eq = p.indexOf('=');
      if (eq > 0) kv.set(p.slice(0, eq), Number(p.slice(eq + 1)) || 0);
    }
    out.push({
      major: Number(dev[1]), minor: Number(dev[2]),
      readBytes: kv.get('rbytes') ?? 0, writeBytes: kv.get('wbytes') ?? 0,
      reads: kv.get('rios') ?? 0, writes: kv.get('wios') ?? 0,
    });
  }
  return out;
}

/**
 * cgroup v1 blkio "MAJ:MIN Op VALUE" lines (+ a "Total N" line) for io_service_bytes and io_serviced;
 * merges both files into per-device entries.
 */
export function parseBlkioV1(bytesText: string, opsText: string): BlkioDevice[] {
  const devs = new Map<string, BlkioDevice>();
  const get = (maj: string, min: string): BlkioDevice => {
    const key = `${maj}:${min}`;
    let d = devs.get(key);
    if (!d) {
      d = { major: Number(maj), minor: Number(min), readBytes: 0, writeBytes: 0, reads: 0, writes: 0 };
      devs.set(key, d);
    }
    return d;
  };
  const each = (text: string, fn: (d: BlkioDevice, op: string, v: number) => void) => {
    for (const line of text.split('\n')) {
      const m = line.trim().match(/^(\d+):(\d+)\s+(\w+)\s+(\d+)$/);
      if (m) fn(get(m[1]!, m[2]!), m[3]!, Number(m[4]));
    }
  };
  each(bytesText, (d, op, v) => { if (op === 'Read') d.readBytes = v; else if (op === 'Write') d.writeBytes = v; });
  each(opsText, (d, op, v) => { if (op === 'Read') d.reads = v; else if (op === 'Write') d.writes = v; });
  return [...devs.values()];
}

/**
 * /proc/<pid>/net/dev as cAdvisor's networkStatsFromProc reads it: two header lines, 17 fields,
 * interfaces starting with lo, veth or docker ignored.
 */
export function parseNetDev(text: string): NetInterfaceStats[] {
  // Hand-rolled (no split/regex per line): read on every housekeeping for every pod's netns.
  const out: NetInterfaceStats[] = [];
  let pos = text.indexOf('\n', text.indexOf('\n') + 1) + 1; // past the two header lines
  if (pos <= 0) return out;
  const f: number[] = new Array(16);
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const colon = text.indexOf(':', pos);
    if (colon > 0 && colon < end) {
      const name = text.slice(pos, colon).trim();
      if (name && !name.startsWith('lo') && !name.startsWith('veth') && !name.startsWith('docker')) {
        let n = 0;
        let i = colon + 1;
        while (n < 16 && i < end) {
          while (i < end && text.charCodeAt(i) === 32) i++;
          if (i >= end) break;
          let v = 0;
          let digits = 0;
          for (let c = text.charCodeAt(i); c >= 48 && c <= 57; c = text.charCodeAt(++i)) {
            v = v * 10 + (c - 48);
            digits++;
          }
          if (digits === 0) break; // not a number: a malformed line
          f[n++] = v;
        }
        if (n >= 16) {
          out.push({
            name,
            rxBytes: f[0]!, rxPackets: f[1]!, rxErrors: f[2]!, rxDropped: f[3]!,
            txBytes: f[8]!, txPackets: f[9]!, txErrors: f[10]!, txDropped: f[11]!,
          });
        }
      }
    }
    pos = end + 1;
  }
  return out;
}

/** Pids listed in cgroup.procs (one per line). */
export function parsePids(text: string): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    const n = Number(line);
    if (line && Number.isInteger(n) && n > 0) out.push(n);
  }
  return out;
}

/** /proc/<pid>/cgroup → controller → path. v2's "0::/path" line is stored under ''. */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = line.match(/^\d+:([^:]*):(.*)$/);
    if (!m) continue;
    const path = m[2]!;
    if (m[1] === '') out.set('', path);
    for (const c of m[1]!.split(',')) if (c) out.set(c.replace(/^name=/, 'name='), path);
  }
  return out;
}

/** /proc/meminfo → key → bytes (kB values × 1024). */
export function parseMeminfo(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = line.match(/^([^:]+):\s+(\d+)(\s+kB)?/);
    if (m) out.set(m[1]!, Number(m[2]) * (m[3] ? 1024 : 1));
  }
  return out;
}
