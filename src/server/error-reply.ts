import type { FastifyReply } from 'fastify';
import { wireError, type WireErrorCode } from '../protocol/errors.js';

/**
 * Answers with an error of the protocol's catalogue: its HTTP status and the OpenAI-shaped body
 * `{"error": {message, type, param, code}}`. Every HTTP error of the server goes through here.
 */
export function sendError(
  reply: FastifyReply,
  code: WireErrorCode,
  message: string,
  param: string | null = null,
): FastifyReply {
  const answer = wireError(code, message, param);
  return reply.code(answer.status).send(answer.body);
}
