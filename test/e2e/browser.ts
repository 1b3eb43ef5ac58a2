import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';

/** Debian's Chromium: the tests never download a browser (.ci/run installs the package). */
export const CHROMIUM_PATH = '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking'],
  });
}

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 375, height: 740 };

const ROOT = path.resolve(import.meta.dirname, '../..');
/** Where screenshots and the axe report go (gitignored). */
export const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'console');

/** Saves a full-page screenshot under test-artifacts/console/, and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** A copy for the README (docs/), only when UPDATE_SCREENSHOTS=1. */
export async function readmeScreenshot(page: Page, name: string): Promise<void> {
  if (process.env.UPDATE_SCREENSHOTS !== '1') return;
  await mkdir(path.join(ROOT, 'docs'), { recursive: true });
  await page.screenshot({ path: path.join(ROOT, 'docs', `${name}.png`) });
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

let axeSource: Promise<string> | undefined;

/**
 * Runs axe-core (WCAG 2.x A and AA rules, and best practices) on the page as it is. The page's
 * CSP forbids inline script, which addScriptTag would add; the source is evaluated through
 * the DevTools protocol instead, which the CSP does not govern.
 */
export async function runAxe(page: Page): Promise<{ violations: AxeViolation[]; passes: number }> {
  axeSource ??= readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  const source = await axeSource;
  await page.evaluate(source);
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document, o: unknown): Promise<unknown> } }).axe;
    const r = (await axe.run(document, {
      runOnly: {
        type: 'tag',
        values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'],
      },
    })) as { violations: AxeViolation[]; passes: unknown[] };
    return {
      violations: r.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.map((n) => ({ target: n.target })),
      })),
      passes: r.passes.length,
    };
  });
}

/** Writes the axe results of every page checked (the report the README cites). */
export async function writeAxeReport(
  results: Record<string, { violations: AxeViolation[]; passes: number }>,
) {
  await mkdir(ARTIFACTS, { recursive: true });
  await writeFile(path.join(ARTIFACTS, 'axe.json'), `${JSON.stringify(results, null, 2)}\n`);
}
