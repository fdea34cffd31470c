"""openai, on the Gemini API's OpenAI-compatible path, through apijongler serve."""

import time

import openai
import pytest

from conftest import MODEL, TOKEN, assert_spread, chunk_times, retry_after


def client(serve, token=TOKEN, **kw):
    return openai.OpenAI(api_key=token, base_url=serve.url + "/gemini/v1beta/openai/", **kw)


def test_chat(served):
    c = client(served, max_retries=0)
    resp = c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hello from openai"}])
    assert "Hello from openai" in resp.choices[0].message.content


def test_stream_arrives_chunk_by_chunk(served):
    c = client(served, max_retries=0)
    stream = c.chat.completions.create(model=MODEL, stream=True,
                                       messages=[{"role": "user", "content": "Stream to openai"}])
    times = [(t, ch) for t, ch in chunk_times(stream) if ch.choices and ch.choices[0].delta.content]
    assert_spread(times)
    assert "Stream to openai" in "".join(ch.choices[0].delta.content for _, ch in times)


def test_wrong_token_is_authentication_error(served):
    c = client(served, token="not-the-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    assert e.value.status_code == 401


def test_exhausted_pool_is_rate_limit_error(exhausted):
    c = client(exhausted)  # the SDK's defaults: max_retries=2
    c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "the day's one request"}])
    start = time.monotonic()
    with pytest.raises(openai.RateLimitError) as e:
        c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "one too many"}])
    assert e.value.status_code == 429
    assert retry_after(e.value.response.headers) > 120
    # A Retry-After over two minutes: the SDK does not retry, even with its
    # default max_retries=2.
    assert len(exhausted.requests("/chat/completions")) == 2
    assert time.monotonic() - start < 5


def test_default_retries_wait_a_short_retry_after(minute_left):
    # One request a minute, and the minute ends a few seconds from now: the
    # second request's 429 says so in Retry-After, the SDK (max_retries=2)
    # sleeps that long and tries again, and the new minute serves it.
    c = client(minute_left)
    c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "the minute's one request"}])
    start = time.monotonic()
    resp = c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "next minute"}])
    waited = time.monotonic() - start
    assert "next minute" in resp.choices[0].message.content
    lines = minute_left.requests("/chat/completions")
    assert [("status=429" in l) for l in lines][:2] == [False, True], lines
    assert "status=200" in lines[-1]
    assert waited >= 1, f"the SDK retried after {waited:.2f}s: it did not wait for Retry-After"


def test_max_retries_0_gets_the_429_at_once(minute_left):
    c = client(minute_left, max_retries=0)
    c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "the minute's one request"}])
    with pytest.raises(openai.RateLimitError) as e:
        c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "one too many"}])
    assert 1 <= retry_after(e.value.response.headers) <= 60
    assert len(minute_left.requests("/chat/completions")) == 2
