// Pod sysctls as the kubelet handles them: names normalised (component-helpers sysctl.NormalizeName:
// `kernel/shm_rmid_forced` → `kernel.shm_rmid_forced`), admitted against the safe set
// (pkg/kubelet/sysctl/safe_sysctls.go, by kernel version) plus the node's allowedUnsafeSysctls patterns
// (pkg/kubelet/sysctl/allowlist.go: reason SysctlForbidden, "forbidden sysctl: …"), then handed to the
// runtime on the sandbox (dockershim/cri-dockerd: HostConfig.Sysctls of the pause container, whose net
// and IPC namespaces the pod's containers join).
import { release } from 'node:os';
import type { Pod } from '../../kube/api.js';
import { podSecurity } from './security-types.js';

export const SYSCTL_FORBIDDEN_REASON = 'SysctlForbidden';

/** safe_sysctls.go: name and the first kernel where it is namespaced. */
const SAFE_SYSCTLS: readonly { name: string; kernel?: string }[] = [
  { name: 'kernel.shm_rmid_forced' },
  { name: 'net.ipv4.ip_local_port_range' },
  { name: 'net.ipv4.tcp_syncookies' },
  { name: 'net.ipv4.ping_group_range' },
  { name: 'net.ipv4.ip_unprivileged_port_start' },
  { name: 'net.ipv4.ip_local_reserved_ports', kernel: '3.16' },
  { name: 'net.ipv4.tcp_keepalive_time', kernel: '4.5' },
  { name: 'net.ipv4.tcp_fin_timeout', kernel: '4.6' },
  { name: 'net.ipv4.tcp_keepalive_intvl', kernel: '4.5' },
  { name: 'net.ipv4.tcp_keepalive_probes', kernel: '4.5' },
  { name: 'net.ipv4.tcp_rmem', kernel: '4.15' },
  { name: 'net.ipv4.tcp_wmem', kernel: '4.15' },
];

type Namespace = 'IPC' | 'Net' | '';

const NAME_TO_NAMESPACE: Record<string, Namespace> = {
  'kernel.sem': 'IPC', 'kernel.shmall': 'IPC', 'kernel.shmmax': 'IPC', 'kernel.shmmni': 'IPC',
  'kernel.shm_rmid_forced': 'IPC', 'kernel.msgmax': 'IPC', 'kernel.msgmnb': 'IPC', 'kernel.msgmni': 'IPC',
  // Prefixes of the patterns "kernel.shm*" / "kernel.msg*".
  'kernel.shm': 'IPC', 'kernel.msg': 'IPC',
};
const PREFIX_TO_NAMESPACE: Record<string, Namespace> = { net: 'Net', 'fs.mqueue': 'IPC' };

/** NormalizeName: a name whose first separator is '/' has '.' and '/' swapped. */
export function normalizeSysctlName(name: string): string {
  const i = name.search(/[./]/);
  if (i < 0 || name[i] === '.') return name;
  return name.replace(/[./]/g, (ch) => (ch === '.' ? '/' : '.'));
}

function namespaceOf(name: string): Namespace {
  const ns = NAME_TO_NAMESPACE[name];
  if (ns) return ns;
  for (const [p, n] of Object.entries(PREFIX_TO_NAMESPACE)) if (name.startsWith(`${p}.`)) return n;
  return '';
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((x) => Number.parseInt(x, 10));
  const pb = b.split(/[.-]/).map((x) => Number.parseInt(x, 10));
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = Number.isFinite(pa[i]) ? pa[i]! : 0;
    const y = Number.isFinite(pb[i]) ? pb[i]! : 0;
    if (x !== y) return x - y;
  }
  return 0;
}

/** The safe sysctls namespaced on this kernel (all of them when the version cannot be read). */
export function safeSysctls(kernelRelease: string = release()): string[] {
  const m = /^(\d+)\.(\d+)/.exec(kernelRelease);
  return SAFE_SYSCTLS.filter((s) => !s.kernel || !m || compareVersions(`${m[1]}.${m[2]}`, s.kernel) >= 0).map((s) => s.name);
}

interface Allowlist {
  sysctls: Map<string, Namespace>;
  prefixes: Map<string, Namespace>;
}

/** NewAllowlist over safe + allowed-unsafe patterns (`name` or `prefix*`); unknown namespaces are skipped. */
function allowlist(patterns: readonly string[]): Allowlist {
  const w: Allowlist = { sysctls: new Map(), prefixes: new Map() };
  for (const p of patterns) {
    let s = normalizeSysctlName(p);
    const star = s.indexOf('*');
    const prefixed = star >= 0;
    if (prefixed) s = s.slice(0, star);
    const ns = namespaceOf(s);
    if (!ns) continue; // config validation rejects these; never allowed here
    (prefixed ? w.prefixes : w.sysctls).set(s, ns);
  }
  return w;
}

/** The config check for allowedUnsafeSysctls: the patterns that are not namespaced sysctls (config error). */
export function invalidUnsafeSysctlPatterns(patterns: readonly string[]): string[] {
  return patterns.filter((p) => {
    const s = normalizeSysctlName(p);
    const star = s.indexOf('*');
    if (star >= 0 && star !== s.length - 1) return true;
    return namespaceOf(star >= 0 ? s.slice(0, star) : s) === '';
  });
}

function validate(w: Allowlist, raw: string, hostNet: boolean, hostIPC: boolean): string | undefined {
  const name = normalizeSysctlName(raw);
  const check = (ns: Namespace): string | undefined => {
    if (ns === 'IPC' && hostIPC) return `"${name}" not allowed with host IPC enabled`;
    if (ns === 'Net' && hostNet) return `"${name}" not allowed with host Net enabled`;
    return undefined;
  };
  const exact = w.sysctls.get(name);
  if (exact) return check(exact);
  for (const [p, ns] of w.prefixes) if (name.startsWith(p)) return check(ns);
  return `"${name}" not allowlisted`;
}

/**
 * The kubelet's sysctl admission (patternAllowlist.Admit): undefined when every pod sysctl is in the
 * safe set or allowedUnsafe and fits the pod's namespaces; else reason SysctlForbidden with upstream's message.
 */
export function sysctlsAdmit(pod: Pod, allowedUnsafe: readonly string[], kernelRelease?: string): { reason: string; message: string } | undefined {
  const sysctls = podSecurity(pod).sysctls ?? [];
  if (!sysctls.length) return undefined;
  const w = allowlist([...safeSysctls(kernelRelease), ...allowedUnsafe]);
  for (const s of sysctls) {
    const err = validate(w, s.name, pod.spec.hostNetwork === true, pod.spec.hostIPC === true);
    if (err) return { reason: SYSCTL_FORBIDDEN_REASON, message: `forbidden sysctl: ${err}` };
  }
  return undefined;
}

/** The sandbox's sysctls (Docker HostConfig.Sysctls), names normalised to dots; undefined when none. */
export function sandboxSysctls(pod: Pod): Record<string, string> | undefined {
  const sysctls = podSecurity(pod).sysctls ?? [];
  if (!sysctls.length) return undefined;
  const out: Record<string, string> = {};
  for (const s of sysctls) out[normalizeSysctlName(s.name)] = s.value;
  return out;
}
