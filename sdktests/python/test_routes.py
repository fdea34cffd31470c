"""The routes endpoint through the openai SDK: a route by name, and an
OpenRouter-style "models" list in the body."""

import openai

from conftest import MODEL, TOKEN


def test_route_by_name(served):
    c = openai.OpenAI(api_key=TOKEN, base_url=served.url + "/v1", max_retries=0)
    raw = c.chat.completions.with_raw_response.create(
        model="free", messages=[{"role": "user", "content": "Hello, route"}])
    assert raw.headers["X-Apijongler-Target"] == "generativelanguage.googleapis.com/" + MODEL
    assert "Hello, route" in raw.parse().choices[0].message.content
    assert [m.id for m in c.models.list()][0] == "free"


def test_models_list_in_extra_body(served):
    c = openai.OpenAI(api_key=TOKEN, base_url=served.url + "/v1", max_retries=0)
    resp = c.chat.completions.create(
        model="free",
        messages=[{"role": "user", "content": "Hello, router"}],
        extra_body={"models": ["gemini/" + MODEL]})
    assert "Hello, router" in resp.choices[0].message.content


def test_route_stream(served):
    c = openai.OpenAI(api_key=TOKEN, base_url=served.url + "/v1", max_retries=0)
    chunks = [ch.choices[0].delta.content for ch in c.chat.completions.create(
        model="free", messages=[{"role": "user", "content": "Hello there, streaming route"}], stream=True)
        if ch.choices and ch.choices[0].delta.content]
    assert len(chunks) >= 2 and "streaming route" in "".join(chunks)
