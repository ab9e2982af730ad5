// `dockerlet install` / `uninstall` into temporary dirs: the unit (Type=notify, NotifyAccess=all,
// WatchdogSec, KillMode=process, Restart=always, After/Wants docker) runs this node binary and this
// dockerlet.js and passes `systemd-analyze verify`; the config file validates and shows every default
// commented; an existing config is kept; uninstall keeps the pods' data unless --purge.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readConfigFile, validateConfig } from '../../../cli/config.js';
import { install, parseInstallFlags, uninstall } from '../../../cli/install.js';

function dirs() {
  const d = mkdtempSync(join(tmpdir(), 'ops-install-'));
  const argv = ['--unit-dir', join(d, 'units'), '--config-dir', join(d, 'etc'), '--root-dir', join(d, 'lib'), '--no-systemctl'];
  return { d, argv };
}

test('the repo unit and the installed unit pass systemd-analyze verify', () => {
  const { d, argv } = dirs();
  try {
    const repo = spawnSync('systemd-analyze', ['verify', 'systemd/dockerlet.service'], { encoding: 'utf8' });
    assert.equal(`${repo.stdout}${repo.stderr}`.trim(), '', 'verify is clean');
    const o = parseInstallFlags(argv);
    const r = install(o);
    const unitPath = join(d, 'units', 'dockerlet.service');
    assert.deepEqual(r.written, [unitPath, join(d, 'etc', 'config.yaml')]);
    const unit = readFileSync(unitPath, 'utf8');
    assert.match(unit, new RegExp(`^ExecStart=${process.execPath} \\S+/bin/dockerlet\\.js run --config ${d}/etc/config\\.yaml$`, 'm'));
    for (const line of ['Type=notify', 'NotifyAccess=all', 'WatchdogSec=60', 'KillMode=process', 'Restart=always', 'After=docker.service network-online.target', 'Wants=docker.service network-online.target']) {
      assert.ok(unit.split('\n').includes(line), line);
    }
    const v = spawnSync('systemd-analyze', ['verify', unitPath], { encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr);
    assert.equal(`${v.stdout}${v.stderr}`.trim(), '', 'verify is clean');
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('the config file validates, names the kubeconfig join writes and comments every other default', () => {
  const { d, argv } = dirs();
  try {
    install(parseInstallFlags(argv));
    const path = join(d, 'etc', 'config.yaml');
    const cfg = validateConfig(readConfigFile(path).data, `config ${path}`, readConfigFile(path));
    assert.equal(cfg.kubeconfig, join(d, 'etc', 'kubelet.kubeconfig'));
    assert.equal(cfg.rootDir, join(d, 'lib'));
    const text = readFileSync(path, 'utf8');
    assert.match(text, /^# maxPods: 110$/m);
    assert.match(text, /^# podInfraContainerImage: registry\.k8s\.io\/pause:3\.10$/m);
    assert.equal(statSync(join(d, 'etc', 'pki')).mode & 0o777, 0o700);
    // an edited config survives a second install
    writeFileSync(path, `${text}maxPods: 20\n`);
    const again = install(parseInstallFlags(argv));
    assert.deepEqual(again.kept, [path]);
    assert.match(readFileSync(path, 'utf8'), /^maxPods: 20$/m);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('uninstall removes unit and config dir, keeps the pods\' data without --purge', () => {
  const { d, argv } = dirs();
  try {
    install(parseInstallFlags(argv));
    mkdirSync(join(d, 'lib', 'pods', 'uid-1'), { recursive: true });
    const removed = uninstall(parseInstallFlags(argv));
    assert.deepEqual(removed, [join(d, 'units', 'dockerlet.service'), join(d, 'etc')]);
    assert.ok(existsSync(join(d, 'lib', 'pods', 'uid-1')));
    install(parseInstallFlags(argv));
    uninstall(parseInstallFlags([...argv, '--purge']));
    assert.equal(existsSync(join(d, 'lib')), false);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
