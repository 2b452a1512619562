// Our SandboxError as a Connect error, with the code the SDK maps to its own errors.
import { Code, ConnectError } from '@connectrpc/connect'
import type { ErrorCode } from '../api.js'
import { SandboxError } from '../errors.js'

const CONNECT_CODE: Partial<Record<ErrorCode, Code>> = {
  INVALID_PARAMS: Code.InvalidArgument,
  INVALID_LANGUAGE: Code.InvalidArgument,
  UNAUTHORIZED: Code.Unauthenticated,
  FORBIDDEN: Code.PermissionDenied,
  CONTEXT_NOT_FOUND: Code.NotFound,
  FILE_NOT_FOUND: Code.NotFound,
  LIMIT_EXCEEDED: Code.ResourceExhausted,
  EXECUTION_TIMEOUT: Code.DeadlineExceeded,
  UNAVAILABLE: Code.Unavailable,
}

/** Runs a handler step, turning a SandboxError into the matching ConnectError. */
export async function asConnect<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step()
  } catch (error) {
    if (error instanceof SandboxError) {
      throw new ConnectError(error.message, CONNECT_CODE[error.code] ?? Code.Internal)
    }
    throw error
  }
}
