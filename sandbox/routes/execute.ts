import { createRoute, OpenAPIHono } from '@hono/zod-openapi'
import { ErrorBody, ExecutionResult, OneShotExecuteBody } from '../api.js'
import type { ContextService } from '../contexts.js'
import { validationHook } from '../validation.js'
import { respondWithExecution } from './execution-response.js'
import { json } from './openapi.js'

const oneShot = createRoute({
  method: 'post',
  path: '/',
  request: {
    body: { content: { 'application/json': { schema: OneShotExecuteBody } }, required: true },
  },
  responses: {
    200: {
      content: {
        'application/json': { schema: ExecutionResult },
        'text/event-stream': { schema: ExecutionResult },
      },
      description:
        'The result of running the code in a fresh process (Python with the kernel template) or context, thrown away after',
    },
    400: json(ErrorBody, 'Invalid parameters'),
    401: json(ErrorBody, 'Missing or wrong API key'),
    429: json(ErrorBody, 'Too many live contexts'),
  },
})

/** POST /api/v1/execute: one-shot runs, the CI-evaluation path. */
export function createExecuteRoutes(contexts: ContextService) {
  return new OpenAPIHono({ defaultHook: validationHook }).openapi(oneShot, (c) => {
    const body = c.req.valid('json')
    return respondWithExecution(c, (options) => contexts.runOnce(body, options))
  })
}
