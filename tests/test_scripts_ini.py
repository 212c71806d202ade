"""The one INI loader of the console scripts: what pserve reads, or one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from loginsite.scripts.ini import ConfigFileError, load_ini


def test_reads_the_app_section_with_here_interpolated(tmp_path: Path) -> None:
    path = tmp_path / "app.ini"
    path.write_text("[app:main]\nuse = egg:loginsite\nloginsite.x = %(here)s/var\n")
    assert load_ini(str(path))["loginsite.x"] == f"{tmp_path}/var"


def test_another_section_by_name(tmp_path: Path) -> None:
    path = tmp_path / "app.ini"
    path.write_text("[app:other]\nuse = egg:loginsite\nloginsite.x = 1\n")
    assert load_ini(str(path), "other")["loginsite.x"] == "1"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "cannot read {path}: no such file"),
        ("not an ini file", "cannot load [app:main] from {path}"),
        ("[app:other]\nuse = egg:loginsite\n", "cannot load [app:main] from {path}"),
        ("[app:main]\nuse = egg:loginsite\nx = %(nope)s\n", "nope"),
        ("[app:main]\nuse = egg:no-such-package-here\n", "no-such-package-here"),
    ],
)
def test_every_failure_is_one_error_naming_the_file(
    tmp_path: Path, content: str | None, words: str
) -> None:
    path = tmp_path / "app.ini"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigFileError) as info:
        load_ini(str(path))
    assert words.format(path=path) in str(info.value)
    assert "\n" not in str(info.value)


def test_the_three_scripts_share_it() -> None:
    from loginsite.scripts import check, devsetup, revoke

    for script in (check, devsetup, revoke):
        assert script.load_ini is load_ini
