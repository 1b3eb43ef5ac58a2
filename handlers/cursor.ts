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
