import type { Config } from '../../lib/config';
import type { Logger } from '../../lib/logger';
import type { Executor } from './executor';
import { demoEcho } from './demo-echo';
import { demoFail } from './demo-fail';
import { demoSleep } from './demo-sleep';

/** What executors may need besides their TaskContext: built once per worker process. */
export interface ExecutorDeps {
  config: Config;
  logger: Logger;
}

/** Executors by task type. Each type here has a catalog entry in lib/catalog. */
export function builtinExecutors(deps: ExecutorDeps): Map<string, Executor> {
  void deps;
  return new Map<string, Executor>([
    ['demo.echo', demoEcho],
    ['demo.sleep', demoSleep as Executor],
    ['demo.fail', demoFail as Executor],
  ]);
}
