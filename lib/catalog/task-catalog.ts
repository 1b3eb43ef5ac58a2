import type { Role } from '../auth/roles';
import type { TaskType } from './task-type';

/** One line of GET /v1/system/info's `taskTypes`. */
export interface TaskTypeInfo {
  type: string;
  description: string;
  minRole: Role;
}

/**
 * The known task types; the API refuses any other. `roles` (TASK_TYPE_ROLES) overrides the
 * least role of the types it names; the others keep their definition's.
 */
export class TaskCatalog {
  private readonly byType = new Map<string, TaskType>();

  constructor(
    types: readonly TaskType[],
    private readonly roles: Readonly<Record<string, Role>> = {},
  ) {
    for (const t of types) this.register(t);
  }

  register(type: TaskType): void {
    if (this.byType.has(type.type)) throw new Error(`task type ${type.type} registered twice`);
    this.byType.set(type.type, type);
  }

  get(type: string): TaskType | undefined {
    return this.byType.get(type);
  }

  /** The least role that may submit tasks of `type`. */
  minRole(type: string): Role {
    return this.roles[type] ?? this.byType.get(type)?.minRole ?? 'dev';
  }

  /** Role overrides naming no known type: a typo in TASK_TYPE_ROLES, refused at start. */
  unknownRoleTypes(): string[] {
    return Object.keys(this.roles).filter((t) => !this.byType.has(t));
  }

  list(): TaskTypeInfo[] {
    return [...this.byType.values()]
      .map((d) => ({ type: d.type, description: d.description, minRole: this.minRole(d.type) }))
      .sort((a, b) => a.type.localeCompare(b.type));
  }
}
