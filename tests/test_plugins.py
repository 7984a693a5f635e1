"""Plugin discovery: a network is one directory; a broken one is named, not half-loaded."""
import subprocess
import sys

import bots
from instance import MAIN


def check_config(plugin_dir, tmp_path):
    return subprocess.run([sys.executable, str(MAIN), "check-config"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "TICKETFREI_PLUGINS_DIRS": str(plugin_dir)})


def test_plugins_are_found_by_directory_in_extra_dirs(tmp_path):
    from instance import TEST_PLUGINS
    plugins = bots.discover([TEST_PLUGINS])
    assert plugins["testnet"].name == "testnet"
    assert bots.has_module("testnet", "webui.py")
    assert not bots.has_module("testnet", "service.py")


def test_plugin_without_a_bot_class_is_named_in_the_error(tmp_path):
    (tmp_path / "plugins" / "brokennet").mkdir(parents=True)
    (tmp_path / "plugins" / "brokennet" / "__init__.py").write_text("")
    (tmp_path / "plugins" / "brokennet" / "bot.py").write_text("x = 1\n")
    result = check_config(tmp_path / "plugins", tmp_path)
    assert result.returncode == 2
    assert "plugin brokennet" in result.stderr and "exactly one Bot subclass" in result.stderr


def test_plugin_that_fails_to_import_is_named_in_the_error(tmp_path):
    (tmp_path / "plugins" / "crashnet").mkdir(parents=True)
    (tmp_path / "plugins" / "crashnet" / "__init__.py").write_text("")
    (tmp_path / "plugins" / "crashnet" / "bot.py").write_text("import no_such_module\n")
    result = check_config(tmp_path / "plugins", tmp_path)
    assert result.returncode == 2 and "plugin crashnet" in result.stderr


def test_plugin_name_must_be_lower_case_letters_and_digits(tmp_path):
    (tmp_path / "plugins" / "Bad_Name").mkdir(parents=True)
    (tmp_path / "plugins" / "Bad_Name" / "bot.py").write_text("")
    result = check_config(tmp_path / "plugins", tmp_path)
    assert result.returncode == 2 and "lower-case" in result.stderr
