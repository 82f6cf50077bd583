"""Tutorial step 3: trace a simple content generation call."""

from google import genai

MODEL_ID = "gemini-3-flash-preview"


def run(client: genai.Client) -> list[str]:
    result = client.models.generate_content(
        model=MODEL_ID,
        contents="The opposite of hot is",
    )
    return [result.text]
