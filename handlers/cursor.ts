import { BadRequestError } from '../lib/errors';
import { isUuid } from '../lib/ids';

/** Pagination cursors are opaque to clients: the last id of a page, base64url-encoded. */
export function encodeCursor(lastId: string): string {
  return Buffer.from(lastId, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!isUuid(id)) throw new BadRequestError('The cursor is not one this API gave out.');
  return id;
}

/** One page of a list as the stores return it; `more` says whether another page follows. */
interface Page<T extends { id: string }> {
  items: T[];
  more: boolean;
}

/** A list route's answer: the page's items, through `view` if given, and the next page's cursor. */
export function pageAnswer<T extends { id: string }>(
  page: Page<T>,
): { items: T[]; nextCursor: string | null };
export function pageAnswer<T extends { id: string }, V>(
  page: Page<T>,
  view: (item: T) => V,
): { items: V[]; nextCursor: string | null };
export function pageAnswer<T extends { id: string }, V>(
  page: Page<T>,
  view?: (item: T) => V,
): { items: (T | V)[]; nextCursor: string | null } {
  const last = page.items[page.items.length - 1];
  return {
    items: view ? page.items.map(view) : page.items,
    nextCursor: page.more && last ? encodeCursor(last.id) : null,
  };
}
