// CPU time of a process group from /proc (utime + stime of every process whose pgrp matches).
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

/** Total CPU seconds used so far by the processes in process group pgid. */
export function groupCpuSeconds(pgid: number): number {
  let ticks = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after the command name (which may contain spaces) start at ") ".
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(f[2]) !== pgid) continue; // pgrp
    ticks += Number(f[11]) + Number(f[12]); // utime, stime
  }
  return ticks / TICKS_PER_SECOND;
}
