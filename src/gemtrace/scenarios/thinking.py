"""A system instruction with a thinking configuration: thought tokens show in the usage."""

from google import genai
from google.genai import types

MODEL_ID = "gemini-3-flash-preview"


def run(client: genai.Client) -> list[str]:
    response = client.models.generate_content(
        model=MODEL_ID,
        contents="Is 1001 a prime number?",
        config=types.GenerateContentConfig(
            system_instruction="You are a concise math tutor. Answer in one sentence.",
            thinking_config=types.ThinkingConfig(thinking_budget=512, include_thoughts=True),
        ),
    )
    return [response.text]
