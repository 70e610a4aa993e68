"""Runs from Python: a reply that outlives the call, resumed (StreamRun) on another server and
stopped (CancelRun) from another connection; GetRun and ListRuns."""
from __future__ import annotations

import asyncio

import pytest

from loacl_client import AsyncChannel, Channel, RpcError, StatusCode, v1
from loacl_client.services import MessageServiceAsyncStub, MessageServiceStub, ThreadServiceStub

from test_conversation import new_guest


def kinds(events):
    return [e.WhichOneof("event") for e in events]


def test_resume_on_another_server_sees_exactly_the_rest(slow_server, server):
    with Channel(slow_server.tcp) as ch:
        _, _, md = new_guest(ch)
        thread = ThreadServiceStub(ch).CreateThread(v1.CreateThreadRequest(), metadata=md).thread
        # Read up to the second delta on the slow server, then leave: the run goes on.
        stream = MessageServiceStub(ch).SendMessage(
            v1.SendMessageRequest(thread_id=thread.id, content="Tell me how tomatoes grow, step by step"), metadata=md, timeout=60)
        seen = []
        for event in stream:
            seen.append(event)
            if kinds(seen).count("delta") == 2:
                break
        stream.cancel()
        run_id = seen[0].run_id
    # Resume on the other server, which shares the database, after the last event seen.
    with Channel(server.tcp) as other:
        rest = list(MessageServiceStub(other).StreamRun(
            v1.StreamRunRequest(run_id=run_id, after_sequence=seen[-1].sequence_number), metadata=md, timeout=60))
        everything = seen + rest
        assert [e.sequence_number for e in everything] == list(range(1, len(everything) + 1))
        assert rest[-1].run.status == v1.RUN_STATUS_COMPLETED
        reply = next(e.assistant_message for e in everything if e.WhichOneof("event") == "assistant_message")
        assert "".join(e.delta.text for e in everything if e.WhichOneof("event") == "delta") == reply.content
        run = MessageServiceStub(other).GetRun(v1.GetRunRequest(run_id=run_id), metadata=md).run
        assert run.status == v1.RUN_STATUS_COMPLETED and run.reply_message_id == reply.id
        assert run.last_sequence == everything[-1].sequence_number
        listed = MessageServiceStub(other).ListRuns(v1.ListRunsRequest(thread_id=thread.id), metadata=md).runs
        assert [r.id for r in listed] == [run_id]
        # Past the end of an ended run.
        with pytest.raises(RpcError) as info:
            list(MessageServiceStub(other).StreamRun(
                v1.StreamRunRequest(run_id=run_id, after_sequence=run.last_sequence + 1), metadata=md, timeout=30))
        assert info.value.code == StatusCode.OUT_OF_RANGE


def test_cancel_from_a_second_connection_async(slow_server):
    async def main():
        async with AsyncChannel(slow_server.tcp) as ach, AsyncChannel(slow_server.tcp) as second:
            with Channel(slow_server.tcp) as ch:
                _, _, md = new_guest(ch)
                thread = ThreadServiceStub(ch).CreateThread(v1.CreateThreadRequest(), metadata=md).thread
            stream = MessageServiceAsyncStub(ach).SendMessage(
                v1.SendMessageRequest(thread_id=thread.id, content="Tell me everything about soil, please, at length"),
                metadata=md, timeout=60)
            first = await stream.read()
            assert first.WhichOneof("event") == "run"
            cancelled = await MessageServiceAsyncStub(second).CancelRun(v1.CancelRunRequest(run_id=first.run_id), metadata=md)
            assert cancelled.run.status == v1.RUN_STATUS_CANCELLED
            # The caller's stream ends with the run's final event.
            rest = []
            while (event := await stream.read()) is not None:
                rest.append(event)
            assert rest[-1].run.status == v1.RUN_STATUS_CANCELLED
            # Cancelling an ended run is refused; an unknown one is not found.
            with pytest.raises(RpcError) as info:
                await MessageServiceAsyncStub(second).CancelRun(v1.CancelRunRequest(run_id=first.run_id), metadata=md)
            assert info.value.code == StatusCode.FAILED_PRECONDITION
            with pytest.raises(RpcError) as info:
                await MessageServiceAsyncStub(second).GetRun(
                    v1.GetRunRequest(run_id="00000000-0000-4000-8000-000000000000"), metadata=md)
            assert info.value.code == StatusCode.NOT_FOUND
    asyncio.run(main())


class DroppingProxy:
    """A TCP proxy to `target` that cuts its first connection once `cut_after` bytes came back
    from the server (a phone losing its network mid-reply); later connections pass through."""

    def __init__(self, target: str, cut_after: int) -> None:
        import socket
        import threading
        host, port = target.split(":")[1], int(target.split(":")[2])
        self.upstream = (host, port)
        self.cut_after = cut_after
        self.connections = 0
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.target = f"tcp:127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            server = socket.create_connection(self.upstream)
            limit = self.cut_after if self.connections == 1 else None
            threading.Thread(target=self._pump, args=(client, server, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, limit), daemon=True).start()

    @staticmethod
    def _pump(source, sink, limit) -> None:
        sent = 0
        try:
            while True:
                data = source.recv(256)
                if not data:
                    break
                if limit is not None and sent + len(data) >= limit:
                    sink.sendall(data[: max(0, limit - sent)])
                    break
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        import socket
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)  # a FIN now, and the other pump's recv() returns
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()


def test_cli_chat_resumes_after_a_dropped_connection_and_shows_nothing_twice(slow_server):
    from test_conversation import swift_cli
    cli = swift_cli()
    if cli is None:
        pytest.skip("Swift CLI not built (swift build --product loacl); set LOACL_CLI_BINARY")
    import subprocess
    with Channel(slow_server.tcp) as ch:
        _, _, md = new_guest(ch)
        thread = ThreadServiceStub(ch).CreateThread(v1.CreateThreadRequest(), metadata=md).thread
        proxy = DroppingProxy(slow_server.tcp, cut_after=900)
        try:
            out = subprocess.run([cli, "chat", "--server", proxy.target, "--session-token", md[0][1], "--thread", thread.id,
                                  "--message", "Explain composting to me in a few sentences"],
                                 capture_output=True, text=True, timeout=120)
        finally:
            proxy.close()
        assert out.returncode == 0, out.stderr
        assert proxy.connections >= 2, "the first connection was cut"
        assert "resuming run" in out.stderr, out.stderr
        history = MessageServiceStub(ch).ListMessages(v1.ListMessagesRequest(thread_id=thread.id), metadata=md).messages
        reply = history[-1].content
        assert history[-1].role == v1.ROLE_ASSISTANT and '"incomplete"' not in history[-1].metadata_json
        # Printed once, whole: the part before the drop and the resumed rest join up exactly.
        assert out.stdout.startswith(reply), (out.stdout, reply)
        assert out.stdout.count(reply) == 1


def c_runs_example() -> str:
    import os
    from test_conversation import REPO
    path = os.environ.get("LOACL_C_RUNS_EXAMPLE") or str(REPO / "clients" / "c" / "build" / "loacl-runs-example")
    if not os.access(path, os.X_OK):
        pytest.skip(f"C example not built at {path} (make -C clients/c)")
    return path


def test_c_client_follows_a_run_from_another_server_and_cancels_one(slow_server, server):
    import subprocess
    exe = c_runs_example()
    with Channel(slow_server.tcp) as ch:
        _, _, md = new_guest(ch)
        token = md[0][1]
        thread = ThreadServiceStub(ch).CreateThread(v1.CreateThreadRequest(), metadata=md).thread
        messages = MessageServiceStub(ch)
        stream = messages.SendMessage(v1.SendMessageRequest(thread_id=thread.id, content="How do worms help a garden?"),
                                      metadata=md, timeout=60)
        seen = []
        for event in stream:
            seen.append(event)
            if kinds(seen).count("delta") == 1:
                break
        stream.cancel()
        # C resumes on the other server after the last event Python saw.
        out = subprocess.run([exe, "--token", token, "follow", seen[0].run_id, str(seen[-1].sequence_number), server.tcp],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        import re
        ended = re.search(rf"run {seen[0].run_id}: COMPLETED \((\d+) events\)\s*$", out.stdout)
        assert ended, out.stdout
        run = messages.GetRun(v1.GetRunRequest(run_id=seen[0].run_id), metadata=md).run
        assert int(ended.group(1)) == run.last_sequence - seen[-1].sequence_number  # exactly the rest
        reply = messages.ListMessages(v1.ListMessagesRequest(thread_id=thread.id), metadata=md).messages[-1].content
        printed = out.stdout.rsplit("\nrun ", 1)[0]
        assert "".join(e.delta.text for e in seen if e.WhichOneof("event") == "delta") + printed == reply

        # A second run, stopped by C from the other server.
        stream = messages.SendMessage(v1.SendMessageRequest(thread_id=thread.id, content="And what about ants?"),
                                      metadata=md, timeout=60)
        first = next(iter(stream))
        out = subprocess.run([exe, "--token", token, "cancel", first.run_id, server.tcp], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == f"run {first.run_id}: CANCELLED"
        rest = list(stream)
        assert rest[-1].run.status == v1.RUN_STATUS_CANCELLED


def test_tool_loop_example_answers_a_function_call_and_the_run_completes(server):
    """examples/tool_loop.py against the server's offline provider: the model calls
    get_weather, the example answers, the reply uses the output."""
    import importlib.util
    import json
    import uuid
    from pathlib import Path
    from loacl_client.services import AssistantServiceStub, SessionServiceStub
    if not __import__("os").environ.get("LOACL_DATABASE_URL"):
        pytest.skip("tools need the data services (LOACL_DATABASE_URL)")
    spec = importlib.util.spec_from_file_location("tool_loop", Path(__file__).resolve().parents[1] / "examples" / "tool_loop.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    with Channel(server.tcp) as ch:
        tenant = [("x-loacl-api-key", f"sk-loacl-test-{uuid.uuid4().hex}")]
        weather = v1.FunctionTool(name="get_weather", parameters_json=json.dumps({"type": "object", "properties": {"city": {"type": "string"}}}))
        assistant = AssistantServiceStub(ch).CreateAssistant(v1.CreateAssistantRequest(
            name="tools", configuration=v1.AssistantConfiguration(provider="offline", functions=[weather])), metadata=tenant).assistant
        token = SessionServiceStub(ch).StartGuestSession(
            v1.StartGuestSessionRequest(assistant_id=assistant.id, fingerprint=f"py-{uuid.uuid4().hex}")).session_token
        md = [("x-loacl-session-token", token)]
        thread = ThreadServiceStub(ch).CreateThread(v1.CreateThreadRequest(), metadata=md).thread
        events = example.converse(ch, md, thread.id, "What does get_weather say about Paris?", {"get_weather": example.get_weather})
        calls = [c for e in events if e.WhichOneof("event") == "tool_calls" for c in e.tool_calls.calls]
        assert [c.name for c in calls] == ["get_weather"]
        assert json.loads(calls[0].arguments_json) == {"city": "say about Paris"}
        assert events[-1].run.status == v1.RUN_STATUS_COMPLETED
        assert [e.sequence_number for e in events] == list(range(1, len(events) + 1))  # nothing missed, nothing twice
        reply = "".join(e.delta.text for e in events if e.WhichOneof("event") == "delta")
        assert reply == 'get_weather returned: {"city": "say about Paris", "temp_c": 18, "sky": "clear"}'
        history = MessageServiceStub(ch).ListMessages(v1.ListMessagesRequest(thread_id=thread.id), metadata=md).messages
        assert [m.role for m in history] == [v1.ROLE_USER, v1.ROLE_ASSISTANT, v1.ROLE_TOOL, v1.ROLE_ASSISTANT]
