"""The admin commands: cities can be created, listed, enabled and disabled before a web UI."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from instance import wait_for


def test_city_create_list_disable_enable(make_instance):
    instance = make_instance()
    out = instance.cli("city", "create", "berlin", "--email", "orga@berlin.example",
                       "--password-stdin", input="a good password\n").stdout
    assert "created city berlin" in out and "password:" not in out
    instance.cli("city", "create", "hamburg", "--email", "orga@hamburg.example")
    cities = json.loads(instance.cli("city", "list", "--json").stdout)
    assert [(c["name"], c["enabled"]) for c in cities] == [("berlin", True), ("hamburg", True)]
    instance.cli("city", "disable", "hamburg")
    assert "hamburg\tdisabled" in instance.cli("city", "list").stdout
    instance.cli("city", "enable", "hamburg")
    assert "hamburg\tenabled" in instance.cli("city", "list").stdout


def test_generated_password_is_printed_once(make_instance):
    instance = make_instance()
    out = instance.cli("city", "create", "koeln", "--email", "orga@koeln.example").stdout
    assert "password: " in out


def test_new_city_gets_version_2_default_lists_with_whole_words_for_short_tokens(
        make_instance):
    instance = make_instance()
    city = instance.create_city("leipzig")
    patterns = instance.sql("SELECT patterns FROM triggerpatterns t JOIN cities c "
                            "ON c.user_id = t.user_id WHERE c.id = :c", c=city)[0][0]
    assert patterns.splitlines()[0] == "kontroll?e"
    assert {r"\bdb\b", r"\bs\d", r"\bu\d\d?\b"} <= set(patterns.splitlines())
    assert instance.sql("SELECT words FROM badwords")[0][0] == "bastard"


def test_taken_city_name_is_refused(make_instance):
    instance = make_instance()
    instance.create_city("berlin")
    result = instance.cli("city", "create", "Berlin", "--email", "other@x.example",
                          "--password-stdin", input="a good password\n", check=False)
    assert result.returncode == 1 and "is on this instance already" in result.stderr


def test_bad_city_name_or_email_is_refused(make_instance):
    instance = make_instance()
    for name, email in [("Ber lin", "a@b.example"), ("<script>", "a@b.example"),
                        ("berlin", "not-an-address")]:
        result = instance.cli("city", "create", name, "--email", email, "--password-stdin",
                              input="a good password\n", check=False)
        assert result.returncode == 1, (name, email)
    assert instance.cli("city", "list").stdout == ""


def test_unknown_city_cannot_be_disabled(make_instance):
    result = make_instance().cli("city", "disable", "atlantis", check=False)
    assert result.returncode == 1 and "no city atlantis" in result.stderr


def test_status_without_a_running_instance_says_so(make_instance):
    instance = make_instance()
    assert "nothing is running" in instance.cli("status").stdout
    assert json.loads(instance.cli("status", "--json").stdout) == []


def test_status_lists_every_process(make_instance):
    instance = make_instance()
    instance.create_city("berlin")
    instance.start()
    wait_for(lambda: "berlin/testnet:b" in instance.running_names(), 20, what="the bots")
    table = instance.cli("status").stdout.splitlines()
    assert table[0].split() == ["name", "city", "network", "account", "pid", "state",
                                "restarts", "last_error", "last_activity"]
    assert any(line.startswith("berlin/testnet:a") and " running " in line for line in table)
    rows = instance.status()
    assert {"name", "city", "network", "account", "pid", "state", "restarts", "last_error",
            "last_activity"} <= set(rows[0])


def test_second_instance_on_the_same_data_is_refused(make_instance):
    instance = make_instance()
    instance.start()
    result = instance.cli("run", check=False)
    assert result.returncode == 1 and "another instance runs" in result.stderr


def test_pip_install_gives_a_ticketfrei_command():
    command = Path(sys.executable).parent / "ticketfrei"
    if not command.exists():
        if os.environ.get("CI"):
            pytest.fail("the ticketfrei command is missing: pip install -e . provides it")
        pytest.skip("not run from an installed environment")
    result = subprocess.run([str(command), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "check-config" in result.stdout


def test_every_top_level_module_is_packaged():
    import tomllib

    from instance import ROOT

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["py-modules"])
    assert listed == {path.stem for path in ROOT.glob("*.py")}
