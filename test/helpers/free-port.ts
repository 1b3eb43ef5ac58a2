import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A port on 127.0.0.1 that was free a moment ago, for programs that must be told their port
 * (Prometheus, or a container's fixed port replayed here). Another process could take it in
 * between; on a test machine that is rare enough.
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
