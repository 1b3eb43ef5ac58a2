// The package ships no types; only the calls Procurator makes are declared.
declare module 'fs-native-extensions' {
  /**
   * Takes an advisory lock on the file open at `fd` without waiting: true if granted, false
   * if another open file description holds it. Exclusive (the default) needs a writable fd.
   * On Linux these are OFD locks: owned by the open file description, so two descriptors in
   * one process conflict, and the lock goes when the descriptor closes or its process dies.
   */
  export function tryLock(fd: number, opts?: { shared?: boolean }): boolean;
  export function unlock(fd: number): void;
}
