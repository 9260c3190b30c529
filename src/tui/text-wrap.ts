/** Text broken into lines that fit a width, for the panes that wrap what they show (a chat, an error, the help). */

/** Splits text into lines of at most `width` cells, at spaces where it can, hard-breaking long words. */
export function wrap(text: string, width: number): string[] {
  if (width <= 0) return [];
  const out: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(' ')) {
      let rest = [...word];
      const candidate = line === '' ? word : `${line} ${word}`;
      if ([...candidate].length <= width) {
        line = candidate;
        continue;
      }
      if (line !== '') out.push(line);
      while (rest.length > width) {
        out.push(rest.slice(0, width).join(''));
        rest = rest.slice(width);
      }
      line = rest.join('');
    }
    out.push(line);
  }
  return out;
}
