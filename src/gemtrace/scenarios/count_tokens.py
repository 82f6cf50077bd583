"""Counting tokens before sending a prompt."""

from google import genai

MODEL_ID = "gemini-3-flash-preview"


def run(client: genai.Client) -> list[str]:
    result = client.models.count_tokens(
        model=MODEL_ID,
        contents="In one sentence, explain how a computer works to a young child.",
    )
    return [f"{result.total_tokens} tokens"]
