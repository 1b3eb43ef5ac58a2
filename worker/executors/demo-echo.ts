import type { Executor } from './executor';

/** demo.echo: the payload is the result. */
export const demoEcho: Executor = ({ task }) => Promise.resolve(task.payload);
