"""Structured output: a response schema, and JSON that parses into a pydantic model."""

from google import genai
from pydantic import BaseModel

MODEL_ID = "gemini-3-flash-preview"


class Recipe(BaseModel):
    name: str
    minutes: int
    ingredients: list[str]


def run(client: genai.Client) -> list[str]:
    response = client.models.generate_content(
        model=MODEL_ID,
        contents="Give me a simple pancake recipe.",
        config={"response_mime_type": "application/json", "response_schema": Recipe},
    )
    recipe: Recipe = response.parsed
    return [f"{recipe.name}: {recipe.minutes} min; {', '.join(recipe.ingredients)}"]
