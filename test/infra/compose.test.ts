import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS_TOKEN_FILE } from '../../compose/bootstrap-deployment';
import { lastOf, parseStages, runCommands } from '../helpers/dockerfile';
import { skipWithout } from '../helpers/tools';

/**
 * infra/docker-compose.yml, as Debian's docker-compose 1.29 reads it (`config` validates the
 * file against its schema and resolves every ${VAR} from the env file; no engine needed),
 * then the resolved services checked for what a deployment relies on.
 */

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const COMPOSE = path.join(ROOT, 'infra/docker-compose.yml');
const ENV_EXAMPLE = path.join(ROOT, 'infra/.env.example');

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[]; interval?: string };
  group_add?: string[];
  restart?: string;
}
interface Resolved {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}

/** `docker-compose config` with exactly this env file and no other environment. */
async function composeConfig(envFile: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run('docker-compose', ['-f', COMPOSE, '--env-file', envFile, 'config'], {
      env: { PATH: process.env.PATH ?? '', HOME: tmpdir() },
      timeout: 60_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** KEY=VALUE lines of an env file, in order. */
function parseEnvFile(text: string): [string, string][] {
  return text
    .split('\n')
    .filter((l) => l.trim() && !l.trim().startsWith('#'))
    .map((l) => {
      const i = l.indexOf('=');
      return [l.slice(0, i), l.slice(i + 1)] as [string, string];
    });
}

const SECRET_VARS = ['POSTGRES_PASSWORD', 'REDIS_PASSWORD', 'GRAFANA_ADMIN_PASSWORD'];
const LONG_RUNNING = [
  'postgres',
  'redis',
  'serve',
  'worker-1',
  'worker-2',
  'prometheus',
  'alertmanager',
].concat(['loki', 'promtail', 'grafana']);
const PROCURATOR = ['migrate', 'bootstrap', 'serve', 'worker-1', 'worker-2'];

describe.skipIf(skipWithout('docker-compose'))(
  'infra/docker-compose.yml (docker-compose 1.29 config)',
  () => {
    let raw: string;
    let envExample: [string, string][];
    let config: Resolved;
    let dir: string;

    beforeAll(async () => {
      raw = await readFile(COMPOSE, 'utf8');
      envExample = parseEnvFile(await readFile(ENV_EXAMPLE, 'utf8'));
      dir = await mkdtemp(path.join(tmpdir(), 'procurator-compose-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('is valid with the values of infra/.env.example', async () => {
      const r = await composeConfig(ENV_EXAMPLE);
      expect(r.code, r.stderr).toBe(0);
      config = parseYaml(r.stdout) as Resolved;
    });

    it('has every service of the stack', () => {
      expect(Object.keys(config.services).sort()).toEqual([...LONG_RUNNING, 'migrate', 'bootstrap'].sort());
    });

    it('gives every long-running service a health check, and the one-shots none and no restart', () => {
      for (const name of LONG_RUNNING) {
        const hc = config.services[name]!.healthcheck;
        expect(hc?.test?.[0], name).toMatch(/^CMD(-SHELL)?$/);
        expect(hc?.interval, name).toBeDefined();
      }
      for (const name of ['migrate', 'bootstrap']) {
        expect(config.services[name]!.healthcheck?.test, name).toEqual(['NONE']);
        expect(config.services[name]!.restart, name).toBe('no');
      }
    });

    it('keeps every state in a named volume', () => {
      const mounts: Record<string, string> = {
        postgres: '/var/lib/postgresql/data',
        redis: '/data',
        prometheus: '/prometheus',
        alertmanager: '/alertmanager',
        loki: '/loki',
        promtail: '/var/lib/promtail',
        grafana: '/var/lib/grafana',
        'worker-1': '/var/lib/procurator/backups',
        'worker-2': '/var/lib/procurator/backups',
      };
      for (const [service, target] of Object.entries(mounts)) {
        const mount = config.services[service]!.volumes!.find((v) => v.split(':')[1] === target);
        expect(mount, `${service} ${target}`).toBeDefined();
        const source = mount!.split(':')[0]!;
        expect(Object.keys(config.volumes), `${service}: ${source}`).toContain(source);
      }
    });

    it('runs Redis with AOF and noeviction, and a memory limit for noeviction to act on', () => {
      const cmd = config.services.redis!.command!;
      const flag = (name: string) => cmd[cmd.indexOf(name) + 1];
      expect(flag('--appendonly')).toBe('yes');
      expect(flag('--maxmemory-policy')).toBe('noeviction');
      expect(flag('--maxmemory')).toMatch(/^\d+[kmg]b$/);
    });

    it('starts serve and the workers after migrate and bootstrap completed, and bootstrap after migrate', () => {
      for (const name of ['serve', 'worker-1', 'worker-2']) {
        const deps = config.services[name]!.depends_on!;
        expect(deps.migrate, name).toEqual({ condition: 'service_completed_successfully' });
        expect(deps.bootstrap, name).toEqual({ condition: 'service_completed_successfully' });
        expect(deps.postgres, name).toEqual({ condition: 'service_healthy' });
        expect(deps.redis, name).toEqual({ condition: 'service_healthy' });
      }
      expect(config.services.bootstrap!.depends_on!.migrate).toEqual({
        condition: 'service_completed_successfully',
      });
      expect(config.services.migrate!.depends_on!.postgres).toEqual({ condition: 'service_healthy' });
    });

    it('runs one image for every procurator command, built from infra/docker/Dockerfile', () => {
      const images = new Set(PROCURATOR.map((s) => config.services[s]!.image));
      expect(images.size).toBe(1);
      for (const s of PROCURATOR) {
        expect(config.services[s]!.build).toEqual({ context: ROOT, dockerfile: 'infra/docker/Dockerfile' });
      }
      expect(config.services.migrate!.command).toEqual(['migrate']);
      expect(config.services.serve!.command).toEqual(['serve']);
      expect(config.services['worker-1']!.command).toEqual(['worker']);
      expect(config.services['worker-2']!.command).toEqual(['worker']);
    });

    it('shares the bootstrap secrets: its dir is the volume serve, workers, Prometheus and Alertmanager mount read-only', () => {
      const secretsAt = (service: string) =>
        config.services[service]!.volumes!.find((v) => v.startsWith('secrets:'))?.split(':');
      const boot = config.services.bootstrap!;
      const dirFlag = boot.command![boot.command!.indexOf('--secrets-dir') + 1];
      expect(secretsAt('bootstrap')?.[1]).toBe(dirFlag);
      expect(secretsAt('bootstrap')?.[2]).toBe('rw');
      for (const s of ['serve', 'worker-1', 'worker-2', 'prometheus', 'alertmanager']) {
        expect(secretsAt(s)?.[2], s).toBe('ro');
      }
      for (const s of ['serve', 'worker-1', 'worker-2']) {
        expect(config.services[s]!.environment!.METRICS_TOKEN_FILE, s).toBe(
          `${secretsAt(s)![1]}/${METRICS_TOKEN_FILE}`,
        );
      }
      // The migrate and bootstrap run before the token exists: they must not ask for it.
      expect(config.services.bootstrap!.environment!.METRICS_TOKEN_FILE).toBeUndefined();
      expect(config.services.migrate!.environment!.METRICS_TOKEN_FILE).toBeUndefined();
    });

    it('runs PostgreSQL of the major whose pg_dump the image installs', async () => {
      const stages = parseStages(await readFile(path.join(ROOT, 'infra/docker/Dockerfile'), 'utf8'));
      const apt = runCommands(stages[stages.length - 1]!).find((c) => c.includes('apt-get install'))!;
      const client = /postgresql-client-(\d+)/.exec(apt)![1];
      expect(config.services.postgres!.image).toMatch(new RegExp(`^postgres:${client}(-|$)`));
    });

    it("lets Prometheus and Alertmanager read the secrets through the image user's group", async () => {
      const stages = parseStages(await readFile(path.join(ROOT, 'infra/docker/Dockerfile'), 'utf8'));
      const gid = lastOf(stages[stages.length - 1]!, 'USER')!.split(':')[1];
      for (const s of ['prometheus', 'alertmanager']) expect(config.services[s]!.group_add, s).toEqual([gid]);
    });

    it('publishes the API, Grafana, Prometheus and Alertmanager, on PUBLISH_ADDRESS only', () => {
      const published = Object.fromEntries(
        Object.entries(config.services)
          .filter(([, s]) => s.ports)
          .map(([name, s]) => [name, s.ports!]),
      );
      expect(published).toEqual({
        serve: ['127.0.0.1:50002:50002/tcp'],
        grafana: ['127.0.0.1:3000:3000/tcp'],
        prometheus: ['127.0.0.1:9090:9090/tcp'],
        alertmanager: ['127.0.0.1:9093:9093/tcp'],
      });
    });

    it('bakes in no secret: passwords and tokens come from the environment only', () => {
      expect(raw).not.toMatch(/prc_[0-9A-Za-z]{10,}/);
      const doc = parseYaml(raw, { merge: true }) as { services: Record<string, Service> } & Record<
        string,
        unknown
      >;
      const envBlocks = [
        ...Object.values(doc.services).map((s) => s.environment ?? {}),
        ...Object.entries(doc)
          .filter(([k]) => k.startsWith('x-') && k.includes('env'))
          .map(([, v]) => v as Record<string, string>),
      ];
      for (const env of envBlocks) {
        for (const [key, value] of Object.entries(env)) {
          if (/PASSWORD|SECRET|TOKEN|AUTH/.test(key) && !key.endsWith('_FILE')) {
            expect(String(value), key).toMatch(/^\$\{[A-Z_]+(:[?-][^}]*)?\}$/);
          }
          if (/_URL$/.test(key) && /:\/\/[^/]*@/.test(String(value))) {
            // Credentials inside URLs are ${VAR} too.
            expect(String(value).replace(/\$\{[^}]+\}/g, ''), key).not.toMatch(/:[^/:@]+@/);
          }
        }
      }
      for (const [key, value] of envExample) {
        if (SECRET_VARS.includes(key)) expect(raw, key).not.toContain(value);
      }
    });

    it('refuses to resolve without each password, naming the variable', async () => {
      for (const name of SECRET_VARS) {
        const file = path.join(dir, `without-${name}.env`);
        await writeFile(
          file,
          envExample
            .filter(([k]) => k !== name)
            .map(([k, v]) => `${k}=${v}`)
            .join('\n'),
        );
        const r = await composeConfig(file);
        expect(r.code, name).not.toBe(0);
        expect(r.stderr, name).toContain(name);
      }
    });

    it('reads only variables that infra/.env.example lists, and the example lists none it does not read', () => {
      const code = raw
        .split('\n')
        .filter((l) => !l.trim().startsWith('#'))
        .join('\n');
      const read = new Set([...code.matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]!));
      expect([...read].sort()).toEqual(envExample.map(([k]) => k).sort());
    });
  },
);
