// The client and watchOnce against a small local fake apiserver (plain HTTP on loopback).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { isCode, ErrorCodes } from '../../../lib/errors.js';
import { silentLogger } from '../../../lib/log.js';
import { createKubeClient } from '../../../kube/client.js';
import { isNotFound, isConflict, isAlreadyExists } from '../../../kube/errors.js';
import type { KubeConnection } from '../../../kube/connection.js';
import type { KubeObject, WatchEvent } from '../../../kube/api.js';

interface Seen { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }

let server: http.Server;
let wss: WebSocketServer;
let conn: KubeConnection;
const seen: Seen[] = [];
let upgrades = 0;
/** What the watch endpoints send, by path prefix. */
let script: (send: (line: string) => void, end: () => void) => void = () => undefined;
let refuseUpgrade = false;

const ev = (type: string, name: string, rv: string) => JSON.stringify({ type, object: { metadata: { namespace: 'd', name, resourceVersion: rv } } });

before(async () => {
  wss = new WebSocketServer({ noServer: true });
  server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.searchParams.get('watch') === 'true') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders(); // as the apiserver does
        script((l) => res.write(`${l}\n`), () => res.end());
        return;
      }
      if (u.pathname.endsWith('/missing')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'NotFound', message: 'pods "missing" not found', code: 404 }));
        return;
      }
      if (u.pathname.endsWith('/exists')) {
        res.writeHead(409, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', reason: 'AlreadyExists', message: 'already exists', code: 409 }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ metadata: { name: 'ok' }, echo: body ? JSON.parse(body) : null }));
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    upgrades++;
    seen.push({ method: 'UPGRADE', url: req.url ?? '', headers: req.headers, body: '' });
    if (refuseUpgrade || !req.headers.origin) {
      socket.end(`HTTP/1.1 ${refuseUpgrade ? '400 Bad Request' : '403 Forbidden'}\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      script((l) => ws.send(l), () => ws.close(1000));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  conn = Object.freeze({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, source: 'test', insecureSkipTlsVerify: false, bearerToken: () => 'sekret' });
});

after(async () => {
  wss.close();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

async function watchAll(c: ReturnType<typeof createKubeClient>, extra: Partial<Parameters<typeof c.watchOnce>[1]> = {}) {
  const events: WatchEvent<KubeObject>[] = [];
  const end = await c.watchOnce('/api/v1/pods', { resourceVersion: '5', allowWatchBookmarks: true, timeoutSeconds: 30, ...extra, onEvent: (e) => events.push(e) });
  return { events, end };
}

test('REST: JSON, patch content types, bearer auth, user agent, API errors', async () => {
  const c = createKubeClient(conn, { log: silentLogger() });
  try {
    seen.length = 0;
    const r = await c.patch<{ echo: unknown }>('/api/v1/namespaces/d/pods/p', { metadata: { labels: { a: 'b' } } }, 'merge');
    assert.deepEqual(r.echo, { metadata: { labels: { a: 'b' } } });
    await c.patch('/api/v1/namespaces/d/pods/p', [{ op: 'add', path: '/x', value: 1 }], 'json');
    await c.patch('/api/v1/namespaces/d/pods/p', {});
    await c.patch('/api/v1/namespaces/d/pods/p', { kind: 'Pod' }, 'apply');
    const types = seen.map((s) => s.headers['content-type']);
    assert.deepEqual(types, ['application/merge-patch+json', 'application/json-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml']);
    assert.match(seen[3]?.url ?? '', /fieldManager=dockerlet/);
    assert.equal(seen[0]?.headers.authorization, 'Bearer sekret');
    assert.match(seen[0]?.headers['user-agent'] ?? '', /^dockerlet\/\d+\.\d+\.\d+/);
    await assert.rejects(c.get('/api/v1/namespaces/d/pods/missing'), (err: unknown) => {
      assert.ok(isNotFound(err) && isCode(err, ErrorCodes.KUBE_API));
      assert.match((err as Error).message, /404 NotFound: pods "missing" not found/);
      return true;
    });
    await assert.rejects(c.create('/api/v1/namespaces/d/pods/exists', {}), (err: unknown) => isAlreadyExists(err) && !isConflict(err));
  } finally {
    c.close();
  }
});

test('watch over WebSocket sends Origin and delivers one event per message in order', async () => {
  refuseUpgrade = false;
  script = (send, end) => {
    send(ev('ADDED', 'a', '6'));
    send(ev('MODIFIED', 'a', '7'));
    send(JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '9' } } }));
    end();
  };
  const c = createKubeClient(conn, { log: silentLogger() });
  try {
    seen.length = 0;
    const { events, end } = await watchAll(c);
    assert.equal(end.transport, 'websocket');
    assert.equal(end.reason, 'closed');
    assert.equal(end.lastResourceVersion, '9');
    assert.deepEqual(events.map((e) => e.type), ['ADDED', 'MODIFIED', 'BOOKMARK']);
    const up = seen.find((s) => s.method === 'UPGRADE');
    assert.equal(up?.headers.origin, conn.server);
    assert.match(up?.url ?? '', /watch=true.*resourceVersion=5.*allowWatchBookmarks=true.*timeoutSeconds=30/);
  } finally {
    c.close();
  }
});

test('a refused upgrade falls back to chunked HTTP and the client remembers it', async () => {
  refuseUpgrade = true;
  script = (send, end) => {
    send(ev('ADDED', 'a', '6'));
    send(ev('DELETED', 'a', '8'));
    end();
  };
  const c = createKubeClient(conn, { log: silentLogger() });
  try {
    upgrades = 0;
    const first = await watchAll(c);
    assert.equal(first.end.transport, 'http');
    assert.deepEqual(first.events.map((e) => e.type), ['ADDED', 'DELETED']);
    assert.equal(first.end.lastResourceVersion, '8');
    assert.equal(c.watchTransport, 'http');
    const second = await watchAll(c);
    assert.equal(second.end.transport, 'http');
    assert.equal(upgrades, 1, 'the second watch did not try WebSocket again');
  } finally {
    refuseUpgrade = false;
    c.close();
  }
});

for (const transport of ['websocket', 'http'] as const) {
  test(`${transport}: 410 ERROR event → gone; malformed event → error; silence; abort`, async () => {
    const c = createKubeClient(conn, { log: silentLogger(), watchTransport: transport });
    try {
      script = (send) => {
        send(ev('ADDED', 'a', '6'));
        send(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 5 (40)' } }));
      };
      const gone = await watchAll(c);
      assert.equal(gone.end.reason, 'gone');
      assert.equal(gone.end.transport, transport);
      assert.ok(isCode(gone.end.error, ErrorCodes.KUBE_GONE));
      assert.equal(gone.events.length, 1);

      script = (send) => {
        send(ev('ADDED', 'a', '6'));
        send('{"type":"MODIFIED","object":{');
      };
      const bad = await watchAll(c);
      assert.equal(bad.end.reason, 'error');
      assert.ok(isCode(bad.end.error, ErrorCodes.WATCH_FAILED));
      assert.equal(bad.end.lastResourceVersion, '6');

      script = () => undefined; // never says anything
      const quiet = await watchAll(c, { silenceTimeoutMs: 150 });
      assert.equal(quiet.end.reason, 'silence');

      const ctl = new AbortController();
      setTimeout(() => ctl.abort(), 100);
      const aborted = await watchAll(c, { signal: ctl.signal });
      assert.equal(aborted.end.reason, 'aborted');

      setTimeout(() => c.close(), 100);
      const closed = await watchAll(c);
      assert.equal(closed.end.reason, 'aborted', 'close() ends open watches');
    } finally {
      c.close();
    }
  });
}

test('an unreachable server rejects with one KUBE_UNREACHABLE line (REST and watch)', async () => {
  const tmp = http.createServer();
  await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', r));
  const port = (tmp.address() as AddressInfo).port;
  await new Promise<void>((r) => tmp.close(() => r()));
  const c = createKubeClient({ ...conn, server: `http://127.0.0.1:${port}` }, { log: silentLogger() });
  try {
    for (const p of [c.get('/version'), c.watchOnce('/api/v1/pods', { onEvent: () => undefined })]) {
      await assert.rejects(p, (err: unknown) => {
        assert.ok(isCode(err, ErrorCodes.KUBE_UNREACHABLE), String(err));
        assert.match((err as Error).message, new RegExp(`^cannot reach http://127\\.0\\.0\\.1:${port}: connect ECONNREFUSED`));
        assert.ok(!(err as Error).message.includes('\n'));
        return true;
      });
    }
  } finally {
    c.close();
  }
});
