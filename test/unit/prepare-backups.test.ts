import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareBackups } from '../../lib/backup/prepare-backups';
import { createLogger } from '../../lib/logger';

let root: string;
let lines: string[];
const logger = () =>
  createLogger(
    'info',
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    }),
  );

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'procurator-prepare-'));
  lines = [];
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('prepareBackups (worker start)', () => {
  it('warns when setpriv is missing, and still sweeps', async () => {
    await mkdir(path.join(root, 'main'));
    await writeFile(path.join(root, 'main', '.main-20250301T100000.000Z.sql.0123abcd.partial'), 'x');
    const result = await prepareBackups({
      backupDir: root,
      targets: ['main'],
      logger: logger(),
      findDeathHelper: () => Promise.resolve(null),
    });
    expect(result.removed).toHaveLength(1);
    expect(await readdir(path.join(root, 'main'))).toEqual([]);
    const logged = lines.map((l) => JSON.parse(l) as { level: string; msg: string; removed?: number });
    expect(logged).toEqual([
      expect.objectContaining({ level: 'warn', msg: expect.stringContaining('setpriv') }),
      expect.objectContaining({ level: 'info', msg: 'pg.backup swept stale temporary files', removed: 1 }),
    ]);
  });

  it('says nothing with setpriv present and nothing to sweep, or without targets', async () => {
    const found = () => Promise.resolve('/usr/bin/setpriv');
    await prepareBackups({ backupDir: root, targets: ['main'], logger: logger(), findDeathHelper: found });
    await prepareBackups({
      backupDir: root,
      targets: [],
      logger: logger(),
      findDeathHelper: () => Promise.resolve(null),
    });
    expect(lines).toEqual([]);
  });
});
