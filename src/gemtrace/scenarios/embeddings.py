"""Embeddings: ``embed_content`` for two sentences."""

from google import genai

EMBEDDING_MODEL_ID = "gemini-embedding-001"


def run(client: genai.Client) -> list[str]:
    result = client.models.embed_content(
        model=EMBEDDING_MODEL_ID,
        contents=["The cat sat on the mat.", "A feline rested on the rug."],
        config={"output_dimensionality": 8},
    )
    return [
        f"{len(e.values)} dimensions: " + ", ".join(f"{v:.3f}" for v in e.values[:3]) + ", ..."
        for e in result.embeddings
    ]
