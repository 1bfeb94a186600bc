"""Listed modules load loudly: a module listed for methods or sub-commands that is missing or fails to
import is an error naming it, never a silent skip."""

from __future__ import annotations

import pytest

from attriflow import cli
from attriflow.attribution import get_method, list_methods, registry
from attriflow.plugins import PluginError

from .conftest import plant


def test_a_missing_listed_method_module_is_an_error_naming_it(monkeypatch):
    monkeypatch.setattr(registry, "PLUGIN_MODULES", ("attriflow.no_such_methods",))
    with pytest.raises(PluginError, match=r"attriflow\.no_such_methods.*PLUGIN_MODULES.*ModuleNotFoundError"):
        list_methods()
    with pytest.raises(PluginError, match="attriflow.no_such_methods"):  # and again: not marked loaded
        get_method("not_registered_anywhere")


def test_a_listed_module_that_raises_is_an_error_naming_it_and_the_cause(tmp_path, monkeypatch):
    plant(tmp_path, "planted-listed", {"planted_listed": "raise RuntimeError('half-written module')\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "PLUGIN_MODULES", ("planted_listed",))
    with pytest.raises(PluginError, match=r"planted_listed.*RuntimeError: half-written module"):
        list_methods()


def test_a_listed_module_registers_its_methods(tmp_path, monkeypatch):
    plant(tmp_path, "planted-good", {"planted_good": '''
        from attriflow.attribution import register_method

        @register_method("planted_twice_gradient", description="2 x gradient")
        def twice(model, x, target):
            from attriflow.attribution import input_gradient
            return 2 * input_gradient(model, x, target)
    '''})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "PLUGIN_MODULES", ("planted_good",))
    assert "planted_twice_gradient" in list_methods()


def test_built_in_methods_need_no_listed_module(monkeypatch):
    """A built-in name is found without importing the listed modules (a broken one only fails its own lookups)."""
    monkeypatch.setattr(registry, "PLUGIN_MODULES", ("attriflow.no_such_methods",))
    assert get_method("gradient").name == "gradient"


def test_a_missing_command_module_is_an_error_naming_it(monkeypatch, capsys):
    monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "attriflow.no_such_commands"))
    with pytest.raises(PluginError, match=r"attriflow\.no_such_commands.*COMMAND_MODULES"):
        cli.build_parser()
    assert cli.main(["methods"]) == 1
    assert "attriflow.no_such_commands" in capsys.readouterr().err


def test_a_command_module_without_register_is_an_error(monkeypatch):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("attriflow.errors",))
    with pytest.raises(PluginError, match=r"attriflow\.errors.*register"):
        cli.build_parser()


def test_every_listed_command_module_contributes_its_command():
    commands = set(cli.build_parser()._subparsers._group_actions[0].choices)
    assert {"data", "train", "methods", "attribute", "roar", "report", "check-plugins"} <= commands
