"""Tutorial step 4: a multi-turn chat inside a span named ``multi-turn``."""

import mlflow
from google import genai

MODEL_ID = "gemini-3-flash-preview"


def run(client: genai.Client) -> list[str]:
    outputs = []
    with mlflow.start_span(name="multi-turn"):
        chat = client.chats.create(model=MODEL_ID)
        response = chat.send_message(
            "In one sentence, explain how a computer works to a young child."
        )
        outputs.append(response.text)
        response = chat.send_message(
            "Okay, how about a more detailed explanation to a high schooler?"
        )
        outputs.append(response.text)
    return outputs
