"""A function-calling loop with the LOACL Python client.

The model calls your functions; your code runs them and submits the outputs; the model goes on.
Run against a server (the offline provider calls a declared function the message names):

    python examples/tool_loop.py tcp:127.0.0.1:7700 sk-your-tenant-key "What does get_weather say about Paris?"
"""
from __future__ import annotations

import json
import sys
import uuid
from typing import Callable, Dict, List

from loacl_client import Channel, v1
from loacl_client.services import (AssistantServiceStub, MessageServiceStub, SessionServiceStub,
                                   ThreadServiceStub)

Handler = Callable[[dict], str]


def get_weather(arguments: dict) -> str:
    return json.dumps({"city": arguments.get("city", "?"), "temp_c": 18, "sky": "clear"})


def converse(channel: Channel, metadata, thread_id: str, text: str, handlers: Dict[str, Handler]) -> List[v1.SendMessageEvent]:
    """Sends `text` and answers every function call with `handlers`, until the run ends.

    Returns every event of the run, in order (sequence numbers 1, 2, 3 …)."""
    messages = MessageServiceStub(channel)
    events: List[v1.SendMessageEvent] = []
    stream = messages.SendMessage(v1.SendMessageRequest(thread_id=thread_id, content=text), metadata=metadata, timeout=120)
    outputs: List[v1.ToolOutput] = []
    while stream is not None:
        next_stream = None
        for event in stream:
            events.append(event)
            kind = event.WhichOneof("event")
            if kind == "delta":
                print(event.delta.text, end="", flush=True)
            elif kind == "tool_calls":  # every call of the step: run them
                outputs = []
                for call in event.tool_calls.calls:
                    handler = handlers.get(call.name)
                    output = handler(json.loads(call.arguments_json or "{}")) if handler else json.dumps({"error": "unknown function"})
                    print(f"\n[{call.name}({call.arguments_json}) -> {output}]", file=sys.stderr)
                    outputs.append(v1.ToolOutput(call_id=call.call_id, output=output))
            elif kind == "run" and event.run.status == v1.RUN_STATUS_REQUIRES_ACTION:
                # The run waits for the outputs; SubmitToolOutputs streams it on from here.
                stream.cancel()
                next_stream = messages.SubmitToolOutputs(
                    v1.SubmitToolOutputsRequest(run_id=event.run_id, outputs=outputs), metadata=metadata, timeout=120)
                break
        stream = next_stream
    print()
    return events


def main() -> None:
    target, api_key, text = sys.argv[1], sys.argv[2], sys.argv[3]
    with Channel(target) as channel:
        tenant = [("x-loacl-api-key", api_key)]
        weather = v1.FunctionTool(name="get_weather", description="Current weather of a city",
                                  parameters_json=json.dumps({"type": "object", "properties": {"city": {"type": "string"}}}))
        assistant = AssistantServiceStub(channel).CreateAssistant(v1.CreateAssistantRequest(
            name="Weather helper", configuration=v1.AssistantConfiguration(provider="offline", functions=[weather])),
            metadata=tenant).assistant
        started = SessionServiceStub(channel).StartGuestSession(
            v1.StartGuestSessionRequest(assistant_id=assistant.id, fingerprint=f"tool-loop-{uuid.uuid4().hex}"))
        metadata = [("x-loacl-session-token", started.session_token)]
        thread = ThreadServiceStub(channel).CreateThread(v1.CreateThreadRequest(), metadata=metadata).thread
        converse(channel, metadata, thread.id, text, {"get_weather": get_weather})


if __name__ == "__main__":
    main()
