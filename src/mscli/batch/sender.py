"""Sending one line through the API client (one client per worker: a client keeps per-call state).

The client's retry policy stays the one policy (`api/retry.py`); only its sleep is routed here:
after a 429 the wait becomes a pause for every worker (`Pacer.pause`), and a stop cuts any wait
short (the line is then not written, and `--resume` sends it again).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from mscli.batch.inputs import Line, approx_tokens
from mscli.batch.pacer import Pacer, Stopped
from mscli.batch.runner import Done, Sender
from mscli.batch.summary import Summary
from mscli.errors import ApiError, MscliError

if TYPE_CHECKING:
    from mscli.context import AppContext


def client_sender(
    actx: AppContext, *, pacer: Pacer, stop: threading.Event, summary: Summary
) -> tuple[Sender, Callable[[], None]]:
    """A sender with its own client (one per worker: a client keeps per-call state), and its close.

    The client's retry policy stays the one policy (`api/retry.py`): its notice of a 429 turns the
    wait into a pause for every worker, and its sleep is one a stop cuts short.
    """
    from mscli.api.models import ChatRequest
    from mscli.api.retry import RetryNotice

    def retrying(notice: RetryNotice) -> None:  # called just before the client's sleep
        limited = notice.status == 429
        summary.note(retry=True, rate_limited=limited)
        if limited:
            pacer.pause(notice.wait)

    def retry_sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise Stopped

    client = actx.client(on_retry=retrying)
    client.policy.sleep = retry_sleep
    overrides = actx.settings.price_overrides

    def send(line: Line) -> Done:
        from mscli.pricing import estimate_credits

        assert line.model is not None
        req = ChatRequest(model=line.model, messages=line.messages, **line.params)
        try:
            result = client.chat(req)
        except MscliError as err:
            if isinstance(err, ApiError) and err.status == 429:  # the one that ended the retries
                summary.note(retry=False, rate_limited=True)
            return Done(line, line.model, error=err)
        model = result.model or line.model
        usage = result.usage
        prompt = usage.prompt_tokens if usage and usage.prompt_tokens is not None else None
        completion = (
            usage.completion_tokens if usage and usage.completion_tokens is not None else None
        )
        shown = None
        if usage is not None:
            total = usage.total_tokens
            if total is None and prompt is not None and completion is not None:
                total = prompt + completion
            shown = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": total,
            }
        if prompt is None:
            prompt = approx_tokens(line.prompt_chars)
        if completion is None:
            completion = approx_tokens(len(result.content))
        return Done(
            line,
            model,
            content=result.content,
            finish_reason=result.finish_reason,
            usage=shown,
            credits=estimate_credits(model, prompt, completion, overrides),
            tokens=(prompt, completion),
        )

    return send, client.close
