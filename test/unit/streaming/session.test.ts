// The SPDY/3.1 server session against a spdystream-shaped client over a loopback TCP pair: streams are
// offered with their headers and answered with SYN_REPLY, data and half-closes flow both ways, pings
// from the client are echoed (the server's own parity is not), a reset destroys the stream, a broken
// frame ends the connection with GOAWAY PROTOCOL_ERROR, and flow control applies only once the peer
// shows it does it (spdystream never sends WINDOW_UPDATE).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { silentLogger } from '../../../lib/log.js';
import { GoawayStatus, RstStatus } from '../../../agent/server/streaming/spdy/frames.js';
import { SpdySession } from '../../../agent/server/streaming/spdy/session.js';
import type { SpdyStream } from '../../../agent/server/streaming/spdy/stream.js';
import { SpdyTestClient } from './spdy-client.js';

const servers: Server[] = [];
after(() => servers.forEach((s) => s.close()));

async function pair(onStream: (s: SpdyStream) => void): Promise<{ session: SpdySession; client: SpdyTestClient; sock: Socket }> {
  let session!: SpdySession;
  const server = createServer((sock) => {
    session = new SpdySession(sock, { log: silentLogger(), onStream });
    session.start();
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const sock = connect(port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  const client = new SpdyTestClient(sock);
  while (!session) await new Promise((r) => setTimeout(r, 5));
  return { session, client, sock };
}

test('a stream is offered with its headers, replied, and carries data and FIN both ways', async () => {
  const got: SpdyStream[] = [];
  const { session, client } = await pair((s) => {
    got.push(s);
    s.reply();
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => s.end(`echo:${Buffer.concat(chunks).toString()}`));
  });
  const a = await client.open({ streamtype: 'stdin', port: '80' });
  await client.until(() => a.replied, 5000, 'SYN_REPLY');
  assert.deepEqual(a.replyHeaders && { ...a.replyHeaders }, {});
  assert.equal(got[0]?.header('streamtype'), 'stdin');
  assert.equal(got[0]?.header('port'), '80');
  client.write(a, 'hello ');
  client.write(a, 'world', true);
  await client.until(() => a.fin, 5000, 'FIN');
  assert.equal(a.text(), 'echo:hello world');
  await client.until(() => session.activeStreams === 0, 5000, 'stream forgotten');
  session.destroy();
});

test('client pings are echoed; a ping with the server parity is not', async () => {
  const { session, client } = await pair(() => {});
  client.ping(1);
  client.ping(2);
  client.ping(3);
  await client.until(() => client.pings.length >= 2, 5000, 'pings');
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(client.pings, [1, 3]);
  session.destroy();
});

test('a reset from the client destroys the stream; the server refuses with RST_STREAM', async () => {
  const streams: SpdyStream[] = [];
  const { session, client } = await pair((s) => {
    streams.push(s);
    if (s.header('streamtype') === 'bad') return s.reset(RstStatus.REFUSED_STREAM);
    s.reply();
  });
  const ok = await client.open({ streamtype: 'data' });
  const bad = await client.open({ streamtype: 'bad' });
  await client.until(() => ok.replied && bad.reset !== undefined, 5000, 'reply and reset');
  assert.equal(bad.reset, RstStatus.REFUSED_STREAM);
  const closed = new Promise((r) => streams[0]!.once('close', r));
  client.reset(ok);
  await closed;
  assert.equal(streams[0]!.destroyed, true);
  await client.until(() => session.activeStreams === 0, 5000, 'streams gone');
  session.destroy();
});

test('a malformed frame ends the connection with GOAWAY PROTOCOL_ERROR', async () => {
  const { session, client } = await pair(() => {});
  client.raw(Buffer.from([0x80, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 1])); // SPDY/2 PING
  await client.until(() => client.goaway !== undefined, 5000, 'GOAWAY');
  assert.equal(client.goaway?.status, GoawayStatus.PROTOCOL_ERROR);
  await session.closed;
});

test('stream ids must be odd and increasing', async () => {
  const { session, client } = await pair((s) => s.reply());
  await client.open({ streamtype: 'a' });
  // Streams 1 and 3 were accepted in order; a SYN_STREAM reusing id 1 is a protocol error.
  const s3 = await client.open({ streamtype: 'b' });
  await client.until(() => s3.replied, 5000, 'reply');
  const { encodeSynStream } = await import('../../../agent/server/streaming/spdy/frames.js');
  client.raw(encodeSynStream(1, 0, Buffer.alloc(0)));
  await client.until(() => client.goaway !== undefined, 5000, 'GOAWAY');
  assert.equal(client.goaway?.status, GoawayStatus.PROTOCOL_ERROR);
  await session.closed;
});

test('without WINDOW_UPDATE from the peer output is not held at the 64 KiB window (spdystream)', async () => {
  const size = 1024 * 1024;
  const { session, client } = await pair((s) => {
    s.reply();
    s.end(Buffer.alloc(size, 7));
  });
  const a = await client.open({ streamtype: 'stdout' });
  await client.until(() => a.fin, 10_000, 'all data');
  assert.equal(Buffer.concat(a.data).length, size);
  session.destroy();
});

test('a peer that sends WINDOW_UPDATE gets flow control: output waits for window', async () => {
  let server!: SpdyStream;
  const { session, client } = await pair((s) => {
    server = s;
    s.reply();
  });
  const a = await client.open({ streamtype: 'stdout' });
  await client.until(() => a.replied, 5000, 'reply');
  client.windowUpdate(a.id, 1); // the peer shows it does flow control: window 64 KiB + 1
  await new Promise((r) => setTimeout(r, 50));
  server.end(Buffer.alloc(200 * 1024, 1));
  const received = () => a.data.reduce((n, b) => n + b.length, 0);
  await client.until(() => received() === 64 * 1024 + 1, 5000, 'first window');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(received(), 64 * 1024 + 1, 'no byte beyond the window');
  client.windowUpdate(a.id, 200 * 1024);
  await client.until(() => a.fin, 5000, 'rest after WINDOW_UPDATE');
  assert.equal(received(), 200 * 1024);
  session.destroy();
});

test('the session acknowledges consumed data with WINDOW_UPDATE once the peer does flow control', async () => {
  let server!: SpdyStream;
  const { session, client } = await pair((s) => {
    server = s;
    s.reply();
  });
  const a = await client.open({ streamtype: 'stdin' });
  await client.until(() => a.replied, 5000, 'reply');
  client.windowUpdate(a.id, 1);
  client.write(a, Buffer.alloc(10_000, 1));
  server.resume();
  await client.until(() => client.frames.some((f) => f.type === 'window_update' && f.streamId === a.id), 5000, 'WINDOW_UPDATE');
  session.destroy();
});

test('GOAWAY from the client closes the connection once its streams are done', async () => {
  let server!: SpdyStream;
  const { session, client } = await pair((s) => {
    server = s;
    s.reply();
  });
  const a = await client.open({ streamtype: 'x' });
  await client.until(() => a.replied, 5000, 'reply');
  client.sendGoaway();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(client.closed, false, 'open stream keeps the connection');
  server.end();
  server.resume();
  client.end(a);
  await session.closed;
});

test('destroying the socket destroys every stream', async () => {
  const streams: SpdyStream[] = [];
  const { session, client } = await pair((s) => {
    streams.push(s);
    s.reply();
  });
  await client.open({ streamtype: 'a' });
  await client.open({ streamtype: 'b' });
  await client.until(() => streams.length === 2, 5000, 'streams');
  client.destroy();
  await session.closed;
  assert.ok(streams.every((s) => s.destroyed));
});
