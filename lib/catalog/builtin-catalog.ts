import type { Config } from '../config';
import { addressPolicyFromConfig } from '../outbound/address-policy';
import { demoTypes } from './demo-types';
import { feishuNotifyTaskType } from './feishu-type';
import { httpTaskType } from './http-type';
import { pgBackupTaskType } from './pg-backup-type';
import { TaskCatalog } from './task-catalog';

/** The catalog of every built-in task type; some payload checks depend on the configuration. */
export function builtinCatalog(config: Config): TaskCatalog {
  return new TaskCatalog([
    ...demoTypes,
    httpTaskType(addressPolicyFromConfig(config)),
    pgBackupTaskType(Object.keys(config.BACKUP_TARGETS)),
    feishuNotifyTaskType(),
  ]);
}
