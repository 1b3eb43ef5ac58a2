import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { builtinCatalog } from '../../compose/task-catalog';
import { openApiDocument } from '../../handlers/openapi-document';
import { testConfig } from '../../lib/config';
import { VERSION } from '../../lib/version';

// The client is typed from the OpenAPI document: its committed types must be what
// `npm run client:types` makes of the document the API serves now.

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

describe('client/openapi-types.ts', () => {
  it('is generated from the current document (run `npm run client:types` after changing a route)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'procurator-types-'));
    try {
      const doc = openApiDocument({
        version: VERSION,
        catalog: builtinCatalog(testConfig({ SERVER_PORT: '50002' })),
        serverUrl: 'http://localhost:50002',
      });
      await writeFile(path.join(dir, 'openapi.json'), JSON.stringify(doc));
      const out = path.join(dir, 'types.ts');
      await run(path.join(root, 'node_modules/.bin/openapi-typescript'), [
        path.join(dir, 'openapi.json'),
        '-o',
        out,
      ]);
      // Formatted with the project's settings, as the committed file is.
      const config = path.join(root, '.prettierrc.json');
      await run(path.join(root, 'node_modules/.bin/prettier'), ['--config', config, '--write', out], {
        cwd: root,
      });
      expect(await readFile(out, 'utf8')).toBe(
        await readFile(path.join(root, 'client/openapi-types.ts'), 'utf8'),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
