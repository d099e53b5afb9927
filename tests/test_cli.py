"""The command line as a whole: help texts, the README documents every command, start-up stays light."""

import re
import subprocess
import sys

import pytest

from conftest import ROOT, run
from kg.cli import COMMANDS, main

README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help(runner, name):
    result = run(runner, name, "--help")
    assert result.exit_code == 0
    command = main.get_command(None, name)
    assert command.help and len(command.help.strip()) > 20
    assert COMMANDS[name][2] in run(runner, "--help").output


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_is_in_the_readme(name):
    assert re.search(rf"^#+ `kg {name}\b", README, re.M), f"README has no section for `kg {name}`"


def test_readme_commands_are_real_commands():
    code = "\n".join(re.findall(r"^```[a-z]*\n(.*?)^```", README, re.M | re.S))
    used = set(re.findall(r"(?:^|[|;&]\s*|\.venv/bin/)kg (\w[\w-]*)", code, re.M))
    assert used, "the README shows no kg command"
    assert used <= set(COMMANDS), f"README mentions unknown commands: {used - set(COMMANDS)}"


def test_readme_setup_commands_are_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash tests/run.sh" in ci and "kg build --check" in ci
    assert "bash tests/run.sh" in README
    assert "bash install.sh && .venv/bin/kg build" in README
    assert "bash install.sh" in (ROOT / "tests" / "run.sh").read_text()


def test_readme_turtle_examples_of_the_output_are_in_out():
    """The README's examples of what the build makes (the Turtle blocks of "The output") are triples of the
    committed out/kg.nt, which `kg build --check` keeps equal to a fresh build: an example cannot drift."""
    import pyoxigraph as ox

    from kg.namespaces import PREFIXES

    section = README[README.index("## The output"):README.index("## Adding an article")]
    blocks = re.findall(r"^```turtle\n(.*?)^```", section, re.M | re.S)
    assert blocks, "the README shows no Turtle of the output"
    head = "".join(f"@prefix {p}: <{ns}> .\n" for p, ns in PREFIXES.items())
    shown = {t for block in blocks for t in ox.parse(head + block, format=ox.RdfFormat.TURTLE)}
    assert len(shown) >= 10
    built = set(ox.parse(path=str(ROOT / "out" / "kg.nt"), format=ox.RdfFormat.N_TRIPLES))
    assert not shown - built, f"README shows triples the build does not make: {sorted(map(str, shown - built))[:3]}"


def test_help_imports_no_heavy_library():
    """`kg --help` must answer fast: the CLI imports rdflib, pyshacl, owlready2, pyoxigraph only when used."""
    code = (
        "import sys; from kg.cli import main\n"
        "try: main(['--help'])\nexcept SystemExit: pass\n"
        "heavy = sorted(m for m in ('rdflib', 'pyshacl', 'owlready2', 'pyoxigraph', 'requests') if m in sys.modules)\n"
        "print('HEAVY', heavy)"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in output


def test_python_dash_m_kg_works():
    result = subprocess.run([sys.executable, "-m", "kg", "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("kg, version ")


def test_importing_kg_main_runs_nothing():
    """A process that multiprocessing spawns (kg.forked.spawned, from `python -m kg`) imports kg.__main__
    again, as `__mp_main__`: the command must not run there."""
    code = "import runpy; runpy.run_module('kg', run_name='__mp_main__'); print('imported')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout == "imported\n" and result.stderr == ""


def test_a_second_command_on_a_project_waits_for_the_first(project):
    """Two kg commands on one project at once: the second waits, and says so, rather than failing on the
    validation store (RocksDB: one process at a time; it failed with "IO error: While lock file"); then it
    runs as usual."""
    import fcntl

    (project / ".cache").mkdir()
    with open(project / ".cache" / "lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # what a running kg build holds
        second = subprocess.Popen([sys.executable, "-m", "kg", "validate", "-C", str(project)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert second.stderr.readline() == "waiting for another kg command on this project to finish (.cache/lock)\n"
        assert second.poll() is None  # held back
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err
    assert err == "" and out
