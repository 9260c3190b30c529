/** A line being typed (the chat input, a prompt's field), drawn as segments with its cursor in sight. */

import { ELLIPSIS } from '../common/text.js';
import { lineWindow, type LineEdit } from './line-edit.js';
import { seg, type Segment } from './lines.js';

/**
 * A line being typed in a field `width` cells wide: the cursor in sight (inverse on the character under it, a block
 * past the end), an ellipsis where the text is cut. `mask` shows each character as it (an API key).
 */
export function editedLine(line: LineEdit, width: number, mask?: string): Segment[] {
  const shown = mask === undefined ? line : { ...line, text: mask.repeat([...line.text].length) };
  const view = lineWindow(shown, width);
  const out: Segment[] = [];
  if (view.cutStart) out.push(seg(ELLIPSIS, 'dim'));
  if (view.before !== '') out.push(seg(view.before));
  out.push(view.at === null ? seg('█', 'accent') : seg(view.at, 'selected'));
  if (view.after !== '') out.push(seg(view.after));
  if (view.cutEnd) out.push(seg(ELLIPSIS, 'dim'));
  return out;
}
