/**
 * The dashboard's key handling, as the rest of the dashboard sees it: {@link routeKey} (the one router, pure), the
 * state and commands it deals in, and the help and hints built from its binding tables. The router, one file per
 * mode, lives in `keys/`.
 */

export { routeKey } from './keys/route.js';
export { KEY_HELP, keyHints } from './keys/modes.js';
export { checkServerUrl } from './keys/submit.js';
export {
  createUiState,
  CONFIRM_PROMPTS,
  KEY_PROMPTS,
  MODEL_PROMPTS,
  type Command,
  type DialogChoice,
  type KeyContext,
  type KeyPress,
  type Prompt,
  type UiState,
  type Zoom,
} from './keys/types.js';
