import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLockedPartial, isPartialOf } from '../../lib/backup/partial-file';
import { sweepStalePartials } from '../../lib/backup/sweep-stale-partials';
import { silentLogger } from '../../lib/logger';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'procurator-sweep-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const stale = '.main-20250301T100000.000Z.dump.0123abcd.partial';
const sweep = (targets = ['main']) =>
  sweepStalePartials({ backupDir: root, targets, logger: silentLogger() });
const listing = async (dir: string) => (await readdir(dir)).sort();

describe('sweepStalePartials', () => {
  it('removes an unlocked stale partial and leaves the one a live dump holds locked', async () => {
    const dir = path.join(root, 'main');
    await mkdir(dir);
    await writeFile(path.join(dir, stale), 'half a dump');
    // The live one is locked through another descriptor of this very process: OFD locks
    // conflict between descriptors, not only between processes.
    const live = await createLockedPartial(dir, 'main-20250301T110000.000Z.dump');
    try {
      const result = await sweep();
      expect(result.removed).toEqual([path.join(dir, stale)]);
      expect(result.live).toEqual([live.path]);
      expect(result.failed).toEqual([]);
      expect(await listing(dir)).toEqual([path.basename(live.path)]);
    } finally {
      await live.handle.close();
    }
    // Its lock went with the descriptor: now it is stale too.
    expect((await sweep()).removed).toEqual([live.path]);
    expect(await listing(dir)).toEqual([]);
  });

  it('touches nothing but the partials of configured targets', async () => {
    const keep = [
      'main-20250301T100000.000Z.dump',
      '.main-20250301T100000.000Z.dump.abcd.partial',
      '.other-20250301T100000.000Z.dump.0123abcd.partial',
      'notes.partial',
    ];
    await mkdir(path.join(root, 'main'));
    for (const f of keep) await writeFile(path.join(root, 'main', f), 'x');
    await symlink(path.join(root, 'main', keep[0]!), path.join(root, 'main', stale));
    await mkdir(path.join(root, 'unconfigured'));
    const elsewhere = '.unconfigured-20250301T100000.000Z.sql.0123abcd.partial';
    await writeFile(path.join(root, 'unconfigured', elsewhere), 'x');

    const result = await sweep(['main', 'absent', '../escape']);
    expect(result).toEqual({ removed: [], live: [], failed: [] });
    expect(await listing(path.join(root, 'main'))).toEqual([...keep, stale].sort());
    expect(await listing(path.join(root, 'unconfigured'))).toEqual([elsewhere]);
  });

  it('recognises exactly the temporary file names a dump creates', async () => {
    const made = await createLockedPartial(root, 'main-20250301T100000.000Z.tar');
    await made.handle.close();
    expect(isPartialOf('main', path.basename(made.path))).toBe(true);
    expect(isPartialOf('mai', path.basename(made.path))).toBe(false);
    expect(isPartialOf('main', 'main-20250301T100000.000Z.tar')).toBe(false);
  });
});
