import { tokenMatches } from '../../metrics/server.js';
import { defineRoute, ROLES, type AnyRoute } from '../route.js';

export const metricsRoutes: AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics (text exposition format)',
    description: 'Needs any valid API token, or the dedicated scrape token from config `metrics.token`. Config `metrics.listen` serves the same on a separate address.',
    tags: ['meta'],
    roles: ROLES.readers,
    // The dedicated scrape token is not an API token; it is accepted here besides them.
    altCredential: (token, services) => (tokenMatches(token, services.metricsToken) ? 'metrics-scraper' : null),
    responses: { 200: { description: 'Metrics', contentType: 'text/plain; version=0.0.4', schema: undefined } },
    async handler({ services }) {
      const { contentType, text } = await services.metrics.render();
      return { status: 200, text, contentType };
    },
  }),
];
