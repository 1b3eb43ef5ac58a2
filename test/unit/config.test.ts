import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../lib/config';

describe('configuration', () => {
  it('has the defaults of API.md', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      SERVER_PORT: 50002,
      DATA_DIR: './.procurator',
      QUEUE_BACKEND: 'memory',
      REDIS_URL: 'redis://localhost:6379/0',
      REDIS_PREFIX: 'procurator',
      API_TOKENS: {},
      WORKER_CONCURRENCY: 16,
      CLAIM_IDLE_MS: 30000,
      RECOVERY_INTERVAL_MS: 5000,
      RECONCILE_INTERVAL_MS: 30000,
      SHUTDOWN_GRACE_MS: 25000,
      RETENTION_SUCCEEDED_MS: 604800000,
      RETENTION_DEAD_MS: 2592000000,
      RETENTION_AUDIT_MS: 31536000000,
      IDEMPOTENCY_TTL_MS: 86400000,
      PRUNE_INTERVAL_MS: 60000,
      SCHEDULE_INTERVAL_MS: 250,
      RETRY_BASE_MS: 1000,
      RETRY_MAX_MS: 300000,
      DEFAULT_MAX_ATTEMPTS: 5,
      DEFAULT_TIMEOUT_MS: 60000,
      RATE_LIMIT_RPS: 100,
      RATE_LIMIT_BURST: 200,
      MAX_BODY_BYTES: 1048576,
      OUTBOUND_ALLOW_PRIVATE: false,
      OUTBOUND_ALLOW_HOSTS: [],
      BACKUP_TARGETS: {},
      BACKUP_DIR: './backups',
      BACKUP_KEEP: 7,
      WORKER_METRICS_PORT: 50003,
      LOG_LEVEL: 'info',
    });
    expect(c.DATABASE_URL).toBeUndefined();
  });

  it('parses numbers, booleans, lists and JSON maps; empty means unset', () => {
    const c = loadConfig({
      SERVER_PORT: '8080',
      OUTBOUND_ALLOW_PRIVATE: 'true',
      OUTBOUND_ALLOW_HOSTS: 'Example.com, internal.svc ,',
      API_TOKENS: '{"secret-1":"ops"}',
      BACKUP_TARGETS: '{"main":"postgres://u:p@db/main"}',
      DATABASE_URL: '',
    });
    expect(c.SERVER_PORT).toBe(8080);
    expect(c.OUTBOUND_ALLOW_PRIVATE).toBe(true);
    expect(c.OUTBOUND_ALLOW_HOSTS).toEqual(['example.com', 'internal.svc']);
    expect(c.API_TOKENS).toEqual({ 'secret-1': 'ops' });
    expect(c.BACKUP_TARGETS).toEqual({ main: 'postgres://u:p@db/main' });
    expect(c.DATABASE_URL).toBeUndefined();
  });

  it('names every bad variable and what it should be, hiding secrets', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({
        SERVER_PORT: '70000',
        WORKER_CONCURRENCY: 'many',
        OUTBOUND_ALLOW_PRIVATE: 'maybe',
        API_TOKENS: '{"t": "root"}',
        DATABASE_URL: 'mysql://secret@host/db',
      });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const text = error!.message;
    expect(text).toContain('SERVER_PORT must be an integer between 0 and 65535 (got "70000")');
    expect(text).toContain('WORKER_CONCURRENCY must be an integer between 1 and 10000 (got "many")');
    expect(text).toContain('OUTBOUND_ALLOW_PRIVATE must be true or false');
    expect(text).toContain('API_TOKENS must be a JSON object of token → role');
    expect(text).toContain('DATABASE_URL must be a postgres:// or postgresql:// URL');
    expect(text).not.toContain('secret@host');
    expect(text).not.toContain('"t"');
    expect(() => loadConfig({ RETRY_BASE_MS: '5000', RETRY_MAX_MS: '1000' })).toThrow(
      'RETRY_BASE_MS must not exceed RETRY_MAX_MS',
    );
  });
});
