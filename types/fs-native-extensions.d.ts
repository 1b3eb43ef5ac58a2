// The package ships no types; these are the two calls the DATA_DIR lock uses. On Linux they
// are open-file-description locks (fcntl F_OFD_SETLK), on macOS flock, on Windows LockFileEx:
// all held by an open file, so the kernel drops them when the file closes or the process dies.
declare module 'fs-native-extensions' {
  /** An exclusive (default) or shared lock on the whole file; false when someone else holds one. */
  export function tryLock(fd: number, options?: { shared?: boolean }): boolean;
  export function unlock(fd: number): void;
}
