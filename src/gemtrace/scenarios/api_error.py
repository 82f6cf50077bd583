"""An API error: a mistyped model name (404); the SDK raises APIError and the trace says ERROR.

A typo rather than a quota error, so that a live recording reproduces it every time.
"""

from google import genai
from google.genai import errors

MODEL_ID = "gemini-3-flash-previw"


def run(client: genai.Client) -> list[str]:
    try:
        client.models.generate_content(
            model=MODEL_ID,
            contents="Summarise War and Peace in one line.",
        )
    except errors.APIError as error:
        return [f"APIError {error.code} {error.status}: {error.message}"]
    return ["no error was raised"]
