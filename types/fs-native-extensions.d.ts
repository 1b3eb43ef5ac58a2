// The package ships no types; only the calls Procurator makes are declared (the DATA_DIR lock
// and the pg.backup temporary files). On Linux they are open-file-description locks (fcntl
// F_OFD_SETLK), on macOS flock, on Windows LockFileEx: all held by an open file, so the kernel
// drops them when the file closes or the process dies, and two descriptors in one process conflict.
declare module 'fs-native-extensions' {
  /** An exclusive (default) or shared lock on the whole file; false when someone else holds one. */
  export function tryLock(fd: number, options?: { shared?: boolean }): boolean;
  export function unlock(fd: number): void;
}
