"""docs/operations.md runs: every ``$ headwater ...`` line of it, in order, as a real process,
against the shop demo; so the runbook cannot say what the commands no longer do.

A line's comment may say ``exits N`` (the code it must exit with instead of 0) or ``runs until
stopped`` (started in the background, stopped at the end of its block). Placeholders are
filled from the store as it is when the line runs: ``<RUN_ID>`` the latest pipeline run,
``<SNAPSHOT_ID>`` the parent of raw.web_orders' current snapshot, ``<ARCHIVE>`` a backup path,
``<POSTGRES_URL>`` a fresh PostgreSQL schema. An HTML comment before a block saying the test
removes the home folder does that before running it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from headwater.demo.feed import demo_environment
from headwater.ops.alert_rules import DEFAULT_RULES
from tests.conftest import free_port, fresh_backend

ROOT = Path(__file__).resolve().parents[1]
RUNBOOK = ROOT / "docs" / "operations.md"
WIPE_MARKER = "the test removes the home folder"


@dataclass(frozen=True)
class Step:
    block: int
    line: str
    exits: int
    background: bool
    wipe_first: bool


def steps() -> list[Step]:
    found: list[Step] = []
    block, in_block, wipe = 0, False, False
    for text in RUNBOOK.read_text().splitlines():
        if text.startswith("<!-- runbook:") and WIPE_MARKER in text:
            wipe = True
        elif text.startswith("```console"):
            in_block, block = True, block + 1
        elif text.startswith("```") and in_block:
            in_block, wipe = False, False
        elif in_block and text.startswith("$ "):
            command, _, comment = text[2:].partition("  # ")
            code = re.search(r"exits (\d)", comment)
            first_of_block = not found or found[-1].block != block
            found.append(
                Step(
                    block,
                    command.strip(),
                    int(code.group(1)) if code else 0,
                    "runs until stopped" in comment,
                    wipe and first_of_block,
                )
            )
    return found


def test_every_runbook_command_is_headwater_and_every_alert_has_its_section() -> None:
    text = RUNBOOK.read_text()
    assert steps(), "the runbook has commands"
    for step in steps():
        words = shlex.split(step.line)
        while words and "=" in words[0]:
            words.pop(0)
        assert words[0] == "headwater", step.line
    for rule in DEFAULT_RULES:
        assert f"\n### {rule.name}\n" in text, rule.name
        assert rule.runbook == f"docs/operations.md#{rule.name.lower()}"


class Runbook:
    def __init__(self, tmp_path: Path) -> None:
        self.cwd = tmp_path
        self.home = tmp_path / ".headwater"
        self.port = free_port()
        shutil.copytree(ROOT / "examples" / "shop", tmp_path / "examples" / "shop")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")}
        env.update(
            HEADWATER_HOME=str(self.home),
            HEADWATER_PORT=str(self.port),
            HEADWATER_MIN_FREE_DISK_MB="0",
            COLUMNS="200",
        )
        demo_environment(self.home, env)
        self.env = env
        self.archive = tmp_path / "backups" / "shop.tar.gz"
        self.postgres: str | None = None
        self.background: list[subprocess.Popen[bytes]] = []

    def headwater(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "headwater", *args],
            env={**self.env, **(env or {})},
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=600,
        )

    def value(self, name: str) -> str:
        if name == "RUN_ID":
            runs = json.loads(self.headwater("runs", "list", "--json").stdout)
            return str(runs[0]["run_uuid"])
        if name == "SNAPSHOT_ID":
            history = json.loads(
                self.headwater("table", "history", "raw.web_orders", "--json").stdout
            )
            current = next(e for e in history if e["current"])
            return str(current["parent"] or current["snapshot"])
        if name == "ARCHIVE":
            return str(self.archive)
        if name == "POSTGRES_URL":
            assert self.postgres is not None, "no PostgreSQL schema for the scaling section"
            return self.postgres
        raise AssertionError(f"unknown placeholder <{name}>")

    def words(self, line: str) -> tuple[list[str], dict[str, str]]:
        line = re.sub(r"<([A-Z_]+)>", lambda m: self.value(m.group(1)), line)
        line = line.replace("127.0.0.1:5000", f"127.0.0.1:{self.port}")
        words = shlex.split(line)
        env: dict[str, str] = {}
        while "=" in words[0]:
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        assert words.pop(0) == "headwater"
        return words, env

    def start(self, words: list[str], env: dict[str, str]) -> None:
        log = (self.cwd / f"background-{len(self.background)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "headwater", *words],
            env={**self.env, **env},
            cwd=self.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.background.append(process)
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/health/ready", timeout=5)
                return
            except httpx.HTTPError:
                assert process.poll() is None, f"{words} stopped: {log.name}"
                assert time.monotonic() < deadline, f"{words} did not start"
                time.sleep(0.2)

    def stop_background(self) -> None:
        for process in self.background:
            process.terminate()
            process.wait(timeout=60)
        self.background.clear()


@pytest.fixture
def runbook(tmp_path: Path) -> Iterator[Runbook]:
    book = Runbook(tmp_path)
    try:
        with fresh_backend("postgresql", tmp_path, migrated=False) as postgres:
            book.postgres = postgres.url
            yield book
    finally:
        book.stop_background()


@pytest.mark.slow
def test_the_runbook_runs(runbook: Runbook) -> None:
    block = 0
    for step in steps():
        if step.block != block:
            runbook.stop_background()  # what a block started ends with it
            block = step.block
        if step.wipe_first:
            shutil.rmtree(runbook.home)
        words, env = runbook.words(step.line)
        if step.background:
            runbook.start(words, env)
            continue
        result = runbook.headwater(*words, env=env)
        assert result.returncode == step.exits, (
            f"$ {step.line}\nexit {result.returncode}, expected {step.exits}\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
        assert "Traceback" not in result.stderr, f"$ {step.line}\n{result.stderr}"
