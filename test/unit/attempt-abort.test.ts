import { describe, expect, it } from 'vitest';
import { AttemptAbort } from '../../worker/attempt-abort';

describe('AttemptAbort', () => {
  it('keeps the first reason; a signal made before fires with it', () => {
    const abort = new AttemptAbort();
    const signal = abort.signal;
    const seen: unknown[] = [];
    signal.addEventListener('abort', () => seen.push(signal.reason));
    expect(abort.aborted).toBe(false);
    abort.abort('cancelled');
    abort.abort('timeout');
    expect(abort.reason).toBe('cancelled');
    expect(seen).toEqual(['cancelled']);
    expect(abort.signal).toBe(signal);
  });

  it('a signal first asked for after the abort is already aborted, with its reason', () => {
    const abort = new AttemptAbort();
    abort.abort('lease_lost');
    expect(abort.signal.aborted).toBe(true);
    expect(abort.signal.reason).toBe('lease_lost');
  });

  it('tells each listener once, at once if already aborted, and not after it stopped listening', () => {
    const abort = new AttemptAbort();
    const told: string[] = [];
    abort.onAbort((r) => told.push(`a:${r}`));
    const stop = abort.onAbort((r) => told.push(`b:${r}`));
    stop();
    abort.abort('timeout');
    abort.abort('shutdown');
    abort.onAbort((r) => told.push(`c:${r}`));
    expect(told).toEqual(['a:timeout', 'c:timeout']);
  });
});
