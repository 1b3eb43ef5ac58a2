import type { TaskType } from '../../lib/catalog/task-type';
import type { Config } from '../../lib/config';
import { addressPolicyFromConfig } from '../../lib/outbound/address-policy';
import { demoEcho, demoFail, demoSleep } from './demo';
import { feishuNotifyTaskType } from './feishu-notify';
import { httpTaskType } from './http';
import { pgBackupTaskType } from './pg-backup';

/** Every built-in task type; some payload checks depend on the configuration. */
export function builtinTaskTypes(config: Config): TaskType[] {
  return [
    demoEcho,
    demoSleep,
    demoFail,
    httpTaskType(addressPolicyFromConfig(config)),
    pgBackupTaskType(Object.keys(config.BACKUP_TARGETS)),
    feishuNotifyTaskType,
  ];
}
