import { randomUUID } from 'node:crypto';
import type { ServerOptions } from 'node:http';
import fastifyCookie from '@fastify/cookie';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import type { Config } from '../config/load.js';
import type { Container } from '../container.js';
import { redactUrl } from '../lib/redact.js';
import { registerAuth, verifiedShopOf } from './plugins/auth.js';
import { registerBodyBudget } from './plugins/body-budget.js';
import { registerCrossSiteCheck } from './plugins/cross-site.js';
import { errorReply, registerErrorHandling } from './plugins/errors.js';
import { registerMetrics } from './plugins/metrics.js';
import { registerPressure } from './plugins/pressure.js';
import { registerRateLimit } from './plugins/rate-limit.js';
import { registerCors, registerSecurityHeaders } from './plugins/security.js';
import { authRoutes } from './routes/auth.js';
import { catalogueRoutes } from './routes/catalogue.js';
import { creditRoutes } from './routes/credits.js';
import { imageRoutes } from './routes/images.js';
import { settingsRoutes } from './routes/settings.js';
import { fileRoutes } from './routes/files.js';
import { meRoutes } from './routes/me.js';
import { opsRoutes } from './routes/ops.js';
import { shopifyAuthRoutes } from './routes/shopify-auth.js';
import { webAppRoutes } from './routes/web-app.js';
import { webhookRoutes } from './routes/webhooks.js';
import { ErrorSchema } from './schemas.js';
import { registerValidation } from './validation.js';

export type App = FastifyInstance;

declare module 'fastify' {
  interface FastifyInstance {
    routeList: Array<{ method: string; url: string }>;
  }
}


const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function loggerOptions(level: string): FastifyServerOptions['logger'] {
  return {
    level,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'res.headers["set-cookie"]',
        '*.accessToken',
        '*.refreshToken',
        '*.access_token',
        '*.refresh_token',
        '*.token',
        '*.password',
        '*.secret',
      ],
      censor: '[redacted]',
    },
    serializers: {
      req: (req: { method: string; url: string; ip?: string; id?: string }) => ({
        method: req.method,
        url: redactUrl(req.url),
        remoteAddress: req.ip,
      }),
    },
  };
}

/**
 * TRUST_PROXY as Fastify wants it. Fastify 5 ignores a numeric hop count (it
 * trusts nothing then), so a hop count n becomes "the n nearest hops are our
 * proxies": request.ip is the address the outermost of them saw, and entries
 * a client prepends to X-Forwarded-For are ignored.
 */
export function trustProxyOption(value: Config['http']['trustProxy']): FastifyServerOptions['trustProxy'] {
  if (typeof value === 'number') {
    const hops = value;
    return (_address: string, hop: number) => hop < hops;
  }
  return value;
}

/** The answer to a malformed or too-slow request, written straight to its socket. */
function clientErrorAnswer(code: string | undefined): { status: number; reason: string; body: { error: string; code: string } } {
  if (code === 'HPE_HEADER_OVERFLOW') {
    return { status: 431, reason: 'Request Header Fields Too Large', body: { error: 'Request header fields too large', code: 'HEADERS_TOO_LARGE' } };
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return { status: 408, reason: 'Request Timeout', body: { error: 'Request timeout', code: 'REQUEST_TIMEOUT' } };
  }
  return { status: 400, reason: 'Bad Request', body: { error: 'Bad request', code: 'BAD_REQUEST' } };
}

/**
 * Node's HTTP timeouts, so a client that sends headers or a body slowly (or
 * nothing at all) cannot hold a socket: the header block and the whole request
 * each have a deadline, a silent socket is closed, and so is an idle keep-alive
 * one. Node checks the first two every connectionsCheckingInterval (30 s by
 * default): a quarter of the shorter deadline keeps them close to exact.
 */
export function serverTimeouts(http: Config['http']): Pick<
  FastifyServerOptions,
  'requestTimeout' | 'connectionTimeout' | 'keepAliveTimeout'
> & { http: ServerOptions } {
  const checkEveryMs = Math.max(250, Math.min(30_000, Math.floor(Math.min(http.headersTimeoutMs, http.requestTimeoutMs) / 4)));
  return {
    requestTimeout: http.requestTimeoutMs,
    connectionTimeout: http.idleTimeoutMs,
    keepAliveTimeout: http.keepAliveTimeoutMs,
    http: { headersTimeout: http.headersTimeoutMs, requestTimeout: http.requestTimeoutMs, connectionsCheckingInterval: checkEveryMs },
  };
}

export async function buildApp(container: Container): Promise<App> {
  const { config } = container;
  const options: FastifyServerOptions = {
    logger: container.loggerOptions ?? loggerOptions(config.logLevel),
    trustProxy: trustProxyOption(config.http.trustProxy),
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID();
    },
    bodyLimit: 1024 * 1024,
    ...serverTimeouts(config.http),
    // Every request gets a 4xx JSON answer for malformed HTTP too (not only a closed socket).
    clientErrorHandler: (err: NodeJS.ErrnoException, socket) => {
      if (!socket.writable) return;
      const { status, reason, body: answer } = clientErrorAnswer(err.code);
      const body = JSON.stringify(answer);
      socket.end(
        `HTTP/1.1 ${status} ${reason}\r\n` +
          `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
          `Connection: close\r\n\r\n${body}`,
      );
    },
    routerOptions: { maxParamLength: 2048 },
    // Router errors (malformed percent-encoding, an over-long parameter) answer in the documented
    // error shape too, without echoing the URL.
    frameworkErrors: (error, request, reply) => {
      const { status, body } = errorReply(error, request.id);
      void (reply as FastifyReply).status(status).send(body);
    },
  };
  const app = Fastify(options).withTypeProvider<TypeBoxTypeProvider>();
  app.server.maxConnections = config.http.maxConnections;

  // Every route this app serves (for the test that /docs lists them all).
  const routes: Array<{ method: string; url: string }> = [];
  app.decorate('routeList', routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      // HEAD mirrors GET; OPTIONS is the CORS preflight catch-all.
      if (method !== 'HEAD' && method !== 'OPTIONS' && !route.url.startsWith('/docs')) routes.push({ method, url: route.url });
    }
  });

  registerSecurityHeaders(app, config);
  registerValidation(app);
  registerErrorHandling(app, container.reportError);
  app.addSchema(ErrorSchema);
  registerMetrics(app, container.metrics);
  await registerPressure(app, config.pressure);
  await registerCors(app, config);
  await app.register(fastifyCookie);
  registerCrossSiteCheck(app, config);
  registerBodyBudget(app, config.http.maxUnauthenticatedBodies);
  registerAuth(app, container.auth);
  registerRateLimit(app, {
    limiter: container.rateLimiter,
    rules: config.rateLimit,
    metrics: container.metrics,
    identify: (request) => verifiedShopOf(container.auth, request),
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Image credits app API',
        description: 'Backend of an embedded Shopify app that edits product images and sells image credits.',
        version: '0.1.0',
      },
      components: {
        securitySchemes: {
          sessionCookie: { type: 'apiKey', in: 'cookie', name: 'session' },
          shopifySessionToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        },
      },
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  await app.register(opsRoutes(container));
  await app.register(authRoutes(container));
  await app.register(meRoutes(container));
  await app.register(creditRoutes(container));
  await app.register(imageRoutes(container));
  await app.register(catalogueRoutes(container));
  await app.register(settingsRoutes(container));
  await app.register(shopifyAuthRoutes(container));
  await app.register(webhookRoutes(container));
  await app.register(fileRoutes(container));
  await app.register(webAppRoutes(container));

  return app;
}
