import type { Executor } from './executor';
import { demoEcho } from './demo-echo';
import { demoFail } from './demo-fail';
import { demoSleep } from './demo-sleep';

/** Executors by task type. Each type here has a catalog entry in lib/catalog. */
export function builtinExecutors(): Map<string, Executor> {
  return new Map<string, Executor>([
    ['demo.echo', demoEcho],
    ['demo.sleep', demoSleep as Executor],
    ['demo.fail', demoFail as Executor],
  ]);
}
