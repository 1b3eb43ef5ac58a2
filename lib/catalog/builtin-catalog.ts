import { demoTypes } from './demo-types';
import { TaskCatalog } from './task-catalog';

/** The catalog of every built-in task type. */
export function builtinCatalog(): TaskCatalog {
  return new TaskCatalog([...demoTypes]);
}
