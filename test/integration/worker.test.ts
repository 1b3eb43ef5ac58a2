import { defineWorkerSuites } from '../helpers/worker-suites';
import { STACK_VARIANTS } from '../helpers/stack';

// The suites live in test/helpers/worker-suites.ts so that the Redis Cluster runs them too.
defineWorkerSuites(STACK_VARIANTS);
