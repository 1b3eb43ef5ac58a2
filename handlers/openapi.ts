import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { TaskCatalog } from '../lib/catalog/task-catalog';
import { NotFoundError } from '../lib/errors';
import type { Api } from './api';
import { openApiDocument } from './openapi-document';
import { routes } from './routes';

/** The assets of Swagger UI that /docs serves, from the installed swagger-ui-dist (no CDN). */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

// The page's one script is a file of its own (no inline script, so a strict CSP holds).
const INIT_JS = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    persistAuthorization: true,
    tryItOutEnabled: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: 'StandaloneLayout',
  });
});
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Procurator API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
<script src="/docs/assets/init.js"></script>
</body>
</html>`;

const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

function assetsDir(): string {
  return path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
}

export interface OpenApiRoutesDeps {
  version: string;
  catalog: TaskCatalog;
}

/**
 * GET /openapi.json — the OpenAPI 3.1 document generated from the route table and its zod
 * schemas — and GET /docs, Swagger UI from local assets with the token schemes ready to use.
 */
export function openApiRoutes(app: Api, d: OpenApiRoutesDeps): void {
  // One document per origin asked for (the `servers` entry names it); made on first use.
  const documents = new Map<string, Record<string, unknown>>();
  app.openapi(routes.getOpenApi.route, (c) => {
    const origin = new URL(c.req.url).origin;
    let document = documents.get(origin);
    if (!document) {
      if (documents.size >= 8) documents.clear();
      documents.set(origin, (document = openApiDocument({ ...d, serverUrl: origin })));
    }
    return c.json(document, 200);
  });

  app.openapi(routes.getDocs.route, (c) => {
    c.header('Content-Security-Policy', CSP);
    return c.html(PAGE, 200);
  });

  // Assets are not API operations: served beside /docs, not in the document.
  const cache = new Map<string, Promise<Buffer>>();
  app.get('/docs/assets/:file', async (c) => {
    const file = c.req.param('file');
    if (file === 'init.js') return c.body(INIT_JS, 200, { 'Content-Type': ASSETS['swagger-ui-bundle.js']! });
    const type = ASSETS[file];
    if (!type) throw new NotFoundError(`No asset ${JSON.stringify(file.slice(0, 100))}.`);
    let bytes = cache.get(file);
    if (!bytes) cache.set(file, (bytes = readFile(path.join(assetsDir(), file))));
    return c.body(new Uint8Array(await bytes), 200, {
      'Content-Type': type,
      'Cache-Control': 'public, max-age=86400',
    });
  });
}
