import type { FastifyError, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { errorCatalogue, type ErrorCode } from '../../errors/error-catalogue.js';
import { TrellisError, isTrellisError } from '../../errors/trellis-error.js';

export interface ErrorBody {
  error: { code: ErrorCode; message: string; pointer?: string; details?: Record<string, unknown> };
}

/** Maps any error to the coded REST body once, at the edge. Unknown errors are logged and become a 500. */
export function toErrorBody(error: unknown): { status: number; body: ErrorBody } {
  const trellis = isTrellisError(error) ? error : (fromCoded(error) ?? fromFastify(error as FastifyError));
  const pointer = trellis.details?.pointer;
  return {
    status: errorCatalogue[trellis.code].status,
    body: {
      error: {
        code: trellis.code,
        message: trellis.message,
        ...(typeof pointer === 'string' ? { pointer } : {}),
        ...(trellis.details ? { details: trellis.details as Record<string, unknown> } : {}),
      },
    },
  };
}

/** Adapters cannot import the catalogue; they raise errors carrying a catalogue `code` and its `params`. */
function fromCoded(error: unknown): TrellisError | null {
  const coded = error as { code?: unknown; params?: unknown; details?: unknown } | null;
  if (!coded || typeof coded.code !== 'string' || !(coded.code in errorCatalogue) || typeof coded.params !== 'object' || coded.params === null) return null;
  const params = coded.params as Record<string, string | number>;
  const details = typeof coded.details === 'object' && coded.details !== null ? (coded.details as Record<string, unknown>) : typeof params.pointer === 'string' ? { pointer: params.pointer } : undefined;
  return new TrellisError(coded.code as ErrorCode, params, { cause: error, ...(details ? { details } : {}) });
}

function fromFastify(error: FastifyError): TrellisError {
  if (error.validation && error.validation.length > 0) {
    const first = error.validation[0]!;
    const extra = (first.params as { additionalProperty?: string } | undefined)?.additionalProperty;
    const where = error.validationContext === 'body' ? '' : `/${error.validationContext ?? 'request'}`;
    const pointer = `${where}${first.instancePath}${extra ? `/${extra}` : ''}` || '/';
    const reason = extra ? `unknown field ${extra}` : (first.message ?? 'invalid');
    return new TrellisError('TRELLIS_ERR_VALIDATION', { pointer, reason }, { details: { pointer }, cause: error });
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new TrellisError('TRELLIS_ERR_BODY_TOO_LARGE', { limit: 'the configured' }, { cause: error });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new TrellisError('TRELLIS_ERR_VALIDATION', { pointer: '/', reason: error.message }, { details: { pointer: '/' }, cause: error });
    default:
      if (error.statusCode === 429) return new TrellisError('TRELLIS_ERR_RATE_LIMITED', {}, { cause: error });
      if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
        return new TrellisError('TRELLIS_ERR_VALIDATION', { pointer: '/', reason: error.message }, { details: { pointer: '/' }, cause: error });
      }
      return new TrellisError('TRELLIS_ERR_INTERNAL', { reason: 'see server log' }, { cause: error });
  }
}

export const errorHandlerPlugin = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((error, request, reply) => {
      const { status, body } = toErrorBody(error);
      if (status >= 500) request.log.error({ err: error }, 'request failed');
      return reply.status(status).send(body);
    });
    app.setNotFoundHandler((request, reply) => {
      const error = new TrellisError('TRELLIS_ERR_NOT_FOUND', { kind: 'route', ref: `${request.method} ${request.url.split('?')[0]}` });
      return reply.status(404).send(toErrorBody(error).body);
    });
  },
  { name: 'trellis-error-handler', fastify: '5.x' },
);
