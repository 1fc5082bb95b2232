import { GraphQLError, type ExecutionResult, type GraphQLFormattedError } from 'graphql/index.js';
import type { MercuriusContext } from 'mercurius';
import { errorCatalogue, type ErrorCode } from '../../errors/error-catalogue.js';
import { formatMessage, isTrellisError, type TrellisError } from '../../errors/trellis-error.js';
import { toErrorBody } from '../plugins/error-handler.js';

interface Coded {
  readonly code: ErrorCode;
  readonly message: string;
  readonly extra: Record<string, unknown>;
}

const isCode = (value: unknown): value is ErrorCode => typeof value === 'string' && value in errorCatalogue;

/** Errors mercurius wraps (MER_ERR_GQL_VALIDATION) carry the real ones in `errors`. */
function flatten(errors: readonly unknown[]): unknown[] {
  return errors.flatMap((error) => {
    const inner = error instanceof GraphQLError ? (error.originalError as { errors?: unknown } | undefined)?.errors : (error as { errors?: unknown }).errors;
    return Array.isArray(inner) ? flatten(inner) : [error];
  });
}

function fromTrellis(error: TrellisError): Coded {
  const pointer = error.details?.pointer;
  return {
    code: error.code,
    message: error.message,
    extra: { ...(typeof pointer === 'string' ? { pointer } : {}), ...(error.details ? { details: error.details } : {}) },
  };
}

/**
 * The catalogue code of one error. Business errors keep theirs; errors of the request itself (syntax, unknown
 * fields, bad variables, malformed bodies) are TRELLIS_ERR_VALIDATION; anything else thrown while resolving is
 * an internal error whose message is not shown (it is logged).
 */
function classify(error: unknown, log: MercuriusContext['reply']['log'] | undefined): Coded {
  const graphql = error instanceof GraphQLError ? error : null;
  const original = graphql ? graphql.originalError : error;
  if (isTrellisError(original)) return fromTrellis(original);
  if (graphql && isCode(graphql.extensions.code)) {
    const { code, ...extra } = graphql.extensions;
    return { code, message: graphql.message, extra };
  }
  if (graphql?.path) {
    log?.error({ err: original ?? graphql }, 'graphql resolver failed');
    return { code: 'TRELLIS_ERR_INTERNAL', message: formatMessage('TRELLIS_ERR_INTERNAL', { reason: 'see server log' }), extra: {} };
  }
  if (original && typeof original === 'object' && ('validation' in original || String((original as { code?: unknown }).code).startsWith('FST_'))) {
    const { body } = toErrorBody(original);
    return { code: body.error.code, message: body.error.message, extra: body.error.pointer ? { pointer: body.error.pointer } : {} };
  }
  const reason = (graphql ?? (error as Error)).message;
  const pointer = reason.startsWith('Variable "$') ? '/variables' : graphql?.locations ? '/query' : '/';
  return { code: 'TRELLIS_ERR_VALIDATION', message: formatMessage('TRELLIS_ERR_VALIDATION', { pointer, reason }), extra: { pointer } };
}

/**
 * mercurius `errorFormatter`: every error gets `extensions.code` from the error catalogue. Errors raised before
 * execution (authentication, validation, limits) answer with the code's HTTP status and no `data`; errors
 * raised while resolving answer 200 with the partial `data`, as GraphQL over HTTP expects.
 */
export function formatGraphqlErrors(
  execution: ExecutionResult & Required<Pick<ExecutionResult, 'errors'>>,
  context: MercuriusContext,
): { statusCode: number; response: { data?: ExecutionResult['data']; errors: GraphQLFormattedError[] } } {
  const log = context.reply?.log;
  const executed = 'data' in execution;
  const coded = flatten(execution.errors).map((error) => {
    const { code, message, extra } = classify(error, log);
    const graphql = error instanceof GraphQLError ? error : null;
    const formatted: GraphQLFormattedError = {
      message,
      ...(graphql?.locations ? { locations: graphql.locations } : {}),
      ...(graphql?.path ? { path: graphql.path } : {}),
      extensions: { code, ...extra },
    };
    return { code, formatted };
  });
  if (executed) return { statusCode: 200, response: { data: execution.data ?? null, errors: coded.map((c) => c.formatted) } };
  const statusCode = errorCatalogue[coded[0]?.code ?? 'TRELLIS_ERR_VALIDATION'].status;
  return { statusCode, response: { errors: coded.map((c) => c.formatted) } };
}
