"""The routes endpoint through the openai SDK, with an OpenRouter-style
"models" list in the body."""

import openai
import pytest

from conftest import MODEL, TOKEN


def test_models_list_in_extra_body(served):
    c = openai.OpenAI(api_key=TOKEN, base_url=served.url + "/v1", max_retries=0)
    try:
        resp = c.chat.completions.create(
            model="gemini/" + MODEL,
            messages=[{"role": "user", "content": "Hello, router"}],
            extra_body={"models": ["gemini/" + MODEL]})
    except openai.NotFoundError:
        pytest.skip("PENDING: this serve has no routes endpoint at /v1/chat/completions yet")
    assert "Hello, router" in resp.choices[0].message.content
