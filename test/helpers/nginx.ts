/**
 * nginx as the load balancer in front of several gateway replicas, for the multi-replica tests:
 * its own config, pid file, logs and temp paths in a temp directory, listening on one free
 * loopback port, stopped by PID. The config is the one docs/deployment.md shows.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NGINX = '/usr/sbin/nginx';

/** Why the nginx tests cannot run here, or false when they can. */
export const SKIP_WITHOUT_NGINX = existsSync(NGINX)
  ? false
  : `no nginx at ${NGINX} (.ci/run installs it): multi-replica test skipped`;

/**
 * The load-balancer config: plain round robin for every request. A legacy MCP session of a
 * stdio upstream lives on the replica that started its child; a request of that session that
 * lands elsewhere gets 404 (unknown session) before anything is sent upstream, and nginx passes
 * it to the next replica (proxy_next_upstream http_404, POST included: nginx buffers the body),
 * at most once per replica. A replica that refuses connections is skipped the same way, so a
 * crashed replica costs no request that had not reached it. A 404 is never counted as a
 * replica failure by nginx.
 */
export function nginxConfig(options: {
  /** host:port the load balancer listens on. */
  readonly listen: string;
  /** host:port of each replica. */
  readonly replicas: readonly string[];
  /** Where the pid file, logs and temp files go. */
  readonly dir: string;
}): string {
  const { dir } = options;
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  log_format replicas '$request_method $uri $status upstream=$upstream_addr session=$http_mcp_session_id';
  access_log ${dir}/access.log replicas;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;

  upstream portcullis {
${options.replicas.map((replica) => `    server ${replica} max_fails=1 fail_timeout=10s;`).join('\n')}
    keepalive 32;
  }

  server {
    listen ${options.listen};
    location / {
      proxy_pass http://portcullis;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      # Streamable HTTP answers with server-sent events: pass them on as they come.
      proxy_buffering off;
      proxy_read_timeout 300s;
      # An unknown session (404) or a dead replica: try the next replica, each at most once.
      proxy_next_upstream error timeout http_404 non_idempotent;
      proxy_next_upstream_tries ${options.replicas.length};
    }
  }
}
`;
}

export interface RunningNginx {
  readonly origin: string;
  readonly dir: string;
  readonly pid: number;
  /** The access log: one line per request, with the replica that served it. */
  accessLog(): string[];
  stop(): Promise<void>;
}

export async function startNginx(options: {
  readonly listen: number;
  readonly replicas: readonly number[];
}): Promise<RunningNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-nginx-'));
  // Workers may run as another user (nginx drops root): let them into the temp paths.
  chmodSync(dir, 0o755);
  const config = join(dir, 'nginx.conf');
  writeFileSync(
    config,
    nginxConfig({
      listen: `127.0.0.1:${options.listen}`,
      replicas: options.replicas.map((port) => `127.0.0.1:${port}`),
      dir,
    }),
  );
  const check = spawnSync(NGINX, ['-t', '-c', config, '-p', dir, '-e', join(dir, 'error.log')], {
    encoding: 'utf8',
  });
  if (check.status !== 0) throw new Error(`nginx -t failed:\n${check.stderr}`);
  const child: ChildProcess = spawn(
    NGINX,
    ['-c', config, '-p', dir, '-e', join(dir, 'error.log')],
    {
      stdio: 'ignore',
    },
  );
  const origin = `http://127.0.0.1:${options.listen}`;
  // Ready when it answers (any status) on its port.
  for (;;) {
    if (child.exitCode !== null) throw new Error(readFileSync(join(dir, 'error.log'), 'utf8'));
    try {
      await fetch(`${origin}/healthz`);
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    origin,
    dir,
    pid: child.pid ?? -1,
    accessLog: () =>
      existsSync(join(dir, 'access.log'))
        ? readFileSync(join(dir, 'access.log'), 'utf8').split('\n').filter(Boolean)
        : [],
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        process.kill(child.pid as number, 'SIGQUIT');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
