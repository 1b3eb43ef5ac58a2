import type { Cluster, Redis } from 'ioredis';
import addTask from './scripts/add-task.include.lua?raw';
import bucket from './scripts/bucket.include.lua?raw';
import indexEntry from './scripts/index-entry.include.lua?raw';
import lanes from './scripts/lanes.include.lua?raw';
import redisNowMs from './scripts/redis-now-ms.include.lua?raw';

/**
 * The one Lua loader. A script file is named `verb-object-N.lua`, N its number of KEYS (`n`
 * when the caller passes the count per call); the loader reads N from the name, so a script
 * and its key count cannot disagree. A line `--#include name` is replaced by the shared
 * `name.include.lua` of lib/redis/scripts (each include once per script, includes of
 * includes first), so that a computation several scripts need — Redis TIME in milliseconds,
 * the index entry, the token bucket — is written once.
 */

const INCLUDES: Readonly<Record<string, string>> = {
  'add-task': addTask,
  bucket,
  'index-entry': indexEntry,
  lanes,
  'redis-now-ms': redisNowMs,
};

const INCLUDE_LINE = /^--#include ([a-z0-9-]+)[ \t]*$/gm;
const FILE_NAME = /^([a-z][a-z0-9]*(?:-[a-z][a-z0-9]*)*)-(\d+|n)\.lua$/;

/** `ack-batch-2.lua` → `ack-batch`: the name without its key count. */
type BaseName<S extends string> = S extends `${infer Head}-${infer Rest}`
  ? Rest extends `${string}-${string}`
    ? `${Head}-${BaseName<Rest>}`
    : Head
  : never;
type Pascal<S extends string> = S extends `${infer Head}-${infer Rest}`
  ? `${Capitalize<Head>}${Pascal<Rest>}`
  : Capitalize<S>;
/** The command a script file defines: `ack-batch-2.lua` → `procAckBatch`. */
export type CommandOf<F extends string> = `proc${Pascal<BaseName<F>>}`;

export interface LuaScript<C extends string = string> {
  /** The ioredis command the script is defined as, e.g. `procAckBatch` for ack-batch-2.lua. */
  command: C;
  /** Its number of KEYS; null when each call passes it first. */
  keys: number | null;
  /** The script with its includes in place. */
  lua: string;
}

/** The script of one file: its command name and key count from the name, includes resolved. */
export function luaScript<F extends string>(fileName: F, source: string): LuaScript<CommandOf<F>> {
  const m = FILE_NAME.exec(fileName);
  if (!m) throw new Error(`Lua script ${fileName} is not named verb-object-N.lua`);
  const command = `proc${m[1]!
    .split('-')
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('')}`;
  return {
    command: command as CommandOf<F>,
    keys: m[2] === 'n' ? null : Number(m[2]),
    lua: resolveIncludes(source, new Set()),
  };
}

function resolveIncludes(source: string, done: Set<string>): string {
  return source.replace(INCLUDE_LINE, (_, name: string) => {
    if (done.has(name)) return '';
    const text = INCLUDES[name];
    if (text === undefined) throw new Error(`no Lua include named ${name}`);
    done.add(name);
    return resolveIncludes(text, done);
  });
}

/** Something ioredis can define commands on and run them through: a client or a cluster. */
export type ScriptHost = Redis | Cluster;

/** A defined script, called with its KEYS then its ARGV (the count first for `-n` scripts). */
export type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;

/**
 * Defines the scripts on a client (EVALSHA, falling back to EVAL once per connection) and
 * returns their calls by command name. Pipelines of the same client get the commands too.
 */
export function defineLuaScripts<const C extends string>(
  host: ScriptHost,
  scripts: readonly LuaScript<C>[],
): Record<C, ScriptCall> {
  for (const s of scripts) {
    host.defineCommand(s.command, s.keys === null ? { lua: s.lua } : { lua: s.lua, numberOfKeys: s.keys });
  }
  return host as unknown as Record<C, ScriptCall>;
}
