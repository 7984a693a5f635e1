"""Children are forked from a warm fork parent (forkparent.py): a bot finds what it needs
imported already, and the web stack, which only the frontend uses, is not in it."""
import json

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
