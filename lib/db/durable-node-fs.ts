import { PGlite } from '@electric-sql/pglite';
import { NodeFS } from '@electric-sql/pglite/nodefs';
import { fsyncSync } from 'node:fs';

type InitOptions = Parameters<NodeFS['init']>[1];
type Module = Parameters<NonNullable<InitOptions['preRun']>[number]>[0];

/** The part of Emscripten's NODEFS this patches; PGlite's types do not describe it. */
interface NodeFsInternals {
  stream_ops: { fsync?: (stream: { nfd: number }) => number };
  /** Runs a Node fs call, turning its error into the errno Postgres sees. */
  tryFSOperation<T>(f: () => T): T;
}

/**
 * Postgres' start parameters for a database on disk: PGlite's own without `-F` (fsync off).
 * The WAL is synced with fsync because the Emscripten build's fdatasync returns success
 * without touching the file system.
 */
export const DURABLE_START_PARAMS: readonly string[] = [
  ...PGlite.defaultStartParams.filter((p) => p !== '-F'),
  '-c',
  'wal_sync_method=fsync',
];

/**
 * PGlite's Node file system with a working fsync. Emscripten's NODEFS has no fsync stream
 * operation, so Postgres' fsync() of a WAL segment or data file returned success without
 * reaching the disk; here it calls fsync(2) on the file's own descriptor, and a failure
 * reaches Postgres as an error (which it treats as a PANIC, as on any disk).
 */
export class DurableNodeFS extends NodeFS {
  constructor(
    dataDir: string,
    private readonly fsync: (fd: number) => void = fsyncSync,
  ) {
    super(dataDir);
  }

  override async init(pg: PGlite, opts: InitOptions): ReturnType<NodeFS['init']> {
    const { emscriptenOpts } = await super.init(pg, opts);
    const addFsync = (mod: Module) => {
      const nodefs = mod.NODEFS as unknown as NodeFsInternals;
      // Every NODEFS file shares this one table of stream operations.
      nodefs.stream_ops.fsync = (stream) =>
        nodefs.tryFSOperation(() => {
          this.fsync(stream.nfd);
          return 0;
        });
    };
    return { emscriptenOpts: { ...emscriptenOpts, preRun: [...(emscriptenOpts.preRun ?? []), addFsync] } };
  }
}
