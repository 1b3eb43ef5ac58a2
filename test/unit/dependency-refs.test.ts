import { describe, expect, it } from 'vitest';
import { DEPENDENCY_REF_RE, resolveDependencyRefs } from '../../lib/tasks/dependency-refs';

const A = '0190aaaa-0000-7000-8000-000000000001';
const B = '0190aaaa-0000-7000-8000-000000000002';
const path = (i: number) => `dependsOn[${i}]`;

describe('dependsOn entries', () => {
  it.each([
    [A, true],
    [A.toUpperCase(), true],
    ['$0', true],
    ['$999', true],
    ['$1000', false], // a batch holds at most 1000 tasks: $999 is the last index
    ['$01', false],
    ['$-1', false],
    ['$', false],
    ['0', false],
    [`${A} `, false],
    [A.replaceAll('-', ''), false],
    ['', false],
  ])('%j is an entry: %s', (entry, ok) => {
    expect(DEPENDENCY_REF_RE.test(entry)).toBe(ok);
  });

  it('keeps each parent once, in the order first named, with where it was named', () => {
    const { refs, errors } = resolveDependencyRefs([A, '$1', A.toUpperCase(), B, '$1', '$0'], path, 3);
    expect(errors).toEqual([]);
    expect(refs).toEqual([
      { taskId: A, at: 0 },
      { index: 1, at: 1 },
      { taskId: B, at: 3 },
      { index: 0, at: 5 },
    ]);
  });

  it('refuses $n outside a batch, and an index that is not earlier than the task (no cycle can form)', () => {
    expect(resolveDependencyRefs(['$0'], path, null).errors).toEqual([
      { path: 'dependsOn[0]', message: expect.stringContaining('only POST /v1/tasks/batch has') as string },
    ]);
    const { refs, errors } = resolveDependencyRefs(['$2', '$1', '$7', '$0'], path, 2);
    expect(refs).toEqual([
      { index: 1, at: 1 },
      { index: 0, at: 3 },
    ]);
    expect(errors.map((e) => e.path)).toEqual(['dependsOn[0]', 'dependsOn[2]']);
    expect(errors[0]!.message).toBe(
      '$2 must name an earlier task of this batch (an index below 2): a task can only wait for tasks before it',
    );
    expect(resolveDependencyRefs(['$0'], path, 0).errors).toHaveLength(1);
  });

  it('has nothing to resolve when there is no dependsOn', () => {
    expect(resolveDependencyRefs(undefined, path, null)).toEqual({ refs: [], errors: [] });
    expect(resolveDependencyRefs([], path, 4)).toEqual({ refs: [], errors: [] });
  });
});
