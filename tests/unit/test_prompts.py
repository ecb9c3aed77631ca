from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.pipeline.prompts import REQUIRED, PromptSet, default_prompts_dir


def test_shipped_prompts_load_and_render() -> None:
    prompts = PromptSet.load()
    assert set(prompts.templates) == set(REQUIRED)
    text = prompts.render("recap", words=140, paragraphs="deux paragraphes")
    assert "140" in text and "{" not in text
    assert len(prompts.version) == 12


def test_version_changes_with_any_prompt(tmp_path: Path) -> None:
    copy = tmp_path / "fr"
    shutil.copytree(default_prompts_dir(), copy)
    before = PromptSet.load(copy).version
    (copy / "pessimiste.md").write_text("Sois bref : {words} mots.", encoding="utf-8")
    assert PromptSet.load(copy).version != before


def test_missing_or_broken_prompt_is_named(tmp_path: Path) -> None:
    copy = tmp_path / "fr"
    shutil.copytree(default_prompts_dir(), copy)
    (copy / "exemple.md").unlink()
    with pytest.raises(ValueError, match=r"exemple\.md"):
        PromptSet.load(copy)
    shutil.copy(default_prompts_dir() / "exemple.md", copy / "exemple.md")
    (copy / "neutre.md").write_text("{mots inconnus}", encoding="utf-8")
    with pytest.raises(ValueError, match=r"neutre\.md"):
        PromptSet.load(copy)
