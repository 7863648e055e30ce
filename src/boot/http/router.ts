import express, { type Request, type Response, type Router } from 'express';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { toErrorResponse } from '../../http-errors.js';
import { InputError, NotFoundError } from '../../errors.js';
import { CALLBACK_EVENTS, DEFAULT_TOKEN_TTL_SECONDS, type CallbackEvent, type Deployment, type DeploymentService } from '../deployments.js';
import { normalizeMac, type BootActivityListener, type BootEventSink, type BootEventType, type BootLookup, type Reservation } from '../lookup.js';
import {
  ANSWER_FILES,
  networkModel,
  osModel,
  templateFor,
  type AnswerFile,
  type BootModel,
  type IpxeScriptName,
  type OsImageConfig,
  type TemplateStore,
} from './templates.js';

/** What the boot HTTP routes need; all of it injected, so tests pass fakes or real pieces. */
export interface BootHttpDeps {
  deployments: DeploymentService;
  lookup: BootLookup;
  events: BootEventSink;
  templates: TemplateStore;
  /** The OS image catalog, by name. */
  images: ReadonlyMap<string, OsImageConfig>;
  /** Base URL machines reach this service at (`http://10.20.0.2:8080`), without trailing slash. */
  baseUrl: string;
  logger: Logger;
  /** Used to find a machine's PXE NIC when a deployment has no boot MAC yet. */
  knex?: Knex;
  /** Serve the "discover" script (instead of "nothing") to MACs inventory lacks. */
  discovery?: boolean;
  tokenTtlSeconds?: number;
  /** Told about each accepted installer callback once it is committed. */
  onActivity?: BootActivityListener;
  /**
   * The file UEFI HTTP boot fetches from `/ipxe/<name>` (DHCP offers it to HTTPClient firmware):
   * only the configured UEFI boot files resolve, to a path; anything else is null (404).
   */
  bootFile?: (name: string) => string | null;
}

/** Counters exposed for metrics and tests. */
export interface BootHttpStats {
  scriptsServed: Record<IpxeScriptName, number>;
  unknownMacs: number;
  configsServed: number;
  callbacksAccepted: number;
  /** Requests answered 4xx/5xx (counted by createBootHttpServer's access log). */
  rejected: number;
}

const TOKEN_IN_PATH = /^(\/boot\/(?:config|callback)\/)[^/]+/;

/** The request path with any callback token replaced, for access logs and error messages. */
export function redactBootPath(path: string): string {
  return path.replace(TOKEN_IN_PATH, '$1[redacted]');
}

const ANSWER_FILE_OF: Record<OsImageConfig['family'], AnswerFile> = { rhel: 'ks.cfg', debian: 'preseed.cfg', ubuntu: 'user-data', cloud: 'user-data' };

const CALLBACK_EVENT_TYPES: Partial<Record<CallbackEvent, BootEventType>> = {
  started: 'install_started',
  installed: 'install_finished',
  failed: 'install_failed',
};

function remoteAddress(req: Request): string | null {
  const a = req.socket.remoteAddress ?? null;
  return a?.startsWith('::ffff:') ? a.slice(7) : a;
}

function sendText(res: Response, body: string): void {
  res.status(200).type('text/plain; charset=utf-8').set('Cache-Control', 'no-store').send(body);
}

/**
 * The boot HTTP routes:
 * - `GET  /boot/ipxe?mac=…`               iPXE script for the machine's current intent
 * - `GET  /boot/config/:token/:file`      answer file of the deployment the token belongs to
 * - `POST /boot/callback/:token`          installer progress: {event, detail}
 * Tokens appear only in paths; mount this router only behind an access log that uses
 * `redactBootPath` (createBootHttpServer does).
 */
export function createBootRouter(deps: BootHttpDeps): { router: Router; stats: BootHttpStats } {
  const stats: BootHttpStats = {
    scriptsServed: { install: 0, wipe: 0, localboot: 0, discover: 0, nothing: 0 },
    unknownMacs: 0,
    configsServed: 0,
    callbacksAccepted: 0,
    rejected: 0,
  };
  const ttl = deps.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
  const router = express.Router();

  /** The machine a request's source address is reserved for, if any (binds tokens to machines). */
  const sourceMachine = (req: Request): string | null => {
    const ip = remoteAddress(req);
    return ip ? (deps.lookup.byIp(ip)?.machineId ?? null) : null;
  };

  const emptyModel = (mac: string, reservation: Reservation | null, reason: string | null): BootModel => ({
    baseUrl: deps.baseUrl,
    machine: { id: reservation?.machineId ?? null, mac },
    deployment: null,
    network: networkModel(reservation ? { address: reservation.ipv4, prefix: reservation.prefixLength, gateway: reservation.gateway, dns: reservation.dnsServers, domain: reservation.domain } : {}),
    os: null,
    urls: null,
    rootPasswordHash: null,
    sshKeys: [],
    reason,
  });

  const deploymentModel = (d: Deployment, mac: string, reservation: Reservation | null, image: OsImageConfig, token: string): BootModel => {
    const domain = d.config.network.domain ?? reservation?.domain ?? null;
    const hostname = d.hostname ?? reservation?.hostname ?? 'machine';
    const configUrl = `${deps.baseUrl}/boot/config/${token}/`;
    return {
      baseUrl: deps.baseUrl,
      machine: { id: d.machineId, mac },
      deployment: { id: d.id, kind: d.kind, hostname, fqdn: domain ? `${hostname}.${domain}` : hostname },
      network: networkModel({
        address: reservation?.ipv4 ?? null,
        prefix: reservation?.prefixLength ?? null,
        gateway: reservation?.gateway ?? null,
        dns: d.config.network.dns ?? reservation?.dnsServers ?? [],
        domain,
      }),
      os: osModel(image),
      urls: { config: configUrl, answerFile: `${configUrl}${ANSWER_FILE_OF[image.family]}`, callback: `${deps.baseUrl}/boot/callback/${token}` },
      rootPasswordHash: d.config.rootPasswordHash,
      sshKeys: d.config.sshKeys,
      reason: null,
    };
  };

  const serveScript = (res: Response, script: IpxeScriptName, model: BootModel, machineId: string | null, detail: Record<string, unknown>): void => {
    const body = deps.templates.renderIpxe(script, model);
    stats.scriptsServed[script]++;
    if (machineId) deps.events.record(machineId, 'script_served', { script, mac: model.machine.mac, ...detail });
    sendText(res, body);
  };

  router.get('/boot/ipxe', async (req, res) => {
    const raw = typeof req.query.mac === 'string' ? req.query.mac : '';
    const mac = normalizeMac(raw);
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac)) {
      throw new InputError(`query parameter "mac" must be a MAC address, got "${raw.slice(0, 40)}"`, { details: [{ field: 'mac', message: 'expected six hex octets' }] });
    }
    const reservation = deps.lookup.byMac(mac);
    if (!reservation) {
      stats.unknownMacs++;
      // Debug only: any host on the segment can ask, and the access log already has the request.
      deps.logger.debug({ mac }, 'boot: script requested for a MAC not in inventory');
      serveScript(res, deps.discovery ? 'discover' : 'nothing', emptyModel(mac, null, 'MAC not in inventory'), null, {});
      return;
    }
    const from = sourceMachine(req);
    if (from && from !== reservation.machineId) {
      deps.logger.warn({ mac, remote: remoteAddress(req) }, 'boot: script for one machine requested from another machine\'s address');
      serveScript(res, 'nothing', emptyModel(mac, reservation, 'request came from another machine\'s address'), null, {});
      return;
    }
    if (!reservation.pxe) {
      serveScript(res, 'nothing', emptyModel(mac, reservation, 'NIC not marked for network boot'), reservation.machineId, { intent: 'none' });
      return;
    }
    const intent = await deps.deployments.currentIntent(reservation.machineId);
    switch (intent.kind) {
      case 'none':
        serveScript(res, 'nothing', emptyModel(mac, reservation, intent.reason), reservation.machineId, { intent: 'none' });
        return;
      case 'localboot':
        if (intent.deployment?.kind === 'localboot') await deps.deployments.completeLocalboot(intent.deployment.id);
        serveScript(res, 'localboot', emptyModel(mac, reservation, intent.reason), reservation.machineId, { intent: 'localboot', deployment_id: intent.deployment?.id ?? null });
        return;
      case 'install':
      case 'wipe': {
        const d = intent.deployment;
        const image = d.osImage ? deps.images.get(d.osImage) : undefined;
        if (!image) {
          // Falling through to the disk is safer than a half-configured installer; the workflow
          // sees no install_started and times out with this reason in the log.
          deps.logger.error({ deployment_id: d.id, os_image: d.osImage }, 'boot: deployment names an OS image the catalog lacks');
          serveScript(res, 'nothing', emptyModel(mac, reservation, `OS image "${d.osImage ?? ''}" is not in the boot catalog`), reservation.machineId, { intent: intent.kind, deployment_id: d.id, error: 'unknown_os_image' });
          return;
        }
        const { deployment, token } = await deps.deployments.issueBootToken(d.id, mac, ttl);
        serveScript(res, intent.kind, deploymentModel(deployment, mac, reservation, image, token), reservation.machineId, { intent: intent.kind, deployment_id: d.id, os_image: image.name });
        return;
      }
    }
  });

  router.get('/ipxe/:file', (req, res, next) => {
    const name = String(req.params.file);
    const path = deps.bootFile?.(name) ?? null;
    if (!path) throw new NotFoundError(`no boot file "${name.slice(0, 64)}" here`);
    res.sendFile(path, { headers: { 'content-type': 'application/efi' } }, (err) => {
      if (err && !res.headersSent) next(err);
    });
  });

  router.get('/boot/config/:token/:file', async (req, res) => {
    const file = req.params.file as AnswerFile;
    if (!(ANSWER_FILES as readonly string[]).includes(file)) throw new NotFoundError(`no answer file "${String(file).slice(0, 40)}" (known: ${ANSWER_FILES.join(', ')})`);
    const token = req.params.token as string;
    const d = await deps.deployments.resolveToken(token, sourceMachine(req));
    const image = d.osImage ? deps.images.get(d.osImage) : undefined;
    if (!image) throw new NotFoundError(`deployment ${d.id} has no OS image in the boot catalog`);
    const template = templateFor(image, file);
    const mac = d.bootMac ?? (await pxeMacOf(d.machineId));
    const reservation = mac ? deps.lookup.byMac(mac) : null;
    const body = deps.templates.render(template, deploymentModel(d, mac ?? '00:00:00:00:00:00', reservation, image, token));
    stats.configsServed++;
    deps.events.record(d.machineId, 'config_fetched', { file, deployment_id: d.id, template });
    sendText(res, body);
  });

  const callbackBody = [express.json({ limit: '16kb' }), express.urlencoded({ extended: false, limit: '16kb' })];
  router.post('/boot/callback/:token', ...callbackBody, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const event = body.event;
    if (typeof event !== 'string' || !(CALLBACK_EVENTS as readonly string[]).includes(event)) {
      throw new InputError(`"event" must be one of ${CALLBACK_EVENTS.join(', ')}`, { details: [{ field: 'event', message: `got ${JSON.stringify(event ?? null)?.slice(0, 40)}` }] });
    }
    const { deployment, previousStatus } = await deps.deployments.recordCallback(req.params.token as string, event as CallbackEvent, body.detail, {
      sourceMachineId: sourceMachine(req),
      remoteAddress: remoteAddress(req),
    });
    stats.callbacksAccepted++;
    deps.onActivity?.([{ machineId: deployment.machineId, event: `callback:${event}` }]);
    const type = CALLBACK_EVENT_TYPES[event as CallbackEvent];
    if (type) deps.events.record(deployment.machineId, type, { deployment_id: deployment.id, ...(body.detail !== undefined ? { detail: body.detail } : {}) });
    deps.logger.info({ deployment_id: deployment.id, machine_id: deployment.machineId, event, from: previousStatus, to: deployment.status }, 'boot: installer callback');
    res.status(200).json({ deployment_id: deployment.id, event, status: deployment.status });
  });

  async function pxeMacOf(machineId: string): Promise<string | null> {
    if (!deps.knex) return null;
    const nic = await deps.knex('nics').where({ machine_id: machineId }).orderBy([{ column: 'pxe', order: 'desc' }, { column: 'name' }]).first('mac');
    return nic ? normalizeMac(String(nic.mac)) : null;
  }

  return { router, stats };
}

/** Error middleware for the boot server: the API's JSON body, with tokens kept out of logs. */
export function bootErrorHandler(logger: Logger): express.ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const { status, body, isBug } = toErrorResponse(err);
    const path = redactBootPath(req.path);
    if (isBug) logger.error({ err, method: req.method, path }, 'boot: unhandled error');
    else if (status >= 500) logger.error({ code: body.error.code, message: body.error.message, path }, 'boot: request failed');
    res.status(status).json(body);
  };
}
