import type { Logger } from '../../lib/logger';
import { createLogger } from '../../lib/logger';

/** A real (redacting) logger whose JSON lines are kept in memory for the test to search. */
export function captureLogger(level = 'trace'): { logger: Logger; lines: string[]; text: () => string } {
  const lines: string[] = [];
  const logger = createLogger(level, { write: (line: string) => void lines.push(line) });
  return { logger, lines, text: () => lines.join('') };
}
