// Runs the npm openai package against `apijongler serve`'s routes, started
// by cmd/apijongler's TestServeRoutesNode, which passes in the environment:
//   BASE_URL        serve's /v1
//   TOKEN           the proxy token, given to the SDK as its API key
//   GEMINI_TARGET, GROQ_TARGET, CEREBRAS_TARGET
//                   the targets of route "fast", in order; the first two
//                   take two requests a minute, the third has no limit
// It prints one line per case and exits 1 if any fails.
import OpenAI from 'openai';

const { BASE_URL, TOKEN, GEMINI_TARGET, GROQ_TARGET, CEREBRAS_TARGET } = process.env;
const client = new OpenAI({ apiKey: TOKEN, baseURL: BASE_URL, maxRetries: 0 });
let failed = 0;

async function check(name, fn) {
  try {
    const detail = await fn();
    console.log(`ok   ${name}${detail ? ': ' + detail : ''}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

// chat sends one chat completion for model (extra: more body fields) and
// returns the target that served it.
async function chat(model, extra = {}) {
  const { data, response } = await client.chat.completions
    .create({ model, messages: [{ role: 'user', content: 'Hello' }], ...extra })
    .withResponse();
  assert(data.choices[0].message.content.includes('Hello'), `answer ${JSON.stringify(data.choices)}`);
  return response.headers.get('x-apijongler-target');
}

await check('stream', async () => {
  const { data: stream, response } = await client.chat.completions
    .create({ model: 'fast', stream: true, messages: [{ role: 'user', content: 'Stream it' }] })
    .withResponse();
  let chunks = 0;
  for await (const c of stream) {
    if (c.choices[0]?.delta?.content) chunks++;
  }
  assert(chunks >= 2, `${chunks} chunk(s), want several`);
  const target = response.headers.get('x-apijongler-target');
  assert(target === GEMINI_TARGET, `served by ${target}, want ${GEMINI_TARGET}`);
  return `${chunks} chunks from ${target}`;
});

await check('fall through', async () => {
  const first = await chat('fast');
  assert(first === GEMINI_TARGET, `second request served by ${first}, want ${GEMINI_TARGET}`);
  const next = await chat('fast');
  assert(next === GROQ_TARGET, `Gemini spent: served by ${next}, want ${GROQ_TARGET}`);
  return `${first}, then ${next}`;
});

await check('pinned target', async () => {
  const t = await chat(CEREBRAS_TARGET);
  assert(t === CEREBRAS_TARGET, `served by ${t}`);
});

await check('models list', async () => {
  const t = await chat('fast', { models: [CEREBRAS_TARGET, 'fast'] });
  assert(t === CEREBRAS_TARGET, `served by ${t}, want the list's first`);
});

await check('all spent: 429 with Retry-After', async () => {
  const t = await chat('fast');
  assert(t === GROQ_TARGET, `served by ${t}, want ${GROQ_TARGET}`);
  try {
    await chat('tight');
  } catch (e) {
    assert(e instanceof OpenAI.APIError, `${e} is not an APIError`);
    assert(e.status === 429, `status ${e.status}, want 429`);
    const ra = Number(e.headers.get('retry-after'));
    assert(ra >= 1 && ra <= 60, `Retry-After ${e.headers.get('retry-after')}`);
    return `Retry-After ${ra}`;
  }
  throw new Error('no error once every target of "tight" is spent');
});

await check('models', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert(ids[0] === 'fast' && ids.includes(GROQ_TARGET), `models ${ids}`);
  return ids.join(' ');
});

process.exit(failed ? 1 : 0);
