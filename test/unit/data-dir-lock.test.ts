import { sql } from 'drizzle-orm';
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testConfig } from '../../lib/config';
import { DataDirInUseError, LOCK_FILE_NAME, lockDataDir } from '../../lib/db/data-dir-lock';
import { openDatabase } from '../../lib/db/open';
import { silentLogger } from '../../lib/logger';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'procurator-lock-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const someone = (pid: number, host = 'here') => ({ pid, host, now: () => new Date('2026-12-01T00:00:00Z') });

describe('lockDataDir', () => {
  it('refuses a second holder at once, naming the first one’s pid, until the first releases', async () => {
    const first = await lockDataDir(dir, someone(4242));
    const started = Date.now();
    const refused = await lockDataDir(dir, someone(99)).catch((err: unknown) => err);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(refused).toBeInstanceOf(DataDirInUseError);
    expect((refused as Error).message).toMatch(new RegExp(`^DATA_DIR ${dir} is in use by pid 4242: `));
    first.release();
    first.release();
    const second = await lockDataDir(dir, someone(99));
    expect(JSON.parse(await readFile(path.join(dir, LOCK_FILE_NAME), 'utf8'))).toMatchObject({ pid: 99 });
    second.release();
  });

  it('is not blocked by a lock file that names a live process but is not locked', async () => {
    // A pid that is surely alive (this very process, or 1 in a container) decides nothing.
    for (const pid of [process.pid, 1]) {
      await writeFile(path.join(dir, LOCK_FILE_NAME), JSON.stringify({ pid, host: 'here', since: 'then' }));
      const lock = await lockDataDir(dir, someone(7));
      expect(JSON.parse(await readFile(path.join(dir, LOCK_FILE_NAME), 'utf8'))).toEqual({
        pid: 7,
        host: 'here',
        since: '2026-12-01T00:00:00.000Z',
      });
      lock.release();
    }
  });

  it('names the holder’s host when it is another one (a shared volume)', async () => {
    const lock = await lockDataDir(dir, someone(1, 'container-a'));
    await expect(lockDataDir(dir, someone(1, 'container-b'))).rejects.toThrow(
      `DATA_DIR ${dir} is in use by pid 1 on host container-a: `,
    );
    lock.release();
  });

  it('creates DATA_DIR and resolves a relative path in the message', async () => {
    const nested = path.join(dir, 'a', 'b');
    const lock = await lockDataDir(path.relative(process.cwd(), nested), someone(5));
    expect(lock.dir).toBe(nested);
    await expect(lockDataDir(nested, someone(6))).rejects.toThrow(`DATA_DIR ${nested} is in use by pid 5`);
    lock.release();
  });
});

describe('openDatabase on the embedded database', () => {
  // A fresh embedded database runs initdb and the migrations: seconds, more on a busy machine.
  it(
    'holds DATA_DIR from open to close: a second open is refused and harms nothing',
    { timeout: 60_000 },
    async () => {
      const config = testConfig({ DATA_DIR: dir });
      const first = await openDatabase(config, silentLogger());
      try {
        await expect(openDatabase(config, silentLogger())).rejects.toThrow(
          `DATA_DIR ${dir} is in use by pid ${process.pid}: `,
        );
        const [row] = await first.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM users`);
        expect(row!.n).toBe(0);
      } finally {
        await first.close();
      }
      const again = await openDatabase(config, silentLogger());
      await again.close();
      await again.close();
    },
  );
});
