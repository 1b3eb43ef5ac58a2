import type { z } from 'zod';
import type { Priority } from '../tasks/task';

/**
 * One task type: its name, a zod schema its payload must match at submission, and the
 * defaults a submission may leave out. Adding a type means adding one of these and an
 * executor under worker/executors/.
 */
export interface TaskTypeDefinition<S extends z.ZodType = z.ZodType> {
  type: string;
  description: string;
  payload: S;
  defaults?: {
    maxAttempts?: number;
    timeoutMs?: number;
    queue?: string;
    priority?: Priority;
  };
}

/** The known task types; the API refuses any other. */
export class TaskCatalog {
  private readonly byType = new Map<string, TaskTypeDefinition>();

  constructor(definitions: readonly TaskTypeDefinition[]) {
    for (const d of definitions) this.register(d);
  }

  register(definition: TaskTypeDefinition): void {
    if (this.byType.has(definition.type)) throw new Error(`task type ${definition.type} registered twice`);
    this.byType.set(definition.type, definition);
  }

  get(type: string): TaskTypeDefinition | undefined {
    return this.byType.get(type);
  }

  list(): { type: string; description: string }[] {
    return [...this.byType.values()]
      .map((d) => ({ type: d.type, description: d.description }))
      .sort((a, b) => a.type.localeCompare(b.type));
  }
}
