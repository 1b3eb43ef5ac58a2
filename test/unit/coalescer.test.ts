import { describe, expect, it } from 'vitest';
import { Coalescer } from '../../lib/batch/coalescer';

/** A coalescer whose batches are logged in `order` and wait for `release()` when `hold` is set. */
function logging(eager: boolean) {
  const order: string[] = [];
  let hold: Promise<void> | undefined;
  let release = () => {};
  const c = new Coalescer<number, number>(
    async (items) => {
      order.push(`batch ${items.join(',')}`);
      if (hold) await hold;
      return items;
    },
    { maxBatch: 10, maxConcurrent: 1, eager },
  );
  return {
    c,
    order,
    holdBatches: () => {
      hold = new Promise<void>((r) => (release = r));
      return () => release();
    },
  };
}

describe('Coalescer', () => {
  it('batches the calls of one turn, sent on the next turn', async () => {
    const { c, order } = logging(false);
    setImmediate(() => order.push('next turn'));
    await Promise.all([c.submit(1), c.submit(2)]);
    expect(order).toEqual(['next turn', 'batch 1,2']);
  });

  it('eager: with nothing in flight, sends the calls of this turn at its end', async () => {
    const { c, order } = logging(true);
    setImmediate(() => order.push('next turn'));
    const sent = Promise.all([c.submit(1), c.submit(2)]);
    await Promise.resolve(); // the end of this turn, before any I/O or timer
    expect(order).toEqual(['batch 1,2']);
    await sent;
  });

  it('eager: calls made while a batch is in flight wait for it and go out together', async () => {
    const { c, order, holdBatches } = logging(true);
    const release = holdBatches();
    const first = c.submit(1);
    await Promise.resolve();
    const rest = [c.submit(2), c.submit(3)];
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['batch 1']);
    release();
    expect(await Promise.all([first, ...rest])).toEqual([1, 2, 3]);
    expect(order).toEqual(['batch 1', 'batch 2,3']);
  });
});
