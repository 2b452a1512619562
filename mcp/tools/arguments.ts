import { z } from 'zod'
import { SandboxApiError } from '../../client/index.js'

/** Tool arguments that fail the tool's schema: INVALID_PARAMS, naming the field at fault. */
export class InvalidArgumentsError extends SandboxApiError {
  /**
   * @param field - the argument at fault, as a dotted path (`code`, `files.0.path`)
   */
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('INVALID_PARAMS', message)
  }
}

/**
 * A tool's arguments, validated inside the handler rather than by the SDK. The SDK refuses
 * arguments that fail the input schema with a plain-text `MCP error -32602`, which clients of
 * earlier versions cannot parse; so the schema registered with the SDK accepts any value for each
 * field, while it advertises the real JSON Schema (types, descriptions, `required`) in tools/list,
 * and `parse` checks the real one and throws the tool's own INVALID_PARAMS error.
 * @param shape - the real input schema, as for registerTool
 * @example
 * const input = toolArguments({ code: z.string().describe('Code to run') })
 * server.registerTool('run_code', { inputSchema: input.advertised, … }, async (raw) => {
 *   const { code } = input.parse(raw)
 * })
 */
export function toolArguments<Shape extends z.ZodRawShape>(shape: Shape) {
  const real = z.object(shape)
  const json = z.toJSONSchema(real, { io: 'input', target: 'draft-7' }) as {
    properties?: Record<string, Record<string, unknown>>
    required?: string[]
  }
  const advertised = Object.fromEntries(
    Object.keys(shape).map((key) => [
      key,
      z
        .unknown()
        .optional()
        .meta(json.properties?.[key] ?? {}),
    ]),
  ) as { [K in keyof Shape]: z.ZodOptional<z.ZodUnknown> }
  return {
    /** The permissive schema for registerTool: any value per field, the real JSON Schema shown. */
    advertised: z.object(advertised).meta({ required: json.required ?? [] }),
    /**
     * @returns the arguments as the real schema parses them (defaults applied)
     * @throws InvalidArgumentsError naming the first field at fault
     */
    parse(args: unknown): z.output<typeof real> {
      const parsed = real.safeParse(args ?? {})
      if (parsed.success) return parsed.data
      const issue = parsed.error.issues[0]
      const field = issue?.path.join('.') || '(arguments)'
      const problem =
        issue?.input === undefined && issue?.code === 'invalid_type' ? 'required' : issue?.message
      throw new InvalidArgumentsError(field, `Invalid argument ${field}: ${problem}`)
    },
  }
}
