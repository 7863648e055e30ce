import {
  AcknowledgeBody, IdParams, IncidentCreate, IncidentDetail, IncidentList, IncidentListQuery, InterventionBody,
  InterventionReport, InterventionReportQuery, NoteBody, ResolveBody,
} from '../../health/schemas.js';
import { defineRoute, ROLES, type AnyRoute } from '../route.js';

const NOT_FOUND = { description: 'No such incident' };

export const incidentRoutes: AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/api/v1/incidents',
    summary: 'List incidents, newest first (filters: status, severity, deadline_status, machine, customer)',
    tags: ['incidents'],
    roles: ROLES.readers,
    request: { query: IncidentListQuery },
    responses: { 200: { description: 'Incidents', schema: IncidentList } },
    async handler({ query, services }) {
      return { status: 200, body: { items: await services.health.incidents.list(query) } };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/incidents',
    summary: 'Open an incident by hand (technician)',
    tags: ['incidents'],
    roles: ROLES.operators,
    request: { body: IncidentCreate },
    responses: { 201: { description: 'Opened; a customer server carries its tier deadlines', schema: IncidentDetail }, 404: { description: 'No such machine' }, 409: { description: 'An incident for this component is already open' } },
    async handler({ body, services, actor }) {
      return { status: 201, body: await services.health.incidents.create(body, actor) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/incidents/:id',
    summary: 'An incident with its notes and intervention time',
    tags: ['incidents'],
    roles: ROLES.readers,
    request: { params: IdParams },
    responses: { 200: { description: 'The incident', schema: IncidentDetail }, 404: NOT_FOUND },
    async handler({ params, services }) {
      return { status: 200, body: await services.health.incidents.get(params.id) };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/incidents/:id/acknowledge',
    summary: 'Acknowledge (processing started: meets the processing deadline)',
    tags: ['incidents'],
    roles: ROLES.operators,
    request: { params: IdParams, body: AcknowledgeBody },
    responses: { 200: { description: 'Acknowledged', schema: IncidentDetail }, 404: NOT_FOUND, 409: { description: 'Already resolved' } },
    async handler({ params, body, services, actor }) {
      return { status: 200, body: await services.health.incidents.acknowledge(params.id, actor, body.note) };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/incidents/:id/notes',
    summary: 'Add a note',
    tags: ['incidents'],
    roles: ROLES.operators,
    request: { params: IdParams, body: NoteBody },
    responses: { 201: { description: 'Note added', schema: IncidentDetail }, 404: NOT_FOUND },
    async handler({ params, body, services, actor }) {
      return { status: 201, body: await services.health.incidents.addNote(params.id, body.text, actor) };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/incidents/:id/interventions',
    summary: 'Log support intervention time (counted against the monthly tier allowance)',
    tags: ['incidents'],
    roles: ROLES.operators,
    request: { params: IdParams, body: InterventionBody },
    responses: { 201: { description: 'Logged', schema: IncidentDetail }, 404: NOT_FOUND },
    async handler({ params, body, services, actor }) {
      return { status: 201, body: await services.health.incidents.logIntervention(params.id, body, actor) };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/incidents/:id/resolve',
    summary: 'Resolve with a reason',
    tags: ['incidents'],
    roles: ROLES.operators,
    request: { params: IdParams, body: ResolveBody },
    responses: { 200: { description: 'Resolved', schema: IncidentDetail }, 404: NOT_FOUND, 409: { description: 'Already resolved' } },
    async handler({ params, body, services, actor }) {
      return { status: 200, body: await services.health.incidents.resolve(params.id, body.reason, actor) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/reports/interventions',
    summary: 'Support intervention time per customer for a month, against the tier allowance (2 h managed, 5 h fully managed)',
    tags: ['incidents'],
    roles: ROLES.readers,
    request: { query: InterventionReportQuery },
    responses: { 200: { description: 'The report', schema: InterventionReport } },
    async handler({ query, services }) {
      return { status: 200, body: await services.health.incidents.interventionReport(query.month) };
    },
  }),
];
