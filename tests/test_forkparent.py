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
