"""The generated files (completions/, man/mscli.1, README regions) match the app: no drift."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
import typer.main

from mscli import devtools
from mscli.app import app
from mscli.devtools import apptree, manpage, readme
from mscli.envvars import ENV_VARS
from mscli.exit_codes import EXIT_CODE_DOCS

ROOT = Path(__file__).resolve().parents[2]
FIX = f"Regenerate with `{devtools.REGENERATE}` (from the checkout) and commit the result."


def _expected() -> dict[str, str]:
    return devtools.render(devtools.TARGETS, ROOT)


@pytest.mark.parametrize(
    "rel",
    [
        "completions/mscli.bash",
        "completions/_mscli",
        "completions/mscli.fish",
        "completions/mscli.ps1",
        devtools.MAN_PATH,
        devtools.README_PATH,
    ],
)
def test_committed_file_matches_the_app(rel: str) -> None:
    expected = _expected()
    assert rel in expected, f"{rel} is not generated any more; {FIX}"
    path = ROOT / rel
    assert path.is_file(), f"{rel} is missing. {FIX}"
    current = path.read_text(encoding="utf-8")
    if current != expected[rel]:
        diff = "".join(
            list(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    expected[rel].splitlines(keepends=True),
                    f"{rel} (committed)",
                    f"{rel} (from the app)",
                )
            )[:40]
        )
        pytest.fail(f"{rel} has drifted from the app. {FIX}\n{diff}")


def test_every_generated_file_is_checked() -> None:
    stale = devtools.differences(_expected(), ROOT)
    assert stale == [], f"out of date: {', '.join(stale)}. {FIX}"


def test_check_mode_lists_stale_files_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    assert devtools.main(["man", "--check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert devtools.MAN_PATH in err and devtools.REGENERATE in err
    assert not (tmp_path / devtools.MAN_PATH).exists()  # --check writes nothing
    assert devtools.main(["man", "--root", str(tmp_path)]) == 0
    assert devtools.main(["man", "--check", "--root", str(tmp_path)]) == 0


def test_readme_without_markers_is_left_alone_and_regions_go_to_a_side_file(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# mscli\n\nProse only.\n")
    out = devtools.render(["readme"], tmp_path)
    assert out["README.md"] == "# mscli\n\nProse only.\n"
    side = out[devtools.README_FALLBACK]
    for name in devtools.README_REGIONS:
        assert f"<!-- BEGIN GENERATED:{name} -->" in side


def test_readme_regions_replace_only_between_markers(tmp_path: Path) -> None:
    text = "intro\n<!-- BEGIN GENERATED:exit-codes -->\nold\n<!-- END GENERATED:exit-codes -->\noutro\n"
    (tmp_path / "README.md").write_text(text)
    out = devtools.render(["readme"], tmp_path)["README.md"]
    assert out.startswith("intro\n<!-- BEGIN GENERATED:exit-codes -->\n| Code | Meaning |")
    assert out.endswith("<!-- END GENERATED:exit-codes -->\noutro\n")
    assert "old" not in out


def _click_tree() -> list[tuple[list[str], object]]:
    root = typer.main.get_command(app)
    out: list[tuple[list[str], object]] = []

    def walk(cmd: object, path: list[str], ctx: typer.Context) -> None:
        out.append((path, cmd))
        if hasattr(cmd, "list_commands"):
            for name in cmd.list_commands(ctx):  # type: ignore[attr-defined]
                sub = cmd.get_command(ctx, name)  # type: ignore[attr-defined]
                if sub is not None and not sub.hidden:
                    walk(sub, [*path, name], typer.Context(sub, info_name=name, parent=ctx))

    walk(root, ["mscli"], typer.Context(root, info_name="mscli"))
    return out


def test_man_page_has_every_command_option_and_table_row() -> None:
    man = manpage.render_man()
    for path, cmd in _click_tree():
        if len(path) > 1:
            assert f".SS {' '.join(path)}".replace("-", "\\-") in man, path
        for param in cmd.params:  # type: ignore[attr-defined]
            if getattr(param, "hidden", False):
                continue
            for opt in param.opts if param.param_type_name == "option" else []:
                assert f"\\fB{opt.replace('-', chr(92) + '-')}\\fR" in man, (path, opt)
    for code in EXIT_CODE_DOCS:
        assert f".TP\n\\fB{int(code)}\\fR\n" in man
    for var in ENV_VARS:
        assert var.name.split(" / ")[0] in man
    for section in (
        "NAME",
        "SYNOPSIS",
        "GLOBAL OPTIONS",
        "COMMANDS",
        "ENVIRONMENT",
        "FILES",
        "EXIT STATUS",
        "EXAMPLES",
    ):
        assert f".SH {section}\n" in man


def test_readme_regions_come_from_the_same_tables() -> None:
    regions = readme.readme_regions()
    for code, text in EXIT_CODE_DOCS.items():
        assert f"| {int(code)} | {readme._cell(text)} |" in regions["exit-codes"]
    for var in ENV_VARS:
        assert f"`{var.name.split(' / ')[0]}`" in regions["env-vars"]
    for path, _cmd in _click_tree()[1:]:
        assert f"| `{' '.join(path)}" in regions["commands"], path


def test_session_commands_are_documented_from_the_session_table() -> None:
    from mscli.chat.session import COMMANDS, LITERAL_SLASH

    region = readme.readme_regions()["session-commands"]
    man = manpage.render_man()
    section = man[man.index(".SH SESSION COMMANDS\n") : man.index(".SH ENVIRONMENT\n")]
    committed = (ROOT / devtools.README_PATH).read_text(encoding="utf-8")
    assert "<!-- BEGIN GENERATED:session-commands -->\n" + region in committed
    for c in COMMANDS:
        assert f"| `{c.usage}` | {readme._cell(c.summary)} |" in region
        assert f".TP\n\\fB{c.name}\\fR" in section
        for alias in c.aliases:
            assert alias in region and alias in section
    assert LITERAL_SLASH in region and LITERAL_SLASH in section


def test_files_table_names_the_input_history_and_the_gateway_notes() -> None:
    files = readme.readme_regions()["files"]
    man = manpage.render_man()
    for linux, mac in (
        ("~/.local/share/mscli/chat_input_history", "~/Library/Application Support/mscli/"),
        ("~/.cache/mscli/gateways.json", "~/Library/Caches/mscli/gateways.json"),
    ):
        assert f"| `{linux}` |" in files and mac in files
        assert f"\\fI{linux}\\fR" in man


def test_files_section_uses_home_placeholders_not_this_machine() -> None:
    man = manpage.render_man()
    assert "~/.config/mscli/config.toml" in man
    assert "~/.cache/mscli/models" in man
    assert str(Path.home()) not in man


def test_examples_use_only_commands_and_options_the_app_has() -> None:
    assert manpage.example_problems() == [], "edit manpage.EXAMPLES to match the app"


def test_example_checker_catches_unknown_commands_and_options() -> None:
    tree = apptree.command_tree()
    assert manpage._example_problem(tree, "mscli nosuchcommand") is not None
    assert manpage._example_problem(tree, "mscli models --no-such-option") is not None
    assert manpage._example_problem(tree, "mscli --profile work models --ids | head") is None


def test_side_file_is_removed_once_every_region_has_markers(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "README.md").write_text("# mscli\n")
    assert devtools.main(["readme", "--root", str(tmp_path)]) == 0
    side = tmp_path / devtools.README_FALLBACK
    assert side.is_file()
    (tmp_path / "README.md").write_text(
        "".join(
            f"<!-- BEGIN GENERATED:{n} -->\n<!-- END GENERATED:{n} -->\n"
            for n in devtools.README_REGIONS
        )
    )
    assert devtools.main(["readme", "--check", "--root", str(tmp_path)]) == 1
    assert devtools.main(["readme", "--root", str(tmp_path)]) == 0
    assert not side.exists()
    assert devtools.main(["readme", "--check", "--root", str(tmp_path)]) == 0
