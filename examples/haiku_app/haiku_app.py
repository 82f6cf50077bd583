"""A small Gemini application: haiku on demand, with a tool to check the syllables."""

from google import genai

MODEL_ID = "gemini-3-flash-preview"


def count_syllables(line: str) -> int:
    """Counts the syllables in one line of English, roughly: vowel groups, less a silent final e."""
    total = 0
    for word in line.lower().split():
        word = "".join(c for c in word if c.isalpha())
        groups, previous = 0, False
        for char in word:
            vowel = char in "aeiouy"
            groups += vowel and not previous
            previous = vowel
        if word.endswith("e") and groups > 1:
            groups -= 1
        total += max(groups, 1) if word else 0
    return total


def haiku(topic: str, client: genai.Client | None = None) -> str:
    """A haiku about ``topic``; the model may check its lines with ``count_syllables``."""
    client = client or genai.Client()
    response = client.models.generate_content(
        model=MODEL_ID,
        contents=f"Write a haiku about {topic}. Check the syllables of each line first.",
        config={"tools": [count_syllables]},
    )
    return response.text
