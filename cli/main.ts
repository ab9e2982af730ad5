// Entry point: parse flags, validate the config once, run the chosen parts until a signal.
import { stringify as stringifyYaml } from 'yaml';
import { Agent } from '../agent/agent.js';
import { kubeFor } from '../kube/shared.js';
import { DockerletError, ErrorCodes, errorMessage } from '../lib/errors.js';
import type { Lifecycle } from '../lib/lifecycle.js';
import { createLogger, setRootLogger } from '../lib/log.js';
import { prepareNodeCredentials } from '../kube/bootstrap/node-credentials.js';
import { TextLogStream, resolveLogFormat } from './log-format.js';
import { SystemdNotifier } from './sd-notify.js';
import { DockerRuntime } from '../runtime/docker/runtime.js';
import { configFromEnv, mergeConfig, readConfigFile, validateConfig, type Config } from './config.js';
import { parseFlags, USAGE } from './flags.js';
import { METRICS_USAGE, parseMetricsFlags } from './metrics-command.js';
import { VERSION } from '../lib/version.js';

function loadConfig(argv: string[]): { command: string; config: Config } {
  const flags = parseFlags(argv);
  if (flags.help || flags.command === 'help') {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const file = flags.configFile ? readConfigFile(flags.configFile) : undefined;
  const source = flags.configFile ? `config ${flags.configFile}` : 'config';
  return { command: flags.command, config: validateConfig(mergeConfig(file?.data ?? {}, configFromEnv(process.env), flags.layer), source, file) };
}

/** `dockerlet config defaults` prints every setting with its default; `dockerlet config check FILE` validates one file. */
function configCommand(args: string[]): number {
  const [sub, path] = args;
  if (sub === 'defaults') {
    process.stdout.write(stringifyYaml(validateConfig({}, 'defaults')));
    return 0;
  }
  if (sub === 'check' && path) {
    const file = readConfigFile(path);
    validateConfig(file.data, `config ${path}`, file);
    process.stdout.write(`config ${path}: valid\n`);
    return 0;
  }
  throw new DockerletError(ErrorCodes.CONFIG_INVALID, 'usage: dockerlet config defaults | dockerlet config check FILE');
}

/** `dockerlet metrics`: the standalone cAdvisor replacement, until SIGINT/SIGTERM. */
async function metricsCommand(argv: string[]): Promise<void> {
  const log = createLogger({ level: 'info' });
  let opts;
  try {
    opts = parseMetricsFlags(argv, log.child({ component: 'metrics' }));
  } catch (err) {
    process.stderr.write(`dockerlet: ${errorMessage(err)}\n`);
    process.exit(2);
  }
  if (opts.help) {
    process.stdout.write(METRICS_USAGE);
    return;
  }
  const { help: _help, ...options } = opts;
  const ac = new AbortController();
  process.on('SIGINT', () => ac.abort());
  process.on('SIGTERM', () => ac.abort());
  const { runStandaloneMetrics } = await import('../metrics/standalone.js');
  try {
    const h = await runStandaloneMetrics(options, ac.signal);
    log.info({ url: h.url }, 'serving container metrics');
    await h.closed;
  } catch (err) {
    process.stderr.write(`dockerlet: ${errorMessage(err)}\n`);
    process.exit(1);
  }
}

async function buildParts(command: string, config: Config): Promise<Lifecycle[]> {
  const format = resolveLogFormat(config.logFormat, process.stdout.isTTY);
  const log = createLogger({ level: config.logLevel, ...(format === 'text' ? { destination: new TextLogStream(process.stdout) } : {}) });
  setRootLogger(log);
  switch (command) {
    case 'agent':
    case 'run': {
      const withProxy = command === 'run' || config.proxy.enabled;
      const runtime = new DockerRuntime({ socketPath: config.dockerEndpoint, nodeName: config.nodeName, log: log.child({ component: 'runtime' }) });
      const creds = await prepareNodeCredentials({
        kubeconfig: config.kubeconfig, bootstrapKubeconfig: config.bootstrapKubeconfig, certDir: config.certDir,
        rootDir: config.rootDir, nodeName: config.nodeName, rotateCertificates: config.rotateCertificates,
      }, log);
      const kube = config.kubeconfig ? kubeFor(config.kubeconfig, log, creds.client) : undefined;
      const agent = new Agent(config, { log, runtime, kube });
      const parts: Lifecycle[] = [...(creds.rotation ? [creds.rotation] : []), agent];
      if (withProxy) {
        const { ProxyService } = await import('./proxy-service.js');
        parts.push(new ProxyService(config, log));
      }
      parts.push(new SystemdNotifier({
        ready: () => !kube || (agent.nodeController()?.node() !== undefined),
        progress: () => agent.syncLoopProgress(),
        status: () => `${agent.podController()?.pods().length ?? 0} pods, node ${agent.nodeController()?.ready() ? 'Ready' : 'NotReady'}`,
        log: log.child({ component: 'systemd' }),
      }));
      return parts;
    }
    case 'proxy': {
      const { ProxyService } = await import('./proxy-service.js');
      return [new ProxyService(config, log)];
    }
    default:
      throw new DockerletError(ErrorCodes.CONFIG_INVALID, `unknown command "${command}" (agent, proxy, run, version)`);
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === 'version') {
    process.stdout.write(`dockerlet ${VERSION}\n`);
    return;
  }
  if (argv[0] === 'metrics') {
    await metricsCommand(argv.slice(1));
    return;
  }
  if (argv[0] === 'join' || argv[0] === 'install' || argv[0] === 'uninstall') {
    try {
      if (argv[0] === 'join') {
        const { joinCommand } = await import('./join.js');
        const text = resolveLogFormat(undefined, process.stderr.isTTY) === 'text';
        process.exit(await joinCommand(argv.slice(1), createLogger(text ? { destination: new TextLogStream(process.stderr) } : { destination: process.stderr })));
      }
      const { installCommand } = await import('./install.js');
      process.exit(installCommand(argv[0], argv.slice(1)));
    } catch (err) {
      process.stderr.write(`dockerlet: ${errorMessage(err)}\n`);
      process.exit(2);
    }
  }
  if (argv[0] === 'config') {
    try {
      process.exit(configCommand(argv.slice(1)));
    } catch (err) {
      process.stderr.write(`dockerlet: ${errorMessage(err)}\n`);
      process.exit(2);
    }
  }
  let parts: Lifecycle[];
  try {
    const { command, config } = loadConfig(argv);
    parts = await buildParts(command, config);
  } catch (err) {
    process.stderr.write(`dockerlet: ${errorMessage(err)}\n`);
    process.exit(2);
  }
  const ac = new AbortController();
  let stopping = false;
  const shutdown = async (sig: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    process.stderr.write(`dockerlet: ${sig}, stopping\n`);
    ac.abort();
    await Promise.allSettled(parts.map((p) => p.stop()));
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  try {
    for (const p of parts) await p.start(ac.signal);
  } catch (err) {
    process.stderr.write(`dockerlet: ${errorMessage(err)}\n`);
    ac.abort();
    await Promise.allSettled(parts.map((p) => p.stop()));
    process.exit(1);
  }
}

await main();
