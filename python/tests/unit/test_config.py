"""Tests of tegu.config, the dask.config-shaped view of the engine's configuration."""

import math
import os

import pytest

import tegu
import tegu.config
from tegu import _tegu


@pytest.fixture(autouse=True)
def clean_config(tmp_path, monkeypatch):
    # A fresh HOME and no TEGU_* variables, so the machine's own configuration cannot leak in.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in list(os.environ):
        if name.startswith("TEGU_"):
            monkeypatch.delenv(name)
    tegu.config.refresh()
    yield monkeypatch
    monkeypatch.undo()
    tegu.config.refresh()


def test_defaults():
    assert tegu.config.get("optimization.fuse.active") is True
    assert tegu.config.get("optimization.inline.active") is True
    assert tegu.config.get("visualization.engine") == "graphviz"
    assert tegu.config.get("scheduler") is None
    assert tegu.config.get("num-workers") is None
    assert tegu.config.get("optimization") == {"fuse": {"active": True}, "inline": {"active": True}}


def test_get_missing_key():
    with pytest.raises(KeyError):
        tegu.config.get("no-such-key")
    with pytest.raises(KeyError):
        tegu.config.get("optimization.fuse.active.deeper")
    assert tegu.config.get("no-such-key", 123) == 123
    assert tegu.config.get("no-such-key", None) is None
    # A key that holds None is present: the default does not apply.
    assert tegu.config.get("scheduler", "sync") is None


def test_override_with():
    assert tegu.config.get("scheduler", override_with="threads") == "threads"
    assert tegu.config.get("visualization.engine", override_with=None) == "graphviz"
    assert tegu.config.get("no-such-key", override_with=3) == 3


def test_set_globally():
    tegu.config.set(scheduler="threads")
    assert tegu.config.get("scheduler") == "threads"
    # The engine sees it too.
    assert _tegu._config_get_json("scheduler") == '"threads"'
    tegu.config.refresh()
    assert tegu.config.get("scheduler") is None


def test_set_as_context_manager():
    with tegu.config.set(scheduler="sync") as cfg:
        assert tegu.config.get("scheduler") == "sync"
        assert cfg["scheduler"] == "sync"
    assert tegu.config.get("scheduler") is None


def test_set_nested_dotted_keys():
    with tegu.config.set({"optimization.fuse.active": False}):
        assert tegu.config.get("optimization.fuse.active") is False
        assert tegu.config.get("optimization.inline.active") is True
    assert tegu.config.get("optimization.fuse.active") is True


def test_set_double_underscore_kwargs():
    with tegu.config.set(optimization__fuse__active=False, visualization__engine="cytoscape"):
        assert tegu.config.get("optimization.fuse.active") is False
        assert tegu.config.get("visualization.engine") == "cytoscape"
    assert tegu.config.get("optimization.fuse.active") is True
    assert tegu.config.get("visualization.engine") == "graphviz"


def test_underscore_and_hyphen_are_equivalent():
    with tegu.config.set(num_workers=4, temporary_directory="/scratch"):
        assert tegu.config.get("num-workers") == 4
        assert tegu.config.get("num_workers") == 4
        assert tegu.config.get("temporary-directory") == "/scratch"
        assert "num_workers" not in tegu.config.to_dict()
    assert tegu.config.get("num_workers") is None


def test_exit_removes_keys_that_did_not_exist():
    with tegu.config.set({"new.deeply.nested": 1, "optimization.new-key": [1, 2]}):
        assert tegu.config.get("new") == {"deeply": {"nested": 1}}
        assert tegu.config.get("optimization.new-key") == [1, 2]
    with pytest.raises(KeyError):
        tegu.config.get("new")
    with pytest.raises(KeyError):
        tegu.config.get("optimization.new-key")
    assert tegu.config.get("optimization") == {"fuse": {"active": True}, "inline": {"active": True}}


def test_exit_restores_exact_previous_values():
    tegu.config.set({"my-module": {"sizes": [1, 2], "name": "x"}})
    before = tegu.config.to_dict()
    changes = {"my-module.sizes": "big", "my-module.extra": None, "scheduler.address": "tcp://h:1"}
    with tegu.config.set(changes):
        assert tegu.config.get("my-module.sizes") == "big"
        assert tegu.config.get("my-module.extra") is None
        # A None value (scheduler) becomes a mapping when a key is set below it.
        assert tegu.config.get("scheduler") == {"address": "tcp://h:1"}
    assert tegu.config.to_dict() == before
    assert tegu.config.get("scheduler") is None


def test_nested_contexts_and_repeated_keys():
    with tegu.config.set(scheduler="a"):
        with tegu.config.set({"scheduler": "b"}, scheduler="c"):
            assert tegu.config.get("scheduler") == "c"
        assert tegu.config.get("scheduler") == "a"
    assert tegu.config.get("scheduler") is None


def test_failed_set_changes_nothing():
    with pytest.raises(ValueError, match="visualization.engine"):
        tegu.config.set({"scheduler": "threads", "visualization.engine.deeper": 1})
    assert tegu.config.get("scheduler") is None
    assert tegu.config.get("visualization.engine") == "graphviz"


def test_environment_variables_and_refresh(clean_config):
    clean_config.setenv("TEGU_SCHEDULER", "threads")
    clean_config.setenv("TEGU_OPTIMIZATION__FUSE__ACTIVE", "false")
    clean_config.setenv("TEGU_NUM_WORKERS", "4")
    clean_config.setenv("TEGU_MY_MODULE__RATIO", "1.5")
    clean_config.setenv("TEGU_MY_MODULE__LIST", "[1, 2]")
    clean_config.setenv("TEGU_MY_MODULE__WORDS", "hello world")
    assert tegu.config.get("scheduler") is None  # not read until refresh
    tegu.config.refresh()
    assert tegu.config.get("scheduler") == "threads"
    assert tegu.config.get("optimization.fuse.active") is False
    assert tegu.config.get("optimization.inline.active") is True
    assert tegu.config.get("num_workers") == 4
    assert tegu.config.get("my-module") == {"ratio": 1.5, "list": [1, 2], "words": "hello world"}


def test_yaml_file_from_tegu_config(tmp_path, clean_config):
    path = tmp_path / "tegu.yaml"
    path.write_text(
        "scheduler: sync\n"
        "optimization:\n"
        "  inline:\n"
        "    active: false\n"
        "my_module:\n"
        "  quoted: 'true'\n"
        "  sizes: [1, 2.5]\n"
    )
    clean_config.setenv("TEGU_CONFIG", str(path))
    tegu.config.refresh()
    assert tegu.config.load_warnings() == []
    assert tegu.config.get("scheduler") == "sync"
    assert tegu.config.get("optimization.inline.active") is False
    assert tegu.config.get("optimization.fuse.active") is True
    assert tegu.config.get("my-module") == {"quoted": "true", "sizes": [1, 2.5]}
    # Environment variables win over files.
    clean_config.setenv("TEGU_SCHEDULER", "threads")
    tegu.config.refresh()
    assert tegu.config.get("scheduler") == "threads"


def test_yaml_directory_and_malformed_file(tmp_path, clean_config):
    conf = tmp_path / "conf.d"
    conf.mkdir()
    (conf / "a.yaml").write_text("scheduler: sync\nnum-workers: 2\n")
    (conf / "b.yml").write_text("scheduler: processes\n")
    (conf / "c-bad.yaml").write_text("visualization:\n  engine: x\nkey: : broken\n")
    clean_config.setenv("TEGU_CONFIG", str(conf))
    tegu.config.refresh()
    assert tegu.config.get("scheduler") == "processes"
    assert tegu.config.get("num-workers") == 2
    assert tegu.config.get("visualization.engine") == "graphviz"
    (warning,) = tegu.config.load_warnings()
    assert "c-bad.yaml:3" in warning


def test_home_config_directory(tmp_path):
    conf = tmp_path / "home" / ".config" / "tegu"
    conf.mkdir(parents=True)
    (conf / "tegu.yaml").write_text("scheduler: sync\n")
    tegu.config.refresh()
    assert tegu.config.get("scheduler") == "sync"


def test_non_json_values():
    class Client:
        pass

    client = Client()
    with tegu.config.set(scheduler=client, my_module={"fn": len, "n": 1}):
        assert tegu.config.get("scheduler") is client
        assert tegu.config.get("my-module.fn") is len
        assert tegu.config.get("my-module.n") == 1
        assert tegu.config.to_dict()["scheduler"] is client
        # The engine sees a marker, not a value it could misread.
        assert "__tegu_pyobject__" in _tegu._config_get_json("scheduler")
    assert tegu.config.get("scheduler") is None

    with tegu.config.set(ratio=float("nan"), pairs={(1, 2): "x"}):
        assert math.isnan(tegu.config.get("ratio"))
        assert tegu.config.get("pairs") == {(1, 2): "x"}

    # Restoring a previous non-JSON value gives back the same object.
    tegu.config.set(scheduler=client)
    with tegu.config.set(scheduler="threads"):
        assert tegu.config.get("scheduler") == "threads"
    assert tegu.config.get("scheduler") is client


def test_update_defaults():
    tegu.config.update_defaults({"test_py_module": {"a": 1, "b": 2}})
    assert tegu.config.get("test-py-module") == {"a": 1, "b": 2}
    tegu.config.set({"test-py-module.b": 5})
    tegu.config.update_defaults({"test-py-module": {"a": 10, "b": 20}})
    # a still held its default and follows the new one; b was chosen and stays.
    assert tegu.config.get("test-py-module") == {"a": 10, "b": 5}
    tegu.config.refresh()
    assert tegu.config.get("test-py-module") == {"a": 10, "b": 20}
    with pytest.raises(TypeError):
        tegu.config.update_defaults([1, 2])


def test_config_attribute():
    with tegu.config.set(scheduler="sync"):
        assert tegu.config.config["scheduler"] == "sync"
        assert tegu.config.config == tegu.config.to_dict()
    with pytest.raises(AttributeError):
        tegu.config.no_such_attribute


def test_invalid_json_from_binding():
    with pytest.raises(ValueError, match="scheduler"):
        _tegu._config_set_json("scheduler", "{not json")
