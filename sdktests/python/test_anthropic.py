"""anthropic, on the Anthropic connector, through apijongler serve, in
front of sdktests/simserver's simulated Messages API."""

import threading
import time

import anthropic
import pytest

from conftest import CLAUDE, TOKEN, assert_spread, chunk_times, retry_after


def client(serve, token=TOKEN, **kw):
    return anthropic.Anthropic(api_key=token, base_url=serve.url + "/anthropic", **kw)


def test_message(served):
    c = client(served, max_retries=0)
    msg = c.messages.create(model=CLAUDE, max_tokens=64, messages=[{"role": "user", "content": "Hello from anthropic"}])
    assert "Hello from anthropic" in msg.content[0].text


def test_stream_arrives_chunk_by_chunk(served):
    c = client(served, max_retries=0)
    with c.messages.stream(model=CLAUDE, max_tokens=64,
                           messages=[{"role": "user", "content": "Stream to anthropic"}]) as stream:
        times = [(t, s) for t, s in chunk_times(stream.text_stream) if s]
    assert_spread(times)
    assert "Stream to anthropic" in "".join(s for _, s in times)


def test_wrong_token_is_authentication_error(served):
    c = client(served, token="not-the-token", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as e:
        c.messages.create(model=CLAUDE, max_tokens=8, messages=[{"role": "user", "content": "Hi"}])
    assert e.value.status_code == 401


def test_exhausted_pool_is_rate_limit_error(exhausted):
    c = client(exhausted, max_retries=0)
    c.messages.create(model=CLAUDE, max_tokens=8, messages=[{"role": "user", "content": "the day's one request"}])
    start = time.monotonic()
    with pytest.raises(anthropic.RateLimitError) as e:
        c.messages.create(model=CLAUDE, max_tokens=8, messages=[{"role": "user", "content": "one too many"}])
    assert e.value.status_code == 429
    assert e.value.body["error"]["type"] == "rate_limit_error"
    assert retry_after(e.value.response.headers) > 120
    assert len(exhausted.requests("/anthropic/v1/messages")) == 2
    assert time.monotonic() - start < 5


def test_default_retries_sleep_the_whole_retry_after(exhausted):
    # Unlike openai's, this SDK's default (max_retries=2) sleeps whatever
    # Retry-After says, hours here: the call hangs. Hence max_retries=0.
    c = client(exhausted)
    c.messages.create(model=CLAUDE, max_tokens=8, messages=[{"role": "user", "content": "the day's one request"}])
    t = threading.Thread(target=lambda: c.messages.create(
        model=CLAUDE, max_tokens=8, messages=[{"role": "user", "content": "one too many"}]), daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while len(exhausted.requests("/anthropic/v1/messages")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "status=429" in exhausted.requests("/anthropic/v1/messages")[1]
    time.sleep(2)
    assert t.is_alive(), "the SDK gave up instead of sleeping Retry-After"
    assert len(exhausted.requests("/anthropic/v1/messages")) == 2, "the SDK retried before Retry-After"
