import { defineConfig } from 'drizzle-kit';

// Migrations are generated from drizzle/schema.ts and committed; both PostgreSQL and the
// embedded PGlite database apply the same files.
export default defineConfig({
  dialect: 'postgresql',
  schema: './drizzle/schema.ts',
  out: './drizzle/migrations',
});
