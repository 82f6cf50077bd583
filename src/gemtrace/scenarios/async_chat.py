"""Async chat: one message, then a streamed reply, through ``client.aio.chats``."""

import asyncio

import mlflow
from google import genai

MODEL_ID = "gemini-3-flash-preview"


async def converse(client: genai.Client) -> list[str]:
    chat = client.aio.chats.create(model=MODEL_ID)
    response = await chat.send_message("Name one famous physicist. Just the name.")
    stream = await chat.send_message_stream("In one sentence, what is she best known for?")
    streamed = "".join([chunk.text async for chunk in stream])
    return [response.text, streamed]


def run(client: genai.Client) -> list[str]:
    with mlflow.start_span(name="async-chat"):
        return asyncio.run(converse(client))
