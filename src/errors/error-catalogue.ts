/**
 * The closed catalogue of Trellis error codes. Every code has a message template and the HTTP status it maps to
 * at the REST edge; GraphQL exposes the same code in `extensions.code`. `docs/errors.md` documents each code and a
 * test fails when a code is missing there.
 */
export const errorCatalogue = {
  TRELLIS_ERR_CONFIG_INVALID: { status: 500, message: 'Invalid configuration at {key}: {reason}' },
  TRELLIS_ERR_VALIDATION: { status: 400, message: 'Invalid request at {pointer}: {reason}' },
  TRELLIS_ERR_INVALID_DEFINITION: { status: 400, message: 'Invalid definition at {pointer}: {reason}' },
  TRELLIS_ERR_UNKNOWN_REFERENCE: { status: 400, message: 'Reference to missing {kind} {ref} at {pointer}' },
  TRELLIS_ERR_LITERAL_SECRET: { status: 400, message: 'Literal secret at {pointer}: use env:NAME or file:/path' },
  TRELLIS_ERR_NOT_FOUND: { status: 404, message: '{kind} {ref} not found' },
  TRELLIS_ERR_CONFLICT: { status: 409, message: '{kind} {ref} already exists with a different definition' },
  TRELLIS_ERR_HAS_DEPENDENTS: { status: 409, message: '{kind} {ref} has dependents and cannot be deleted' },
  TRELLIS_ERR_UNAUTHENTICATED: { status: 401, message: 'Missing or invalid API key' },
  TRELLIS_ERR_FORBIDDEN: { status: 403, message: 'API key lacks scope {scope} for {resource}' },
  TRELLIS_ERR_BODY_TOO_LARGE: { status: 413, message: 'Request body exceeds {limit} bytes' },
  TRELLIS_ERR_TOO_MANY_ENTITIES: { status: 413, message: 'Request has {count} entities; the limit is {limit}' },
  TRELLIS_ERR_RATE_LIMITED: { status: 429, message: 'Rate limit exceeded for this key' },
  TRELLIS_ERR_ONLINE_UNAVAILABLE: { status: 503, message: 'Online store {provider} unavailable: {reason}' },
  TRELLIS_ERR_PROVIDER_UNAVAILABLE: { status: 503, message: 'Provider {provider} unavailable: {reason}' },
  TRELLIS_ERR_NOT_READY: { status: 503, message: 'Trellis is not ready: {reason}' },
  TRELLIS_ERR_INTERNAL: { status: 500, message: 'Internal error ({reason})' },
  TRELLIS_ERR_MISSING_TABLE: { status: 400, message: 'Table {table} does not exist in provider {provider} (at {pointer})' },
  TRELLIS_ERR_MISSING_COLUMN: { status: 400, message: 'Column {column} does not exist in {table} of provider {provider} (at {pointer})' },
  TRELLIS_ERR_SOURCE_UNVERIFIED: {
    status: 503,
    message: 'Cannot check {pointer} against provider {provider}: {reason}; retry when it answers, or apply with verify=false',
  },
  TRELLIS_ERR_QUERY_TOO_DEEP: { status: 400, message: 'GraphQL operation {operation} is too deep: {reason}' },
  TRELLIS_ERR_QUERY_TOO_COMPLEX: { status: 400, message: 'GraphQL operation {operation} is too costly: {reason}' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorCatalogue;
