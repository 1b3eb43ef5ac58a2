/** Roles, weakest first: each can do everything the ones before it can. */
export const ROLES = ['dev', 'ops', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** True when `role` is at least `required`. */
export function hasRole(role: Role, required: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(required);
}

/** Who is calling: a database user or a deprecated API_TOKENS entry. */
export interface Principal {
  id: string;
  name: string;
  role: Role;
  rateLimitRps: number | null;
  legacy: boolean;
}

/** ops and admin see every task; dev only its own. */
export function seesAllTasks(p: Principal): boolean {
  return hasRole(p.role, 'ops');
}
