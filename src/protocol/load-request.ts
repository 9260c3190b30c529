/**
 * Validation of the `POST /load_model` request body. Malformed JSON never gets here: the HTTP layer answers it.
 */

import type { WireErrorCode } from './errors.js';
import { parseModelId, type ModelRef } from './model-id.js';

/** Why a load request was refused (codes of the catalogue in `errors.ts`). */
export type LoadRequestErrorCode = Extract<
  WireErrorCode,
  'INVALID_BODY' | 'MISSING_MODEL' | 'INVALID_MODEL_TYPE' | 'INVALID_MODEL'
>;

/** What {@link validateLoadModelRequest} returns. On failure, `message` is fit to send to the client as is. */
export type ValidateLoadModelResult =
  { ok: true; ref: ModelRef } | { ok: false; status: 400 | 422; code: LoadRequestErrorCode; message: string };

/**
 * Validates the parsed JSON body of `POST /load_model` (`{"model": "org/name[@revision]"}`; other fields are
 * ignored).
 *
 * - not a JSON object: 400, `INVALID_BODY`;
 * - `model` missing, or not a string: 422, `MISSING_MODEL` / `INVALID_MODEL_TYPE` (upstream answers a missing field
 *   with 422);
 * - `model` not a valid id: 400, `INVALID_MODEL`, with {@link parseModelId}'s message naming the problem.
 */
export function validateLoadModelRequest(body: unknown): ValidateLoadModelResult {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    const got = body === null ? 'null' : Array.isArray(body) ? 'an array' : typeof body;
    return {
      ok: false,
      status: 400,
      code: 'INVALID_BODY',
      message: `request body must be a JSON object like {"model": "org/name"}, got ${got}`,
    };
  }
  const model = (body as Record<string, unknown>)['model'];
  if (model === undefined) {
    return {
      ok: false,
      status: 422,
      code: 'MISSING_MODEL',
      message: 'request body is missing the required field "model" (e.g. {"model": "org/name"})',
    };
  }
  if (typeof model !== 'string') {
    const got = model === null ? 'null' : Array.isArray(model) ? 'an array' : typeof model;
    return {
      ok: false,
      status: 422,
      code: 'INVALID_MODEL_TYPE',
      message: `field "model" must be a string, got ${got}`,
    };
  }
  const parsed = parseModelId(model);
  if (!parsed.ok) return { ok: false, status: 400, code: 'INVALID_MODEL', message: parsed.message };
  return { ok: true, ref: parsed.ref };
}
