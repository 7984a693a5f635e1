"""The plugin guide (bots/README.md) is the contract: every name it shows exists, with the
parameters it shows, and a plugin that overrides a method of the contract with other
parameters is refused at start with a message naming it."""
import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

import bots

GUIDE = Path(__file__).resolve().parent.parent / "bots" / "README.md"


def reference_lines() -> list[str]:
    text = GUIDE.read_text()
    block = text.split("## Reference", 1)[1].split("```", 2)[1]
    return [line.strip() for line in block.splitlines() if line.strip()]


def resolve(dotted: str):
    module_name, *attributes = dotted.split(".")
    value = importlib.import_module(module_name)
    owner = None
    for attribute in attributes:
        owner, value = value, getattr(value, attribute)
    return owner, value


def shown_parameters(text: str) -> list[tuple[str, object]]:
    """'a, b=None, *args, **values' as [(name, default or inspect.Parameter.empty)]."""
    empty = inspect.Parameter.empty
    args = ast.parse(f"def f({text}): pass").body[0].args
    positional = args.posonlyargs + args.args
    defaults = [empty] * (len(positional) - len(args.defaults)) + args.defaults
    params = [(a.arg, d if d is empty else ast.literal_eval(d))
              for a, d in zip(positional, defaults)]
    if args.vararg:
        params.append(("*args", empty))
    params += [(a.arg, empty if d is None else ast.literal_eval(d))
               for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    if args.kwarg:
        params.append(("**values", empty))
    return params


def real_parameters(value) -> list[tuple[str, object]]:
    names = []
    for parameter in inspect.signature(value).parameters.values():
        if parameter.kind is parameter.VAR_POSITIONAL:
            names.append(("*args", inspect.Parameter.empty))
        elif parameter.kind is parameter.VAR_KEYWORD:
            names.append(("**values", inspect.Parameter.empty))
        else:
            names.append((parameter.name, parameter.default))
    return names


@pytest.mark.parametrize("line", reference_lines())
def test_every_name_the_guide_shows_exists_with_its_parameters(line):
    match = re.fullmatch(r"([\w.]+)(?:\((.*)\))?", line)
    assert match, f"the guide's reference line {line!r} is not `name(parameters)`"
    dotted, shown = match.groups()
    owner, value = resolve(dotted)
    if shown is None:
        return  # a name (a constant, a class, a module's object): it exists
    expected = shown_parameters(shown)
    if expected and expected[0][0] in ("cls", "self"):
        kind = expected.pop(0)[0]
        raw = owner.__dict__[dotted.rsplit(".", 1)[1]]
        assert isinstance(raw, classmethod) == (kind == "cls"), \
            f"{dotted} is {'not ' if kind == 'cls' else ''}a classmethod, the guide says otherwise"
        value = getattr(owner, dotted.rsplit(".", 1)[1]) if kind == "cls" else raw
        actual = real_parameters(value)
        if kind == "self":
            actual = actual[1:]
    elif isinstance(value, type) and issubclass(value, BaseException) and "__init__" not in vars(value):
        actual = [("*args", inspect.Parameter.empty)]  # takes what Exception takes
    else:
        actual = real_parameters(value)
    assert actual == expected, f"{dotted}: the guide shows {expected}, the code has {actual}"


def test_every_module_name_in_the_guides_text_exists():
    """Names such as `frontend.check_csrf()` or `db.SET_ASIDE_AFTER` in the prose too."""
    text = GUIDE.read_text()
    names = set(re.findall(r"`((?:bots|frontend|db|process|config|user)\.[A-Za-z_][\w.]*)", text))
    assert names
    for dotted in sorted(names):
        resolve(dotted.rstrip("."))


def test_every_method_of_the_contract_is_in_the_reference():
    shown = {line.split("(")[0] for line in reference_lines()}
    for name, value in vars(bots.Bot).items():
        if name.startswith("_") and name != "__init__" or name in ("run",):
            continue
        if callable(value) or isinstance(value, classmethod):
            assert f"bots.Bot.{name}" in shown, f"Bot.{name} is public but not in the guide"


def plugin_dir(tmp_path, name: str, body: str):
    """A plugin directory with one Bot subclass of `body` (its methods)."""
    plugin = tmp_path / name
    plugin.mkdir()
    (plugin / "__init__.py").write_text("")
    (plugin / "bot.py").write_text(f"from bots import Bot\n\n\nclass {name.title()}Bot(Bot):\n{body}")
    return tmp_path


BROKEN_PLUGINS = {
    # before contract 1.0: recv_messages took no watermark
    "oldstyle": ("    def recv_messages(self):\n        return []\n",
                 r"oldstyle.*recv_messages.*watermark"),
    # accounts is a classmethod: main and the censor call it on the class
    "wrongkind": ("    def accounts(self, session, city_id=None):\n        return []\n",
                  r"wrongkind.*accounts.*classmethod"),
    # a name of the run loop's own state, silently replaced
    "clashing": ("    @classmethod\n    def accounts(cls, session, city_id=None):\n"
                 "        return []\n\n"
                 "    @classmethod\n    def deactivate(cls, session, account, reason):\n"
                 "        pass\n\n"
                 "    @classmethod\n    def forget_city(cls, session, city_id, user_id):\n"
                 "        pass\n\n"
                 "    def _watermark(self):\n        return None\n", r"clashing.*_watermark"),
    # without forget_city a deleted city's rows would stay, and nobody would notice
    "forgetful": ("    @classmethod\n    def accounts(cls, session, city_id=None):\n"
                  "        return []\n\n"
                  "    @classmethod\n    def deactivate(cls, session, account, reason):\n"
                  "        pass\n", r"forgetful.*forget_city"),
}


@pytest.mark.parametrize("name", BROKEN_PLUGINS)
def test_a_plugin_breaking_the_contract_is_refused_at_start_naming_it(tmp_path, name):
    body, message = BROKEN_PLUGINS[name]
    with pytest.raises(bots.PluginError, match=message):
        bots.discover([plugin_dir(tmp_path, name, body)])


GOOD_PLUGINS = {
    # methods that do not need self, and extra optional parameters
    "statics": "    @classmethod\n    def accounts(cls, session, city_id=None, extra=None):\n"
               "        return []\n\n"
               "    @staticmethod\n    def deactivate(session, account, reason):\n        pass\n\n"
               "    @classmethod\n    def forget_city(cls, session, city_id, user_id):\n"
               "        pass\n\n"
               "    @staticmethod\n    def message_id(message):\n        return str(message)\n\n"
               "    @classmethod\n    def watermark(cls, message, *rest):\n        return None\n",
}


@pytest.mark.parametrize("name", GOOD_PLUGINS)
def test_a_plugin_keeping_the_contract_in_its_own_way_is_accepted(tmp_path, name):
    assert name in bots.discover([plugin_dir(tmp_path, name, GOOD_PLUGINS[name])])


def test_a_plugin_with_a_base_class_of_its_own_is_accepted(tmp_path):
    body = ("    @classmethod\n    def accounts(cls, session, city_id=None):\n        return []\n\n"
            "    @classmethod\n    def deactivate(cls, session, account, reason):\n        pass\n\n"
            "    @classmethod\n    def forget_city(cls, session, city_id, user_id):\n        pass\n\n\n"
            "class OwnbaseLeafBot(OwnbaseBot):\n    poll_interval = 30.0\n")
    plugins = bots.discover([plugin_dir(tmp_path, "ownbase", body)])
    assert plugins["ownbase"].__name__ == "OwnbaseLeafBot"
