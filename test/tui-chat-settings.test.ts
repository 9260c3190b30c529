// A session's chat settings in their one-line form (the `o` prompt): read back what is written, refuse with a reason.
import t from 'tap';
import { formatChatSettings, parseChatSettings } from '../src/tui/chat-settings.js';

t.test('the one-line form reads back what it writes; system takes the rest of the line', async (t) => {
  const settings = { temperature: 0.7, maxTokens: 64, seed: 1, system: 'Answer briefly, in French.' };
  const text = formatChatSettings(settings);
  t.equal(text, 'temperature=0.7 maxTokens=64 seed=1 system=Answer briefly, in French.');
  t.same(parseChatSettings(text), { ok: true, settings });
  t.same(parseChatSettings(''), { ok: true, settings: {} }, 'empty: every field the server default');
  t.same(parseChatSettings('  seed=3   temperature=0 '), { ok: true, settings: { seed: 3, temperature: 0 } });
  t.same(parseChatSettings('system='), { ok: true, settings: {} }, 'an empty system prompt is none');
  t.equal(formatChatSettings({}), '');
});

t.test('bad settings are refused with the reason', async (t) => {
  const refused = (text: string, re: RegExp) => {
    const parsed = parseChatSettings(text);
    t.match(parsed.ok ? '(accepted)' : parsed.message, re, text);
  };
  refused('temp=1', /unknown setting 'temp'/);
  refused('temperature=hot', /temperature must be a number/);
  refused('temperature=', /temperature must be a number/);
  refused('temperature=2.5', /from 0 to 2/);
  refused('maxTokens=0', /from 1 to 4096/);
  refused('seed=1.5', /"seed" must be an integer/);
  refused('hello', /expected name=value/);
});
