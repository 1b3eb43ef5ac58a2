import { TaskCatalog } from '../lib/catalog/task-catalog';
import type { Config } from '../lib/config';
import { addressPolicyFromConfig } from '../lib/outbound/address-policy';
import { demoTypes } from '../lib/catalog/demo-types';
import { feishuNotifyTaskType } from '../lib/catalog/feishu-type';
import { httpTaskType } from '../lib/catalog/http-type';
import { pgBackupTaskType } from '../lib/catalog/pg-backup-type';

/** The catalog of every built-in task type; some payload checks depend on the configuration. */
export function builtinCatalog(config: Config): TaskCatalog {
  return new TaskCatalog([
    ...demoTypes,
    httpTaskType(addressPolicyFromConfig(config)),
    pgBackupTaskType(Object.keys(config.BACKUP_TARGETS)),
    feishuNotifyTaskType(),
  ]);
}
