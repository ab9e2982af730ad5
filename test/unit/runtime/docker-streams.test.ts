import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { LogStream, logsQuery } from '../../../runtime/docker/logs.js';
import { parseHeader, readFirstFile } from '../../../runtime/docker/tar.js';

function frame(type: number, text: string): Buffer {
  const payload = Buffer.from(text);
  const h = Buffer.alloc(8);
  h[0] = type;
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

async function collect(chunks: Buffer[], opts: { multiplexed: boolean; limitBytes?: number }): Promise<string> {
  const out = Readable.from(chunks).pipe(new LogStream(opts));
  const parts: Buffer[] = [];
  for await (const c of out) parts.push(c as Buffer);
  return Buffer.concat(parts).toString();
}

test('demultiplexes frames split at arbitrary boundaries, keeping order', async () => {
  const all = Buffer.concat([frame(1, 'out1\n'), frame(2, 'err1\n'), frame(1, 'out2\n')]);
  const want = 'out1\nerr1\nout2\n';
  for (const size of [1, 3, 7, 8, 9, all.length]) {
    const chunks: Buffer[] = [];
    for (let i = 0; i < all.length; i += size) chunks.push(all.subarray(i, i + size));
    assert.equal(await collect(chunks, { multiplexed: true }), want, `chunk size ${size}`);
  }
});

test('tty streams pass through; limitBytes truncates', async () => {
  assert.equal(await collect([Buffer.from('raw\x01\x00bytes')], { multiplexed: false }), 'raw\x01\x00bytes');
  assert.equal(await collect([frame(1, 'hello '), frame(2, 'world')], { multiplexed: true, limitBytes: 8 }), 'hello wo');
});

test('logsQuery maps options', () => {
  assert.deepEqual(logsQuery({}, 0), { stdout: true, stderr: true, follow: false, timestamps: false, tail: 'all' });
  const q = logsQuery({ follow: true, tailLines: 0, sinceSeconds: 10, timestamps: true }, 1_000_000);
  assert.deepEqual(q, { stdout: true, stderr: true, follow: true, timestamps: true, tail: '0', since: 990 });
});

test('readFirstFile reads a file from ustar and pax archives, honouring maxBytes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dkl-tar-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const long = 'n'.repeat(150); // forces a PAX/long-name header
  writeFileSync(join(dir, 'msg'), 'terminated: ok\n');
  writeFileSync(join(dir, long), 'x'.repeat(2000));
  for (const format of ['ustar', 'pax', 'gnu']) {
    const tar = execFileSync('tar', ['--format', format, '-C', dir, '-cf', '-', 'msg']);
    assert.equal((await readFirstFile(Readable.from([tar]), 4096))?.toString(), 'terminated: ok\n', format);
    assert.equal((await readFirstFile(Readable.from([tar]), 4))?.toString(), 'term', format);
  }
  for (const format of ['pax', 'gnu']) {
    const tar = execFileSync('tar', ['--format', format, '-C', dir, '-cf', '-', long]);
    const chunks: Buffer[] = [];
    for (let i = 0; i < tar.length; i += 100) chunks.push(tar.subarray(i, i + 100));
    const got = await readFirstFile(Readable.from(chunks), 1500);
    assert.equal(got?.length, 1500, format);
    assert.equal(got?.toString(), 'x'.repeat(1500));
  }
  const dirOnly = execFileSync('tar', ['--format', 'ustar', '-C', dir, '--no-recursion', '-cf', '-', '.']);
  assert.equal(await readFirstFile(Readable.from([dirOnly]), 10), undefined);
  assert.equal(parseHeader(Buffer.alloc(512)), undefined);
});
