"""Tutorial step 5: automatic function calling with four Python tools."""

from google import genai

MODEL_ID = "gemini-3-flash-preview"


def add(a: float, b: float):
    """returns a + b."""
    return a + b


def subtract(a: float, b: float):
    """returns a - b."""
    return a - b


def multiply(a: float, b: float):
    """returns a * b."""
    return a * b


def divide(a: float, b: float):
    """returns a / b."""
    return a / b


operation_tools = [add, subtract, multiply, divide]


def run(client: genai.Client) -> list[str]:
    chat = client.chats.create(
        model=MODEL_ID,
        config={
            "tools": operation_tools,
        },
    )
    response = chat.send_message(
        "I have 57 cats, each owns 44 mittens, how many mittens is that in total?"
    )
    return [response.text]
