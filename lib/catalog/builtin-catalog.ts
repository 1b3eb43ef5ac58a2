import type { Config } from '../config';
import { demoTypes } from './demo-types';
import { TaskCatalog } from './task-catalog';

/** The catalog of every built-in task type; some payload checks depend on the configuration. */
export function builtinCatalog(config: Config): TaskCatalog {
  void config;
  return new TaskCatalog([...demoTypes]);
}
