import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dieWithParent, findSetpriv, setprivExecFailure } from '../../lib/backup/die-with-parent';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'procurator-setpriv-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('die-with-parent', () => {
  it('finds the first executable setpriv on an absolute PATH entry, or none', async () => {
    const [plain, runnable] = [path.join(root, 'plain'), path.join(root, 'runnable')];
    for (const dir of [plain, runnable]) await mkdir(dir);
    await writeFile(path.join(plain, 'setpriv'), '');
    await writeFile(path.join(runnable, 'setpriv'), '#!/bin/sh\n');
    await chmod(path.join(runnable, 'setpriv'), 0o755);
    const search = ['', 'relative', plain, runnable].join(path.delimiter);
    expect(await findSetpriv(search)).toBe(path.join(runnable, 'setpriv'));
    expect(await findSetpriv(path.join(root, 'nowhere'))).toBeNull();
  });

  it('wraps a command so that it gets SIGKILL when its parent dies', () => {
    expect(dieWithParent('/usr/bin/setpriv', 'pg_dump', ['--format=custom'])).toEqual({
      command: '/usr/bin/setpriv',
      args: ['--pdeathsig', 'KILL', '--', 'pg_dump', '--format=custom'],
    });
  });

  it("turns setpriv's failure to exec into the spawn error, and nothing else", () => {
    const notFound = setprivExecFailure(
      127,
      'setpriv: failed to execute /x/pg_dump: No such file or directory',
    );
    expect(notFound).toMatchObject({ code: 'ENOENT', message: expect.stringContaining('/x/pg_dump') });
    expect(setprivExecFailure(126, 'setpriv: failed to execute /etc: Permission denied')?.code).toBe(
      'EACCES',
    );
    // pg_dump itself exiting 127 or 1 is pg_dump's failure, classified as usual.
    expect(setprivExecFailure(127, 'pg_dump: error: something')).toBeNull();
    expect(setprivExecFailure(1, 'setpriv: failed to execute x: No such file or directory')).toBeNull();
  });
});
