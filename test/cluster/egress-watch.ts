// A per-bed leak detector beside the egress guard: an nftables table of the bed's own (counters only,
// no verdicts, so nothing else's filtering changes) that counts host packets addressed to the bed's
// pod or LAN ranges leaving by any interface but the bed's LAN veth, and anything the host forwards out
// of the LAN. Both must stay 0. Unlike the guard's counters, other tests on the host cannot move them.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { DockerletError, ErrorCodes, errorMessage } from '../../lib/errors.js';

const execFileP = promisify(execFile);

async function nft(args: string[]): Promise<string> {
  try {
    return (await execFileP('nft', args, { timeout: 15_000 })).stdout;
  } catch (err) {
    throw new DockerletError(ErrorCodes.CONTROL_PLANE, `nft ${args.join(' ')}: ${errorMessage(err)}`, { cause: err });
  }
}

export interface EgressWatch {
  table: string;
  /** Packets counted so far: out = host packets to the bed ranges not via the LAN veth; forwarded = routed out of the LAN. */
  counts(): Promise<{ out: number; forwarded: number }>;
  remove(): Promise<void>;
}

/** The nft script for the watch table (pure). */
export function egressWatchScript(table: string, hostIf: string, ranges: string[]): string {
  return [
    `table ip ${table} {`,
    '  chain bed_out {',
    '    type filter hook output priority 0; policy accept;',
    `    ip daddr { ${ranges.join(', ')} } oifname != "${hostIf}" counter comment "bed-leak-out"`,
    '  }',
    '  chain bed_forward {',
    '    type filter hook forward priority 0; policy accept;',
    `    iifname "${hostIf}" counter comment "bed-leak-forward"`,
    '  }',
    '}',
    '',
  ].join('\n');
}

export async function startEgressWatch(tag: string, hostIf: string, ranges: string[]): Promise<EgressWatch> {
  const table = `dockerlet_bed_${tag}`;
  await nft(['delete', 'table', 'ip', table]).catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    const p = spawn('nft', ['-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new DockerletError(ErrorCodes.CONTROL_PLANE, `nft -f: ${err.trim()}`))));
    p.stdin.end(egressWatchScript(table, hostIf, ranges));
  });
  return {
    table,
    async counts() {
      const j = JSON.parse(await nft(['-j', 'list', 'table', 'ip', table])) as { nftables: { rule?: { comment?: string; expr?: { counter?: { packets: number } }[] } }[] };
      const count = (comment: string) => j.nftables.filter((e) => e.rule?.comment === comment)
        .reduce((sum, e) => sum + (e.rule?.expr?.find((x) => x.counter)?.counter?.packets ?? 0), 0);
      return { out: count('bed-leak-out'), forwarded: count('bed-leak-forward') };
    },
    async remove() {
      await nft(['delete', 'table', 'ip', table]).catch(() => undefined);
    },
  };
}
