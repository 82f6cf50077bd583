"""Streaming generation: the answer arrives in chunks (autolog does not trace this; gemtrace does)."""

from google import genai

MODEL_ID = "gemini-3-flash-preview"


def run(client: genai.Client) -> list[str]:
    chunks = []
    for chunk in client.models.generate_content_stream(
        model=MODEL_ID,
        contents="Write a haiku about the sea.",
    ):
        chunks.append(chunk.text)
    return ["".join(chunks)]
