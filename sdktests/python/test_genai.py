"""google-genai through apijongler serve."""

import time

import pytest
from google import genai
from google.genai import errors, types

from conftest import MODEL, TOKEN, assert_spread, chunk_times, retry_after


def client(serve, token=TOKEN, retry=None):
    # retry_options=None is the SDK's default: one attempt, no retry.
    return genai.Client(api_key=token, http_options=types.HttpOptions(base_url=serve.url, retry_options=retry))


def test_generate(served):
    c = client(served)  # held: a Client closes its connections when collected
    resp = c.models.generate_content(model=MODEL, contents="Hello from genai")
    assert "Hello from genai" in resp.text
    assert served.requests(f"{MODEL}:generateContent")[-1].count("status=200") == 1


def test_stream_arrives_chunk_by_chunk(served):
    c = client(served)
    stream = c.models.generate_content_stream(model=MODEL, contents="Stream to genai")
    times = chunk_times(stream)
    assert_spread(times)
    text = "".join(c.text or "" for _, c in times)
    assert "Stream to genai" in text


def test_wrong_token_is_401(served):
    with pytest.raises(errors.ClientError) as e:
        c = client(served, token="not-the-token")
        c.models.generate_content(model=MODEL, contents="Hi")
    assert e.value.code == 401
    assert e.value.status == "UNAUTHENTICATED"


def test_exhausted_pool_is_429_with_retry_after(exhausted):
    c = client(exhausted)
    c.models.generate_content(model=MODEL, contents="the day's one request")
    start = time.monotonic()
    with pytest.raises(errors.ClientError) as e:
        c.models.generate_content(model=MODEL, contents="one too many")
    assert e.value.code == 429
    assert e.value.status == "RESOURCE_EXHAUSTED"
    # The pool is back at the end of the day (Los Angeles): hours.
    assert retry_after(e.value.response.headers) > 60
    # The SDK's default: no retry at all.
    assert len(exhausted.requests(":generateContent")) == 2
    assert time.monotonic() - start < 5


def test_retry_options_retry_a_429(exhausted):
    # HttpRetryOptions retries 429 with exponential backoff, whatever
    # Retry-After says (hours here): each retry finds the pool still spent.
    c = client(exhausted, retry=types.HttpRetryOptions(attempts=3, initial_delay=0.1, max_delay=0.2))
    c.models.generate_content(model=MODEL, contents="the day's one request")
    with pytest.raises(errors.ClientError) as e:
        c.models.generate_content(model=MODEL, contents="one too many")
    assert e.value.code == 429
    assert len(exhausted.requests(":generateContent")) == 1 + 3
