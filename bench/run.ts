// `npm run bench -- <name>`: runs bench/<name>.ts's main(), which writes bench/results/<name>.json.
const BENCHES: Record<string, () => Promise<{ main(args: string[]): Promise<void> }>> = {
  proxy: () => import('./proxy.js'),
  'proxy-scale': () => import('./proxy-scale.js'),
  'pod-startup': () => import('./pod-startup.js'),
  metrics: () => import('./metrics.js'),
  conformance: () => import('./conformance.js'),
  'kubelet-api': () => import('./kubelet-api.js'),
};

const [name, ...rest] = process.argv.slice(2);
const load = name ? BENCHES[name] : undefined;
if (!load) {
  console.error(`usage: npm run bench -- <${Object.keys(BENCHES).join('|')}>`);
  process.exit(2);
}
const mod = await load();
await mod.main(rest);
