"""LangChain's chat models pointed at apijongler serve: generate and stream,
once each."""

import pytest
from langchain_google_genai import ChatGoogleGenerativeAI
from langchain_openai import ChatOpenAI

from conftest import MODEL, TOKEN, assert_spread, chunk_times


def google(serve):
    return ChatGoogleGenerativeAI(model=MODEL, google_api_key=TOKEN, base_url=serve.url, max_retries=1)


def openai_compat(serve):
    return ChatOpenAI(model=MODEL, api_key=TOKEN, base_url=serve.url + "/gemini/v1beta/openai/", max_retries=0)


MODELS = pytest.mark.parametrize("make", [google, openai_compat], ids=["ChatGoogleGenerativeAI", "ChatOpenAI"])


@MODELS
def test_generate(served, make):
    msg = make(served).invoke(f"Hello from {make.__name__}")
    assert f"Hello from {make.__name__}" in msg.content


@MODELS
def test_stream(served, make):
    times = [(t, c) for t, c in chunk_times(make(served).stream(f"Stream to {make.__name__}")) if c.content]
    assert_spread(times)
    assert f"Stream to {make.__name__}" in "".join(c.content for _, c in times)
