"""Children are forked from a warm fork parent (forkparent.py): a bot finds what it needs
imported already, and the web stack, which only the frontend uses, is not in it."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from instance import wait_for

WEB_STACK = {"bottle", "waitress", "markdown_it", "nh3", "frontend", "webtest"}
# What the fork parent claims to import for every bot (main.Supervisor._preload, and the
# enabled plugins' bot and db modules through bots.load).
CLAIMED = {"config", "db", "process", "bots", "user", "censor",
           "sqlalchemy.dialects.sqlite.pysqlite", "bots.testnet.bot", "bots.testnet.db"}


def test_bots_start_warm_from_the_fork_parent_without_the_web_stack(make_instance):
    instance = make_instance(extra="report_modules = true\n")
    city = instance.create_city("berlin")
    instance.start()
    files = [instance.data / f"modules-{city}-{account}.json" for account in "ab"]
    wait_for(lambda: all(f.exists() for f in files), 30, what="the bots' module lists")
    for path in files:
        seen = json.loads(path.read_text())
        assert CLAIMED <= set(seen["preloaded"])
        assert not WEB_STACK & set(seen["modules"]), WEB_STACK & set(seen["modules"])
        # What a bot imported itself after its fork: nothing of the core, the database layer
        # or its plugin (the fork parent had those), at most a few modules of the standard
        # library that code paths import late.
        own = [m for m in seen["after_fork"]
               if m.split(".")[0] in {"sqlalchemy", "bots", "db", "user", "censor", "process",
                                      "config", "re2", "argon2"}]
        assert own == [], own
        print(f"\n{path.name}: {len(seen['preloaded'])} modules preloaded, imported after the "
              f"fork: {seen['after_fork']}")


def sleep_forever(ctx):
    """A child's entry point for the test below."""
    import time
    time.sleep(3600)


def test_a_child_forked_after_main_gave_up_its_start_is_killed(tmp_path, monkeypatch):
    """Two processes must never serve one account: a start main gave up on (the fork parent
    answered too late) is ended when its answer comes, not left running unsupervised."""
    import os
    import signal

    import pytest

    import config
    import forkparent
    monkeypatch.setenv("TICKETFREI_DATABASE_URL", f"sqlite:///{tmp_path}/t.sqlite")
    monkeypatch.setenv("TICKETFREI_INSTANCE_DATA_DIR", str(tmp_path))
    lifeline, keep = os.pipe()
    parent = forkparent.ForkParent(config.load(None), ["process"], forkparent.Heartbeats(),
                                   lifeline)
    parent.open()
    try:
        os.kill(parent.proc.pid, signal.SIGSTOP)  # busy: it answers after main's timeout
        ours, theirs = os.pipe()
        with pytest.raises(forkparent.ForkParentGone):
            parent.start("late", "test_forkparent:sleep_forever",
                         dict(name="late", kind="bot", bot={}), 0, [theirs], timeout=0.5)
        os.kill(parent.proc.pid, signal.SIGCONT)
        exits = wait_for(lambda: [v for k, v in parent._replies.items()
                                  if isinstance(k, tuple) and k[0] == "exit"], 10,
                         what="the late child's end")
        assert exits == [-signal.SIGKILL]
        # the next start is answered as usual
        proc = parent.start("next", "test_forkparent:sleep_forever",
                            dict(name="next", kind="bot", bot={}), 1, [theirs])
        assert proc.is_alive()
        proc.kill()
        proc.join(10)
        assert proc.exitcode == -signal.SIGKILL
    finally:
        os.close(keep)  # the lifeline's end: the fork parent exits
        parent.close()


def interpreters_with_immortal_objects() -> list[str]:
    """Python 3.12 and 3.13 on this machine (CPython's immortal objects), e.g. under pyenv."""
    import glob
    import shutil
    found = {}
    for version in ("3.12", "3.13"):
        candidates = [shutil.which(f"python{version}"),
                      *sorted(glob.glob(os.path.expanduser(
                          f"~/.pyenv/versions/{version}*/bin/python{version}")))]
        for path in filter(None, candidates):
            if subprocess.run([path, "-c", "import sys"], capture_output=True).returncode == 0:
                found[version] = path
                break
    return list(found.values())


# Runs in a 3.12/3.13 interpreter: the fork parent's immortalize() with only the standard
# library, then a child that uses the objects (calls, reads, json, sqlite3, a class) and
# reports their reference counts, which must not have moved: the child wrote to none of them.
IMMORTAL_CHECK = r"""
import gc, json, os, sqlite3, sys, weakref
sys.path.insert(0, ROOT)
import forkparent

class Station:
    def __init__(self, name): self.name = name
    def label(self): return "U8 " + self.name

stations = [Station(f"Hermannplatz {n}") for n in range(100)]
table = {"stations": stations, "lines": ["U8", "S41"]}
gone = Station("Wittenau")
ref = weakref.ref(gone)
gc.collect()
made = forkparent.immortalize()
gc.freeze()
del gone
gc.collect()
watched = [stations[0], stations[99], table, table["lines"], Station.label, Station.label.__code__]
before = [sys.getrefcount(o) for o in watched]
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    keep = [s.label() for s in stations] + [dict(table), list(table["lines"]), Station.label]
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE reports (text)")
    db.executemany("INSERT INTO reports VALUES (?)", [(k,) for k in keep if isinstance(k, str)])
    count = db.execute("SELECT count(*) FROM reports").fetchone()[0]
    os.write(w, json.dumps([count, [sys.getrefcount(o) for o in watched]]).encode())
    os._exit(0)
os.close(w)
count, after = json.loads(os.read(r, 65536))
os.waitpid(pid, 0)
print(json.dumps({"made": made, "alive": ref() is not None, "count": count,
                  "before": before, "after": after}))
"""


@pytest.mark.parametrize("python", interpreters_with_immortal_objects() or [None])
def test_fork_parent_objects_are_immortal_so_a_child_writes_to_none_of_them(python):
    if python is None:
        pytest.skip("no Python 3.12 or 3.13 on this machine")
    root = str(Path(__file__).resolve().parent.parent)
    done = subprocess.run([python, "-c", f"ROOT = {root!r}\n" + IMMORTAL_CHECK],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["made"] > 1000      # every module's functions, classes, constants
    assert result["alive"]            # an immortal object outlives its last reference
    assert result["count"] == 100     # the child worked with them as usual
    assert result["after"] == result["before"]  # and changed no reference count


def test_fork_parent_makes_nothing_immortal_where_python_has_no_such_thing():
    import forkparent
    if sys.version_info[:2] in ((3, 12), (3, 13)):
        pytest.skip("this interpreter has immortal objects")
    assert forkparent.immortalize() == 0
