"""Async generation: three ``client.aio`` requests in flight at once, inside one span."""

import asyncio

import mlflow
from google import genai

MODEL_ID = "gemini-3-flash-preview"
QUESTIONS = [
    "What is the capital of France? One word.",
    "What is the capital of Japan? One word.",
    "What is the capital of Kenya? One word.",
]


async def ask_all(client: genai.Client) -> list[str]:
    responses = await asyncio.gather(
        *(client.aio.models.generate_content(model=MODEL_ID, contents=q) for q in QUESTIONS)
    )
    return [response.text for response in responses]


def run(client: genai.Client) -> list[str]:
    with mlflow.start_span(name="capitals"):
        return asyncio.run(ask_all(client))
