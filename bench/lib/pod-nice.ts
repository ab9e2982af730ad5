// The control plane's CPU priority during the pod-startup trials. On a real node the API server, etcd,
// the controller manager and the scheduler run on other machines; on this 2-core host they share the
// CPU with dockerd, and a 100-pod start keeps both cores busy, so their CPU lengthens the agent's run
// and not the raw-Docker one. With the kernel's autogroups (sched_autogroup_enabled, on here) CPU is
// shared between sessions first, so each component runs in a session of its own (startControlPlane
// ownSessions) and its autogroup's nice is set (/proc/<pid>/autogroup), as is every thread's nice for
// kernels without autogroups. At nice 19 they get what the node's processes leave, all of it when the
// cores idle.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';

function autogroupOf(pid: number | 'self'): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/autogroup`, 'utf8').split(' ')[0];
  } catch {
    return undefined;
  }
}

/**
 * Sets the processes' autogroups and every thread to nice `n`. A process sharing this process's
 * autogroup is refused (it would slow the bench's own watch and Docker pass-through too).
 */
export function setNice(pids: readonly number[], n: number): { threads: number; autogroups: number } {
  const mine = autogroupOf('self');
  let threads = 0;
  let autogroups = 0;
  for (const pid of pids) {
    const group = autogroupOf(pid);
    if (group !== undefined && group === mine) throw new Error(`pid ${pid} shares the bench's autogroup ${group}: start it in a session of its own`);
    if (group !== undefined) {
      try {
        writeFileSync(`/proc/${pid}/autogroup`, String(n));
        autogroups++;
      } catch {
        // exited
      }
    }
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const t of tids) {
      try {
        setPriority(Number(t), n);
        threads++;
      } catch {
        // the thread ended meanwhile
      }
    }
  }
  return { threads, autogroups };
}
