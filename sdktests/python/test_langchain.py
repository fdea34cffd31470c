"""LangChain's chat models pointed at apijongler serve: generate and stream."""

from langchain_google_genai import ChatGoogleGenerativeAI
from langchain_openai import ChatOpenAI

from conftest import MODEL, TOKEN, assert_spread, chunk_times


def google(serve):
    return ChatGoogleGenerativeAI(model=MODEL, google_api_key=TOKEN, base_url=serve.url, max_retries=1)


def openai_compat(serve):
    return ChatOpenAI(model=MODEL, api_key=TOKEN, base_url=serve.url + "/gemini/v1beta/openai/", max_retries=0)


def test_google_genai_generate(served):
    msg = google(served).invoke("Hello from LangChain")
    assert "Hello from LangChain" in msg.content


def test_google_genai_stream(served):
    times = [(t, c) for t, c in chunk_times(google(served).stream("Stream to LangChain")) if c.content]
    assert_spread(times)
    assert "Stream to LangChain" in "".join(c.content for _, c in times)


def test_openai_generate(served):
    msg = openai_compat(served).invoke("Hello from ChatOpenAI")
    assert "Hello from ChatOpenAI" in msg.content


def test_openai_stream(served):
    times = [(t, c) for t, c in chunk_times(openai_compat(served).stream("Stream to ChatOpenAI")) if c.content]
    assert_spread(times)
    assert "Stream to ChatOpenAI" in "".join(c.content for _, c in times)
