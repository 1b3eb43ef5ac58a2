import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../lib/config';
import { startStack } from '../helpers/stack';
import type { Stack } from '../helpers/stack';

const TOKEN = 'scrape-secret-from-a-file-0123456789';

describe('METRICS_TOKEN_FILE', () => {
  let dir: string;
  let file: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'procurator-metrics-token-'));
    file = path.join(dir, 'metrics-token');
    // A trailing newline, as `echo … > file` and most secret stores leave one.
    await writeFile(file, `  ${TOKEN}\n`);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('becomes METRICS_TOKEN, trimmed', () => {
    const c = loadConfig({ METRICS_TOKEN_FILE: file });
    expect(c.METRICS_TOKEN).toBe(TOKEN);
  });

  it('is refused together with METRICS_TOKEN, and names both', () => {
    const attempt = () => loadConfig({ METRICS_TOKEN_FILE: file, METRICS_TOKEN: 'other' });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/METRICS_TOKEN_FILE and METRICS_TOKEN are both set/);
  });

  it('is refused when the file is missing or empty, naming the variable and the file', async () => {
    const missing = path.join(dir, 'absent');
    expect(() => loadConfig({ METRICS_TOKEN_FILE: missing })).toThrow(
      new RegExp(`METRICS_TOKEN_FILE cannot be read \\(ENOENT: ${missing}\\)`),
    );
    const empty = path.join(dir, 'empty');
    await writeFile(empty, ' \n');
    expect(() => loadConfig({ METRICS_TOKEN_FILE: empty })).toThrow(/METRICS_TOKEN_FILE names an empty file/);
  });

  it('counts as unset when empty, like every variable', () => {
    expect(loadConfig({ METRICS_TOKEN_FILE: '' }).METRICS_TOKEN).toBeUndefined();
  });

  describe('on /metrics', () => {
    let stack: Stack;
    beforeAll(async () => {
      stack = await startStack({ worker: false, config: { METRICS_TOKEN_FILE: file } });
    });
    afterAll(async () => {
      await stack.stop();
    });

    it('guards the scrape with the token read from the file', async () => {
      expect((await stack.request('GET', '/metrics', { token: null })).status).toBe(401);
      const res = await stack.request('GET', '/metrics', {
        token: null,
        headers: { Authorization: `Bearer ${TOKEN}` },
      });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('procurator_http_requests_total');
    });
  });
});
