import { createRoute, OpenAPIHono } from '@hono/zod-openapi'
import {
  Context,
  ContextIdParam,
  ContextList,
  CreateContextBody,
  ErrorBody,
  ExecuteBody,
  ExecutionResult,
  StoppedContext,
} from '../api.js'
import type { ContextService } from '../contexts.js'
import { validationHook } from '../validation.js'
import { respondWithExecution } from './execution-response.js'
import { json } from './openapi.js'

const errors = {
  400: json(ErrorBody, 'Invalid parameters'),
  401: json(ErrorBody, 'Missing or wrong API key'),
  404: json(ErrorBody, 'No such context'),
}
const params = ContextIdParam

const routes = {
  create: createRoute({
    method: 'post',
    path: '/',
    request: { body: { content: { 'application/json': { schema: CreateContextBody } } } },
    responses: {
      201: json(Context, 'The new context'),
      400: errors[400],
      401: errors[401],
      429: json(ErrorBody, 'Too many live contexts'),
    },
  }),
  list: createRoute({
    method: 'get',
    path: '/',
    responses: { 200: json(ContextList, 'Live contexts, newest first'), 401: errors[401] },
  }),
  get: createRoute({
    method: 'get',
    path: '/{id}',
    request: { params },
    responses: { 200: json(Context, 'The context'), ...errors },
  }),
  remove: createRoute({
    method: 'delete',
    path: '/{id}',
    request: { params },
    responses: { 200: json(StoppedContext, 'Kernel stopped, context gone'), ...errors },
  }),
  execute: createRoute({
    method: 'post',
    path: '/{id}/execute',
    request: {
      params,
      body: { content: { 'application/json': { schema: ExecuteBody } }, required: true },
    },
    responses: {
      200: {
        content: {
          'application/json': { schema: ExecutionResult },
          'text/event-stream': { schema: ExecutionResult },
        },
        description:
          'The result; code that raises is success: false. With Accept: text/event-stream, events stdout, stderr, result, error and a final end carrying the result',
      },
      ...errors,
      409: json(ErrorBody, 'The context cannot run code until it is restarted'),
    },
  }),
  interrupt: createRoute({
    method: 'post',
    path: '/{id}/interrupt',
    request: { params },
    responses: { 200: json(Context, 'Interrupt sent (a no-op when idle)'), ...errors },
  }),
  restart: createRoute({
    method: 'post',
    path: '/{id}/restart',
    request: { params },
    responses: { 200: json(Context, 'Kernel restarted; state cleared'), ...errors },
  }),
}

/** The /api/v1/contexts resource. */
export function createContextsRoutes(contexts: ContextService) {
  return new OpenAPIHono({ defaultHook: validationHook })
    .openapi(routes.create, async (c) => {
      // A request without a body skips the validator and yields {}: parse it for the defaults.
      const body = CreateContextBody.parse(c.req.valid('json'))
      return c.json(await contexts.create(body), 201)
    })
    .openapi(routes.list, (c) => {
      const list = contexts.list()
      return c.json({ contexts: list, total: list.length }, 200)
    })
    .openapi(routes.get, (c) => c.json(contexts.get(c.req.valid('param').id), 200))
    .openapi(routes.remove, async (c) =>
      c.json(await contexts.remove(c.req.valid('param').id), 200),
    )
    .openapi(routes.execute, async (c) => {
      const { id } = c.req.valid('param')
      const body = c.req.valid('json')
      contexts.get(id) // 404 before a stream starts
      return respondWithExecution(c, (options) => contexts.execute(id, body, options))
    })
    .openapi(routes.interrupt, async (c) =>
      c.json(await contexts.interrupt(c.req.valid('param').id), 200),
    )
    .openapi(routes.restart, async (c) =>
      c.json(await contexts.restart(c.req.valid('param').id), 200),
    )
}
