/** A JSON response entry of an OpenAPI route definition. */
export const json = <T>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
})
