import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { luaScript } from '../../lib/redis/lua-scripts';

const root = path.resolve(import.meta.dirname, '../../lib');

/** Every Lua script file of the project (not the includes). */
function scriptFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.name.endsWith('.lua') && !e.name.endsWith('.include.lua')) out.push(full);
    }
  };
  walk(root);
  return out;
}

describe('the Lua loader', () => {
  it('reads the command name and key count from the file name', () => {
    expect(luaScript('ack-batch-2.lua', 'return 1')).toEqual({
      command: 'procAckBatch',
      keys: 2,
      lua: 'return 1',
    });
    expect(luaScript('read-prioritized-n.lua', 'return 1')).toMatchObject({
      command: 'procReadPrioritized',
      keys: null,
    });
    expect(() => luaScript('ackBatch.lua', '')).toThrow(/verb-object-N/);
    expect(() => luaScript('ack-batch.lua', '')).toThrow(/verb-object-N/);
  });

  it('replaces each include once, includes of includes first, and refuses an unknown one', () => {
    const s = luaScript('x-1.lua', '--#include add-task\n--#include redis-now-ms\nreturn 1');
    // add-task includes redis-now-ms and index-entry; the second request for it adds nothing.
    expect(s.lua.match(/local function redisNowMs/g)).toHaveLength(1);
    expect(s.lua.match(/local function heldSeq/g)).toHaveLength(1);
    expect(s.lua.indexOf('local function redisNowMs')).toBeLessThan(s.lua.indexOf('local function addTask'));
    expect(s.lua).not.toContain('--#include');
    expect(() => luaScript('x-1.lua', '--#include nothing-here')).toThrow(
      /no Lua include named nothing-here/,
    );
  });

  it('loads every script of the project, and each says in its header how many KEYS it takes', () => {
    const files = scriptFiles();
    expect(files.length).toBeGreaterThanOrEqual(15);
    for (const file of files) {
      const s = luaScript(path.basename(file), readFileSync(file, 'utf8'));
      expect(s.lua, file).not.toContain('--#include');
      const declared = [...s.lua.matchAll(/^\s*KEYS\[(\d+)\]/gm)].map((m) => Number(m[1]));
      if (s.keys !== null) expect(Math.max(0, ...declared), file).toBe(s.keys);
    }
  });
});
