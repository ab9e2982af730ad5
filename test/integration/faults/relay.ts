// A loopback TCP relay between the agent and its kube-apiserver, so a test can cut the node off from
// the API server (every connection reset, new ones refused) and restore it, while the control plane
// keeps running. TLS passes through untouched. Traffic stays on 127.0.0.1.
import { readFile, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export class TcpRelay {
  readonly #targetPort: number;
  #server: Server | undefined;
  #port = 0;
  readonly #sockets = new Set<Socket>();

  constructor(targetPort: number) {
    this.#targetPort = targetPort;
  }

  get port(): number {
    return this.#port;
  }

  /** Listens on 127.0.0.1 (a free port the first time, the same port after a cut). */
  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = createConnection({ host: '127.0.0.1', port: this.#targetPort });
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.once('close', () => this.#sockets.delete(s));
        s.on('error', () => { client.destroy(); upstream.destroy(); });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    this.#port = (server.address() as { port: number }).port;
  }

  /** Resets every connection and stops listening: the agent's calls fail with ECONNREFUSED. */
  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async restore(): Promise<void> {
    await this.start();
  }

  async stop(): Promise<void> {
    await this.cut();
  }
}

/** Points a kubeconfig's server at 127.0.0.1:port (the certificate names 127.0.0.1; the port is not checked). */
export async function pointKubeconfigAt(path: string, port: number): Promise<void> {
  const text = await readFile(path, 'utf8');
  const next = text.replace(/server: https:\/\/127\.0\.0\.1:\d+/g, `server: https://127.0.0.1:${port}`);
  if (next === text && !text.includes(`127.0.0.1:${port}`)) throw new Error(`no https://127.0.0.1 server in ${path}`);
  await writeFile(path, next);
}
