// `dockerlet install` / `dockerlet uninstall`: what a package's postinst/prerm would do. install
// writes the systemd unit (ExecStart = this node binary + this dockerlet.js), a config file with every
// default commented out (kept when one exists), and the directories; uninstall stops and disables
// the unit and removes unit and config dir, but never the pods' data (<rootDir>) without --purge.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { DockerletError, ErrorCodes } from '../lib/errors.js';
import { validateConfig } from './config.js';

const REPO = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const UNIT_TEMPLATE = join(REPO, 'systemd', 'dockerlet.service');

export interface InstallOptions {
  unitDir: string;
  configDir: string;
  rootDir: string;
  /** Run systemctl (daemon-reload, enable / stop, disable). */
  systemctl: boolean;
  purge: boolean;
  nodeBinary: string;
  entry: string;
}

export function parseInstallFlags(argv: string[]): InstallOptions {
  let p;
  try {
    p = parseArgs({
      args: argv, strict: true,
      options: {
        'unit-dir': { type: 'string' }, 'config-dir': { type: 'string' }, 'root-dir': { type: 'string' },
        'no-systemctl': { type: 'boolean' }, purge: { type: 'boolean' },
      },
    });
  } catch (err) {
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, `install: ${(err as Error).message}`);
  }
  const v = p.values;
  return {
    unitDir: v['unit-dir'] ?? '/etc/systemd/system',
    configDir: v['config-dir'] ?? '/etc/dockerlet',
    rootDir: v['root-dir'] ?? '/var/lib/dockerlet',
    systemctl: !v['no-systemctl'],
    purge: v.purge ?? false,
    nodeBinary: process.execPath,
    entry: join(REPO, 'bin', 'dockerlet.js'),
  };
}

/** The unit text for this installation (paths substituted into systemd/dockerlet.service). */
export function renderUnit(o: Pick<InstallOptions, 'configDir' | 'nodeBinary' | 'entry'>, template = readFileSync(UNIT_TEMPLATE, 'utf8')): string {
  const exec = `ExecStart=${o.nodeBinary} ${o.entry} run --config ${join(o.configDir, 'config.yaml')}`;
  if (/[\s"'\\]/.test(o.nodeBinary + o.entry + o.configDir)) {
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, 'install: paths with spaces or quotes are not supported in the unit');
  }
  return template.replace(/^ExecStart=.*$/m, exec);
}

/** Whether the config schema knows a top-level key (fields other engineers add later stay optional here). */
function knows(key: string, value: unknown): boolean {
  try {
    validateConfig({ [key]: value }, 'probe');
    return true;
  } catch {
    return false;
  }
}

/** The config file install writes: the node's own settings set, every other default shown commented out. */
export function renderConfig(o: Pick<InstallOptions, 'configDir' | 'rootDir'>): string {
  const set: Record<string, unknown> = { kubeconfig: join(o.configDir, 'kubelet.kubeconfig'), rootDir: o.rootDir };
  if (knows('rotateCertificates', true)) set.rotateCertificates = true;
  if (knows('certDir', join(o.configDir, 'pki'))) set.certDir = join(o.configDir, 'pki');
  const defaults = validateConfig({}, 'defaults') as Record<string, unknown>;
  const rest = Object.fromEntries(Object.entries(defaults).filter(([k]) => !(k in set) && k !== 'nodeName'));
  const commented = stringify(rest).trimEnd().split('\n').map((l) => `# ${l}`).join('\n');
  return [
    '# dockerlet configuration (KubeletConfiguration field names where one exists).',
    '# Check it with: dockerlet config check <this file>; all defaults: dockerlet config defaults',
    `# The node credential is written by: dockerlet join --server URL --token T --discovery-token-ca-cert-hash sha256:H --config-dir ${o.configDir}`,
    stringify(set).trimEnd(),
    '# nodeName: <hostname>',
    '',
    '# Defaults (uncomment to change):',
    commented,
    '',
  ].join('\n');
}

function systemctl(args: string[], optional = false): void {
  try {
    execFileSync('systemctl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
  } catch (err) {
    if (!optional) throw new DockerletError(ErrorCodes.INTERNAL, `systemctl ${args.join(' ')}: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`);
  }
}

export interface InstallReport {
  written: string[];
  kept: string[];
}

export function install(o: InstallOptions): InstallReport {
  const report: InstallReport = { written: [], kept: [] };
  mkdirSync(o.unitDir, { recursive: true });
  mkdirSync(o.configDir, { recursive: true, mode: 0o755 });
  mkdirSync(join(o.configDir, 'pki'), { recursive: true, mode: 0o700 });
  mkdirSync(join(o.configDir, 'manifests'), { recursive: true, mode: 0o755 });
  mkdirSync(o.rootDir, { recursive: true, mode: 0o750 });
  const unit = join(o.unitDir, 'dockerlet.service');
  writeFileSync(unit, renderUnit(o), { mode: 0o644 });
  report.written.push(unit);
  const config = join(o.configDir, 'config.yaml');
  if (existsSync(config)) report.kept.push(config);
  else {
    writeFileSync(config, renderConfig(o), { mode: 0o644 });
    report.written.push(config);
  }
  if (o.systemctl) {
    systemctl(['daemon-reload']);
    systemctl(['enable', 'dockerlet.service']);
  }
  return report;
}

export function uninstall(o: InstallOptions): string[] {
  const removed: string[] = [];
  if (o.systemctl) {
    systemctl(['disable', '--now', 'dockerlet.service'], true);
  }
  const unit = join(o.unitDir, 'dockerlet.service');
  for (const p of [unit, o.configDir, ...(o.purge ? [o.rootDir] : [])]) {
    if (existsSync(p)) {
      rmSync(p, { recursive: true, force: true });
      removed.push(p);
    }
  }
  if (o.systemctl) systemctl(['daemon-reload'], true);
  return removed;
}

/** CLI entry for `install` and `uninstall`; returns the exit code. */
export function installCommand(command: 'install' | 'uninstall', argv: string[]): number {
  const o = parseInstallFlags(argv);
  if (command === 'install') {
    const r = install(o);
    for (const p of r.written) process.stdout.write(`wrote ${p}\n`);
    for (const p of r.kept) process.stdout.write(`kept ${p} (exists)\n`);
    process.stdout.write(`next: dockerlet join ... --config-dir ${o.configDir}; then systemctl start dockerlet\n`);
  } else {
    for (const p of uninstall(o)) process.stdout.write(`removed ${p}\n`);
    if (!o.purge) process.stdout.write(`kept ${o.rootDir} (pod data; --purge removes it)\n`);
  }
  return 0;
}
