"""`ChatStream`: a streamed chat completion as an iterator of events (reliability §3.3, §6).

- Content type: ``text/event-stream`` is parsed as SSE; ``application/json`` means the gateway
  ignored ``stream: true``, so the whole completion is yielded as one delta; HTML is
  `NotApiError`; anything else is sniffed (JSON or SSE accepted, never HTML).
- ``[DONE]`` (after stripping, ``data:[DONE]`` too) ends the stream at once: the response is closed
  without waiting for the server to close the connection.
- Error shapes are checked before anything else: ``{"error": {...}}``, ``{"error": "text"}``,
  vLLM's ``{"object": "error"}``, ``event: error`` and ``finish_reason: "error"`` raise `ApiError`
  (status from the error's ``code`` when it is an HTTP status, else 500).
- Keep-alives (comments, bare ``data:``, ``event: ping``) are skipped; a data line that is not
  JSON is a `ProtocolError` quoting ~200 characters.
- End of stream with neither ``finish_reason`` nor ``[DONE]``: `StreamTruncatedError`.
- A broken connection (reset, incomplete chunked read, idle timeout) after an event was yielded is
  `StreamInterruptedError`; before that, the client reconnects (a retry: nothing reached the user).
- The response is always closed in ``finally``: at the end, on errors, on early ``break``, on
  ``GeneratorExit`` and on ``KeyboardInterrupt``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, Literal

import httpx

from mscli.api.errors_parse import (
    api_error_from_payload,
    clean_text,
    html_title,
    is_error_payload,
    looks_like_html,
    request_id_from,
)
from mscli.api.models import ChatEvent, ChatResult, Finish, TextDelta, Usage, UsageInfo
from mscli.api.sse import DEFAULT_MAX_SIZE, SSEEvent, SSEParser
from mscli.errors import (
    NetworkError,
    NotApiError,
    ProtocolError,
    ResponseTooLargeError,
    StreamInterruptedError,
    StreamTruncatedError,
)
from mscli.redact import Redactor

__all__ = ["ChatStream", "content_text", "parse_completion"]

Mode = Literal["sse", "json", "sniff"]

#: SSE event names that are only keep-alives.
_KEEPALIVE_EVENTS = frozenset({"ping", "keepalive", "keep-alive", "heartbeat"})
_SSE_STARTS = ("data:", "data\n", ":", "event:", "id:", "retry:")
_DEFAULT_MAX_BODY = 32 * 1024 * 1024

#: The C scanner behind `json.loads` (`json.scanner.make_scanner` of a default `JSONDecoder`, as
#: `json.loads` uses): same values, NaN and Infinity included, and the same errors.
_scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _loads_stripped(text: str) -> Any:
    """``json.loads(text)`` for a ``text`` that `str.strip` has stripped, in about half the time
    (`json.loads` wraps the scanner in two calls and two whitespace regexes, more than the
    scanning of a streamed chunk). `str.strip` removes JSON's whitespace and more, so the value
    starts at 0 and must end at ``len(text)``, where `json.loads` would find only whitespace
    left; anything after it is "Extra data", as there. Raises `ValueError` where it does."""
    try:
        value, end = _scan_json(text, 0)
    except StopIteration as exc:  # no JSON value at all
        raise json.JSONDecodeError("Expecting value", text, exc.value) from None
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    return value


def content_text(value: Any) -> str:
    """Text from a ``content`` value: a string, ``null``, or a list of ``{"type": "text"}`` parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts: list[str] = []
        for part in value:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return ""


def _first_choice(payload: dict[str, Any]) -> dict[str, Any] | None:
    choices = payload.get("choices")
    if not isinstance(choices, list):
        return None
    if len(choices) == 1:  # the usual chunk: no list built for it
        only = choices[0]
        return only if isinstance(only, dict) else None
    dicts = [c for c in choices if isinstance(c, dict)]
    for choice in dicts:
        if choice.get("index", 0) == 0:
            return choice
    return dicts[0] if dicts else None


def _finish_error(choice: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """An error payload for ``finish_reason: "error"`` (OpenRouter), from whatever is there."""
    for candidate in (choice.get("error"), payload.get("error")):
        if isinstance(candidate, dict):
            return {"error": candidate}
        if isinstance(candidate, str) and candidate:
            return {"error": {"message": candidate}}
    return {"error": {"message": "The model stopped with finish_reason 'error'"}}


def choice_text(choice: dict[str, Any], first: str, second: str) -> str:
    """The text of one choice: `choice[first].content`, else `choice[second].content`, else the
    legacy `choice.text` (completions-style gateways)."""
    part: Any = choice.get(first)
    if not isinstance(part, dict):
        part = choice.get(second)
    if isinstance(part, dict):
        content = part.get("content")
        text = content if isinstance(content, str) else content_text(content)
        if text:
            return text
    legacy = choice.get("text")
    return legacy if isinstance(legacy, str) else ""


def parse_completion(
    payload: Any,
    *,
    redactor: Redactor | None = None,
    url: str | None = None,
    attempts: int = 1,
    **facts: Any,
) -> ChatResult:
    """A non-streamed ``chat.completion`` body as a `ChatResult`. Error shapes raise `ApiError`;
    a body without ``choices`` raises `ProtocolError`. ``content: null`` is an empty reply."""
    redactor = redactor or Redactor()
    if is_error_payload(payload):
        raise api_error_from_payload(
            payload, url=url, attempts=attempts, redactor=redactor, **facts
        )
    if not isinstance(payload, dict):
        raise ProtocolError(
            "The completion is not a JSON object",
            excerpt=redactor.text(clean_text(json.dumps(payload)[:400], 200)),
        )
    choice = _first_choice(payload)
    if choice is None:
        raise ProtocolError(
            "The completion has no choices",
            excerpt=redactor.text(clean_text(json.dumps(payload)[:400], 200)),
        )
    if not any(isinstance(choice.get(k), dict) for k in ("message", "delta")) and not isinstance(
        choice.get("text"), str
    ):  # `"message": null`: no reply at all, not an empty one
        raise ProtocolError(
            "The completion's choice has no message",
            excerpt=redactor.text(clean_text(json.dumps(payload)[:400], 200)),
        )
    content = choice_text(choice, "message", "delta")
    finish = choice.get("finish_reason")
    if finish == "error":
        raise api_error_from_payload(
            _finish_error(choice, payload), url=url, attempts=attempts, redactor=redactor, **facts
        )
    return ChatResult(
        id=payload.get("id") if isinstance(payload.get("id"), str) else None,
        model=payload.get("model") if isinstance(payload.get("model"), str) else None,
        content=content,
        finish_reason=finish if isinstance(finish, str) and finish else None,
        usage=Usage.from_any(payload.get("usage")),
        done_seen=False,
    )


class _Reconnect(Exception):
    """Internal: the connection broke before anything was yielded; the client may retry."""

    def __init__(self, error: NetworkError, cause: BaseException) -> None:
        super().__init__(str(error))
        self.error = error
        self.cause = cause


class ChatStream:
    """Iterate for `TextDelta` / `Finish` / `UsageInfo` events; ``.result`` afterwards.

    Use as a context manager so the response is closed however the loop ends::

        with client.chat_stream(req) as stream:
            for event in stream:
                ...
        stream.result.content
    """

    def __init__(
        self,
        response: httpx.Response,
        *,
        reconnect: Callable[[NetworkError], httpx.Response] | None = None,
        clock: Callable[[], float] = time.monotonic,
        deadline: float | None = None,
        redactor: Redactor | None = None,
        host: str | None = None,
        url: str | None = None,
        attempts: Callable[[], int] | None = None,
        max_body: int = _DEFAULT_MAX_BODY,
        max_event: int = DEFAULT_MAX_SIZE,
    ) -> None:
        self._response = response
        self._reconnect = reconnect
        self._clock = clock
        self._deadline = deadline
        self._redactor = redactor or Redactor()
        self._host = host
        self._url = url
        self._attempts = attempts or (lambda: 1)
        self._max_body = max_body
        self._max_event = max_event
        self._iterator: Generator[ChatEvent, None, None] | None = None
        self._closed = False
        self._yielded = False
        self._done = False
        self._last_usage: Usage | None = None
        self._result = ChatResult()
        #: Reply text not yet joined into ``_result.content``: joined once, when `result` is read
        #: (``content += text`` per chunk copies the whole reply each time: quadratic).
        self._parts: list[str] = []
        self._chars = 0
        #: True when the server ignored ``stream: true`` and sent one JSON completion.
        self.fallback_json = False
        #: Keep-alive comments seen (activity for a "still waiting" spinner).
        self.keepalives = 0
        self._mode: Mode = self._classify(response)

    # -- public API -----------------------------------------------------------------------------

    @property
    def result(self) -> ChatResult:
        """The completion so far; complete once iteration has ended without an exception."""
        if self._parts:
            self._parts.insert(0, self._result.content)
            self._result.content = "".join(self._parts)
            self._parts.clear()
        return self._result

    @result.setter
    def result(self, value: ChatResult) -> None:
        self._result = value
        self._parts.clear()
        self._chars = len(value.content)

    @property
    def partial_chars(self) -> int:
        """Characters of reply text received so far."""
        return self._chars

    @property
    def closed(self) -> bool:
        return self._closed

    def __iter__(self) -> Iterator[ChatEvent]:
        if self._iterator is None:
            self._iterator = self._iterate()
        return self._iterator

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the response (idempotent). Stops the iterator too."""
        if self._iterator is not None and not self._closed:
            self._closed = True
            self._iterator.close()  # runs the generator's finally (it closes the response)
        self._closed = True
        self._close_response()

    # -- internals ------------------------------------------------------------------------------

    def _close_response(self) -> None:
        try:
            self._response.close()
        except Exception:  # closing a broken connection must not mask the real error
            pass

    def _classify(self, response: httpx.Response) -> Mode:
        content_type = (response.headers.get("content-type") or "").lower()
        if "text/event-stream" in content_type:
            return "sse"
        if "html" in content_type:
            self._close_response()
            raise NotApiError(
                f"The server answered HTTP {response.status_code} with an HTML page, not the API",
                status=response.status_code,
                url=self._url,
                content_type=content_type,
            )
        if "json" in content_type:
            return "json"
        return "sniff"

    def _iterate(self) -> Generator[ChatEvent, None, None]:
        if self._closed:  # closed before iteration started: nothing to read
            return
        try:
            while True:
                try:
                    if self._mode == "sse":  # one generator fewer between each event and the caller
                        yield from self._consume_sse(self._body_chunks())
                    else:
                        yield from self._consume()
                    return
                except _Reconnect as rc:
                    self._close_response()
                    if self._reconnect is None or self._closed:
                        raise rc.error from rc.cause
                    self._response = self._reconnect(rc.error)
                    self._mode = self._classify(self._response)
                    self.result = ChatResult()
                    self._last_usage = None
        finally:
            self._closed = True
            self._close_response()

    def _body_chunks(self) -> Iterator[bytes]:
        """The body's bytes as they arrive: `iter_raw` when there is no content coding to undo
        (two generator layers and two calls fewer per chunk than `iter_bytes`), else `iter_bytes`,
        which undoes it."""
        if "content-encoding" in self._response.headers:
            return self._response.iter_bytes()
        return self._response.iter_raw()

    def _consume(self) -> Iterator[ChatEvent]:
        """A body not announced as an event stream: read whole, then JSON, sniffed SSE or an error
        (an announced stream goes straight to `_consume_sse`)."""
        body = self._read_body()
        if looks_like_html(body):
            raise NotApiError(
                f"The server answered HTTP {self._response.status_code} with an HTML page, not the API",
                status=self._response.status_code,
                url=self._url,
                title=html_title(body[:65536].decode("utf-8", "replace")),
            )
        text = body.decode("utf-8", "replace").lstrip("\ufeff").lstrip()
        if self._mode == "json" or text.startswith(("{", "[")):
            yield from self._consume_json(text)
        elif text.startswith(_SSE_STARTS):
            yield from self._consume_sse([body])
        elif not text:
            raise StreamTruncatedError(
                "The stream ended before the reply was complete (empty body)",
                partial_chars=0,
                request_id=request_id_from(self._response.headers),
            )
        else:
            raise ProtocolError(
                "The server's reply is neither an event stream nor JSON",
                excerpt=self._redactor.text(clean_text(text, 200)),
            )

    def _read_body(self) -> bytes:
        body = bytearray()
        try:
            for chunk in self._response.iter_bytes():
                body += chunk
                if len(body) > self._max_body:
                    raise ResponseTooLargeError(
                        f"The response is larger than {self._max_body // (1024 * 1024)} MiB",
                        limit=self._max_body,
                    )
        except httpx.RequestError as exc:
            self._read_failed(exc)
        return bytes(body)

    def _consume_json(self, text: str) -> Iterator[ChatEvent]:
        try:
            payload = json.loads(text)
        except ValueError as exc:
            raise ProtocolError(
                "The server's reply is not valid JSON",
                excerpt=self._redactor.text(clean_text(text, 200)),
            ) from exc
        result = parse_completion(
            payload, redactor=self._redactor, url=self._url, attempts=self._attempts()
        )
        self.fallback_json = True
        self.result = result
        if result.content:
            self._yielded = True
            yield TextDelta(result.content)
        if result.finish_reason:
            self._yielded = True
            yield Finish(result.finish_reason)
        if result.usage is not None:
            self._yielded = True
            yield UsageInfo.from_usage(result.usage)

    def _consume_sse(self, chunks: Iterable[bytes]) -> Iterator[ChatEvent]:
        parser = SSEParser(max_size=self._max_event)
        feed, handle = parser.feed, self._handle  # per chunk: no attribute look-ups
        deadline, clock = self._deadline, self._clock
        comments = 0
        iterator = iter(chunks)
        while True:
            try:
                chunk = next(iterator)
            except StopIteration:
                break
            except httpx.RequestError as exc:
                self._read_failed(exc)
                return  # the reply was already complete (finish_reason seen)
            if deadline is not None and clock() > deadline:
                self._check_deadline()  # raises
            events = feed(chunk)
            if parser.comments != comments:
                self.keepalives += parser.comments - comments
                comments = parser.comments
            for event in events:
                outs = handle(event)
                if not outs:
                    if self._done:  # [DONE]
                        return
                    continue
                for out in outs:
                    self._yielded = True
                    yield out
        parser.close()
        if self._result.finish_reason is None:
            raise StreamTruncatedError(
                "The stream ended before the reply was complete (no finish_reason or [DONE])",
                partial_chars=self.partial_chars,
                partial_event=parser.truncated,
                request_id=request_id_from(self._response.headers),
                completion_id=self._result.id,
            )

    def _check_deadline(self) -> None:
        if self._deadline is None or self._clock() <= self._deadline:
            return
        if self._yielded:
            raise StreamInterruptedError(
                f"Stopped after the overall timeout; {self.partial_chars} characters were received",
                partial_chars=self.partial_chars,
                host=self._host,
                reason="deadline",
                attempts=self._attempts(),
            )
        raise NetworkError(
            "No complete reply before the overall timeout",
            kind="timeout",
            host=self._host,
            attempts=self._attempts(),
        )

    def _read_failed(self, exc: httpx.RequestError) -> None:
        """A body read failed. Returns if the reply was already complete; raises otherwise."""
        from mscli.api.transport import map_transport_error  # the one mapping of httpx errors

        error = map_transport_error(
            exc, host=self._host, attempts=self._attempts(), redactor=self._redactor
        )
        if self._result.finish_reason is not None:
            return
        if self._yielded:
            stalled = error.kind in StreamInterruptedError.STALLED
            raise StreamInterruptedError(
                f"The server sent nothing more after {self.partial_chars} characters of the reply"
                if stalled
                else f"The connection broke after {self.partial_chars} characters of the reply",
                partial_chars=self.partial_chars,
                host=self._host,
                reason=error.kind,
                detail=error.facts.get("detail"),
                attempts=self._attempts(),
            ) from exc
        raise _Reconnect(error, exc)

    def _api_error(self, payload: Any) -> Exception:
        return api_error_from_payload(
            payload,
            url=self._url,
            attempts=self._attempts(),
            redactor=self._redactor,
            partial_chars=self.partial_chars,
            mid_stream=True,
        )

    def _handle(self, event: SSEEvent) -> list[ChatEvent]:
        data = event.data.strip()
        kind = event.event
        if kind == "error":
            try:
                payload: Any = json.loads(data) if data else None
            except ValueError:
                payload = None
            if not is_error_payload(payload):
                if isinstance(payload, dict) and payload:
                    payload = {"error": payload}
                else:
                    payload = {"error": {"message": data or "The server sent an error event"}}
            raise self._api_error(payload)
        if not data or kind in _KEEPALIVE_EVENTS:
            return []
        if data.startswith("[DONE]"):
            self._result.done_seen = True
            self._done = True
            return []
        try:
            payload = _loads_stripped(data)
        except ValueError as exc:
            raise ProtocolError(
                "The stream sent a data line that is not JSON",
                excerpt=self._redactor.text(clean_text(data, 200)),
                partial_chars=self.partial_chars,
            ) from exc
        if is_error_payload(payload):
            raise self._api_error(payload)
        if not isinstance(payload, dict):
            raise ProtocolError(
                "The stream sent a data line that is not a JSON object",
                excerpt=self._redactor.text(clean_text(data, 200)),
                partial_chars=self.partial_chars,
            )
        return self._chunk(payload)

    def _chunk(self, payload: dict[str, Any]) -> list[ChatEvent]:
        out: list[ChatEvent] = []
        result = self._result
        if result.id is None and isinstance(payload.get("id"), str):
            result.id = payload["id"]
        model = payload.get("model")
        if model and isinstance(model, str):
            result.model = model
        choice = _first_choice(payload)
        if choice is not None:
            text = choice_text(choice, "delta", "message")
            if text:
                self._parts.append(text)
                self._chars += len(text)
                out.append(TextDelta(text))
            finish = choice.get("finish_reason")
            if finish is not None:
                if finish == "error":
                    raise self._api_error(_finish_error(choice, payload))
                if isinstance(finish, str) and finish and result.finish_reason is None:
                    result.finish_reason = finish
                    out.append(Finish(finish))
        raw_usage = payload.get("usage")
        if raw_usage is not None:  # most chunks carry none: no Usage built for them
            usage = Usage.from_any(raw_usage)
            if usage is not None and usage != self._last_usage:
                self._last_usage = usage
                result.usage = usage
                out.append(UsageInfo.from_usage(usage))
        return out
