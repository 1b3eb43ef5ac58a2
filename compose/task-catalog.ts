import { TaskCatalog } from '../lib/catalog/task-catalog';
import { ConfigError } from '../lib/config';
import type { Config } from '../lib/config';
import { builtinTaskTypes } from '../worker/executors';

/**
 * The catalog of every built-in task type, with TASK_TYPE_ROLES applied. A role given for a
 * type that does not exist is a typo that would leave the intended type open: refused at start.
 */
export function builtinCatalog(config: Config): TaskCatalog {
  const catalog = new TaskCatalog(builtinTaskTypes(config), config.TASK_TYPE_ROLES);
  const unknown = catalog.unknownRoleTypes();
  if (unknown.length > 0) {
    throw new ConfigError([`TASK_TYPE_ROLES names unknown task type(s): ${unknown.join(', ')}`]);
  }
  return catalog;
}
