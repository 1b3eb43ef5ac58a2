import type { Config } from '../../lib/config';
import type { FeishuClient } from '../../lib/feishu/feishu-client';
import type { Logger } from '../../lib/logger';
import type { OutboundClient } from '../../lib/outbound/outbound-client';
import { demoEcho } from './demo-echo';
import { demoFail } from './demo-fail';
import { demoSleep } from './demo-sleep';
import type { Executor } from './executor';
import { createFeishuNotifyExecutor } from './feishu-notify';
import { createHttpExecutor } from './http';
import { createPgBackupExecutor } from './pg-backup';

/** What executors need besides their TaskContext: built once per worker process. */
export interface ExecutorDeps {
  config: Config;
  logger: Logger;
  /** Every outbound HTTP request goes through it (SSRF policy, body caps). */
  outbound: OutboundClient;
  /** The configured Feishu bot, or null. */
  feishu: FeishuClient | null;
}

/** Executors by task type. Each type here has a catalog entry in lib/catalog. */
export function builtinExecutors(deps: ExecutorDeps): Map<string, Executor> {
  const { config } = deps;
  return new Map<string, Executor>([
    ['demo.echo', demoEcho],
    ['demo.sleep', demoSleep as Executor],
    ['demo.fail', demoFail as Executor],
    ['http', createHttpExecutor(deps.outbound)],
    [
      'pg.backup',
      createPgBackupExecutor({
        targets: config.BACKUP_TARGETS,
        backupDir: config.BACKUP_DIR,
        keep: config.BACKUP_KEEP,
      }),
    ],
    ['feishu.notify', createFeishuNotifyExecutor(deps.feishu)],
  ]);
}
