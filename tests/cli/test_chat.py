"""`mscli chat` end to end against the sandbox: in-process through main() (the error funnel), and in a
subprocess for exact piped bytes, Ctrl-C and a reader that goes away (`| head -1`)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from support.chat_run import MODEL, chat, completion, content, flat, history_json, run
from support.cli import run as run_cli
from support.paths import run_paths
from support.proc import wait_blocked_reading
from support.relay import Relay

if TYPE_CHECKING:
    from mscli.sandbox.embedded import EmbeddedSandbox

# --- output ---------------------------------------------------------------------------------


def test_piped_output_is_exactly_the_reply(sandbox: EmbeddedSandbox) -> None:
    res = chat(sandbox, "Explain SSE framing", "--max-tokens", "60")
    assert res.code == 0, res.stderr
    assert res.text == content(sandbox, "Explain SSE framing", max_tokens=60)
    assert b"\x1b" not in res.stdout
    assert res.stderr == ""


def test_no_stream_gives_the_same_text(sandbox: EmbeddedSandbox) -> None:
    res = chat(sandbox, "Explain SSE framing", "--max-tokens", "30", "--no-stream")
    assert res.code == 0, res.stderr
    assert res.text == content(sandbox, "Explain SSE framing", max_tokens=30)


def test_prompt_words_are_joined(sandbox: EmbeddedSandbox) -> None:
    res = chat(sandbox, "tell", "me", "more", "--max-tokens", "5")
    assert res.code == 0, res.stderr
    assert history_json("show", "1")["exchanges"][0]["prompt"] == "tell me more"


def test_json_is_the_final_completion(sandbox: EmbeddedSandbox) -> None:
    res = chat(sandbox, "Hello", "--max-tokens", "12", "--json")
    assert res.code == 0, res.stderr
    doc = json.loads(res.stdout)
    ref = completion(sandbox, [{"role": "user", "content": "Hello"}], max_tokens=12)
    assert doc["content"] == ref["choices"][0]["message"]["content"]
    assert doc["id"].startswith("chatcmpl")
    assert doc["model"] == MODEL
    assert doc["finish_reason"] == "length"
    assert doc["usage"]["completion_tokens"] == 12
    assert doc["usage"]["total_tokens"] == doc["usage"]["prompt_tokens"] + 12
    assert doc["estimated_credits"] > 0
    assert doc["conversation_id"] == 1


def test_usage_goes_to_stderr_labelled_an_estimate(sandbox: EmbeddedSandbox) -> None:
    res = chat(sandbox, "Hello", "--max-tokens", "7", "--usage")
    assert res.code == 0, res.stderr
    assert res.text == content(sandbox, "Hello", max_tokens=7)
    err = flat(res.stderr)
    assert "7 completion" in err and "estimate" in err and "credits" in err
    assert "stopped at the token limit (finish_reason: length)" in err  # the sandbox fills it


def test_usage_and_limit_notes_wrap_at_words_on_a_narrow_terminal(sandbox: EmbeddedSandbox) -> None:
    res = run(
        "--base-url",
        sandbox.base_url,
        "chat",
        "-m",
        MODEL,
        "Hello",
        "--max-tokens",
        "7",
        "--usage",
        env={"MODELSTACK_API_KEY": sandbox.api_key, "COLUMNS": "40"},
    )
    assert res.code == 0, res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) > 2 and all(len(line) <= 40 for line in lines)
    words = flat(res.stderr).split()
    for word in ("completion", "credits", "estimate", "--max-tokens"):
        assert any(w.strip("(),;[]") == word for w in words), word


def test_token_limit_note_only_when_the_reply_was_cut(sandbox: EmbeddedSandbox) -> None:
    res = chat(sandbox, "Hello", "--usage")  # no --max-tokens: the reply ends by itself
    assert res.code == 0, res.stderr
    assert "completion" in res.stderr and "token limit" not in res.stderr
    res = chat(sandbox, "Hello", "--max-tokens", "7")  # stderr not a terminal, no --usage: quiet
    assert res.code == 0 and res.stderr == ""


def test_ledger_is_recorded_even_with_no_log(sandbox: EmbeddedSandbox) -> None:
    from mscli import ledger

    res = chat(sandbox, "Hello", "--max-tokens", "3", "--no-log")
    assert res.code == 0, res.stderr
    entries = ledger.entries(run_paths().ledger)
    assert len(entries) == 1 and entries[0].completion_tokens == 3 and entries[0].model == MODEL
    assert history_json("list")["data"] == []


def test_stop_sequences_are_sent_and_limited(sandbox: EmbeddedSandbox) -> None:
    res = chat(sandbox, "Hello", "--stop", "x", "--stop", "y", "--max-tokens", "5")
    assert res.code == 0, res.stderr
    assert history_json("show", "1")["exchanges"][0]["params"]["stop"] == ["x", "y"]
    res = chat(sandbox, "Hello", *[a for i in range(5) for a in ("--stop", str(i))])
    assert res.code == 2
    assert "at most 4" in flat(res.stderr)


@pytest.mark.parametrize(
    "args", [["--temperature", "3"], ["--top-p", "1.5"], ["--max-tokens", "0"]]
)
def test_out_of_range_options_are_usage_errors(sandbox: EmbeddedSandbox, args: list[str]) -> None:
    assert chat(sandbox, "Hello", *args).code == 2


# --- stdin ----------------------------------------------------------------------------------


def test_arguments_with_bytes_that_are_not_utf8_are_replaced_not_a_crash(
    sandbox: EmbeddedSandbox,
) -> None:
    """`mscli chat "caf\xe9 au lait"` from a Latin-1 shell: Python hands the bad byte over as a
    surrogate escape; it becomes U+FFFD (as in piped input) instead of an internal error."""
    res = chat(sandbox, "caf\udce9 au lait", "-s", "x\udcff", "--max-tokens", "5")
    assert res.code == 0, res.stderr
    ex = history_json("show", "1")["exchanges"][0]
    assert ex["prompt"] == "caf\ufffd au lait" and ex["params"]["system"] == "x\ufffd"


def test_piped_text_is_sent_before_the_prompt(sandbox: EmbeddedSandbox) -> None:
    res = chat(sandbox, "summarize", "--max-tokens", "8", input="line one\nline two é\n")
    assert res.code == 0, res.stderr
    sent = "line one\nline two é\n\nsummarize"
    assert history_json("show", "1")["exchanges"][0]["prompt"] == sent
    assert res.text == content(sandbox, sent, max_tokens=8)


def test_dash_reads_the_whole_prompt_from_stdin(sandbox: EmbeddedSandbox) -> None:
    res = chat(sandbox, "-", "--max-tokens", "8", input="Explain the stream\n")
    assert res.code == 0, res.stderr
    assert res.text == content(sandbox, "Explain the stream\n", max_tokens=8)


def test_no_prompt_reads_stdin_when_it_is_not_a_terminal(sandbox: EmbeddedSandbox) -> None:
    res = chat(sandbox, "--max-tokens", "8", input="Piped question")
    assert res.code == 0, res.stderr
    assert res.text == content(sandbox, "Piped question", max_tokens=8)


def test_stdin_is_decoded_as_utf8_whatever_the_locale(sandbox: EmbeddedSandbox) -> None:
    res = chat(sandbox, "-", "--max-tokens", "4", input="\ufeffcafé 🚀".encode())
    assert res.code == 0, res.stderr
    assert history_json("show", "1")["exchanges"][0]["prompt"] == "café 🚀"


@pytest.mark.parametrize("args", [["-"], []])
def test_empty_stdin_is_a_usage_error(sandbox: EmbeddedSandbox, args: list[str]) -> None:
    res = chat(sandbox, *args, input="  \n")
    assert res.code == 2
    assert "prompt" in res.stderr


# --- model check ----------------------------------------------------------------------------


def test_unknown_model_is_refused_before_sending_with_did_you_mean(
    sandbox_factory: Callable[..., Any],
) -> None:
    log = io.StringIO()
    sb = sandbox_factory(quiet=False, log=log)
    res = run(
        "--base-url",
        sb.base_url,
        "chat",
        "-m",
        "claude-sonet-4-5",
        "Hi",
        env={"MODELSTACK_API_KEY": sb.api_key},
    )
    assert res.code == 6
    assert "Did you mean: claude-sonnet-4-5" in flat(res.stderr)
    sb.stop()  # waits for requests in flight: the sandbox logs a request once it has answered it
    assert "chat/completions" not in log.getvalue()
    assert "/models" in log.getvalue()


def test_a_stale_cache_is_refetched_before_saying_no(sandbox: EmbeddedSandbox) -> None:
    from mscli import catalogue

    catalogue.save(run_paths().cache_dir, sandbox.base_url, [{"id": "old-model"}])
    res = chat(sandbox, "Hi", "--max-tokens", "2")
    assert res.code == 0, res.stderr


def test_a_fresh_install_with_a_key_chats_with_the_documented_default_model(
    sandbox: EmbeddedSandbox,
) -> None:
    """No -m and no default_model: the built-in default (the docs' example model), not exit 6."""
    from mscli.catalogue import DEFAULT_MODEL

    res = run(
        "--base-url",
        sandbox.base_url,
        "chat",
        "--json",
        "Hi",
        env={"MODELSTACK_API_KEY": sandbox.api_key},
    )
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout)["model"] == DEFAULT_MODEL


def test_with_no_key_and_no_model_the_first_error_is_the_missing_key(
    sandbox: EmbeddedSandbox,
) -> None:
    res = run("--base-url", sandbox.base_url, "chat", "Hi")
    assert res.code == 3, res.stderr
    assert "No API key" in flat(res.stderr) and "No model" not in flat(res.stderr)


def test_default_model_from_the_config(sandbox: EmbeddedSandbox) -> None:
    cfg = Path(os.environ["MSCLI_CONFIG_DIR"])
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_text('[profiles.default]\ndefault_model = "gpt-5-mini"\n')
    res = run(
        "--base-url",
        sandbox.base_url,
        "chat",
        "Hi",
        "--json",
        "--max-tokens",
        "2",
        env={"MODELSTACK_API_KEY": sandbox.api_key},
    )
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout)["model"] == "gpt-5-mini"


def test_sandbox_flag_works_with_nothing_configured() -> None:
    res = run("--sandbox", "chat", "Hello")
    assert res.code == 0, res.stderr
    assert res.text.startswith("## Hello")


# --- conversations --------------------------------------------------------------------------


def test_continue_sends_the_previous_exchange(sandbox: EmbeddedSandbox) -> None:
    first = chat(sandbox, "First question", "--max-tokens", "6", "--json")
    assert first.code == 0, first.stderr
    one = json.loads(first.stdout)
    second = chat(sandbox, "-c", "Second question", "--max-tokens", "6", "--json")
    assert second.code == 0, second.stderr
    two = json.loads(second.stdout)
    assert two["conversation_id"] == one["conversation_id"]
    messages = [
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": one["content"]},
        {"role": "user", "content": "Second question"},
    ]
    ref = completion(sandbox, messages, max_tokens=6)
    assert two["content"] == ref["choices"][0]["message"]["content"]
    assert two["usage"]["prompt_tokens"] == ref["usage"]["prompt_tokens"]
    conv = history_json("show", str(one["conversation_id"]))
    assert [e["prompt"] for e in conv["exchanges"]] == ["First question", "Second question"]


def test_conversation_id_resumes_that_one_with_its_system_prompt(sandbox: EmbeddedSandbox) -> None:
    a = json.loads(chat(sandbox, "Alpha", "-s", "Be terse", "--max-tokens", "4", "--json").stdout)
    b = json.loads(chat(sandbox, "Beta", "--max-tokens", "4", "--json").stdout)
    assert a["conversation_id"] != b["conversation_id"]
    res = chat(
        sandbox, "--conversation", str(a["conversation_id"]), "Again", "--max-tokens", "4", "--json"
    )
    assert res.code == 0, res.stderr
    messages = [
        {"role": "system", "content": "Be terse"},
        {"role": "user", "content": "Alpha"},
        {"role": "assistant", "content": a["content"]},
        {"role": "user", "content": "Again"},
    ]
    assert (
        json.loads(res.stdout)["content"]
        == completion(sandbox, messages, max_tokens=4)["choices"][0]["message"]["content"]
    )


def test_continue_with_nothing_saved_is_a_usage_error(sandbox: EmbeddedSandbox) -> None:
    assert chat(sandbox, "-c", "Hi").code == 2
    assert chat(sandbox, "--conversation", "42", "Hi").code == 2
    assert chat(sandbox, "-c", "--conversation", "1", "Hi").code == 2


def test_conversations_belong_to_their_api(sandbox_factory: Callable[..., Any]) -> None:
    """A `--sandbox` conversation is held by the sandbox: `-c` against another API does not
    continue it (nothing is sent there), the next `--sandbox` run does (a new port each time),
    and `--conversation ID` from another API needs --other-api; `history list` says where each
    one was held."""
    log = io.StringIO()
    other = sandbox_factory(quiet=False, log=log)  # "the real API" of this test
    first = run("--sandbox", "chat", "-m", MODEL, "Hello", "--json")
    assert first.code == 0, first.stderr
    cid = json.loads(first.stdout)["conversation_id"]

    refused = chat(other, "-c", "More")
    assert refused.code == 2 and "no saved conversation held with" in flat(refused.stderr)
    again = run("--sandbox", "chat", "-m", MODEL, "-c", "More", "--json")
    assert again.code == 0, again.stderr
    assert json.loads(again.stdout)["conversation_id"] == cid

    elsewhere = chat(other, "--conversation", str(cid), "More")
    assert elsewhere.code == 2 and "--other-api" in flat(elsewhere.stderr)
    other.stop()  # waits for requests in flight, so the log is complete
    assert "chat/completions" not in log.getvalue()  # no sandbox text reached the other API
    assert [c["base_url"] for c in history_json("list")["data"]] == ["sandbox"]
    assert " sandbox " in run("history", "list").text


def test_another_apis_conversation_is_sent_only_when_the_user_says_so(
    sandbox: EmbeddedSandbox, sandbox_factory: Callable[..., Any]
) -> None:
    cid = json.loads(chat(sandbox, "Hello", "--json").stdout)["conversation_id"]
    other = sandbox_factory()
    declined = run_cli(
        "--base-url",
        other.base_url,
        "chat",
        "-m",
        MODEL,
        "--conversation",
        str(cid),
        "More",
        input="n\n",
        stdin_tty=True,
        env={"MODELSTACK_API_KEY": other.api_key},
    )
    assert declined.code == 0 and "Cancelled" in declined.stderr
    assert "held with" in declined.stderr and "Send its text there?" in declined.stderr
    assert [e["prompt"] for e in history_json("show", str(cid))["exchanges"]] == ["Hello"]
    res = chat(other, "--conversation", str(cid), "--other-api", "More", "--json")
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout)["conversation_id"] == cid


def test_log_history_false_in_the_config_turns_logging_off(sandbox: EmbeddedSandbox) -> None:
    cfg = Path(os.environ["MSCLI_CONFIG_DIR"])
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_text("[profiles.default]\nlog_history = false\n")
    res = chat(sandbox, "Hi", "--max-tokens", "2", "--json")
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout)["conversation_id"] is None
    assert history_json("list")["data"] == []


def test_corrupt_history_stops_before_sending_and_is_left_alone(sandbox: EmbeddedSandbox) -> None:

    path = run_paths().history
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not sqlite at all" * 100)
    res = chat(sandbox, "Hi", "--max-tokens", "2")
    assert res.code == 10
    assert res.stdout == b""
    assert "history" in flat(res.stderr).lower() and "--no-log" in flat(res.stderr)
    assert path.read_bytes() == b"not sqlite at all" * 100
    assert chat(sandbox, "Hi", "--max-tokens", "2", "--no-log").code == 0


# --- failures -------------------------------------------------------------------------------

MAGIC = [
    ("sk_test_invalid", 3, "401"),
    ("sk_test_no_credits", 4, "402"),
    ("sk_test_rate_limited", 5, "429"),
    ("sk_test_retry_after_long", 5, "longer wait"),
    ("sk_test_server_error", 7, "server"),
]


@pytest.mark.parametrize(("key", "code", "needle"), MAGIC)
def test_magic_keys_exit_codes(sandbox: EmbeddedSandbox, key: str, code: int, needle: str) -> None:
    res = run(
        "--base-url",
        sandbox.base_url,
        "--max-retries",
        "0",
        "chat",
        "-m",
        MODEL,
        "Hi",
        env={"MODELSTACK_API_KEY": key},
    )
    assert res.code == code, res.stderr
    assert res.stdout == b""
    assert needle.lower() in flat(res.stderr).lower()


def test_magic_key_table_matches_chat(sandbox: EmbeddedSandbox) -> None:
    from mscli.sandbox.keys import BY_KEY

    for key, code, _ in MAGIC:
        assert int(BY_KEY[key].exit_code) == code


def test_rate_limited_is_retried_then_exit_5(sandbox: EmbeddedSandbox) -> None:
    res = run(
        "--base-url",
        sandbox.base_url,
        "--max-retries",
        "1",
        "-v",
        "chat",
        "-m",
        MODEL,
        "Hi",
        env={"MODELSTACK_API_KEY": "sk_test_rate_limited"},
    )
    assert res.code == 5
    assert "retrying" in res.stderr


def test_flaky_is_retried_before_the_first_token(sandbox: EmbeddedSandbox) -> None:
    res = run(
        "--base-url",
        sandbox.base_url,
        "-v",
        "chat",
        "-m",
        MODEL,
        "Hi",
        "--max-tokens",
        "5",
        env={"MODELSTACK_API_KEY": "sk_test_flaky"},
    )
    assert res.code == 0, res.stderr
    assert res.text == content(sandbox, "Hi", max_tokens=5)


def test_slow_key_succeeds(sandbox_factory: Callable[..., Any]) -> None:
    sb = sandbox_factory(slow_ms=150)
    res = run(
        "--base-url",
        sb.base_url,
        "chat",
        "-m",
        MODEL,
        "Hi",
        "--max-tokens",
        "3",
        env={"MODELSTACK_API_KEY": "sk_test_slow"},
    )
    assert res.code == 0, res.stderr


def test_cut_stream_keeps_the_partial_text_and_exits_9(sandbox: EmbeddedSandbox) -> None:
    res = chat(sandbox, "Tell me", "--max-tokens", "40", key="sk_test_cutoff")
    assert res.code == 9
    full = content(sandbox, "Tell me", max_tokens=40)
    assert res.stdout and full.startswith(res.text) and res.text != full
    assert "cut off" in flat(res.stderr)
    ex = history_json("show", "1")["exchanges"][0]
    assert ex["status"] == "truncated" and ex["reply"] == res.text


def test_cut_stream_usage_is_what_is_known_labelled_partial(sandbox: EmbeddedSandbox) -> None:
    from mscli import ledger

    res = chat(sandbox, "Tell me", "--max-tokens", "40", "--usage", key="sk_test_cutoff")
    assert res.code == 9
    err = flat(res.stderr)
    assert "Usage (partial: the reply was cut off)" in err
    (entry,) = ledger.entries(
        run_paths().ledger
    )  # the request was charged: the ledger has its estimate
    assert 0 < entry.completion_tokens < 40
    assert f"+ {entry.completion_tokens} completion tokens received" in err
    assert f"≈ {entry.prompt_tokens} prompt (estimated)" in err and "credits (estimate" in err


def test_cut_stream_with_json(sandbox: EmbeddedSandbox) -> None:
    res = chat(sandbox, "Tell me", "--max-tokens", "40", "--json", key="sk_test_cutoff")
    assert res.code == 9
    doc = json.loads(res.stdout)
    assert doc["status"] == "truncated" and doc["finish_reason"] is None and doc["content"]
    assert str(doc["id"]).startswith("chatcmpl-")  # the chunks carried it before the cut
    err = json.loads(res.stderr.strip().splitlines()[-1])
    assert err["error"]["code"] == 9
    assert str(err["error"]["request_id"]).startswith("req_")  # for a support ticket


def test_cut_non_streamed_reply_fails_with_nothing_on_stdout(sandbox: EmbeddedSandbox) -> None:
    res = run(
        "--base-url",
        sandbox.base_url,
        "--max-retries",
        "0",
        "chat",
        "-m",
        MODEL,
        "Tell me",
        "--max-tokens",
        "40",
        "--no-stream",
        env={"MODELSTACK_API_KEY": "sk_test_cutoff"},
    )
    # The sandbox's table says 9 for a cut body; the client currently reports the closed connection
    # as a network reset (8). Either way nothing partial is printed for a non-streamed reply.
    assert res.code in (8, 9)
    assert res.stdout == b""


def test_error_with_json_goes_to_stderr_as_json(sandbox: EmbeddedSandbox) -> None:
    res = chat(sandbox, "Hi", "--json", key="sk_test_invalid")
    assert res.code == 3
    assert res.stdout == b""
    assert json.loads(res.stderr)["error"]["code"] == 3


# --- subprocess: bytes, Ctrl-C, closed stdout --------------------------------------------------


def _argv(sb: EmbeddedSandbox | Relay, *args: str) -> list[str]:
    return [sys.executable, "-m", "mscli", "--base-url", sb.base_url, "chat", "-m", MODEL, *args]


@pytest.mark.slow
def test_subprocess_piped_bytes_match_the_non_streamed_reply(
    sandbox: EmbeddedSandbox, subprocess_env: dict[str, str]
) -> None:
    env = {**subprocess_env, "MODELSTACK_API_KEY": sandbox.api_key, "PYTHONIOENCODING": "ascii"}
    proc = subprocess.run(
        _argv(sandbox, "Explain 🚀 streams", "--max-tokens", "120"),
        capture_output=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == content(sandbox, "Explain 🚀 streams", max_tokens=120).encode()
    assert proc.stderr == b""


@pytest.mark.slow
def test_a_streamed_chat_never_imports_pydantic_and_piped_never_rich(
    sandbox: EmbeddedSandbox, subprocess_env: dict[str, str]
) -> None:
    # pydantic's import and model building cost ~55 ms per run: only /models and /balance use it
    # (the first run checks the model against /models and caches the list; the second does not);
    # piped, nothing goes through Rich (its import ~20-30 ms), not even the cut-at-limit check;
    # and no module it loads defines a dataclass (~0.5 ms each to create on Python 3.11: 35 of
    # them were a third of the start-up; docs/architecture.md, "Records")
    probe = (
        "import dataclasses, sys\n"
        "from mscli.cli import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
        "dcs = sorted(f'{n}.{k}' for n, m in list(sys.modules.items()) if n.startswith('mscli')"
        " for k, v in vars(m).items() if isinstance(v, type) and v.__module__ == n"
        " and dataclasses.is_dataclass(v))\n"
        "sys.stderr.write('PYDANTIC=%s RICH=%s EXIT=%s DATACLASSES=%s\\n'"
        " % ('pydantic' in sys.modules, 'rich' in sys.modules, code, dcs))\n"
    )
    argv = [sys.executable, "-c", probe, *_argv(sandbox, "Hello", "--max-tokens", "30")[3:]]
    env = {**subprocess_env, "MODELSTACK_API_KEY": sandbox.api_key}
    lines = []
    for _ in range(2):
        proc = subprocess.run(
            argv, capture_output=True, env=env, stdin=subprocess.DEVNULL, timeout=60
        )
        assert proc.stdout == content(sandbox, "Hello", max_tokens=30).encode()
        lines.append(proc.stderr.decode().splitlines()[-1])
    assert lines == [
        "PYDANTIC=True RICH=False EXIT=0 DATACLASSES=[]",
        "PYDANTIC=False RICH=False EXIT=0 DATACLASSES=[]",
    ]


@pytest.mark.slow
def test_subprocess_stdin_and_json(
    sandbox: EmbeddedSandbox, subprocess_env: dict[str, str]
) -> None:
    env = {**subprocess_env, "MODELSTACK_API_KEY": sandbox.api_key}
    proc = subprocess.run(
        _argv(sandbox, "summarize", "--json", "--max-tokens", "9"),
        input=b"piped text\n",
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["content"] == content(
        sandbox, "piped text\n\nsummarize", max_tokens=9
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "env"), [(["--color", "always"], {}), ([], {"FORCE_COLOR": "1", "NO_COLOR": ""})]
)
def test_piped_output_is_the_exact_text_even_when_colour_is_forced(
    sandbox: EmbeddedSandbox, subprocess_env: dict[str, str], args: list[str], env: dict[str, str]
) -> None:
    """CI often sets FORCE_COLOR: `reply=$(mscli chat ...)` must still get the text, not the live
    terminal view (cursor movements, the tail drawn twice)."""
    proc = subprocess.run(
        [sys.executable, "-m", "mscli", *args, *_argv(sandbox, "Hello", "--max-tokens", "60")[3:]],
        capture_output=True,
        env={**subprocess_env, "MODELSTACK_API_KEY": sandbox.api_key, "TERM": "xterm", **env},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == content(sandbox, "Hello", max_tokens=60).encode()


@pytest.mark.slow
def test_head_closing_stdout_exits_quietly(
    sandbox_factory: Callable[..., Any], subprocess_env: dict[str, str]
) -> None:
    sb = sandbox_factory(tokens_per_second=400)
    env = {**subprocess_env, "MODELSTACK_API_KEY": sb.api_key}
    proc = subprocess.Popen(
        _argv(sb, "Long answer", "--max-tokens", "2000"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    assert first.startswith(b"## ")
    proc.stdout.close()  # like `| head -1`
    code = proc.wait(timeout=60)
    err = proc.stderr.read().decode()
    assert code == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "Error" not in err


@pytest.mark.slow
@pytest.mark.parametrize(
    ("log", "colour"),
    [(True, False), (False, False), (True, True)],
    ids=["log", "no-log", "color-always"],
)
def test_closed_stdout_still_records_the_exchange(
    sandbox_factory: Callable[..., Any], subprocess_env: dict[str, str], log: bool, colour: bool
) -> None:
    """`mscli chat ... | head -c 5`: the request was made and charged, so the exchange is saved
    (when logging) and the ledger gets its estimate, and the exit is still a quiet 0, also with
    `--color always` (piped output stays the exact text; the console's own broken-pipe handling is
    covered in tests/unit/test_console.py)."""
    from mscli import ledger

    sb = sandbox_factory(tokens_per_second=400)
    env = {**subprocess_env, "MODELSTACK_API_KEY": sb.api_key, "TERM": "xterm"}
    extra = [] if log else ["--no-log"]
    argv = _argv(sb, "Long answer", "--max-tokens", "2000", *extra)
    if colour:
        argv[3:3] = ["--color", "always"]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = os.read(proc.stdout.fileno(), 5)  # like `| head -c 5`
    assert first
    proc.stdout.close()
    code = proc.wait(timeout=60)
    err = proc.stderr.read().decode()
    assert code == 0, err
    assert "Traceback" not in err and "Error" not in err

    (entry,) = ledger.entries(run_paths().ledger)
    assert entry.model == MODEL and 0 < entry.completion_tokens < 2000 and entry.credits > 0
    convs = history_json("list")["data"]
    if not log:
        assert convs == []
        return
    (conv,) = convs
    (ex,) = history_json("show", str(conv["id"]))["exchanges"]
    assert ex["status"] == "interrupted" and ex["prompt"] == "Long answer"
    full = content(sb, "Long answer", max_tokens=2000)
    assert ex["reply"].encode().startswith(first)
    assert ex["reply"] and full.startswith(ex["reply"])
    assert len(ex["reply"]) < len(full)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(
    ("sig", "code", "what"), [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")]
)
def test_ctrl_c_under_json_gives_the_partial_document_and_an_error_object(
    sandbox: EmbeddedSandbox,
    subprocess_env: dict[str, str],
    sig: int,
    code: int,
    what: str,
) -> None:
    env = {**subprocess_env, "MODELSTACK_API_KEY": sandbox.api_key}
    with Relay(sandbox.base_url, chunks=5) as relay:
        proc = subprocess.Popen(
            _argv(relay, "Long answer", "--max-tokens", "2000", "--json"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        relay.wait_held()  # 5 text chunks sent, the rest held back
        wait_blocked_reading(proc.pid)  # mscli has read them (nothing is shown with --json)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    doc = json.loads(out)
    assert doc["status"] == "interrupted"
    full = content(sandbox, "Long answer", max_tokens=2000)
    assert doc["content"] and full.startswith(doc["content"]) and doc["content"] != full
    lines = err.decode().splitlines()
    assert len(lines) == 1  # stderr is JSON lines only
    error = json.loads(lines[0])["error"]
    assert (error["type"], error["code"]) == ("interrupted", code)  # the code the run exits with
    assert error["message"] == f"Interrupted ({what})"
    assert what in error["advice"]  # the advice names what stopped it: SIGTERM is not Ctrl-C


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]
)
def test_ctrl_c_keeps_the_partial_reply_and_exits_130(
    sandbox: EmbeddedSandbox, subprocess_env: dict[str, str], sig: int, code: int
) -> None:
    """Ctrl-C, and SIGTERM / SIGHUP (a cancelled CI job, a closed terminal) the same way: the
    partial reply stays on stdout and in the history; the exit code is 130, or 128 + signal."""
    env = {**subprocess_env, "MODELSTACK_API_KEY": sandbox.api_key}
    with Relay(sandbox.base_url, chunks=5) as relay:
        proc = subprocess.Popen(
            _argv(relay, "Long answer", "--max-tokens", "2000"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        relay.wait_held()
        wait_blocked_reading(proc.pid)  # the 5 chunks are read (and written to stdout)
        proc.send_signal(sig)
        raw, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert b"Traceback" not in err
    out = raw.decode()
    assert out.startswith("## ")
    full = content(sandbox, "Long answer", max_tokens=2000)
    assert full.startswith(out) and len(out) < len(full)
    ex = history_json("show", "1")["exchanges"][0]
    assert ex["status"] == "interrupted" and ex["reply"] == out


def test_a_prompt_refused_as_too_large_is_not_stored_in_full(sandbox: EmbeddedSandbox) -> None:
    """The sandbox answers 413 over 1 MiB (exit 6); the history keeps the attempt with a short
    head of the prompt, not megabytes per try."""
    big = "x" * (1024 * 1024 + 10)
    res = chat(sandbox, "--yes", "-", input=big)  # over the soft input limit: --yes sends it
    assert res.code == 6, res.stderr
    ex = history_json("show", "1")["exchanges"][0]
    assert ex["status"] == "error" and ex["prompt"].startswith("x" * 4096)
    assert len(ex["prompt"]) < 5000 and "not stored: refused as too large" in ex["prompt"]


# --- waiting for the first token ------------------------------------------------------------------


def _on(terminal: Any, *argv: str) -> int:
    from mscli.app import main

    try:
        main(list(argv), terminal=terminal)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0


def test_a_terminal_shows_a_waiting_line_until_the_first_token(sandbox: EmbeddedSandbox) -> None:
    """Between sending and the first token stderr says so, and the line is erased once text
    arrives: the screen ends with the reply alone."""
    from mscli.terminal import Terminal
    from support.vt import render

    env = {**os.environ, "TERM": "xterm", "MODELSTACK_API_KEY": sandbox.api_key}
    term = Terminal.fake(tty=True, env=env)
    assert _on(term, "--base-url", sandbox.base_url, "chat", "-m", MODEL, "--raw", "Hi") == 0
    err = term.stderr.getvalue()  # type: ignore[attr-defined]
    assert "Waiting for the reply…" in err
    screen = render(err.replace("\n", "\r\n").encode(), 100, 40).text_lines()
    assert not "".join(screen).strip()  # erased again
    assert term.stdout.getvalue().startswith("## Hi")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("tty", "args"),
    [(False, ()), (True, ("--json",))],
    ids=["pipe", "json"],
)
def test_no_waiting_line_in_pipes_or_under_json(
    sandbox: EmbeddedSandbox, tty: bool, args: tuple[str, ...]
) -> None:
    from mscli.terminal import Terminal

    env = {**os.environ, "TERM": "xterm", "MODELSTACK_API_KEY": sandbox.api_key}
    term = Terminal.fake(tty=tty, env=env)
    argv = ["--base-url", sandbox.base_url, "chat", "-m", MODEL, *args, "Hi"]
    assert _on(term, *argv) == 0
    assert "Waiting" not in term.stderr.getvalue()  # type: ignore[attr-defined]
