import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Secret files shared between containers through one volume. Readable by the owner and its
 * group, never by others: the readers (Prometheus, Alertmanager) run under other uids and
 * are given the owner's group instead (infra/docker-compose.yml).
 */
export const SECRET_FILE_MODE = 0o640;
export const SECRET_DIR_MODE = 0o750;

/** Creates the directory if needed, and gives it SECRET_DIR_MODE when we own it. */
export async function prepareSecretDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: SECRET_DIR_MODE });
  // A volume mounted by another container first may belong to someone else: then the
  // write below fails and says so, which is clearer than failing here on chmod.
  await chmod(dir, SECRET_DIR_MODE).catch(() => undefined);
}

/** The trimmed content of a secret file, or null when it is missing or empty. */
export async function readSecretFile(file: string): Promise<string | null> {
  try {
    const text = (await readFile(file, 'utf8')).trim();
    return text === '' ? null : text;
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Replaces a secret file atomically (a reader sees the old secret or the new one, never a
 * part), synced to disk before the rename and the directory after it. No trailing newline:
 * every reader trims, but a token is a token.
 */
export async function writeSecretFile(file: string, secret: string): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  const handle = await open(tmp, 'w', SECRET_FILE_MODE);
  try {
    // open()'s mode passes through the umask; the readers need the group bit.
    await handle.chmod(SECRET_FILE_MODE);
    await handle.writeFile(secret);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  await rename(tmp, file);
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}
