// Runs the JavaScript SDKs most people use against `apijongler serve`'s
// handler, started by proxy's TestNodeSDKs, which passes in the environment:
//   PROXY_URL  the proxy's base URL (the Gemini connector is served at /)
//   TOKEN      the proxy token, given to the SDKs as their API key
//   MODEL      a model with quota for two requests (for @google/genai)
//   CHAT_MODEL another, with quota for two requests (for openai)
// It prints one line per case and exits 1 if any fails.
import { GoogleGenAI, ApiError } from '@google/genai';
import OpenAI from 'openai';

const { PROXY_URL, TOKEN, MODEL, CHAT_MODEL } = process.env;
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

const genai = (apiKey) => new GoogleGenAI({ apiKey, httpOptions: { baseUrl: PROXY_URL } });
const openai = (apiKey) => new OpenAI({ apiKey, baseURL: PROXY_URL + '/gemini/v1beta/openai/', maxRetries: 0 });

// The Gemini API's 429 carries its delay in a RetryInfo; the SDK's ApiError
// keeps the body in its message.
function retryDelayOf(e) {
  const m = /"retryDelay":\s*"([0-9.]+)s"/.exec(e.message);
  return m ? Number(m[1]) : NaN;
}

await check('genai generate', async () => {
  const r = await genai(TOKEN).models.generateContent({ model: MODEL, contents: 'Hello' });
  assert(r.text.includes('Hello'), `answer ${JSON.stringify(r.text)} does not quote the prompt`);
});

await check('genai stream', async () => {
  let chunks = 0;
  for await (const c of await genai(TOKEN).models.generateContentStream({ model: MODEL, contents: 'Stream it' })) {
    if (c.text) chunks++;
  }
  assert(chunks >= 2, `${chunks} chunk(s), want several`);
  return `${chunks} chunks`;
});

for (const which of ['exhausting', 'later']) {
  await check(`genai exhaustion (${which})`, async () => {
    try {
      await genai(TOKEN).models.generateContent({ model: MODEL, contents: 'Hello' });
    } catch (e) {
      assert(e instanceof ApiError, `${e} is not an ApiError`);
      assert(e.status === 429, `status ${e.status}, want 429`);
      const d = retryDelayOf(e);
      assert(d > 0, `no retryDelay in ${e.message}`);
      return `ApiError 429, retryDelay ${d}s`;
    }
    throw new Error('no error');
  });
}

await check('genai wrong token', async () => {
  try {
    await genai('wrong-token').models.generateContent({ model: MODEL, contents: 'Hello' });
  } catch (e) {
    assert(e instanceof ApiError && e.status === 401, `${e}, want ApiError 401`);
    assert(e.message.includes('UNAUTHENTICATED'), e.message);
    return 'ApiError 401';
  }
  throw new Error('no error');
});

const chat = { model: CHAT_MODEL, messages: [{ role: 'user', content: 'Hello' }] };

await check('openai chat completion', async () => {
  const r = await openai(TOKEN).chat.completions.create(chat);
  assert(r.choices[0].message.content.includes('Hello'), JSON.stringify(r.choices));
});

await check('openai stream', async () => {
  let chunks = 0;
  for await (const c of await openai(TOKEN).chat.completions.create({ ...chat, stream: true })) {
    if (c.choices[0]?.delta?.content) chunks++;
  }
  assert(chunks >= 2, `${chunks} chunk(s), want several`);
  return `${chunks} chunks`;
});

for (const which of ['exhausting', 'later']) {
  await check(`openai exhaustion (${which})`, async () => {
    try {
      await openai(TOKEN).chat.completions.create(chat);
    } catch (e) {
      assert(e instanceof OpenAI.RateLimitError, `${e} is not a RateLimitError`);
      const ra = Number(e.headers.get('retry-after'));
      assert(ra > 0, `Retry-After ${e.headers.get('retry-after')}`);
      return `RateLimitError 429, Retry-After ${ra}s`;
    }
    throw new Error('no error');
  });
}

await check('openai wrong token', async () => {
  try {
    await openai('wrong-token').chat.completions.create(chat);
  } catch (e) {
    assert(e instanceof OpenAI.AuthenticationError, `${e}, want AuthenticationError`);
    return 'AuthenticationError 401';
  }
  throw new Error('no error');
});

process.exit(failed ? 1 : 0);
